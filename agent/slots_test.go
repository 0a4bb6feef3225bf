package agent

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestSlotsNeverExceedLimit(t *testing.T) {
	const n, workers, rounds = 3, 16, 50
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	s := NewSlots(n)
	var cur, peak atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			for range rounds {
				ctx := context.Background()
				var cancel context.CancelFunc = func() {}
				if rng.IntN(4) == 0 {
					// Some waiters give up, which must not leak or double-grant a slot.
					ctx, cancel = context.WithTimeout(ctx, time.Duration(rng.IntN(200))*time.Microsecond)
				}
				if err := s.Acquire(ctx); err != nil {
					cancel()
					continue
				}
				v := cur.Add(1)
				for {
					p := peak.Load()
					if v <= p || peak.CompareAndSwap(p, v) {
						break
					}
				}
				time.Sleep(time.Duration(rng.IntN(300)) * time.Microsecond)
				cur.Add(-1)
				s.Release()
				cancel()
			}
		}()
	}
	wg.Wait()
	if p := peak.Load(); p > n {
		t.Fatalf("peak concurrent holders %d, limit %d", p, n)
	} else if p < 2 {
		t.Fatalf("peak concurrent holders %d: slots were never shared, the test proves nothing", p)
	}
	// Every slot is free again.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for i := range n {
		if err := s.Acquire(ctx); err != nil {
			t.Fatalf("slot %d not free after all workers finished: %v", i, err)
		}
	}
}

func TestSlotsAcquireHonoursContext(t *testing.T) {
	s := NewSlots(1)
	if err := s.Acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.Acquire(ctx) }()
	cancel()
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("Acquire on a full semaphore succeeded after its context was cancelled")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Acquire did not return after cancel")
	}
	s.Release()
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	if err := s.Acquire(ctx2); err != nil {
		t.Fatalf("slot leaked by the cancelled waiter: %v", err)
	}
}

func TestSlotsSetLimitWakesWaiters(t *testing.T) {
	s := NewSlots(1)
	if err := s.Acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Acquire(context.Background()) }()
	s.SetLimit(2)
	select {
	case err := <-errc:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("raising the limit did not admit the waiter")
	}
}

// TestSlotsSayWhoIsQueued: a job whose transfers wait for a slot another
// job holds learns how many transfers go first; once it holds one, it is
// not queued.
func TestSlotsSayWhoIsQueued(t *testing.T) {
	s := NewSlots(1)
	a, b, c := s.For("a"), s.For("b"), s.For("c")
	ctx := context.Background()
	if err := a.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	if _, q := s.Ahead("a"); q {
		t.Fatal("a holds the slot and is reported queued")
	}
	got := make(chan string, 2)
	go func() { _ = b.Acquire(ctx); got <- "b" }()
	waitQueued(t, s, "b")
	go func() { _ = c.Acquire(ctx); got <- "c" }()
	waitQueued(t, s, "c")
	if n, q := s.Ahead("b"); !q || n != 1 {
		t.Fatalf("b: ahead %d queued %v, want 1 (a's transfer)", n, q)
	}
	if n, q := s.Ahead("c"); !q || n != 2 {
		t.Fatalf("c: ahead %d queued %v, want 2 (a's, then b's)", n, q)
	}
	a.Release()
	if who := <-got; who != "b" {
		t.Fatalf("%s got the slot first, want b", who)
	}
	if _, q := s.Ahead("b"); q {
		t.Fatal("b holds the slot and is reported queued")
	}
	if n, q := s.Ahead("c"); !q || n != 1 {
		t.Fatalf("c: ahead %d queued %v, want 1", n, q)
	}
	b.Release()
	<-got
	c.Release()
}

// waitQueued waits until owner's Acquire has joined the queue.
func waitQueued(t *testing.T, s *Slots, owner string) {
	t.Helper()
	for range 10000 {
		if _, q := s.Ahead(owner); q {
			return
		}
		time.Sleep(time.Millisecond) // polls the other goroutine's arrival; bounded
	}
	t.Fatalf("%s never queued", owner)
}
