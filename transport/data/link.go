package data

import (
	"errors"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"github.com/ferry-sync/ferry/transport/cc"
	"github.com/ferry-sync/ferry/transport/seal"
	"github.com/ferry-sync/ferry/transport/wire"
)

// batchSize is how many datagrams one sendmmsg/recvmmsg moves.
const batchSize = 64

// pacingQuantum is the shortest sleep of a sender the pacer holds back. The
// pacer asks for just the time until the next packet is due, which left the
// loop waking (and making a system call) every few packets: a timer, a
// scheduler round and a send per handful of packets cost more CPU than the
// packets did. The bucket banks what accrues meanwhile (PacerBurst, well
// above this), so the rate holds and each wake-up sends a batch.
const pacingQuantum = 250 * time.Microsecond

// inPkt is one authenticated packet handed from the reader to the loop.
type inPkt struct {
	hdr  wire.Header
	body []byte
	// buf is the pooled buffer body lies in, for release once the packet
	// is done with (nil if it is not pooled).
	buf  []byte
	from net.Addr
	size int
	// at is when it arrived: the kernel's stamp where there is one, else
	// when the reader got it. Delay measured from here leaves out the time
	// it waited for a busy process, which is not network queueing.
	at time.Time
}

// batcher is what x/net's ipv4 and ipv6 PacketConns offer on a *net.UDPConn.
type batcher interface {
	ReadBatch(ms []ipv4.Message, flags int) (int, error)
	WriteBatch(ms []ipv4.Message, flags int) (int, error)
}

// link is the socket side of a session: a reader goroutine that opens
// packets, and batched writes done by the session's loop. Everything but
// the reader's own locals belongs to the loop.
type link struct {
	conn   net.PacketConn
	box    *seal.Box
	clk    cc.Clock
	log    *slog.Logger
	peer   net.Addr
	fixed  bool // peer given by the caller: never re-learned
	batch  batcher
	inet6  bool // AF_INET6 socket: batching cannot address IPv4 peers
	maxPkt int

	in    chan []inPkt
	spare chan []inPkt // batches the loop is done with, for the reader to refill
	rerr  chan error
	stop  chan struct{}
	wg    sync.WaitGroup

	msgs    []ipv4.Message
	msgPkts []msgRun
	oob     [][32]byte
	gso     bool // the kernel segments runs of equal-sized packets
	gro     bool // the kernel hands over runs of received datagrams in one read
	// groReads counts reads that held more than one datagram (the reader
	// adds, anyone may look).
	groReads atomic.Uint64
	pending  [][]byte
	free     [][]byte
	// tooBig lists DATA and probe packets the kernel refused as too big
	// for the path (EMSGSIZE): never sent, for the session to size down
	// and send their data again.
	tooBig []refusedPkt

	heard     bool
	lastHeard time.Time

	sentPkts, sentBytes, sendErrs, recvPkts, recvBytes, unparsable uint64
	lastErrLog                                                     time.Time
}

func newLink(conn net.PacketConn, box *seal.Box, cfg Config) *link {
	l := &link{
		conn: conn, box: box, clk: cfg.Clock, log: cfg.Log, peer: cfg.Peer, fixed: cfg.Peer != nil,
		maxPkt: max(cfg.PacketSize, ipv4PathMax, DefaultPacketSize),
		in:     make(chan []inPkt, 64), spare: make(chan []inPkt, 66), rerr: make(chan error, 1), stop: make(chan struct{}),
		msgs: make([]ipv4.Message, batchSize), msgPkts: make([]msgRun, batchSize), oob: make([][32]byte, batchSize),
	}
	if uc, ok := conn.(*net.UDPConn); ok {
		if raw, err := uc.SyscallConn(); err == nil {
			switch socketDomain(raw) {
			case syscall.AF_INET:
				l.batch = ipv4.NewPacketConn(uc)
			case syscall.AF_INET6:
				l.batch = ipv6.NewPacketConn(uc)
				l.inet6 = true
			}
			l.gso = l.batch != nil && !cfg.NoGSO && gsoSupported(raw)
			l.gro = l.batch != nil && !cfg.NoGRO && enableGRO(raw, true)
		}
	}
	return l
}

// start runs the reader until close.
func (l *link) start() {
	l.wg.Add(1)
	go l.read()
}

// close stops the reader. The conn stays open (the caller owns it); its
// read deadline is used to interrupt the reader and is cleared afterwards.
func (l *link) close() {
	close(l.stop)
	_ = l.conn.SetReadDeadline(time.Unix(1, 0))
	l.wg.Wait()
	_ = l.conn.SetReadDeadline(time.Time{})
	if l.gro {
		// The conn outlives the session: a later reader of it may not
		// split coalesced reads.
		EnableGRO(l.conn.(*net.UDPConn), false)
	}
}

func (l *link) stopping() bool {
	select {
	case <-l.stop:
		return true
	default:
		return false
	}
}

// pooledLen is the size of the pooled buffers packets are read into.
const pooledLen = 2048

// bodyPool holds packet buffers as arrays: a buffer goes back by
// converting its slice to the array pointer it came from, where putting
// back a *[]byte allocated a new slice header on every release, once per
// packet.
var bodyPool = sync.Pool{New: func() any { return new([pooledLen]byte) }}

// pooled returns an empty buffer from the pool, with room for pooledLen
// bytes.
func pooled() []byte { return bodyPool.Get().(*[pooledLen]byte)[:0] }

// release returns a packet buffer to the pool once the loop is done with
// it; only a whole pooled buffer (pooledLen of capacity from its start)
// goes back.
func release(b []byte) {
	if cap(b) == pooledLen {
		bodyPool.Put((*[pooledLen]byte)(b[:pooledLen]))
	}
}

// CopyDatagram returns a copy of b for a DatagramReader to hand over: in a
// pooled buffer the session returns to the pool when it is done with the
// packet (where it fits one), so a demultiplexer's copy costs no
// allocation per datagram.
func CopyDatagram(b []byte) []byte {
	if len(b) <= pooledLen {
		return append(pooled(), b...)
	}
	return append([]byte(nil), b...)
}

// RecycleDatagram gives back a copy made by CopyDatagram that is not
// handed over after all (a full queue dropped it).
func RecycleDatagram(b []byte) { release(b) }

func (l *link) read() {
	defer l.wg.Done()
	const bufLen = 64 << 10 // a FILE with a 4 KiB path, or a large PacketSize
	const most = 16
	n := 1
	dreader, _ := l.conn.(DatagramReader)
	if l.batch != nil || dreader != nil {
		n = most
	}
	var bufs [][]byte
	var msgs []ipv4.Message
	var dgs []Datagram
	if dreader != nil && l.batch == nil {
		dgs = make([]Datagram, n)
	} else {
		dreader = nil
		bufs = make([][]byte, n)
		msgs = make([]ipv4.Message, n)
		for i := range bufs {
			bufs[i] = make([]byte, bufLen)
			msgs[i].Buffers = [][]byte{bufs[i]}
			// Room for the arrival stamp and the coalesced segment size.
			msgs[i].OOB = make([]byte, 2*OOBSize)
		}
	}
	timed, _ := l.conn.(TimedReader)
	if uc, ok := l.conn.(*net.UDPConn); ok && l.batch != nil {
		EnableArrivalTimes(uc)
	}
	// With receive coalescing one read can hold up to gsoMaxSegs datagrams.
	room := most
	if l.gro {
		room = most * gsoMaxSegs
	}
	stamps := make([]time.Time, room)
	pkts := make([][]byte, room)
	froms := make([]net.Addr, room)
	// owned: pkts are the reader's to keep (handed over by a
	// DatagramReader), so a body needs no copy out of a reused buffer.
	owned := dreader != nil
	for {
		var got int
		var err error
		switch {
		case dreader != nil:
			got, err = dreader.ReadDatagrams(dgs)
			for i := 0; i < got; i++ {
				pkts[i], froms[i], stamps[i] = dgs[i].B, dgs[i].From, dgs[i].At
				if stamps[i].IsZero() {
					stamps[i] = l.clk.Now()
				}
				dgs[i] = Datagram{}
			}
		case l.batch != nil:
			var reads int
			reads, err = l.batch.ReadBatch(msgs, 0)
			now := l.clk.Now()
			for i := 0; i < reads; i++ {
				b, oob := bufs[i][:msgs[i].N], msgs[i].OOB[:msgs[i].NN]
				at := ArrivalTime(oob, now)
				seg := len(b)
				if l.gro {
					if s := groSegment(oob); s > 0 {
						seg = s
					}
				}
				if seg < len(b) {
					l.groReads.Add(1)
				}
				// A coalesced read is a run of datagrams of seg bytes, the
				// last one possibly shorter.
				for len(b) > 0 && got < len(pkts) {
					n := min(seg, len(b))
					pkts[got], froms[got], stamps[got] = b[:n:n], msgs[i].Addr, at
					b = b[n:]
					got++
				}
			}
		default:
			var m int
			var from net.Addr
			var at time.Time
			if timed != nil {
				m, from, at, err = timed.ReadFromAt(bufs[0])
			} else {
				m, from, err = l.conn.ReadFrom(bufs[0])
			}
			if err == nil {
				pkts[0], froms[0], got = bufs[0][:m], from, 1
				if at.IsZero() {
					at = l.clk.Now()
				}
				stamps[0] = at
			}
		}
		if err != nil {
			if l.stopping() {
				return
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				continue
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			select {
			case l.rerr <- err:
			default:
			}
			return
		}
		var out []inPkt
		for i := 0; i < got; i++ {
			pkt := pkts[i]
			size := len(pkt)
			var h wire.Header
			var body []byte
			var err error
			var buf []byte
			switch {
			case owned:
				// Opened in place: the body is part of the datagram,
				// which goes back to the pool as a whole (CopyDatagram).
				h, body, err = l.box.Open(pkt)
				buf = pkt
				if err != nil {
					release(pkt)
				}
			case size-seal.Overhead <= pooledLen:
				// Decrypted straight into a buffer of its own: the read
				// buffer is reused, and decrypting in place then copying
				// the body out cost as much again as the decryption.
				dst := pooled()
				h, body, err = l.box.OpenTo(dst, pkt)
				buf = body
				if err != nil {
					release(dst)
				}
			default:
				h, body, err = l.box.Open(pkt)
				body = append([]byte(nil), body...)
			}
			if err != nil {
				continue // counted by the box
			}
			if out == nil {
				out = l.spareBatch()
			}
			out = append(out, inPkt{hdr: h, body: body, buf: buf, from: froms[i], size: size, at: stamps[i]})
			if len(out) == inBatch {
				if !l.handOver(out) {
					return
				}
				out = nil
			}
		}
		clear(pkts[:got])
		clear(froms[:got])
		if len(out) > 0 && !l.handOver(out) {
			return
		}
	}
}

// inBatch is the most packets the reader hands the loop at once; batches
// are recycled (recycle), so this bounds the memory they hold.
const inBatch = 64

// handOver passes a batch to the loop; false if the link is closing.
func (l *link) handOver(b []inPkt) bool {
	select {
	case l.in <- b:
		return true
	case <-l.stop:
		return false
	}
}

// spareBatch returns an empty batch for the reader to fill: one the loop
// gave back, or a new one.
func (l *link) spareBatch() []inPkt {
	select {
	case b := <-l.spare:
		return b
	default:
		return make([]inPkt, 0, inBatch)
	}
}

// recycle gives a batch the loop has finished with back to the reader,
// which saves an allocation per read. The loop has released the bodies.
func (l *link) recycle(b []inPkt) {
	clear(b)
	select {
	case l.spare <- b[:0]:
	default:
	}
}

// heardFrom notes an authenticated packet: the peer is alive, and (unless
// the caller fixed it) its address is where replies go, which follows a NAT
// rebinding.
func (l *link) heardFrom(p inPkt, now time.Time) {
	l.heard, l.lastHeard = true, now
	l.recvPkts++
	l.recvBytes += uint64(p.size)
	if !l.fixed && p.from != nil {
		l.peer = p.from
	}
}

// liveness returns ErrNoUDP or ErrIdle when the peer has been silent too
// long, and the time at which to check again.
func (l *link) liveness(now, start time.Time, cfg Config) (time.Time, error) {
	if !l.heard {
		at := start.Add(cfg.NoUDPTimeout)
		if !now.Before(at) {
			return at, ErrNoUDP
		}
		return at, nil
	}
	at := l.lastHeard.Add(cfg.IdleTimeout)
	if !now.Before(at) {
		return at, ErrIdle
	}
	return at, nil
}

func (l *link) buf() []byte {
	if n := len(l.free); n > 0 {
		b := l.free[n-1]
		l.free = l.free[:n-1]
		return b[:0]
	}
	return make([]byte, 0, l.maxPkt+seal.Overhead+64)
}

// queue seals a packet of type t whose body is produced by body, queues it
// for the next flush, and returns its number and size on the wire.
func (l *link) queue(t wire.Type, body func([]byte) []byte) (uint64, int) {
	h := l.box.Next(t)
	b := body(h.Append(l.buf()))
	sealed, err := l.box.Seal(b)
	if err != nil {
		// Only a bug can get here (the box made the header).
		l.log.Error("unable to seal packet", "err", err)
		return h.Number, 0
	}
	l.pending = append(l.pending, sealed)
	if len(l.pending) >= batchSize {
		l.flush()
	}
	return h.Number, len(sealed)
}

// GSO limits: the kernel takes at most 64 segments in one send, and the
// whole send must fit one IP datagram before it is cut.
const (
	gsoMaxSegs  = 64
	gsoMaxBytes = 65000
)

// flush writes the queued packets to the peer.
func (l *link) flush() {
	if len(l.pending) == 0 {
		return
	}
	defer func() {
		for _, b := range l.pending {
			if cap(b) <= l.maxPkt+seal.Overhead+64 {
				l.free = append(l.free, b)
			}
		}
		l.pending = l.pending[:0]
	}()
	if l.peer == nil {
		return
	}
	useBatch := l.batch != nil
	if ua, ok := l.peer.(*net.UDPAddr); !ok || (l.inet6 && ua.IP.To4() != nil) {
		useBatch = false
	}
	todo := l.pending
	if useBatch {
		todo = l.writeBatches(todo)
	}
	for _, b := range todo {
		l.sendOne(b)
	}
}

// refusedPkt is a packet the kernel refused as too big for the path.
type refusedPkt struct {
	number uint64
	size   int
}

// sendOne writes one datagram. One the kernel refuses as too big for the
// path is noted in tooBig if it is DATA or a probe (the session sends its
// bytes again in smaller packets); any other packet (a FILE with a long
// path) goes again with fragmentation allowed, as it did before the
// socket set don't-fragment.
func (l *link) sendOne(b []byte) {
	_, err := l.conn.WriteTo(b, l.peer)
	if err != nil && errors.Is(err, syscall.EMSGSIZE) {
		h, _, perr := wire.ParseHeader(b)
		switch {
		case perr != nil:
		case h.Type == wire.TypeData || h.Type == wire.TypePing:
			l.tooBig = append(l.tooBig, refusedPkt{number: h.Number, size: len(b)})
			return
		default:
			_, err = l.writeFragmenting(b)
		}
	}
	if err != nil {
		l.writeErr(err)
		return
	}
	l.sentPkts++
	l.sentBytes += uint64(len(b))
}

func (l *link) writeFragmenting(b []byte) (int, error) {
	switch c := l.conn.(type) {
	case *net.UDPConn:
		return WriteToFragmenting(c, b, l.peer)
	case FragmentingWriter:
		return c.WriteToFragmenting(b, l.peer)
	}
	return 0, syscall.EMSGSIZE
}

// takeTooBig returns (and forgets) the packets refused as too big.
func (l *link) takeTooBig() []refusedPkt {
	t := l.tooBig
	l.tooBig = nil
	return t
}

// writeBatches sends pkts with sendmmsg, each message carrying a run of
// equal-sized packets that the kernel cuts into datagrams (GSO) where it
// can, and returns the packets left for single writes (all of them if the
// socket turns out not to batch).
func (l *link) writeBatches(pkts [][]byte) [][]byte {
	for len(pkts) > 0 {
		m := l.pack(pkts)
		off := 0
		for off < m {
			n, err := l.batch.WriteBatch(l.msgs[off:m], 0)
			if err == nil && n <= 0 {
				err = errors.New("sendmmsg sent nothing")
			}
			if err != nil {
				switch {
				case errors.Is(err, syscall.EMSGSIZE) || l.gso && errors.Is(err, syscall.EINVAL) && l.segmentTooBig(off):
					// Too big for the path (a segmented send says so
					// with EINVAL): one by one, so each refused packet
					// is noted, and segmenting goes on at the new size.
					for _, b := range l.msgs[off].Buffers {
						l.sendOne(b)
					}
					off++
					continue
				case l.gso && (errors.Is(err, syscall.EIO) || errors.Is(err, syscall.EINVAL)):
					// The route's device cannot take segmented sends:
					// resend what is left one datagram per message.
					l.gso = false
					l.log.Debug("UDP segmentation offload refused; sending datagram by datagram", "err", err)
				case errors.Is(err, syscall.EAFNOSUPPORT) || errors.Is(err, syscall.EINVAL):
					l.batch = nil
				default:
					l.writeErr(err)
					off++ // drop the message, as the network might, and go on
					continue
				}
				break
			}
			for _, c := range l.msgPkts[off : off+n] {
				l.sentPkts += uint64(c.n)
				l.sentBytes += uint64(c.bytes)
			}
			off += n
		}
		done := 0
		for _, c := range l.msgPkts[:off] {
			done += c.n
		}
		pkts = pkts[done:]
		if off < m && l.batch == nil {
			return pkts
		}
	}
	return nil
}

// segmentTooBig reports whether message m's datagrams are bigger than the
// route to the peer now allows: the kernel then refuses the segmented
// send with EINVAL, which does not mean it cannot segment.
func (l *link) segmentTooBig(m int) bool {
	bufs := l.msgs[m].Buffers
	if len(bufs) == 0 {
		return false
	}
	rm := routeMax(l.peer)
	return rm > 0 && len(bufs[0]) > rm
}

// msgRun is how many packets (and bytes) one batched message carries.
type msgRun struct{ n, bytes int }

// pack fills l.msgs with messages for the packets at the front of pkts, at
// most one batch, and returns how many messages it made.
func (l *link) pack(pkts [][]byte) int {
	m := 0
	for i := 0; i < len(pkts) && m < len(l.msgs); m++ {
		size := len(pkts[i])
		j, total := i+1, size
		if l.gso {
			// A run continues with packets of the same size; a shorter one
			// may end it.
			for j < len(pkts) && j-i < gsoMaxSegs && total+len(pkts[j]) <= gsoMaxBytes && len(pkts[j]) <= size {
				total += len(pkts[j])
				j++
				if len(pkts[j-1]) < size {
					break
				}
			}
		}
		msg := &l.msgs[m]
		msg.Buffers = pkts[i:j:j]
		msg.Addr = l.peer
		msg.OOB = nil
		if j-i > 1 {
			msg.OOB = gsoOOB(l.oob[m][:], size)
		}
		l.msgPkts[m] = msgRun{n: j - i, bytes: total}
		i = j
	}
	return m
}

func (l *link) writeErr(err error) {
	l.sendErrs++
	if now := l.clk.Now(); now.Sub(l.lastErrLog) > 5*time.Second {
		l.lastErrLog = now
		l.log.Warn("UDP send failed", "peer", l.peer, "err", err)
	}
}
