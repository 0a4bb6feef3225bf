package lossy

import (
	"math/rand/v2"
	"net"
	"sync"
	"time"
)

// Config says what happens to each datagram written. Probabilities are in
// [0, 1] and drawn independently per packet.
type Config struct {
	Loss      float64       // dropped
	Duplicate float64       // sent twice
	Corrupt   float64       // one random byte flipped
	Reorder   float64       // held back and sent after the next packet
	Delay     time.Duration // added to every packet
	// MaxSize, if set, drops every datagram larger than it, silently:
	// a path black hole for big packets (an MTU below what the sender
	// believes, and no ICMP to say so).
	MaxSize int
	Seed    int64
}

// Stats counts what the wrapper did.
type Stats struct {
	Written    int // WriteTo calls
	Sent       int // datagrams handed to the wrapped conn
	Dropped    int
	TooBig     int // dropped for being larger than MaxSize
	Duplicated int
	Corrupted  int
	Reordered  int
	Overflow   int // dropped because the queue was full
	Discarded  int // still queued at Close
	Errors     int // write errors from the wrapped conn
}

// maxQueue bounds the packets waiting to go out, as a NIC queue would.
const maxQueue = 8192

// holdMax is how long a reordered packet waits for a successor before it is
// sent anyway, so the last packet of a burst is not lost.
const holdMax = 20 * time.Millisecond

type packet struct {
	b   []byte
	to  net.Addr
	due time.Time
}

// Conn is the wrapped connection.
type Conn struct {
	net.PacketConn
	cfg Config

	mu       sync.Mutex
	rng      *rand.Rand
	queue    []packet
	held     *packet
	heldAt   time.Time
	stats    Stats
	closed   bool
	wake     chan struct{}
	done     chan struct{}
	finished chan struct{}
}

// Wrap returns pc with cfg applied to everything written through WriteTo.
// Reads pass straight through. Close stops the sender goroutine and closes pc.
func Wrap(pc net.PacketConn, cfg Config) net.PacketConn {
	c := &Conn{
		PacketConn: pc,
		cfg:        cfg,
		rng:        rand.New(rand.NewPCG(uint64(cfg.Seed), 0x6c6f737379)),
		wake:       make(chan struct{}, 1),
		done:       make(chan struct{}),
		finished:   make(chan struct{}),
	}
	go c.run()
	return c
}

// WriteTo decides the packet's fate and queues it; it reports success for a
// dropped packet too, as a lossy network would.
func (c *Conn) WriteTo(b []byte, addr net.Addr) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, net.ErrClosed
	}
	c.stats.Written++
	if c.cfg.MaxSize > 0 && len(b) > c.cfg.MaxSize {
		c.stats.TooBig++
		return len(b), nil
	}
	if c.roll(c.cfg.Loss) {
		c.stats.Dropped++
		return len(b), nil
	}
	p := packet{b: append([]byte(nil), b...), to: addr, due: time.Now().Add(c.cfg.Delay)}
	if len(p.b) > 0 && c.roll(c.cfg.Corrupt) {
		i := c.rng.IntN(len(p.b))
		p.b[i] ^= byte(1 + c.rng.IntN(255))
		c.stats.Corrupted++
	}
	copies := 1
	if c.roll(c.cfg.Duplicate) {
		copies = 2
		c.stats.Duplicated++
	}
	if c.held == nil && c.roll(c.cfg.Reorder) {
		c.stats.Reordered++
		c.held, c.heldAt = &p, time.Now()
		if copies == 2 {
			c.push(p)
		}
		c.signal()
		return len(b), nil
	}
	for i := 0; i < copies; i++ {
		c.push(p)
	}
	c.release()
	c.signal()
	return len(b), nil
}

func (c *Conn) roll(prob float64) bool { return prob > 0 && c.rng.Float64() < prob }

func (c *Conn) push(p packet) {
	if len(c.queue) >= maxQueue {
		c.stats.Overflow++
		return
	}
	c.queue = append(c.queue, p)
}

// release queues the held packet behind what was just queued.
func (c *Conn) release() {
	if c.held == nil {
		return
	}
	h := *c.held
	c.held = nil
	if n := len(c.queue); n > 0 && c.queue[n-1].due.After(h.due) {
		h.due = c.queue[n-1].due
	}
	c.push(h)
}

func (c *Conn) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// run is the one goroutine that writes to the wrapped conn.
func (c *Conn) run() {
	defer close(c.finished)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		c.mu.Lock()
		now := time.Now()
		if c.held != nil && now.Sub(c.heldAt) >= holdMax {
			c.release()
		}
		var out []packet
		for len(c.queue) > 0 && !c.queue[0].due.After(now) {
			out = append(out, c.queue[0])
			c.queue = c.queue[1:]
		}
		next := time.Hour
		if len(c.queue) > 0 {
			next = c.queue[0].due.Sub(now)
		}
		if c.held != nil {
			next = min(next, holdMax-now.Sub(c.heldAt))
		}
		c.mu.Unlock()

		for _, p := range out {
			_, err := c.PacketConn.WriteTo(p.b, p.to)
			c.mu.Lock()
			if err != nil {
				c.stats.Errors++
			} else {
				c.stats.Sent++
			}
			c.mu.Unlock()
		}
		if len(out) > 0 {
			continue
		}
		timer.Reset(max(next, 0))
		select {
		case <-c.done:
			return
		case <-c.wake:
		case <-timer.C:
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// Close discards what is still queued, waits for the sender goroutine to
// exit and closes the wrapped conn.
func (c *Conn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return net.ErrClosed
	}
	c.closed = true
	c.stats.Discarded += len(c.queue)
	if c.held != nil {
		c.stats.Discarded++
	}
	c.queue, c.held = nil, nil
	c.mu.Unlock()
	close(c.done)
	<-c.finished
	return c.PacketConn.Close()
}

// Stats returns the counters so far.
func (c *Conn) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// Pending reports how many packets are waiting to be sent (held back
// included): tests wait for zero before counting what arrived.
func (c *Conn) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(c.queue)
	if c.held != nil {
		n++
	}
	return n
}
