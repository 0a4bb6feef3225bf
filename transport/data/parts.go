package data

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/ferry-sync/ferry/delta/chunk"
	"github.com/ferry-sync/ferry/endpoint"
)

// SplitFile returns the byte ranges a file of size bytes is split into
// across n sessions: n ranges of nearly equal length, cut at multiples of
// align (the resume chunk size, so that no resume chunk straddles two
// parts), fewer when the file has fewer than n chunks. A file below
// threshold, a threshold of 0 or n below 2 gives nil: the file goes whole.
func SplitFile(size, threshold int64, n int, align int64) []chunk.Range {
	if n < 2 || threshold <= 0 || size < threshold || size <= 0 {
		return nil
	}
	if align <= 0 {
		align = DefaultChunkSize
	}
	chunks := (size + align - 1) / align
	n = int(min(int64(n), chunks))
	if n < 2 {
		return nil
	}
	out := make([]chunk.Range, 0, n)
	off := int64(0)
	for i := range n {
		end := min(size, (chunks*int64(i+1)/int64(n))*align)
		if i == n-1 {
			end = size
		}
		out = append(out, chunk.Range{Off: off, Len: end - off})
		off = end
	}
	return out
}

// Parts joins the parts of split files, each received by its own session
// at once, into one writer per file. The first part to arrive opens the
// file; every part writes into that one partial and saves its written
// ranges into that one checkpoint (so a later attempt resumes whichever
// ranges were written, by any session); a part whose range is in commits
// only its checkpoint, and the last part in commits the file, which checks
// the whole file's hash before the rename. A part that ends early (its
// session canceled, lost, or refused) leaves the file uncommitted: once no
// part is left open it is aborted, partial and checkpoint kept.
//
// One Parts serves the sessions of one transfer (or, on a server, of one
// connection); Close aborts what never completed.
type Parts struct {
	ctx context.Context

	mu    sync.Mutex
	files map[string]*joint
}

// NewParts returns a Parts whose files are opened under ctx: it must
// outlive every session that writes them (a writer keeps its context
// until Commit).
func NewParts(ctx context.Context) *Parts {
	return &Parts{ctx: ctx, files: map[string]*joint{}}
}

// joint is one split file being received.
type joint struct {
	info  FileInfo
	ready chan struct{} // closed once opened (or failed)

	// Set under Parts.mu before ready is closed; fixed from then on.
	w        endpoint.FileWriter
	ck       endpoint.Checkpointer // nil when w keeps no checkpoint
	res      Resumable             // nil when w cannot be resumed
	existing int64
	err      error

	// Under Parts.mu.
	opened  bool     // the fields above are set
	open    int      // part writers neither committed nor aborted
	done    rangeSet // parts committed
	written rangeSet // what the parts' checkpoints say was written
	failed  bool     // a part ended early
	over    bool     // committed or aborted: w is gone
}

func (j *joint) same(f FileInfo) bool {
	return j.info.Size == f.Size && j.info.Hash == f.Hash && j.info.Mtime == f.Mtime && j.info.Mode == f.Mode
}

// ErrPartBusy is returned for a part of a version of a file other than
// the one other sessions are receiving now.
var ErrPartBusy = errors.New("another version of the file is being received by other sessions")

// Open returns the writer of part f (f.Part set) of a split file; open
// opens the file itself, once for all its parts.
func (p *Parts) Open(ctx context.Context, f FileInfo, open OpenFunc) (endpoint.FileWriter, error) {
	if !f.Split() {
		return nil, fmt.Errorf("unable to receive %s: not a part of a split file", f.Path)
	}
	p.mu.Lock()
	j := p.files[f.Path]
	if j != nil && !j.over && !j.same(f) {
		if j.open > 0 {
			p.mu.Unlock()
			return nil, fmt.Errorf("unable to receive part %d+%d of %s: %w", f.Part.Off, f.Part.Len, f.Path, ErrPartBusy)
		}
		// An earlier version whose other parts never came.
		p.abortLocked(j)
		j = nil
	}
	if j == nil || j.over {
		j = &joint{info: f, ready: make(chan struct{})}
		j.info.ID, j.info.Part, j.info.Fresh = 0, chunk.Range{}, false
		p.files[f.Path] = j
		go p.openFile(j, open)
	}
	j.open++
	p.mu.Unlock()
	select {
	case <-j.ready:
	case <-ctx.Done():
		p.release(j, false)
		return nil, context.Cause(ctx)
	}
	p.mu.Lock()
	over := j.over
	p.mu.Unlock()
	switch {
	case j.err != nil:
		p.release(j, false)
		return nil, j.err
	case over:
		p.release(j, false)
		return nil, fmt.Errorf("unable to receive part %d+%d of %s: the file was given up while it opened", f.Part.Off, f.Part.Len, f.Path)
	}
	return &partWriter{p: p, j: j, part: f.Part}, nil
}

// openFile opens j's file and reads its checkpoint: the ranges any part
// wrote before, of this version.
func (p *Parts) openFile(j *joint, open OpenFunc) {
	defer close(j.ready)
	w, err := open(p.ctx, j.info)
	if err != nil {
		w = nil // a failed open may return a typed nil writer
	}
	var res Resumable
	var ck endpoint.Checkpointer
	var existing int64
	var written rangeSet
	if err == nil {
		if r, ok := w.(Resumable); ok {
			res, ck = r, r
			existing = r.ExistingSize()
			if tr, ok := w.(Truncater); ok && existing > j.info.Size {
				if err := tr.Truncate(j.info.Size); err == nil {
					existing = j.info.Size
				}
			}
			if b, err := r.LoadCheckpoint(); err == nil && len(b) > 0 {
				if set, err := decodeCheckpoint(b, j.info.Size, j.info.Hash); err == nil {
					written = set
				}
			}
		} else if c, ok := w.(endpoint.Checkpointer); ok {
			ck = c
		}
	}
	p.mu.Lock()
	j.w, j.err, j.res, j.ck, j.existing, j.written, j.opened = w, err, res, ck, existing, written, true
	abandoned := j.over
	p.mu.Unlock()
	if abandoned && w != nil {
		// Every part waiting for it gave up, or Close ran: nobody
		// will abort it otherwise.
		_ = w.Abort()
	}
}

// release ends one part's hold on j without committing it (a failed open
// or an abort) and aborts the file once no part holds it.
func (p *Parts) release(j *joint, failed bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	j.open--
	j.failed = j.failed || failed
	if j.open == 0 && !j.over && (j.failed || !j.opened || j.w == nil) {
		p.abortLocked(j)
	}
}

// abortLocked aborts j's file (partial and checkpoint kept) and forgets it.
func (p *Parts) abortLocked(j *joint) {
	j.over = true
	if p.files[j.info.Path] == j {
		delete(p.files, j.info.Path)
	}
	if j.w != nil {
		_ = j.w.Abort()
	}
}

// Close aborts every file some of whose parts never came or ended early,
// keeping partial and checkpoint for a resume. Call it once the sessions
// that used p are over.
func (p *Parts) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, j := range p.files {
		if !j.over {
			// One still opening is aborted by openFile once open.
			p.abortLocked(j)
		}
	}
}

// saveLocked merges set into j's written ranges and saves them as the
// file's checkpoint.
func (p *Parts) saveLocked(j *joint, set rangeSet) error {
	for _, s := range set.s {
		j.written.add(s.lo, s.hi)
	}
	if j.ck == nil || j.over {
		return nil
	}
	return j.ck.SaveCheckpoint(encodeCheckpoint(j.info.Size, j.info.Hash, &j.written))
}

// partWriter is the writer one session holds for its part of a split
// file.
type partWriter struct {
	p    *Parts
	j    *joint
	part chunk.Range
	end  bool
}

var _ Resumable = (*partWriter)(nil)

func (w *partWriter) WriteAt(b []byte, off int64) (int, error) {
	if off < w.part.Off || off+int64(len(b)) > w.part.Off+w.part.Len {
		return 0, fmt.Errorf("unable to write %s: %d+%d is outside part %d+%d", w.j.info.Path, off, len(b), w.part.Off, w.part.Len)
	}
	return w.j.w.WriteAt(b, off)
}

// ExistingSize is the partial's size when the file was opened.
func (w *partWriter) ExistingSize() int64 { return w.j.existing }

func (w *partWriter) ReadAt(b []byte, off int64) (int, error) {
	if w.j.res == nil {
		return 0, fmt.Errorf("unable to read %s: its writer cannot be read", w.j.info.Path)
	}
	return w.j.res.ReadAt(b, off)
}

// LoadCheckpoint returns the ranges every part wrote so far.
func (w *partWriter) LoadCheckpoint() ([]byte, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	return encodeCheckpoint(w.j.info.Size, w.j.info.Hash, &w.j.written), nil
}

// SaveCheckpoint merges what the part's session wrote (within its range)
// into the file's checkpoint: the sessions share one.
func (w *partWriter) SaveCheckpoint(b []byte) error {
	set, err := decodeCheckpoint(b, w.j.info.Size, w.j.info.Hash)
	if err != nil {
		return nil // nothing this part can vouch for
	}
	in := set.within(w.part.Off, w.part.Off+w.part.Len)
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	return w.p.saveLocked(w.j, in)
}

// Commit records the part as complete. The last part of the file commits
// the file (its whole hash checked, then the rename) and returns that
// result; an earlier one saves the checkpoint with its range in and
// returns nil.
func (w *partWriter) Commit() error {
	if w.end {
		return fmt.Errorf("unable to commit %s: part already ended", w.j.info.Path)
	}
	w.end = true
	p, j := w.p, w.j
	p.mu.Lock()
	j.open--
	j.done.add(w.part.Off, w.part.Off+w.part.Len)
	var one rangeSet
	one.add(w.part.Off, w.part.Off+w.part.Len)
	if j.over {
		p.mu.Unlock()
		return fmt.Errorf("unable to commit %s: another part of it ended early", j.info.Path)
	}
	if !j.done.covers(j.info.Size) || j.failed {
		err := p.saveLocked(j, one)
		if j.open == 0 && j.failed {
			p.abortLocked(j)
		}
		p.mu.Unlock()
		if err != nil {
			return fmt.Errorf("unable to checkpoint part %d+%d of %s: %w", w.part.Off, w.part.Len, j.info.Path, err)
		}
		return nil
	}
	j.over = true
	delete(p.files, j.info.Path)
	p.mu.Unlock()
	return j.w.Commit()
}

// Abort ends the part early; the file is aborted (partial and checkpoint
// kept) once no other part is open.
func (w *partWriter) Abort() error {
	if w.end {
		return nil
	}
	w.end = true
	w.p.release(w.j, true)
	return nil
}
