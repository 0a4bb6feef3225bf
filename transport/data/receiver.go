package data

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"sync"
	"time"

	"github.com/ferry-sync/ferry/delta/chunk"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/transport/cc"
	"github.com/ferry-sync/ferry/transport/seal"
	"github.com/ferry-sync/ferry/transport/wire"
	"github.com/ferry-sync/ferry/tree"
)

// FileInfo is a file announced by the sender.
type FileInfo struct {
	ID    uint32
	Path  string
	Size  int64
	Hash  uint64
	Mode  fs.FileMode
	Mtime int64
	// Fresh: this is the retry after a hash mismatch; the writer should
	// start from nothing (the receiver ignores any partial it holds).
	Fresh bool
	// Part, when its Len is set, is the byte range this session carries
	// of a file split across sessions (see Parts).
	Part chunk.Range
}

// Split reports whether f is one part of a split file.
func (f FileInfo) Split() bool { return f.Part.Len != 0 }

// Entry returns the file as a tree.Entry, the meta a CreateFile needs.
func (f FileInfo) Entry() tree.Entry {
	return tree.Entry{Path: f.Path, Kind: tree.File, Size: f.Size, Mtime: f.Mtime, Mode: f.Mode, Hash: f.Hash}
}

// OpenFunc decides where an announced file lands. An error refuses the file
// and is reported to the sender (errors.Is keeps working there for the
// syncer sentinels).
type OpenFunc func(ctx context.Context, f FileInfo) (endpoint.FileWriter, error)

// Result is how one announced file ended on the receiving side.
type Result struct {
	File FileInfo
	Err  error
}

// Receiver is the receiving side of one data session.
type Receiver struct {
	cfg  Config
	conn net.PacketConn
	open OpenFunc
	box  *seal.Box

	mu    sync.Mutex
	want  cc.Config
	stats Stats
}

// NewReceiver prepares a receiving session over conn; Run starts it.
func NewReceiver(conn net.PacketConn, cfg Config, open OpenFunc) (*Receiver, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	box, err := seal.New(cfg.Key, cfg.Session, seal.Receiver)
	if err != nil {
		return nil, err
	}
	return &Receiver{cfg: cfg, conn: conn, open: open, box: box, want: cfg.Rate}, nil
}

// Receive runs one receiving session: see Receiver.Run.
func Receive(ctx context.Context, conn net.PacketConn, cfg Config, open OpenFunc) ([]Result, error) {
	r, err := NewReceiver(conn, cfg, open)
	if err != nil {
		return nil, err
	}
	return r.Run(ctx)
}

// SetConfig changes what the receiver asks of the sender's rate (its
// policy and caps); the request rides the next feedback, within 10 ms.
func (r *Receiver) SetConfig(c cc.Config) {
	r.mu.Lock()
	r.want = c
	r.mu.Unlock()
}

// Stats returns a recent snapshot.
func (r *Receiver) Stats() Stats {
	r.mu.Lock()
	st := r.stats
	r.mu.Unlock()
	st.Dropped = r.box.Stats()
	return st
}

type rfState uint8

const (
	rfPreparing rfState = iota
	rfOpen
	rfCommitting
	rfDone
)

type rfile struct {
	info    FileInfo
	state   rfState
	w       endpoint.FileWriter
	res     Resumable
	chunk   int64 // resume granularity offered to the sender
	got     rangeSet
	offered rangeSet
	resumed bool
	probed  bool
	aborted bool // ABORT arrived while preparing
	dirty   bool
	accepts []wire.Accept
	result  *wire.Status
	slot    int // index in results
	// werr is the first write error; owned by the disk writer.
	werr error
}

type recvRun struct {
	r     *Receiver
	cfg   Config
	l     *link
	clk   cc.Clock
	ctx   context.Context
	start time.Time

	files   map[uint32]*rfile
	results []Result
	byPath  map[string]int

	// acks: received packet numbers, newest range first.
	acks       []wire.Range
	largestAt  time.Time
	unacked    bool
	lastFb     time.Time
	ivBytes    uint64
	ivPkts     uint32
	owdN       uint32
	owdMin     time.Duration
	owdSum     time.Duration
	lastPing   time.Time
	lastCkpt   time.Time
	finished   bool
	jobs       chan func()
	pending    int
	closed     bool
	prepSem    chan struct{}
	commitSem  chan struct{}
	disk       *diskWriter
	written    uint64
	done, fail int
	lastPub    time.Time
}

// Helper goroutines doing disk work at once. Commits mostly wait on fsync:
// many in flight let the filesystem fold their journal commits (and
// localfs its directory fsyncs) together, which is what makes small files
// fast.
const (
	prepWorkers   = 4
	commitWorkers = 32
)

// maxAckRanges bounds the ranges kept; older history is not needed because
// the sender declares a packet lost soon after later ones are acknowledged.
const maxAckRanges = 64

// Run receives until the sender says it is done, and returns the result of
// every file announced (a file retried after a hash mismatch appears once,
// with its final result). Session errors are as for Sender.Run.
func (r *Receiver) Run(ctx context.Context) ([]Result, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	run := &recvRun{
		r: r, cfg: r.cfg, clk: r.cfg.Clock, ctx: ctx,
		l:         newLink(r.conn, r.box, r.cfg),
		files:     make(map[uint32]*rfile),
		byPath:    make(map[string]int),
		jobs:      make(chan func(), 16),
		prepSem:   make(chan struct{}, prepWorkers),
		commitSem: make(chan struct{}, commitWorkers),
	}
	run.start = run.clk.Now()
	run.lastFb, run.lastCkpt = run.start, run.start
	run.disk = newDiskWriter(run)
	run.l.start()
	err := run.loop()
	run.l.flush()
	run.l.close()
	run.closed = true
	cancel(err)
	// Wait for opens and commits in flight; their closures see closed and
	// only clean up.
	for run.pending > 0 {
		(<-run.jobs)()
		run.pending--
	}
	defer run.disk.close()
	for _, f := range run.files {
		if f.state == rfOpen || f.state == rfPreparing {
			run.abortFile(f)
			if run.results[f.slot].Err == nil && f.result == nil {
				cause := err
				if cause == nil {
					cause = errors.New("sender ended the session first")
				}
				run.results[f.slot].Err = fmt.Errorf("unable to receive %s: %w", f.info.Path, cause)
			}
		}
	}
	run.publish(run.clk.Now(), true)
	return run.results, err
}

func (rr *recvRun) loop() error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := rr.clk.Now()
		wake, err := rr.onTime(now)
		if err != nil || rr.finished {
			return err
		}
		rr.l.flush()
		rr.publish(now, false)
		d := wake.Sub(rr.clk.Now())
		if d <= 0 {
			d = time.Microsecond
		}
		timer.Reset(d)
		select {
		case <-rr.ctx.Done():
			for i := 0; i < 2; i++ {
				rr.l.queue(wire.TypeFin, wire.Done{}.Append)
			}
			return context.Cause(rr.ctx)
		case batch := <-rr.l.in:
			now := rr.clk.Now()
			for _, p := range batch {
				if !rr.handle(now, p) {
					release(p.buf)
				}
			}
			rr.l.recycle(batch)
		drain:
			for i := 0; i < 8 && !rr.finished; i++ {
				select {
				case batch := <-rr.l.in:
					for _, p := range batch {
						if !rr.handle(now, p) {
							release(p.buf)
						}
					}
					rr.l.recycle(batch)
				default:
					break drain
				}
			}
		case we := <-rr.disk.errs:
			if we.f.state == rfOpen {
				rr.failFile(we.f, we.err)
			}
		case err := <-rr.l.rerr:
			return fmt.Errorf("unable to receive on the data socket: %w", err)
		case fn := <-rr.jobs:
			rr.pending--
			fn()
		case <-timer.C:
		}
		if rr.finished {
			return nil
		}
	}
}

func (rr *recvRun) publish(now time.Time, force bool) {
	if !force && now.Sub(rr.lastPub) < 5*time.Millisecond {
		return
	}
	rr.lastPub = now
	rr.r.mu.Lock()
	rr.r.stats = Stats{
		PacketsSent: rr.l.sentPkts, BytesSent: rr.l.sentBytes, PacketsReceived: rr.l.recvPkts, BytesReceived: rr.l.recvBytes,
		PayloadBytes: rr.written, SendErrors: rr.l.sendErrs, Unparsable: rr.l.unparsable,
		FilesDone: rr.done, FilesFailed: rr.fail,
	}
	rr.r.mu.Unlock()
}

func (rr *recvRun) onTime(now time.Time) (time.Time, error) {
	wake, err := rr.l.liveness(now, rr.start, rr.cfg)
	if err != nil {
		return wake, err
	}
	if !rr.l.heard && rr.l.peer != nil {
		// Open the path through NATs and tell the sender where we are.
		at := rr.lastPing.Add(100 * time.Millisecond)
		if rr.lastPing.IsZero() || !now.Before(at) {
			rr.l.queue(wire.TypePing, wire.Done{}.Append)
			rr.lastPing = now
			at = now.Add(100 * time.Millisecond)
		}
		wake = minTime(wake, at)
	}
	if rr.unacked {
		at := rr.lastFb.Add(rr.cfg.FeedbackInterval)
		if !now.Before(at) {
			rr.sendFeedback(now)
		} else {
			wake = minTime(wake, at)
		}
	}
	at := rr.lastCkpt.Add(rr.cfg.CheckpointInterval)
	if !now.Before(at) {
		rr.lastCkpt = now
		for _, f := range rr.files {
			if f.state == rfOpen && f.dirty {
				rr.checkpoint(f)
			}
		}
		at = now.Add(rr.cfg.CheckpointInterval)
	}
	return minTime(wake, at), nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func (rr *recvRun) checkpoint(f *rfile) {
	if f.res == nil {
		return
	}
	f.dirty = false
	var all rangeSet
	for _, s := range f.got.s {
		all.add(s.lo, s.hi)
	}
	for _, s := range f.offered.s {
		all.add(s.lo, s.hi)
	}
	if f.info.Split() {
		all = all.within(f.info.Part.Off, f.info.Part.Off+f.info.Part.Len)
	}
	// Saved by the disk writer after the writes queued so far, which are
	// the ranges it names.
	rr.disk.in <- diskReq{op: opCheckpoint, f: f, data: encodeCheckpoint(f.info.Size, f.info.Hash, &all)}
}

func (rr *recvRun) sendFeedback(now time.Time) {
	el := now.Sub(rr.lastFb)
	fb := wire.Feedback{
		AckDelay: now.Sub(rr.largestAt),
		Received: rr.ivPkts,
		Ranges:   rr.acks,
	}
	if el > 0 {
		fb.RecvRate = uint64(float64(rr.ivBytes*8) / el.Seconds())
	}
	if rr.owdN > 0 {
		fb.OWDSamples, fb.MinOWD, fb.MeanOWD = rr.owdN, rr.owdMin, rr.owdSum/time.Duration(rr.owdN)
	}
	rr.r.mu.Lock()
	fb.Want = encodeRate(rr.r.want)
	rr.r.mu.Unlock()
	rr.l.queue(wire.TypeFeedback, fb.Append)
	rr.lastFb = now
	rr.unacked = false
	rr.ivBytes, rr.ivPkts, rr.owdN, rr.owdSum = 0, 0, 0, 0
}

// noteNumber adds a packet number to the acknowledgement ranges.
func (rr *recvRun) noteNumber(pn uint64, now time.Time) {
	a := rr.acks
	if len(a) == 0 || pn > a[0].Hi {
		rr.largestAt = now
		if len(a) > 0 && pn == a[0].Hi+1 {
			a[0].Hi = pn
			return
		}
		a = append(a, wire.Range{})
		copy(a[1:], a)
		a[0] = wire.Range{Lo: pn, Hi: pn}
		if len(a) > maxAckRanges {
			a = a[:maxAckRanges]
		}
		rr.acks = a
		return
	}
	for i := range a {
		switch {
		case pn >= a[i].Lo && pn <= a[i].Hi:
			return
		case pn == a[i].Lo-1:
			a[i].Lo = pn
			if i+1 < len(a) && a[i+1].Hi+1 == pn {
				a[i].Lo = a[i+1].Lo
				rr.acks = append(a[:i+1], a[i+2:]...)
			}
			return
		case pn > a[i].Hi:
			if pn == a[i].Hi+1 {
				a[i].Hi = pn
				return
			}
			a = append(a, wire.Range{})
			copy(a[i+1:], a[i:])
			a[i] = wire.Range{Lo: pn, Hi: pn}
			if len(a) > maxAckRanges {
				a = a[:maxAckRanges]
			}
			rr.acks = a
			return
		}
	}
	if len(a) < maxAckRanges {
		rr.acks = append(a, wire.Range{Lo: pn, Hi: pn})
	}
}

// handle acts on one packet and reports whether it kept p.buf (a DATA
// payload queued for the disk writer, which releases it).
func (rr *recvRun) handle(now time.Time, p inPkt) (kept bool) {
	rr.l.heardFrom(p, now)
	rr.noteNumber(p.hdr.Number, p.at)
	rr.unacked = true
	rr.ivBytes += uint64(p.size)
	rr.ivPkts++
	var err error
	switch p.hdr.Type {
	case wire.TypeData:
		var d wire.Data
		if d, _, err = wire.ParseData(p.body); err == nil {
			elapsed := p.at.Sub(rr.start)
			owd := elapsed - time.Duration(wire.UnwrapMicros(elapsed.Microseconds(), d.SentAt))*time.Microsecond
			if rr.owdN == 0 || owd < rr.owdMin {
				rr.owdMin = owd
			}
			rr.owdSum += owd
			rr.owdN++
			kept = rr.onData(now, d, p.buf)
		}
	case wire.TypeFile:
		var f wire.File
		if f, _, err = wire.ParseFile(p.body); err == nil {
			rr.onFile(now, f)
		}
	case wire.TypeProbe:
		var pr wire.Probe
		if pr, _, err = wire.ParseProbe(p.body); err == nil {
			if f := rr.files[pr.ID]; f != nil {
				switch f.state {
				case rfOpen:
					f.probed = true
					rr.maybeCommit(f)
				case rfDone:
					rr.sendResult(f)
				}
			}
		}
	case wire.TypeAbort:
		var st wire.Status
		if st, _, err = wire.ParseStatus(p.body); err == nil {
			rr.onAbort(st)
		}
	case wire.TypeDone:
		rr.l.queue(wire.TypeFeedback, wire.Feedback{Ranges: rr.acks}.Append)
		for i := 0; i < 2; i++ {
			rr.l.queue(wire.TypeFin, wire.Done{Files: uint32(len(rr.files))}.Append)
		}
		rr.finished = true
	}
	if err != nil {
		rr.l.unparsable++
	}
	return kept
}

func (rr *recvRun) onFile(now time.Time, wf wire.File) {
	if f := rr.files[wf.ID]; f != nil {
		switch {
		case f.state == rfDone && f.result != nil && len(f.accepts) == 0:
			rr.sendResult(f)
		case len(f.accepts) > 0:
			for _, a := range f.accepts {
				rr.l.queue(wire.TypeAccept, a.Append)
			}
			if f.result != nil {
				rr.sendResult(f)
			}
		}
		return
	}
	info := FileInfo{ID: wf.ID, Path: wf.Path, Size: wf.Size, Hash: wf.Hash, Mode: fs.FileMode(wf.Mode).Perm(), Mtime: wf.Mtime, Fresh: wf.Flags&wire.FileFresh != 0}
	if wf.Flags&wire.FilePart != 0 {
		info.Part = chunk.Range{Off: wf.PartOff, Len: wf.PartLen}
	}
	f := &rfile{info: info}
	if info.Split() {
		// Outside its range the part is complete from the start: only
		// the range is waited for, written and checkpointed.
		f.got.add(0, info.Part.Off)
		f.got.add(info.Part.Off+info.Part.Len, info.Size)
	}
	rr.files[wf.ID] = f
	if i, ok := rr.byPath[info.Path]; ok {
		f.slot = i
		rr.results[i] = Result{File: info}
	} else {
		f.slot = len(rr.results)
		rr.byPath[info.Path] = f.slot
		rr.results = append(rr.results, Result{File: info})
	}
	if err := tree.ValidPath(info.Path); err != nil {
		rr.refuse(f, fmt.Errorf("unable to receive file: %w", err))
		return
	}
	rr.spawnPrepare(f)
}

// refuse answers a FILE with an error and records it.
func (rr *recvRun) refuse(f *rfile, err error) {
	f.state = rfDone
	f.accepts = []wire.Accept{{ID: f.info.ID, Code: codeOf(err), Msg: err.Error(), Parts: 1}}
	rr.results[f.slot].Err = err
	rr.fail++
	for _, a := range f.accepts {
		rr.l.queue(wire.TypeAccept, a.Append)
	}
}

// spawnPrepare opens the writer and, for a resumable partial, hashes the
// chunks it holds, off the loop (a big partial takes a while).
func (rr *recvRun) spawnPrepare(f *rfile) {
	rr.pending++
	info, chunk := f.info, rr.cfg.ChunkSize
	go func() {
		rr.prepSem <- struct{}{}
		w, err := rr.r.open(rr.ctx, info)
		var held []chunkHash
		var res Resumable
		if err == nil {
			rs, ok := w.(Resumable)
			switch {
			case ok && info.Split():
				// Other sessions write the rest of the partial: never
				// truncated, never seeded, and only what its checkpoint
				// says was written (within the part) is offered.
				res = rs
				if !info.Fresh {
					held, err = partHeld(rs, info, chunk)
					if err != nil {
						rr.cfg.Log.Warn("unable to read partial for resume; sending the part whole", "path", info.Path, "err", err)
						held, err = nil, nil
					}
				}
			case ok:
				res = rs
				if tr, ok := w.(Truncater); ok && (info.Fresh || rs.ExistingSize() > info.Size) {
					if terr := tr.Truncate(info.Size); terr != nil {
						rr.cfg.Log.Warn("unable to truncate partial", "path", info.Path, "err", terr)
					}
				}
				switch {
				case !info.Fresh && rs.ExistingSize() == 0 && rr.cfg.Seed != nil:
					chunk = SeedChunkSize(info.Size)
					held = rr.seed(info, w, rs, chunk)
				case !info.Fresh:
					held, err = heldChunks(rs, info.Size, info.Hash, chunk)
					if err != nil {
						rr.cfg.Log.Warn("unable to read partial for resume; sending it whole", "path", info.Path, "err", err)
						held, err = nil, nil
					}
				}
			}
		}
		<-rr.prepSem
		rr.jobs <- func() {
			if err != nil {
				if rr.closed {
					return
				}
				rr.refuse(f, fmt.Errorf("unable to receive %s: %w", info.Path, err))
				return
			}
			f.w, f.res, f.chunk = w, res, chunk
			if rr.closed || f.aborted {
				f.state = rfOpen
				rr.abortFile(f)
				return
			}
			rr.opened(f, held)
		}
	}()
}

// seed has cfg.Seed fill a new partial from what the receiver holds, saves
// the ranges it wrote as the partial's checkpoint (a crash then resumes
// from them) and returns them as chunks to offer. Any failure only costs
// bytes: the file is then sent whole.
func (rr *recvRun) seed(info FileInfo, w endpoint.FileWriter, rs Resumable, chunk int64) []chunkHash {
	ranges, err := rr.cfg.Seed(rr.ctx, info, w)
	if err != nil {
		rr.cfg.Log.Warn("unable to start from the current version; sending the file whole", "path", info.Path, "err", err)
		return nil
	}
	var set rangeSet
	for _, r := range ranges {
		if r.Off >= 0 && r.Len > 0 && r.Off+r.Len <= info.Size {
			set.add(r.Off, r.Off+r.Len)
		}
	}
	if len(set.s) == 0 {
		return nil
	}
	if err := rs.SaveCheckpoint(encodeCheckpoint(info.Size, info.Hash, &set)); err != nil {
		rr.cfg.Log.Warn("unable to checkpoint a seeded partial", "path", info.Path, "err", err)
	}
	held, err := hashHeld(rs, &set, info.Size, info.Size, chunk)
	if err != nil {
		rr.cfg.Log.Warn("unable to read a seeded partial; sending the file whole", "path", info.Path, "err", err)
		return nil
	}
	return held
}

func (rr *recvRun) opened(f *rfile, held []chunkHash) {
	f.state = rfOpen
	per := (rr.cfg.ctrlPacketSize() - wire.HeaderLen - seal.Overhead - 64) / wire.ChunkLen
	parts := max(1, (len(held)+per-1)/per)
	if parts > 0xffff {
		// Beyond what ACCEPT can number: offer the first part's worth.
		held, parts = held[:per*0xffff], 0xffff
	}
	cs := f.chunk
	for p := 0; p < parts; p++ {
		a := wire.Accept{ID: f.info.ID, ChunkSize: uint32(cs), Part: uint16(p), Parts: uint16(parts)}
		for _, h := range held[min(p*per, len(held)):min((p+1)*per, len(held))] {
			a.Chunks = append(a.Chunks, wire.Chunk{Index: h.index, Hash: h.hash})
			f.offered.add(int64(h.index)*cs, min(int64(h.index+1)*cs, f.info.Size))
		}
		f.accepts = append(f.accepts, a)
		rr.l.queue(wire.TypeAccept, a.Append)
	}
	f.resumed = len(held) > 0
	rr.maybeCommit(f)
}

// onData queues a payload for the disk writer with buf, the pooled buffer
// it lies in, which the writer releases; it reports whether buf went with
// it.
func (rr *recvRun) onData(now time.Time, d wire.Data, buf []byte) bool {
	f := rr.files[d.File]
	if f == nil || f.state != rfOpen {
		return false
	}
	end := d.Offset + int64(len(d.Payload))
	if end > f.info.Size || f.got.contains(d.Offset, end) {
		return false
	}
	rr.disk.in <- diskReq{op: opWrite, f: f, w: f.w, off: d.Offset, data: d.Payload, body: buf}
	added := f.got.add(d.Offset, end)
	rr.written += uint64(added)
	f.dirty = true
	if rr.cfg.Progress != nil && added > 0 {
		rr.cfg.Progress(f.info.Path, added, false)
	}
	rr.maybeCommit(f)
	return true
}

// complete: every byte is here, and for a resumed file the sender has said
// it sends nothing more (a chunk it found mismatched may still be coming).
func (rr *recvRun) maybeCommit(f *rfile) {
	if f.state != rfOpen {
		return
	}
	if f.resumed {
		if !f.probed {
			return
		}
		var all rangeSet
		for _, s := range f.offered.s {
			all.add(s.lo, s.hi)
		}
		for _, s := range f.got.s {
			all.add(s.lo, s.hi)
		}
		if !all.covers(f.info.Size) {
			return
		}
	} else if !f.got.covers(f.info.Size) {
		return
	}
	f.state = rfCommitting
	rr.pending++
	rr.disk.in <- diskReq{op: opCommit, f: f, w: f.w}
}

func (rr *recvRun) committed(f *rfile, err error) {
	f.state = rfDone
	f.w = nil
	st := wire.Status{ID: f.info.ID, Code: codeOf(err)}
	if err != nil {
		st.Msg = err.Error()
		// A part cannot be sent again alone: the next pass sends the
		// file afresh.
		if st.Code == wire.CodeHashMismatch && !f.info.Fresh && !f.info.Split() {
			st.Code = wire.CodeRetry
		}
	}
	f.result = &st
	if st.Code != wire.CodeRetry {
		rr.results[f.slot].Err = err
		if err != nil {
			rr.fail++
		} else {
			rr.done++
		}
	}
	if !rr.closed {
		for range rr.resultCopies() {
			rr.sendResult(f)
		}
	}
}

// resultCopies is how many copies of a RESULT go out when a commit ends:
// two once the sender's packet numbers have shown a gap (this path loses
// packets), else one. A RESULT lost is asked for again only by the
// sender's next PROBE, a PTO or two later; at the end of a session
// dozens of files wait for theirs, and at 10 % loss nearly every session
// lost one of them (at 2 %, three in four). Two copies make that one in
// a hundred per file, for a few dozen bytes a file.
func (rr *recvRun) resultCopies() int {
	if len(rr.acks) > 1 {
		return 2
	}
	return 1
}

func (rr *recvRun) sendResult(f *rfile) {
	if f.result != nil {
		rr.l.queue(wire.TypeResult, f.result.Append)
	}
}

func (rr *recvRun) failFile(f *rfile, err error) {
	rr.abortFile(f)
	f.result = &wire.Status{ID: f.info.ID, Code: codeOf(err), Msg: err.Error()}
	rr.results[f.slot].Err = err
	rr.fail++
	rr.sendResult(f)
}

// abortFile stops writing a file, keeping the partial and a checkpoint so a
// later session can resume it.
func (rr *recvRun) abortFile(f *rfile) {
	if f.state == rfOpen && f.w != nil {
		if f.dirty {
			rr.checkpoint(f)
		}
		rr.disk.in <- diskReq{op: opAbort, f: f, w: f.w}
		f.w = nil
	}
	f.state = rfDone
}

func (rr *recvRun) onAbort(st wire.Status) {
	f := rr.files[st.ID]
	if f == nil {
		return
	}
	switch f.state {
	case rfPreparing:
		f.aborted = true
		return
	case rfCommitting:
		return // its result answers the next ABORT
	case rfOpen:
		rr.abortFile(f)
		f.result = &wire.Status{ID: f.info.ID, Code: wire.CodeCanceled, Msg: "sender gave up"}
		rr.results[f.slot].Err = remoteErr(f.info.Path, st.Code, st.Msg)
		rr.fail++
	}
	rr.sendResult(f)
}
