package server

import (
	"errors"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/ferry-sync/ferry/transport/data"
	"github.com/ferry-sync/ferry/transport/wire"
)

// udpMux shares the server's one UDP port between data sessions, handing
// each datagram to the session its plaintext header names. Authentication
// is the session's job (seal); the mux only routes.
type udpMux struct {
	conn net.PacketConn
	log  *slog.Logger

	// mu guards sessions, and serialises sends that lift the socket's
	// don't-fragment setting.
	mu       sync.Mutex
	sessions map[wire.SessionID]*sessionConn
}

// muxQueue is how many datagrams wait for one session's reader before new
// ones are dropped, as a full socket buffer would.
const muxQueue = 8192

func newMux(conn net.PacketConn, log *slog.Logger) *udpMux {
	return &udpMux{conn: conn, log: log, sessions: map[wire.SessionID]*sessionConn{}}
}

// run reads until the socket is closed, one datagram at a time, stamped
// with the time it was read. serve uses it for a socket that is not a
// *net.UDPConn (no batches, no kernel stamps).
func (m *udpMux) run() {
	buf := make([]byte, 64<<10)
	for {
		n, from, err := m.conn.ReadFrom(buf)
		if err != nil {
			if m.readFailed(err) {
				return
			}
			continue
		}
		h, _, err := wire.ParseHeader(buf[:n])
		if err != nil {
			continue
		}
		m.mu.Lock()
		sc := m.sessions[h.Session]
		m.mu.Unlock()
		if sc == nil {
			continue
		}
		sc.deliver(datagram{data.CopyDatagram(buf[:n]), from, time.Now()})
	}
}

// readFailed handles a failed read: true when the socket is closed and the
// reader should stop. A persistent error is logged and paced so it does
// not spin.
func (m *udpMux) readFailed(err error) bool {
	if errors.Is(err, net.ErrClosed) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	m.log.Warn("UDP read failed", "err", err)
	time.Sleep(10 * time.Millisecond)
	return false
}

// register gives a new session an id no live session has, drawn with
// random (crypto/rand.Read in production). Ids are short (they only route
// packets), so a clash is possible and is drawn again.
func (m *udpMux) register(random func([]byte) (int, error)) (*sessionConn, error) {
	sc := &sessionConn{mux: m, in: make(chan datagram, muxQueue), closed: make(chan struct{}), wake: make(chan struct{})}
	m.mu.Lock()
	defer m.mu.Unlock()
	for range 16 {
		if _, err := random(sc.id[:]); err != nil {
			return nil, err
		}
		if _, taken := m.sessions[sc.id]; !taken {
			m.sessions[sc.id] = sc
			return sc, nil
		}
	}
	return nil, errors.New("every id drawn is in use")
}

func (m *udpMux) unregister(id wire.SessionID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.sessions, id)
}

type datagram struct {
	b    []byte
	from net.Addr
	at   time.Time
}

// sessionConn is one data session's view of the shared socket: a
// net.PacketConn whose reads see only that session's datagrams.
type sessionConn struct {
	mux       *udpMux
	id        wire.SessionID
	in        chan datagram
	closed    chan struct{}
	closeOnce sync.Once

	mu       sync.Mutex
	deadline time.Time
	wake     chan struct{} // closed and replaced when the deadline changes
}

func (c *sessionConn) deliver(d datagram) {
	select {
	case c.in <- d:
	default:
		data.RecycleDatagram(d.b)
	}
}

func (c *sessionConn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, from, _, err := c.ReadFromAt(p)
	return n, from, err
}

// ReadFromAt is ReadFrom that also says when the datagram reached the
// server's socket (data.TimedReader).
func (c *sessionConn) ReadFromAt(p []byte) (int, net.Addr, time.Time, error) {
	for {
		c.mu.Lock()
		dl, wake := c.deadline, c.wake
		c.mu.Unlock()
		var timeout <-chan time.Time
		var t *time.Timer
		if !dl.IsZero() {
			d := time.Until(dl)
			if d <= 0 {
				return 0, nil, time.Time{}, os.ErrDeadlineExceeded
			}
			t = time.NewTimer(d)
			timeout = t.C
		}
		select {
		case d := <-c.in:
			stopTimer(t)
			n := copy(p, d.b)
			data.RecycleDatagram(d.b)
			return n, d.from, d.at, nil
		case <-c.closed:
			stopTimer(t)
			return 0, nil, time.Time{}, net.ErrClosed
		case <-wake:
			stopTimer(t)
		case <-timeout:
			return 0, nil, time.Time{}, os.ErrDeadlineExceeded
		}
	}
}

var _ data.TimedReader = (*sessionConn)(nil)

func (c *sessionConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	select {
	case <-c.closed:
		return 0, net.ErrClosed
	default:
	}
	return c.mux.conn.WriteTo(p, addr)
}

// WriteToFragmenting sends p with fragmentation allowed
// (data.FragmentingWriter): for the rare control packet bigger than any
// path takes whole. The socket's don't-fragment setting is shared by
// every session on it, so the switch is made under the mux's lock (it is
// rare: a FILE naming a path of kilobytes).
func (c *sessionConn) WriteToFragmenting(p []byte, addr net.Addr) (int, error) {
	select {
	case <-c.closed:
		return 0, net.ErrClosed
	default:
	}
	uc, ok := c.mux.conn.(*net.UDPConn)
	if !ok {
		return c.mux.conn.WriteTo(p, addr)
	}
	c.mux.mu.Lock()
	defer c.mux.mu.Unlock()
	return data.WriteToFragmenting(uc, p, addr)
}

var _ data.FragmentingWriter = (*sessionConn)(nil)

func (c *sessionConn) Close() error {
	c.closeOnce.Do(func() {
		c.mux.unregister(c.id)
		close(c.closed)
	})
	return nil
}

func (c *sessionConn) LocalAddr() net.Addr { return c.mux.conn.LocalAddr() }

func (c *sessionConn) SetDeadline(t time.Time) error { return c.SetReadDeadline(t) }

func (c *sessionConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadline = t
	close(c.wake)
	c.wake = make(chan struct{})
	return nil
}

func (c *sessionConn) SetWriteDeadline(time.Time) error { return nil }

func stopTimer(t *time.Timer) {
	if t != nil {
		t.Stop()
	}
}
