package data

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/ferry-sync/ferry/delta/chunk"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/transport/cc"
	"github.com/ferry-sync/ferry/transport/seal"
	"github.com/ferry-sync/ferry/transport/wire"
	"github.com/ferry-sync/ferry/tree"
)

// SendFile is one file to send: its scanned entry (Path, Size, Hash, Mode,
// Mtime; the receiver checks the Hash at Commit) and how to open it.
type SendFile struct {
	Entry tree.Entry
	Open  func() (endpoint.FileReader, error)
	// Part, when its Len is set, sends only that byte range of the file:
	// one part of a file split across sessions (see Parts). The receiver
	// verifies and renames the file once every part is in.
	Part chunk.Range
	// Hash, when set, hashes a file scanned unhashed (Entry.Hash 0) from
	// the reader Open gave, before the file is announced: the FILE packet
	// carries what it returns, which the receiver checks at Commit as any
	// other. It reads the file whole just before its bytes are sent (a
	// small file is then in memory), so a first sync need not read every
	// file to hash it before the first byte goes. An error fails the file
	// unannounced.
	Hash func(endpoint.FileReader) (uint64, error)
}

// Sender is the sending side of one data session.
type Sender struct {
	cfg  Config
	conn net.PacketConn
	ctrl *cc.Controller
	box  *seal.Box

	mu      sync.Mutex
	own     cc.Config
	changed chan struct{}
	stats   Stats
}

// NewSender prepares a sending session over conn; Run starts it.
func NewSender(conn net.PacketConn, cfg Config) (*Sender, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	box, err := seal.New(cfg.Key, cfg.Session, seal.Sender)
	if err != nil {
		return nil, err
	}
	return &Sender{
		cfg: cfg, conn: conn, box: box, own: cfg.Rate,
		ctrl:    cc.NewController(cfg.Rate, cfg.Clock),
		changed: make(chan struct{}, 1),
	}, nil
}

// Send runs one sending session: see Sender.Run.
func Send(ctx context.Context, conn net.PacketConn, cfg Config, files []SendFile) ([]error, error) {
	s, err := NewSender(conn, cfg)
	if err != nil {
		return nil, err
	}
	return s.Run(ctx, files)
}

// SetConfig changes the rate policy and caps of a running (or not yet
// started) session; the loop applies it at once.
func (s *Sender) SetConfig(c cc.Config) {
	s.mu.Lock()
	s.own = c
	s.mu.Unlock()
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// Stats returns a recent snapshot (refreshed every few milliseconds).
func (s *Sender) Stats() Stats {
	s.mu.Lock()
	st := s.stats
	s.mu.Unlock()
	st.Dropped = s.box.Stats()
	return st
}

type sfState uint8

const (
	sfQueued sfState = iota
	sfAnnounced
	sfVerifying
	sfSending
	sfAcked
	sfAborting
	sfDone
)

type sfile struct {
	idx   int
	id    uint32
	src   SendFile
	info  wire.File
	r     endpoint.FileReader
	state sfState
	fresh bool

	lastTx  time.Time
	txCount int

	parts     []bool
	partsLeft int
	chunkSize int64
	offered   []wire.Chunk
	resumed   bool

	acked rangeSet
	next  int64

	ra    []byte // read-ahead of new data
	raOff int64

	err error
}

type sendRun struct {
	s     *Sender
	cfg   Config
	l     *link
	clk   cc.Clock
	start time.Time
	ctx   context.Context

	files  []*sfile
	active []*sfile // admitted, not done
	// waiting counts the active files in sfAcked: every byte is
	// acknowledged and only the receiver's result is awaited (for the
	// trace: how far the receiver's commits lag).
	waiting int
	byID    map[uint32]*sfile
	nextID  uint32
	queued  int // next index of files to admit
	sending []*sfile
	retx    spanQueue

	// ackHandler is embedded so that a sendRun built by hand in a test
	// has one; the loop changes its state only through its methods.
	ackHandler
	lost  int // since the last feedback
	want  wire.RateRequest
	pacer *cc.Pacer

	results    []error
	remaining  int
	doneTx     int
	lastDone   time.Time
	finished   bool
	peerClosed bool

	jobs    chan func()
	pending int

	// Files are opened ahead, in order, by an opener goroutine, so that the
	// loop never waits on the disk to announce one.
	opened     chan openedFile
	waitOpener bool // admission stopped only for want of an opened file
	stopOpener chan struct{}
	openerDone chan struct{}

	// size is the datagram size the path takes, set once the peer is
	// known (sizeSet).
	size    pathSize
	sizeSet bool
	scratch []byte
	big     bigLoss

	payload, retrans, resumed, lostPkts uint64
	filesDone, filesFailed              int
	lastPublish                         time.Time
	traced                              traceMark
	// idleFrom is when transmit last found nothing it could send (no
	// data ready, or the in-flight limit reached); idle sums such spells
	// since the last trace line, so the trace tells a sender starved of
	// data from one held back by its rate.
	idleFrom time.Time
	idle     time.Duration
	// resultsAt is when the last file's result came in.
	resultsAt time.Time
	// tail: once the last new byte has gone, the data then in flight is
	// sent once more, oldest first, from dupNext up to tailEnd (see
	// tailDuplicate); tailDone once done.
	tailOn, tailDone bool
	dupNext, tailEnd uint64
	// rateSum and rateN average the controller's rate over the feedback
	// since the last trace line, to set beside what went on the wire.
	rateSum float64
	rateN   int
}

// Run sends files and returns one error (or nil) per file, in order, plus
// a session error: ErrNoUDP if the receiver was never heard, ErrIdle if it
// went silent, the context's cause if canceled. Files that did not finish
// carry the session error too.
func (s *Sender) Run(ctx context.Context, files []SendFile) ([]error, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	cfg := s.cfg
	r := &sendRun{
		s: s, cfg: cfg, clk: cfg.Clock, ctx: ctx,
		l:          newLink(s.conn, s.box, cfg),
		byID:       make(map[uint32]*sfile),
		jobs:       make(chan func(), 16),
		pacer:      cc.NewPacer(cfg.Clock, s.ctrl.Rate()),
		ackHandler: newAckHandler(cfg.FeedbackInterval),
	}
	r.start = r.clk.Now()
	r.scratch = make([]byte, r.l.maxPkt)
	r.sizePath()
	r.results = make([]error, len(files))
	r.remaining = len(files)
	for i, f := range files {
		r.files = append(r.files, &sfile{idx: i, src: f})
	}
	r.startOpener()
	r.l.start()
	err := r.loop()
	if !r.resultsAt.IsZero() {
		// The end of the trace: when every result was in, and how long
		// the DONE exchange took after it.
		now := r.clk.Now()
		r.cfg.Log.Debug("data session ended", "t", now.Sub(r.start).Round(time.Millisecond),
			"results_in", r.resultsAt.Sub(r.start).Round(time.Millisecond), "done_tx", r.doneTx, "err", err)
	}
	r.l.flush()
	r.l.close()
	cancel(err)
	r.stopOpening()
	for r.pending > 0 {
		(<-r.jobs)()
		r.pending--
	}
	for _, f := range r.files {
		if f.r != nil {
			_ = f.r.Close()
			f.r = nil
		}
		if f.state != sfDone && err != nil {
			r.results[f.idx] = fmt.Errorf("unable to send %s: %w", f.src.Entry.Path, err)
		}
	}
	r.publish(r.clk.Now(), true)
	return r.results, err
}

func (r *sendRun) loop() error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := r.clk.Now()
		wake, err := r.onTime(now)
		if err != nil {
			return err
		}
		if r.finished {
			return nil
		}
		// A fresh time: onTime may have taken a while, and data sent now
		// must not carry an older timestamp (it would read as queueing).
		if at := r.transmit(r.clk.Now()); !at.IsZero() && at.Before(wake) {
			wake = at
		}
		if at, ok := r.ackHandler.timer(); ok {
			// transmit may have just put data in flight.
			wake = minTime(wake, at)
		}
		r.l.flush()
		r.onTooBig()
		r.publish(now, false)
		r.trace(now)
		d := wake.Sub(r.clk.Now())
		if d <= 0 {
			d = time.Microsecond
		}
		timer.Reset(d)
		select {
		case <-r.ctx.Done():
			// Tell the receiver to stop and keep its partials for a resume.
			for i := 0; i < 2; i++ {
				r.l.queue(wire.TypeDone, wire.Done{Files: uint32(len(r.files))}.Append)
			}
			r.l.flush()
			return context.Cause(r.ctx)
		case batch := <-r.l.in:
			now := r.clk.Now()
			for _, p := range batch {
				r.handle(now, p)
				release(p.buf)
			}
			r.l.recycle(batch)
		drain:
			for i := 0; i < 8; i++ {
				select {
				case batch := <-r.l.in:
					for _, p := range batch {
						r.handle(now, p)
						release(p.buf)
					}
					r.l.recycle(batch)
				default:
					break drain
				}
			}
		case err := <-r.l.rerr:
			return fmt.Errorf("unable to receive on the data socket: %w", err)
		case fn := <-r.jobs:
			r.pending--
			fn()
		case <-r.s.changed:
			r.applyConfig()
		case o := <-r.openedIfRoom():
			r.waitOpener = false
			r.admitOpened(r.clk.Now(), o)
		case <-timer.C:
		}
		if r.finished {
			if r.peerClosed {
				return ErrPeerClosed
			}
			return nil
		}
	}
}

func (r *sendRun) applyConfig() {
	r.s.mu.Lock()
	own := r.s.own
	r.s.mu.Unlock()
	r.s.ctrl.SetConfig(mergeRate(own, r.want))
	r.pacer.SetRate(r.s.ctrl.Rate())
}

func (r *sendRun) publish(now time.Time, force bool) {
	if !force && now.Sub(r.lastPublish) < 5*time.Millisecond {
		return
	}
	r.lastPublish = now
	cs := r.s.ctrl.Stats()
	r.s.mu.Lock()
	own := r.s.own
	eff := mergeRate(own, r.want)
	r.s.stats = Stats{
		PacketsSent: r.l.sentPkts, BytesSent: r.l.sentBytes, PacketsReceived: r.l.recvPkts, BytesReceived: r.l.recvBytes,
		PayloadBytes: r.payload, RetransmittedBytes: r.retrans, ResumedBytes: r.resumed, LostPackets: r.lostPkts,
		LateLosses: r.ackHandler.spurious, SendErrors: r.l.sendErrs, Unparsable: r.l.unparsable, RTT: r.ackHandler.rtt.smoothed(),
		Rate: cs.Rate, Target: eff.TargetRate, Min: eff.MinRate,
		FilesDone: r.filesDone, FilesFailed: r.filesFailed,
		PacketSize: r.size.cur,
		Share:      cs.Share,
	}
	r.s.mu.Unlock()
}

// trace logs, at debug level and once a second (ten times a second for
// the first three, where startup shows), what the session did in that
// time: enough to see where a slow transfer loses its rate.
func (r *sendRun) trace(now time.Time) {
	every := time.Second
	if now.Sub(r.start) < 3*time.Second || r.queued == len(r.files) && len(r.active) < 64 {
		every = 100 * time.Millisecond // startup, and the tail
	}
	if now.Sub(r.traced.at) < every || !r.cfg.Log.Enabled(r.ctx, slog.LevelDebug) {
		return
	}
	prev := r.traced
	idle := r.idle
	if !r.idleFrom.IsZero() {
		idle += now.Sub(r.idleFrom)
		r.idleFrom = now
	}
	r.idle = 0
	meanRate := r.takeMeanRate()
	r.traced = traceMark{at: now, payload: r.payload, retrans: r.retrans, wire: r.l.sentBytes, pkts: r.l.sentPkts}
	if prev.at.IsZero() {
		return
	}
	secs := now.Sub(prev.at).Seconds()
	mbit := func(b uint64) string { return fmt.Sprintf("%.1f", float64(b)*8/secs/1e6) }
	cs := r.s.ctrl.Stats()
	r.cfg.Log.Debug("data session", "t", now.Sub(r.start).Round(time.Millisecond),
		"payload_mbit", mbit(r.payload-prev.payload), "retrans_mbit", mbit(r.retrans-prev.retrans),
		"wire_mbit", mbit(r.l.sentBytes-prev.wire), "pkts", r.l.sentPkts-prev.pkts,
		"rate_mbit", fmt.Sprintf("%.1f", cs.Rate/1e6), "mean_rate_mbit", fmt.Sprintf("%.1f", meanRate/1e6), "recv_mbit", fmt.Sprintf("%.1f", cs.RecvRate/1e6),
		"queue", cs.QueueDelay, "phase", cs.Phase, "srtt", r.ackHandler.rtt.smoothed(), "inflight", r.ackHandler.inflight,
		"active", len(r.active), "waiting", r.waiting, "queued", len(r.files)-r.queued, "done", r.filesDone, "unacked", r.ackHandler.sent.len(), "retx", r.retx.len(),
		"lost", r.lostPkts, "late", r.ackHandler.spurious, "remaining", r.remaining, "done_tx", r.doneTx,
		"idle", idle.Round(time.Millisecond), "sending", len(r.sending))
}

// takeMeanRate returns the controller's mean rate since the last trace line
// and starts a new mean.
func (r *sendRun) takeMeanRate() float64 {
	m := r.s.ctrl.Rate()
	if r.rateN > 0 {
		m = r.rateSum / float64(r.rateN)
	}
	r.rateSum, r.rateN = 0, 0
	return m
}

// traceMark is the counters at the last trace line.
type traceMark struct {
	at                           time.Time
	payload, retrans, wire, pkts uint64
}

// ctrlTimeout is when an unanswered FILE, PROBE, ABORT or DONE is sent
// again, n sends in: one PTO after the first, doubling from there, at
// most 3 s. These packets are few and small, so backing off guards
// nothing; on a lossy path each extra PTO held a file (and at the end
// the whole session) back: starting at two PTOs, a FILE and then its
// ACCEPT lost kept the last file of a wan-200 session waiting 1.7 s.
func (r *sendRun) ctrlTimeout(n int) time.Duration {
	return min(r.rtt.pto(r.cfg.FeedbackInterval)<<min(max(n-1, 0), 4), 3*time.Second)
}

// ctrlWait is ctrlTimeout, except at the tail of a session (every file
// announced, at most aheadFiles still in flight), where it does not back
// off: there a lost RESULT (or FILE, ACCEPT, DONE) held the whole session
// for the doubled wait of the probe that asked again, up to 3 s on
// wan-100, and a probe every PTO for so few files costs next to nothing.
func (r *sendRun) ctrlWait(n int) time.Duration {
	if r.queued == len(r.files) && len(r.active) <= aheadFiles {
		n = min(n, 1)
	}
	return r.ctrlTimeout(n)
}

// resultProbeMax bounds, in PTOs, the wait between PROBEs of a file whose
// data is all acknowledged (see fileWait).
const resultProbeMax = 2

// fileWait is how long after f's last control packet it is sent again:
// ctrlWait, except that the PROBE of a file whose data is all
// acknowledged backs off to resultProbeMax PTOs only, anywhere in the
// session. Such a file waits on the receiver's commit, whose RESULT is
// sent once: lost (one in ten at 10 % loss), it is only asked for again
// by the next PROBE, and after four unanswered PROBEs (the commits at the
// end of a session queue behind each other) ctrlTimeout's backoff had
// that next PROBE up to 3 s away while nothing else was left to send
// (wan-lossy: the last file of the session waited 2 s for it). A PROBE is
// a few dozen bytes, one per file and interval.
func (r *sendRun) fileWait(f *sfile) time.Duration {
	d := r.ctrlWait(f.txCount)
	if f.state == sfAcked {
		d = min(d, resultProbeMax*r.rtt.pto(r.cfg.FeedbackInterval))
	}
	return d
}

// onTime runs everything driven by the clock and returns when it next
// needs to run.
func (r *sendRun) onTime(now time.Time) (time.Time, error) {
	wake, err := r.l.liveness(now, r.start, r.cfg)
	if err != nil && r.remaining == 0 && r.doneTx > 0 {
		// Every result is in and DONE has gone out: the receiver has
		// most likely answered and left, its FINs lost. Silence now says
		// nothing about the files, so it does not fail the session.
		r.finished = true
		return wake, nil
	}
	if err != nil {
		states := map[sfState]int{}
		for _, f := range r.active {
			states[f.state]++
		}
		a := &r.ackHandler
		r.cfg.Log.Debug("sender giving up", "err", err, "inflight", a.inflight, "sent", a.sent.len(), "retx", r.retx.len(),
			"sending", len(r.sending), "states", fmt.Sprint(states), "remaining", r.remaining, "ptoCount", a.ptoCount, "rate", r.s.ctrl.Rate(),
			"pto", a.pto(), "sinceLastSent", now.Sub(a.lastSent), "largest", a.largest, "base", a.base, "front", fmt.Sprintf("%+v", a.sent.front(6)))
		return wake, err
	}
	if r.l.peer == nil {
		return wake, nil // nothing can be sent until the receiver speaks
	}
	r.sizePath()
	lost, lt := r.ackHandler.detectLoss(now)
	r.onLost(lost)
	if !lt.IsZero() && lt.Before(wake) {
		wake = lt
	}
	if at := r.probePath(now); at.Before(wake) {
		wake = at
	}
	// Tail probe: data outstanding and nothing acknowledged for a PTO.
	if r.ackHandler.onTimer(now) {
		r.sendCtrl(now, wire.TypePing, wire.Done{Files: uint32(len(r.files))}.Append)
		r.tailProbe()
	}
	if at, ok := r.ackHandler.timer(); ok {
		wake = minTime(wake, at)
	}
	if at := r.admit(now); !at.IsZero() {
		wake = minTime(wake, at)
	}
	for _, f := range r.active {
		var t wire.Type
		var body func([]byte) []byte
		switch f.state {
		case sfAnnounced:
			t, body = wire.TypeFile, f.info.Append
		case sfAcked:
			t, body = wire.TypeProbe, wire.Probe{ID: f.id, Size: f.info.Size}.Append
		case sfAborting:
			if f.txCount >= 6 {
				r.finish(f, f.err)
				continue
			}
			t, body = wire.TypeAbort, wire.Status{ID: f.id, Code: codeOf(f.err), Msg: f.err.Error()}.Append
		default:
			continue
		}
		at := f.lastTx.Add(r.fileWait(f))
		if !now.Before(at) {
			r.sendCtrl(now, t, body)
			f.lastTx = now
			f.txCount++
			at = now.Add(r.fileWait(f))
		}
		if at.Before(wake) {
			wake = at
		}
	}
	r.compact()
	if r.remaining == 0 {
		if r.doneTx >= 5 {
			r.finished = true // every result is in; a lost FIN does not matter
			return wake, nil
		}
		at := r.lastDone.Add(r.ctrlWait(r.doneTx))
		if r.doneTx == 0 {
			r.resultsAt = now
		}
		if r.doneTx == 0 || !now.Before(at) {
			r.sendCtrl(now, wire.TypeDone, wire.Done{Files: uint32(len(r.files))}.Append)
			r.doneTx++
			r.lastDone = now
			at = now.Add(r.ctrlWait(r.doneTx))
		}
		if at.Before(wake) {
			wake = at
		}
	}
	return wake, nil
}

func (r *sendRun) compact() {
	out := r.active[:0]
	for _, f := range r.active {
		if f.state != sfDone {
			out = append(out, f)
		}
	}
	clear(r.active[len(out):])
	r.active = out
}

// admit opens and announces queued files while few enough are in flight:
// many small files ride one round trip (each file holds its slot for about
// two round trips: FILE to ACCEPT, then its data to RESULT, so keeping a
// long fat path busy with small files takes hundreds), while a big file
// does not let hundreds of others hold open writers on the receiver
// meanwhile. Announcements are paced like data: a burst of hundreds of FILE
// packets at the start would build a queue that ends the rate controller's
// startup before any data flowed. It returns when the pacer allows the
// next one, or zero.
func (r *sendRun) admit(now time.Time) time.Time {
	r.waitOpener = false
	unsent := int64(0)
	for _, f := range r.active {
		switch f.state {
		case sfAnnounced, sfVerifying, sfSending:
			unsent += f.end() - f.next
		}
	}
	// Up to aheadFiles are announced even past the budget, so that a big
	// file does not hold back every file after it: the receiver creates
	// them (and answers) while the big one is still sending, instead of
	// hundreds at once when it ends (lan-1g tree fell from 820 to 600
	// Mbit/s there, the receiver busy creating files).
	for r.queued < len(r.files) && len(r.active) < r.cfg.MaxOpenFiles && (unsent < r.cfg.AdmitBudget || len(r.active) < aheadFiles) {
		f := r.files[r.queued]
		if ok, wait := r.pacer.Allow(wire.HeaderLen + seal.Overhead + fileOverhead + len(f.src.Entry.Path)); !ok {
			return now.Add(max(wait, pacingQuantum))
		}
		select {
		case o := <-r.opened:
			r.admitOpened(now, o)
			if o.f.state != sfDone {
				unsent += o.f.end() - o.f.next
			}
		default:
			r.waitOpener = true // the loop hears when the opener has more
			return time.Time{}
		}
	}
	return time.Time{}
}

// aheadFiles is how many files may be in flight whatever the budget.
const aheadFiles = 64

// openedIfRoom is the opener's channel when admission is waiting for it,
// else nil (a receive from it never fires).
func (r *sendRun) openedIfRoom() chan openedFile {
	if r.waitOpener {
		return r.opened
	}
	return nil
}

// openedFile is a file the opener has opened (or failed to), with its
// hash when the opener computed it (SendFile.Hash).
type openedFile struct {
	f    *sfile
	rd   endpoint.FileReader
	hash uint64
	err  error
}

// openAhead is how many files the opener may have open before the loop
// admits them.
const openAhead = 64

func (r *sendRun) startOpener() {
	r.opened = make(chan openedFile, openAhead)
	r.stopOpener = make(chan struct{})
	r.openerDone = make(chan struct{})
	go func() {
		defer close(r.openerDone)
		for _, f := range r.files {
			o := openedFile{f: f}
			o.rd, o.err = f.src.Open()
			if o.err == nil && f.src.Entry.Hash == 0 && f.src.Hash != nil {
				if o.hash, o.err = f.src.Hash(o.rd); o.err != nil {
					_ = o.rd.Close()
					o.rd = nil
				}
			}
			rd := o.rd
			select {
			case r.opened <- o:
			case <-r.stopOpener:
				if rd != nil {
					_ = rd.Close()
				}
				return
			}
		}
	}()
}

// stopOpening ends the opener and closes what it opened that was never
// admitted.
func (r *sendRun) stopOpening() {
	close(r.stopOpener)
	<-r.openerDone
	for {
		select {
		case o := <-r.opened:
			if o.rd != nil {
				_ = o.rd.Close()
			}
		default:
			return
		}
	}
}

// admitOpened announces the next file in order, now that it is open.
func (r *sendRun) admitOpened(now time.Time, o openedFile) {
	f := o.f
	r.queued++
	e := f.src.Entry
	var err error
	switch {
	case o.err != nil:
		err = fmt.Errorf("unable to open %s for sending: %w", e.Path, o.err)
	case o.rd.Size() != e.Size:
		err = fmt.Errorf("unable to send %s: size is %d, scan saw %d: %w (the next pass picks it up)", e.Path, o.rd.Size(), e.Size, endpoint.ErrChanged)
	case e.Size > wire.MaxOffset:
		err = fmt.Errorf("unable to send %s: %d bytes is more than a data session carries (%d)", e.Path, e.Size, int64(wire.MaxOffset))
	case f.src.Part.Len != 0 && (f.src.Part.Off < 0 || f.src.Part.Len < 0 || f.src.Part.Off+f.src.Part.Len > e.Size):
		err = fmt.Errorf("unable to send %s: part %d+%d is outside its %d bytes", e.Path, f.src.Part.Off, f.src.Part.Len, e.Size)
	}
	if err != nil {
		// Never announced: the receiver hears nothing of it.
		if o.err == nil {
			_ = o.rd.Close()
		}
		r.results[f.idx] = err
		f.state = sfDone
		r.remaining--
		r.filesFailed++
		return
	}
	f.r = o.rd
	f.id = r.nextID
	r.nextID++
	f.info = wire.File{ID: f.id, Size: e.Size, Hash: e.Hash, Mode: uint32(e.Mode.Perm()), Mtime: e.Mtime, Path: e.Path}
	if e.Hash == 0 {
		f.info.Hash = o.hash
	}
	if p := f.src.Part; p.Len != 0 {
		f.info.Flags |= wire.FilePart
		f.info.PartOff, f.info.PartLen = p.Off, p.Len
	}
	markOutside(f)
	r.announce(now, f)
}

// end is where the bytes this session sends of f end: its part's end, or
// the file's.
func (f *sfile) end() int64 {
	if f.info.Flags&wire.FilePart != 0 {
		return f.info.PartOff + f.info.PartLen
	}
	return f.info.Size
}

// markOutside counts the bytes of a part's file outside its range as
// acknowledged (without reporting them), so everything that sends,
// verifies and completes a file keeps to the range.
func markOutside(f *sfile) {
	if f.info.Flags&wire.FilePart == 0 {
		return
	}
	f.acked.add(0, f.info.PartOff)
	f.acked.add(f.info.PartOff+f.info.PartLen, f.info.Size)
	f.next = f.info.PartOff
}

func (r *sendRun) announce(now time.Time, f *sfile) {
	f.state = sfAnnounced
	r.byID[f.id] = f
	r.active = append(r.active, f)
	r.sendCtrl(now, wire.TypeFile, f.info.Append)
	f.lastTx, f.txCount = now, 1
}

// sendCtrl queues a control packet. It goes out ahead of data and is
// charged to the pacer as debt.
func (r *sendRun) sendCtrl(now time.Time, t wire.Type, body func([]byte) []byte) {
	pn, size := r.l.queue(t, body)
	r.ackHandler.onSent(now, pn, sentPkt{at: now, size: size})
	r.pacer.Sent(size)
}

// transmit sends data while the pacer allows and returns when it will
// allow more (zero when there is nothing to send).
func (r *sendRun) transmit(now time.Time) time.Time {
	if r.l.peer == nil {
		return time.Time{}
	}
	rate := r.s.ctrl.Rate()
	srtt := r.ackHandler.rtt.smoothed()
	limit := int(rate/8*(2*srtt+4*r.cfg.FeedbackInterval).Seconds()) + 256<<10
	for budget := 0; budget < 512; budget++ {
		if r.ackHandler.inflight >= limit {
			r.idleAt(now)
			return time.Time{} // feedback or a probe timeout wakes the loop
		}
		f, off, n, re := r.nextData()
		if f == nil && r.tailDuplicate() {
			f, off, n, re = r.nextData()
		}
		if f == nil {
			r.idleAt(now)
			return time.Time{}
		}
		size := wire.HeaderLen + wire.DataOverhead + n + seal.Overhead
		if ok, wait := r.pacer.Allow(size); !ok {
			// Put it back: it is the first thing sent next time.
			if re {
				r.retx.pushFront(retxSpan{f, off, n})
			} else {
				f.next = off
				if len(r.sending) == 0 || r.sending[0] != f {
					r.sending = append([]*sfile{f}, r.sending...)
				}
			}
			return now.Add(max(wait, pacingQuantum))
		}
		buf, err := r.read(f, off, n, re)
		if err != nil {
			r.fail(now, f, err)
			continue
		}
		if budget&31 == 31 {
			now = r.clk.Now() // reads above can take a while
		}
		if !r.idleFrom.IsZero() {
			r.idle += now.Sub(r.idleFrom)
			r.idleFrom = time.Time{}
		}
		d := wire.Data{File: f.id, Offset: off, SentAt: uint32(now.Sub(r.start).Microseconds()), Payload: buf}
		pn, wsize := r.l.queue(wire.TypeData, d.Append)
		r.ackHandler.onSent(now, pn, sentPkt{at: now, f: f, off: off, n: n, size: wsize})
		r.pacer.Sent(wsize)
		if re {
			r.retrans += uint64(n)
		} else {
			r.payload += uint64(n)
		}
		if len(r.l.tooBig) > 0 {
			// A flush inside queue found the path smaller: size down
			// before the next packet.
			r.onTooBig()
		}
	}
	return now
}

// tailDuplicate queues the next packet still in flight to go again once
// the session has no new data left (every file announced, verified and
// sent), and reports whether it queued one. The link would idle until the
// last results anyway, and a lost packet at the tail has no later ones
// to reveal it: it waits for a probe timeout and another round trip (on
// wan-100 about 0.3 s, and at 1 % loss some of the last few hundred
// packets are always lost). Sent once more in the idle time, it arrives
// a moment later instead. Each packet goes again at most once, in the
// order it was sent, and only while not acknowledged: what arrived by
// the time its turn comes is skipped. It happens once a session.
func (r *sendRun) tailDuplicate() bool {
	if r.tailDone {
		return false
	}
	h := &r.ackHandler
	if !r.tailOn {
		if !r.tail() {
			return false // new data may come yet
		}
		r.tailOn = true
		r.dupNext, r.tailEnd = h.base, h.base+uint64(h.sent.len())
	}
	for r.dupNext = max(r.dupNext, h.base); r.dupNext < r.tailEnd; r.dupNext++ {
		p := h.sent.at(int(r.dupNext - h.base))
		if p.state != pktInflight || p.f == nil || p.probe || p.f.state != sfSending {
			continue
		}
		r.dupNext++
		r.retx.push(retxSpan{p.f, p.off, p.n})
		return true
	}
	r.tailDone = true
	return false
}

// idleAt notes that transmit had nothing to send at now.
func (r *sendRun) idleAt(now time.Time) {
	if r.idleFrom.IsZero() {
		r.idleFrom = now
	}
}

// payloadMax is the most file bytes one DATA packet carries at the
// path's datagram size.
func (r *sendRun) payloadMax() int {
	return r.size.cur - wire.HeaderLen - wire.DataOverhead - seal.Overhead
}

// sizePath starts following the path's datagram size once the peer is
// known (its address family sets the ceiling): from SafePacketSize up to
// a full 1,500-byte MTU, or Config.PacketSize if set, or
// DefaultPacketSize where the kernel does not report the path (not
// Linux).
func (r *sendRun) sizePath() {
	if r.sizeSet {
		return
	}
	fixed := r.cfg.PacketSize
	if fixed == 0 && !pmtuSupported {
		fixed = DefaultPacketSize
	}
	r.size = newPathSize(fixed, SafePacketSize, pathCeiling(r.l.peer))
	r.sizeSet = r.l.peer != nil
}

// probePath sends a padded probe of the full datagram size when one is
// due, times out one that neither came back nor was overtaken by
// acknowledged packets, and returns when it next needs to look.
func (r *sendRun) probePath(now time.Time) time.Time {
	timeout := 3 * r.ackHandler.pto()
	if r.size.probeExpired(now, timeout) {
		r.size.probeLost(r.size.probeLen)
	}
	if n, ok := r.size.probe(); ok {
		body := func(b []byte) []byte {
			b = wire.Done{Files: uint32(len(r.files))}.Append(b)
			// The tag comes on top of the body.
			pad := n - seal.Overhead - len(b)
			return append(b, make([]byte, max(pad, 0))...)
		}
		pn, size := r.l.queue(wire.TypePing, body)
		r.ackHandler.onSent(now, pn, sentPkt{at: now, size: size, probe: true})
		r.pacer.Sent(size)
		r.size.probeSent(size, now)
		r.l.flush()
		r.onTooBig()
	}
	if r.size.probing {
		return r.size.probeAt.Add(timeout)
	}
	return now.Add(time.Hour)
}

// checkBlackHole drops to the safe size when big DATA has stopped getting
// through while this feedback (small) still does: a path whose MTU fell
// without an ICMP to say so would otherwise resend the same big packets
// forever.
func (r *sendRun) checkBlackHole(now time.Time) {
	if r.big.blackHole(now, r.ackHandler.pto()) && r.size.blackHole() {
		r.cfg.Log.Warn("big datagrams stopped getting through; sending smaller ones", "size", r.size.cur)
	}
}

// onTooBig handles the packets the kernel refused as too big for the
// path: the size goes down to what the route allows, and their data is
// sent again in packets of that size (they never left, so they are not
// loss and do not slow the rate).
func (r *sendRun) onTooBig() {
	refused := r.l.takeTooBig()
	if len(refused) == 0 {
		return
	}
	route := routeMax(r.l.peer)
	for _, x := range refused {
		if r.size.tooBig(x.size, route) {
			r.cfg.Log.Debug("datagram too big for the path; sending smaller ones", "refused", x.size, "route", route, "size", r.size.cur)
		}
		if p, ok := r.ackHandler.refused(x.number); ok && p.f != nil {
			r.retx.push(retxSpan{p.f, p.off, p.n})
		}
	}
}

// nextData picks the next bytes to send: retransmissions first, then new
// data of the earliest file still sending.
func (r *sendRun) nextData() (*sfile, int64, int, bool) {
	for {
		sp, ok := r.retx.pop()
		if !ok {
			break
		}
		if sp.f.state == sfSending && !sp.f.acked.contains(sp.off, sp.off+int64(sp.n)) {
			if pm := r.payloadMax(); sp.n > pm {
				// Sent when the path took bigger packets: the rest
				// goes next.
				r.retx.pushFront(retxSpan{sp.f, sp.off + int64(pm), sp.n - pm})
				sp.n = pm
			}
			return sp.f, sp.off, sp.n, true
		}
	}
	for len(r.sending) > 0 {
		f := r.sending[0]
		if f.state != sfSending {
			r.sending = r.sending[1:]
			continue
		}
		off := f.acked.gapFrom(f.next)
		if off >= f.info.Size {
			f.next = f.info.Size
			f.ra = nil // retransmissions read what they need
			r.sending = r.sending[1:]
			continue
		}
		n := int64(r.payloadMax())
		n = min(n, f.info.Size-off)
		for _, s := range f.acked.s {
			if s.lo > off {
				n = min(n, s.lo-off)
				break
			}
		}
		f.next = off + n
		return f, off, int(n), false
	}
	return nil, 0, 0, false
}

const readAhead = 256 << 10

// fileOverhead is a FILE body's size besides the path (an estimate is
// enough: it only paces announcements).
const fileOverhead = 32

func (r *sendRun) read(f *sfile, off int64, n int, re bool) ([]byte, error) {
	if !re {
		if f.ra == nil || off < f.raOff || off+int64(n) > f.raOff+int64(len(f.ra)) {
			want := min(int64(readAhead), f.info.Size-off)
			if cap(f.ra) < int(want) {
				// Sized to the file: a small file does not get (and
				// clear) a whole read-ahead buffer.
				f.ra = make([]byte, want)
			}
			f.ra = f.ra[:want]
			if err := readFull(f.r, f.ra, off); err != nil {
				f.ra = nil
				return nil, err
			}
			f.raOff = off
		}
		return f.ra[off-f.raOff : off-f.raOff+int64(n)], nil
	}
	b := r.scratch[:n]
	return b, readFull(f.r, b, off)
}

func readFull(rd io.ReaderAt, b []byte, off int64) error {
	n, err := rd.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		return fmt.Errorf("file shrank while sending: %w", endpoint.ErrChanged)
	}
	return err
}

// fail gives up on a file the sender cannot read and tells the receiver to
// drop it.
func (r *sendRun) fail(now time.Time, f *sfile, err error) {
	f.err = fmt.Errorf("unable to read %s: %w", f.info.Path, err)
	f.state = sfAborting
	f.txCount = 0
	r.sendCtrl(now, wire.TypeAbort, wire.Status{ID: f.id, Code: codeOf(err), Msg: f.err.Error()}.Append)
	f.lastTx, f.txCount = now, 1
}

func (r *sendRun) finish(f *sfile, err error) {
	if f.state == sfDone {
		return
	}
	r.leaveWaiting(f)
	f.state = sfDone
	delete(r.byID, f.id)
	f.ra = nil
	if f.r != nil {
		_ = f.r.Close()
		f.r = nil
	}
	r.results[f.idx] = err
	r.remaining--
	if err != nil {
		r.filesFailed++
	} else {
		r.filesDone++
	}
}

func (r *sendRun) handle(now time.Time, p inPkt) {
	r.l.heardFrom(p, now)
	var err error
	switch p.hdr.Type {
	case wire.TypeFeedback:
		var fb wire.Feedback
		if fb, _, err = wire.ParseFeedback(p.body); err == nil {
			// Timed from arrival, so a busy loop does not inflate the RTT.
			r.onFeedback(p.at, fb)
		}
	case wire.TypeAccept:
		var a wire.Accept
		if a, _, err = wire.ParseAccept(p.body); err == nil {
			r.onAccept(now, a)
		}
	case wire.TypeResult:
		var st wire.Status
		if st, _, err = wire.ParseStatus(p.body); err == nil {
			r.onResult(now, st)
		}
	case wire.TypeFin:
		if r.remaining == 0 {
			r.finished = true
		} else {
			for _, f := range r.active {
				r.finish(f, fmt.Errorf("unable to send %s: %w", f.info.Path, ErrPeerClosed))
			}
			for _, f := range r.files[r.queued:] {
				r.results[f.idx] = fmt.Errorf("unable to send %s: %w", f.src.Entry.Path, ErrPeerClosed)
				f.state = sfDone
			}
			r.remaining = 0
			r.finished = true
			r.peerClosed = true
		}
	}
	if err != nil {
		r.l.unparsable++
	}
}

func (r *sendRun) onFeedback(now time.Time, fb wire.Feedback) {
	acked, lost := r.ackHandler.onFeedback(now, fb)
	for i := range acked {
		p := &acked[i]
		if p.probe {
			old := r.size.cur
			r.size.probeAcked(p.size)
			if r.size.cur != old {
				r.big.acked(now)
			}
		}
		if p.f != nil && p.size > r.size.base {
			r.big.acked(now)
		}
		if p.f != nil {
			r.onAcked(now, p.f, p.off, int64(p.n))
		}
	}
	r.onLost(lost)
	r.checkBlackHole(now)
	if fb.Want != r.want {
		r.want = fb.Want
		r.applyConfig()
	}
	f := cc.Feedback{RecvRate: float64(fb.RecvRate), Lost: r.lost, RTT: r.ackHandler.rtt.smoothed()}
	if fb.OWDSamples > 0 {
		f.Received, f.MinOWD, f.MeanOWD = int(fb.Received), fb.MinOWD, fb.MeanOWD
	}
	r.lost = 0
	r.s.ctrl.OnFeedback(f)
	r.pacer.SetRate(r.s.ctrl.Rate())
	r.rateSum += r.s.ctrl.Rate()
	r.rateN++
}

func (r *sendRun) onAcked(now time.Time, f *sfile, off, n int64) {
	if f.state != sfSending && f.state != sfAcked {
		return
	}
	if added := f.acked.add(off, off+n); added > 0 && r.cfg.Progress != nil {
		r.cfg.Progress(f.info.Path, added, false)
	}
	if f.state == sfSending && f.acked.covers(f.info.Size) {
		r.toAcked(now, f)
	}
}

func (r *sendRun) toAcked(now time.Time, f *sfile) {
	f.state = sfAcked
	r.waiting++
	f.txCount = 0
	f.lastTx = now
	if f.resumed {
		// The receiver commits a resumed file only once told no more
		// bytes are coming.
		r.sendCtrl(now, wire.TypeProbe, wire.Probe{ID: f.id, Size: f.info.Size}.Append)
		f.txCount = 1
	}
}

// onLost acts on packets the ackHandler declared lost: their data is
// queued again, and a probe lost says the path may not take its size,
// not that it is congested.
func (r *sendRun) onLost(lost []sentPkt) {
	from := r.retx.len()
	for i := range lost {
		p := &lost[i]
		if p.probe {
			r.size.probeLost(p.size)
			continue
		}
		r.lost++
		r.lostPkts++
		if p.f != nil && p.size > r.size.base {
			r.big.lost++
		}
		if p.f != nil {
			r.retx.push(retxSpan{p.f, p.off, p.n})
		}
	}
	if r.retx.len() > from && r.tail() {
		// Nothing new is left to send: each round of loss now costs a
		// round trip and a loss delay of its own with the link idle
		// (three or four rounds at 10 % loss). A second copy of every
		// span, sent after this round's first copies, makes a span lost
		// again one in a hundred instead of one in ten at the price of
		// the packets lost, on an otherwise idle link. nextData skips a
		// copy whose span is acknowledged by then.
		r.retx.repeatFrom(from)
	}
}

// tailProbe queues a copy of the newest DATA in flight when a probe
// timeout fires in the tail (every byte sent once). With nothing sent
// after it, the newest packet lost is only found lost a round trip after
// the PING's acknowledgement, and sent again then; its copy with the PING
// repairs it a round trip earlier (TCP's tail loss probe), and its
// acknowledgement shows the older ones lost as the PING's would.
func (r *sendRun) tailProbe() {
	if !r.tail() {
		return
	}
	if p, ok := r.ackHandler.newestData(); ok {
		r.retx.push(retxSpan{p.f, p.off, p.n})
	}
}

// tail reports whether every file has been admitted and every byte of
// the files sending has been sent once: what is left is loss recovery.
func (r *sendRun) tail() bool {
	if r.queued < len(r.files) {
		return false
	}
	for _, f := range r.active {
		switch f.state {
		case sfAnnounced, sfVerifying:
			return false
		case sfSending:
			if f.next < f.end() {
				return false
			}
		}
	}
	return true
}

func (r *sendRun) onAccept(now time.Time, a wire.Accept) {
	f := r.byID[a.ID]
	if f == nil || f.state != sfAnnounced {
		return
	}
	if a.Code != wire.CodeOK {
		r.finish(f, remoteErr(f.info.Path, a.Code, a.Msg))
		return
	}
	if f.parts == nil {
		f.parts = make([]bool, a.Parts)
		f.partsLeft = int(a.Parts)
		f.chunkSize = int64(a.ChunkSize)
	}
	if int(a.Parts) != len(f.parts) || f.parts[a.Part] || (len(a.Chunks) > 0 && int64(a.ChunkSize) != f.chunkSize) {
		return
	}
	f.parts[a.Part] = true
	f.partsLeft--
	f.offered = append(f.offered, a.Chunks...)
	if f.partsLeft > 0 {
		return
	}
	if len(f.offered) == 0 {
		r.startSending(now, f)
		return
	}
	f.state = sfVerifying
	f.resumed = true
	r.spawnVerify(f)
}

// spawnVerify hashes the chunks the receiver offered against the source,
// off the loop (it can be gigabytes), and sends only what does not match.
func (r *sendRun) spawnVerify(f *sfile) {
	r.pending++
	rd, chunks, cs, size := f.r, f.offered, f.chunkSize, f.info.Size
	go func() {
		var match []wire.Chunk
		buf := make([]byte, min(cs, 4<<20))
		for _, c := range chunks {
			lo := int64(c.Index) * cs
			if cs > int64(len(buf)) || lo >= size || r.ctx.Err() != nil {
				continue
			}
			b := buf[:min(cs, size-lo)]
			if readFull(rd, b, lo) == nil && xxhash.Sum64(b) == c.Hash {
				match = append(match, c)
			}
		}
		r.jobs <- func() {
			if f.state != sfVerifying {
				return
			}
			for _, c := range match {
				lo := int64(c.Index) * cs
				hi := min(lo+cs, size)
				if added := f.acked.add(lo, hi); added > 0 {
					r.resumed += uint64(added)
					if r.cfg.Progress != nil {
						r.cfg.Progress(f.info.Path, added, true)
					}
				}
			}
			r.startSending(r.clk.Now(), f)
		}
	}()
}

// leaveWaiting counts f out of the files waiting for their result as it
// leaves sfAcked.
func (r *sendRun) leaveWaiting(f *sfile) {
	if f.state == sfAcked {
		r.waiting--
	}
}

func (r *sendRun) startSending(now time.Time, f *sfile) {
	f.state = sfSending
	if f.acked.covers(f.info.Size) {
		r.toAcked(now, f)
		return
	}
	r.sending = append(r.sending, f)
}

func (r *sendRun) onResult(now time.Time, st wire.Status) {
	f := r.byID[st.ID]
	if f == nil || f.state == sfDone {
		return
	}
	switch {
	case f.state == sfAborting:
		r.finish(f, f.err)
	case st.Code == wire.CodeRetry && !f.fresh:
		r.retry(now, f)
	default:
		r.finish(f, remoteErr(f.info.Path, st.Code, st.Msg))
	}
}

// retry sends a file again from scratch under a new id after the receiver's
// hash check failed, so stray packets of the first attempt cannot mix in.
func (r *sendRun) retry(now time.Time, old *sfile) {
	r.leaveWaiting(old)
	nf := &sfile{idx: old.idx, src: old.src, r: old.r, fresh: true, id: r.nextID}
	r.nextID++
	nf.info = old.info
	nf.info.ID = nf.id
	nf.info.Flags |= wire.FileFresh
	markOutside(nf)
	old.r = nil
	old.state = sfDone
	delete(r.byID, old.id)
	r.announce(now, nf)
}
