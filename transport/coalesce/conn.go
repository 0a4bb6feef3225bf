package coalesce

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"time"
)

const (
	// MaxPending bounds the bytes a Write may queue before it waits for
	// the flusher: bulk data over SSH is held to a few writes' worth.
	MaxPending = 256 << 10
	// CloseTimeout bounds how long Close waits to send what is pending.
	CloseTimeout = 2 * time.Second
)

// ErrClosed is returned by Write after Close.
var ErrClosed = fmt.Errorf("coalesce: write on closed connection: %w", net.ErrClosed)

// Conn is a net.Conn whose writes are queued and sent by one goroutine:
// whatever is queued while it is in a write goes out in its next one.
type Conn struct {
	net.Conn

	mu      sync.Mutex
	cond    *sync.Cond // signals queued bytes, a finished write, an error
	pending []byte
	spare   []byte
	err     error // the first write error, or ErrClosed
	closing bool
	done    chan struct{} // closed when the flusher returns
	queued  int           // Write calls accepted
}

// Wrap starts the flusher of c.
func Wrap(c net.Conn) *Conn {
	w := &Conn{Conn: c, done: make(chan struct{})}
	w.cond = sync.NewCond(&w.mu)
	go w.flush()
	return w
}

// Write queues p. It waits only while MaxPending bytes are queued.
func (w *Conn) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for w.err == nil && len(w.pending) >= MaxPending {
		w.cond.Wait()
	}
	if w.err != nil {
		return 0, w.err
	}
	w.pending = append(w.pending, p...)
	w.queued++
	w.cond.Broadcast()
	return len(p), nil
}

func (w *Conn) flush() {
	defer close(w.done)
	w.mu.Lock()
	defer w.mu.Unlock()
	backlog := false // messages came in during the last write
	for {
		for len(w.pending) == 0 && w.err == nil && !w.closing {
			w.cond.Wait()
		}
		if len(w.pending) == 0 || w.err != nil {
			if w.err == nil {
				// Closing: a Write from now on would never be sent.
				w.err = ErrClosed
				w.cond.Broadcast()
			}
			return
		}
		// A burst is under way (a wave of requests is produced faster than
		// it is written): let the writers that are ready add theirs first,
		// for as long as they keep coming (bounded). A lone message goes
		// at once.
		for i := 0; backlog && i < 8 && len(w.pending) < MaxPending/4; i++ {
			n := len(w.pending)
			w.mu.Unlock()
			runtime.Gosched()
			w.mu.Lock()
			if len(w.pending) == n {
				break
			}
		}
		buf := w.pending
		w.pending = w.spare[:0]
		w.mu.Unlock()
		_, err := w.Conn.Write(buf)
		w.mu.Lock()
		backlog = len(w.pending) > 0
		// The next batch is appended to buf's array, so it must not be
		// the one pending uses now; a big one is dropped.
		w.spare = nil
		if cap(buf) <= 2*MaxPending {
			w.spare = buf[:0]
		}
		if err != nil && w.err == nil {
			w.err = err
			// Reads must fail too, or the peer's answer to what was lost
			// would be waited for forever.
			w.Conn.Close()
		}
		w.cond.Broadcast()
	}
}

// Abort closes the connection at once, dropping what is queued: for a
// connection given up as dead, whose peer may never read again.
func (w *Conn) Abort() error {
	w.mu.Lock()
	w.closing = true
	if w.err == nil {
		w.err = ErrClosed
	}
	w.pending = nil
	w.cond.Broadcast()
	w.mu.Unlock()
	// Unblocks a flusher stuck in a write to a peer that stopped reading.
	err := w.Conn.Close()
	<-w.done
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}

// Close sends what is queued, waiting at most CloseTimeout, and closes the
// connection.
func (w *Conn) Close() error {
	w.mu.Lock()
	if w.closing {
		w.mu.Unlock()
		<-w.done
		return nil
	}
	w.closing = true
	werr := w.err
	w.cond.Broadcast()
	w.mu.Unlock()
	if werr == nil {
		// A peer that stopped reading must not hold Close up.
		w.Conn.SetWriteDeadline(time.Now().Add(CloseTimeout))
	}
	<-w.done
	w.mu.Lock()
	if w.err == nil {
		w.err = ErrClosed
	}
	w.cond.Broadcast()
	w.mu.Unlock()
	if err := w.Conn.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}
