package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/cespare/xxhash/v2"

	"github.com/ferry-sync/ferry/delta/chunk"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/transport/control"
	"github.com/ferry-sync/ferry/tree"
)

// Upload sends files from src to the server, several at a time. A file
// whose partial on the server holds the same content (ResumeKey) continues
// where it stopped. A file scanned unhashed (Source.Hash 0, see
// endpoint.ScanOptions.HashLater) is hashed through src's
// endpoint.HashingReader just before it is sent, and the hash it was sent
// with, which the server verified before the rename, is written into
// items[i].Source.Hash for each file that succeeded (endpoint.Batch).
func (e *Endpoint) Upload(ctx context.Context, items []endpoint.Transfer, src endpoint.Endpoint, progress endpoint.Progress) []error {
	var hashed sums
	errs := e.transfer(ctx, items,
		func(c *conn, items []endpoint.Transfer) ([]error, error) {
			return e.uploadUDP(ctx, c, items, src, progress, &hashed)
		},
		func(it endpoint.Transfer) error {
			return e.retryFresh(func(fresh bool) (bool, error) { return e.uploadStream(ctx, it, src, progress, fresh, &hashed) })
		})
	hashed.fill(items, errs)
	return errs
}

// sums keeps, by path, the hashes an upload computed for files scanned
// unhashed. Several sessions (lanes) may hash one split file, alike.
type sums struct {
	mu sync.Mutex
	m  map[string]uint64
	// pre is the hashing of large files, done once for every session
	// that sends a part of one (once).
	pre map[string]*preHash
}

type preHash struct {
	done chan struct{}
	h    uint64
	err  error
}

// once hashes e, read from src, the first time it is asked for e's path,
// and returns that result to every caller: the background hasher of a
// session and the sender's opener, or the sessions sending parts of one
// file. A failed hash is forgotten once told, so a later attempt (after
// a failover) reads the file again.
func (s *sums) once(ctx context.Context, src endpoint.Endpoint, e tree.Entry) (uint64, error) {
	for {
		s.mu.Lock()
		p, ok := s.pre[e.Path]
		if !ok {
			if s.pre == nil {
				s.pre = map[string]*preHash{}
			}
			p = &preHash{done: make(chan struct{})}
			s.pre[e.Path] = p
		}
		s.mu.Unlock()
		if !ok {
			p.h, p.err = hashFile(ctx, src, e)
			if p.err == nil {
				s.put(e.Path, p.h)
			} else {
				s.mu.Lock()
				delete(s.pre, e.Path)
				s.mu.Unlock()
			}
			close(p.done)
			return p.h, p.err
		}
		select {
		case <-p.done:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		// Another caller gave up (its session ended): hash it here.
		if errors.Is(p.err, context.Canceled) && ctx.Err() == nil {
			continue
		}
		return p.h, p.err
	}
}

// hashFile opens e in src and hashes it whole (hashReader).
func hashFile(ctx context.Context, src endpoint.Endpoint, e tree.Entry) (uint64, error) {
	r, err := src.OpenFile(ctx, e.Path)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	h := hashReader{ctx: ctx}
	return h.sum(r, e)
}

func (s *sums) put(path string, h uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]uint64{}
	}
	s.m[path] = h
}

// fill writes into items the hashes of the files that were sent unhashed
// and succeeded.
func (s *sums) fill(items []endpoint.Transfer, errs []error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range items {
		if i < len(errs) && errs[i] == nil && items[i].Source.Hash == 0 {
			items[i].Source.Hash = s.m[items[i].Source.Path]
		}
	}
}

// hashReader hashes files scanned unhashed before they are sent
// (data.SendFile.Hash): it reads r whole, in order, and returns the hash
// src's HashingReader gives, which also checks that the file is still what
// the scan saw. One hashReader serves one goroutine at a time.
type hashReader struct {
	ctx context.Context
	buf []byte
}

func (h *hashReader) sum(r endpoint.FileReader, e tree.Entry) (uint64, error) {
	hr, ok := r.(endpoint.HashingReader)
	if !ok {
		return 0, fmt.Errorf("unable to hash %s as it is read: the folder's reader does not hash", e.Path)
	}
	if r.Size() != e.Size {
		return 0, fmt.Errorf("unable to hash %s: it is %d bytes now, %d when scanned: %w", e.Path, r.Size(), e.Size, endpoint.ErrChanged)
	}
	if h.buf == nil {
		h.buf = make([]byte, 256<<10)
	}
	for off := int64(0); off < e.Size; {
		if err := h.ctx.Err(); err != nil {
			return 0, err
		}
		n, err := r.ReadAt(h.buf[:min(int64(len(h.buf)), e.Size-off)], off)
		off += int64(n)
		if err != nil && !(errors.Is(err, io.EOF) && off == e.Size) {
			return 0, fmt.Errorf("unable to read %s to hash it: %w", e.Path, err)
		}
		if n == 0 && err == nil {
			return 0, fmt.Errorf("unable to read %s to hash it: %w", e.Path, io.ErrNoProgress)
		}
	}
	return hr.Sum(e)
}

// Download fetches files from the server into dst, several at a time,
// continuing partial files left in dst by an earlier attempt.
func (e *Endpoint) Download(ctx context.Context, items []endpoint.Transfer, dst endpoint.Endpoint, progress endpoint.Progress) []error {
	var lists map[string]chunk.List
	var once sync.Once
	listsOf := func(ctx context.Context) map[string]chunk.List {
		once.Do(func() { lists = e.downloadLists(ctx, items) })
		return lists
	}
	return e.transfer(ctx, items,
		func(c *conn, items []endpoint.Transfer) ([]error, error) {
			return e.downloadUDP(ctx, c, items, dst, progress, listsOf(ctx))
		},
		func(it endpoint.Transfer) error {
			lists := listsOf(ctx)
			return e.retryFresh(func(fresh bool) (bool, error) { return e.downloadStream(ctx, it, dst, progress, fresh, lists) })
		})
}

// retryFresh runs one attempt and, if it built on a partial file (resumed,
// or seeded from the current version) whose content turned out wrong, one
// more from offset 0 that sends the whole file.
func (e *Endpoint) retryFresh(attempt func(fresh bool) (reused bool, err error)) error {
	reused, err := attempt(false)
	if reused && errors.Is(err, endpoint.ErrHashMismatch) {
		e.log.Info("partial file built on held bytes did not verify; sending it again whole", "err", err)
		_, err = attempt(true)
	}
	return err
}

// each runs fn for every item with at most Parallel at once and returns
// one error per item, in order.
func (e *Endpoint) each(ctx context.Context, items []endpoint.Transfer, fn func(endpoint.Transfer) error) []error {
	errs := make([]error, len(items))
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(e.opts.Parallel, len(items)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := ctx.Err(); err != nil {
					errs[i] = err
					continue
				}
				errs[i] = fn(items[i])
			}
		}()
	}
	for i := range items {
		next <- i
	}
	close(next)
	wg.Wait()
	return errs
}

// uploadStream sends one file on a Create channel. A new version of a
// file the server holds goes with its chunk list, and only what the
// server could not seed from its current version is sent. reused reports
// an attempt that built on bytes the server already held (a resumed or
// seeded partial): if the result does not verify, retryFresh sends it
// again whole.
func (e *Endpoint) uploadStream(ctx context.Context, it endpoint.Transfer, src endpoint.Endpoint, progress endpoint.Progress, fresh bool, hashed *sums) (reused bool, err error) {
	meta := it.Source
	p := meta.Path
	if meta.Kind != tree.File {
		return false, fmt.Errorf("unable to upload %s: it is a %s, not a file", p, meta.Kind)
	}
	r, err := src.OpenFile(ctx, p)
	if err != nil {
		return false, fmt.Errorf("unable to upload %s: %w", p, err)
	}
	defer r.Close()
	if r.Size() != meta.Size {
		return false, fmt.Errorf("unable to upload %s: it is now %d bytes, scanned at %d: %w", p, r.Size(), meta.Size, endpoint.ErrChanged)
	}
	if meta.Hash == 0 {
		// Scanned unhashed: the server checks the hash, so it goes first.
		h := hashReader{ctx: ctx}
		if meta.Hash, err = h.sum(r, meta); err != nil {
			return false, fmt.Errorf("unable to upload %s: %w", p, err)
		}
		it.Source = meta
		hashed.put(p, meta.Hash)
	}
	var list chunk.List
	if !fresh {
		list, _ = endpoint.ListFor(ctx, src, it)
	}
	w, err := e.create(ctx, meta, it.Expect, fresh, list)
	if err != nil {
		return false, err
	}
	committed := false
	defer func() {
		if !committed {
			w.Abort()
		}
	}()
	// Closing the channel is what unblocks a write stuck on a full SSH
	// window when the caller gives up.
	stop := context.AfterFunc(ctx, w.k.close)
	defer stop()

	pr := &reporter{progress: progress, path: p}
	todo := []chunk.Range{{Off: w.existing, Len: meta.Size - w.existing}}
	switch {
	case w.existing > 0:
		e.log.Debug("resuming upload", "path", p, "offset", w.existing, "size", meta.Size)
		pr.add(w.existing, true)
	case len(w.held) > 0:
		todo = missing(w.held, meta.Size)
		e.log.Debug("upload builds on the server's current version", "path", p, "held", chunk.Bytes(w.held), "size", meta.Size)
		pr.add(chunk.Bytes(w.held), true)
	}
	reused = w.existing > 0 || len(w.held) > 0
	// A whole file sent in order can be hashed on the way, so a file that
	// changed while being read is caught here, as ErrChanged, rather than
	// as a mismatch on the server.
	var h *xxhash.Digest
	if !reused && meta.Hash != 0 {
		h = xxhash.New()
	}
	buf := make([]byte, control.MaxData)
	for _, rg := range todo {
		for off, end := rg.Off, rg.Off+rg.Len; off < end; {
			n, rerr := r.ReadAt(buf[:min(int64(len(buf)), end-off)], off)
			if n > 0 {
				if h != nil {
					h.Write(buf[:n])
				}
				if err := waitN(ctx, e.up, n); err != nil {
					return reused, err
				}
				if err := w.k.send(control.Data{Off: off, Data: buf[:n]}); err != nil {
					if ctx.Err() != nil {
						return reused, ctx.Err()
					}
					return reused, fmt.Errorf("unable to upload %s: %w", p, err)
				}
				off += int64(n)
				pr.add(int64(n), false)
			}
			if rerr != nil {
				if errors.Is(rerr, io.EOF) && off < end {
					return reused, fmt.Errorf("unable to upload %s: it shrank while being read: %w", p, endpoint.ErrChanged)
				}
				if !errors.Is(rerr, io.EOF) {
					return reused, fmt.Errorf("unable to upload %s: %w", p, rerr)
				}
			}
		}
	}
	if h != nil && h.Sum64() != meta.Hash {
		return reused, fmt.Errorf("unable to upload %s: it changed while being read: %w", p, endpoint.ErrChanged)
	}
	committed = true
	if err := w.Commit(); err != nil {
		if ctx.Err() != nil {
			return reused, ctx.Err()
		}
		if reused && errors.Is(err, endpoint.ErrHashMismatch) {
			pr.takeBack()
		}
		return reused, err
	}
	return reused, nil
}

// downloadStream fetches one file with Get. A new version of a file dst
// holds is first built from the chunks its current version shares with the
// server's list, and only the rest is fetched (Get with Ranges: one
// request streams every gap, where Open and Read would cost a round trip
// each, and Get checks the file is still what the scan saw). reused is as
// for uploadStream.
func (e *Endpoint) downloadStream(ctx context.Context, it endpoint.Transfer, dst endpoint.Endpoint, progress endpoint.Progress, fresh bool, lists map[string]chunk.List) (reused bool, err error) {
	meta := it.Source
	p := meta.Path
	if meta.Kind != tree.File {
		return false, fmt.Errorf("unable to download %s: it is a %s, not a file", p, meta.Kind)
	}
	w, err := dst.CreateFile(ctx, meta, it.Expect)
	if err != nil {
		return false, err
	}
	committed := false
	defer func() {
		if !committed {
			w.Abort()
		}
	}()
	off, err := localResume(w, meta, fresh)
	if err != nil {
		return false, err
	}
	var held []chunk.Range
	if l, ok := lists[p]; ok && off == 0 && !fresh {
		held = e.seedLocal(ctx, it, dst, w, l)
	}
	reused = off > 0 || len(held) > 0
	todo := []chunk.Range{{Off: off, Len: meta.Size - off}}
	get := control.Get{Path: p, Offset: off, Expect: meta}
	if len(held) > 0 {
		todo = capRanges(missing(held, meta.Size), meta.Size)
		get.Ranges = todo
	}
	pr := &reporter{progress: progress, path: p}
	if off > 0 {
		e.log.Debug("resuming download", "path", p, "offset", off, "size", meta.Size)
		pr.add(off, true)
	}
	if len(held) > 0 {
		e.log.Debug("download builds on the current version", "path", p, "held", chunk.Bytes(held), "size", meta.Size)
		pr.add(chunk.Bytes(held), true)
	}
	// Seeding checked every chunk against a list the server made from the
	// scanned version just now; with nothing missing there is nothing to
	// fetch, and Commit checks the whole file's hash.
	if len(held) == 0 || len(get.Ranges) > 0 {
		if err := e.fetch(ctx, get, meta, todo, w, pr); err != nil {
			return reused, err
		}
	}
	committed = true
	err = w.Commit()
	if reused && errors.Is(err, endpoint.ErrHashMismatch) {
		pr.takeBack()
	}
	return reused, err
}

// fetch sends get and writes what it streams into w: Data frames covering
// todo, in order, then OK.
func (e *Endpoint) fetch(ctx context.Context, get control.Get, meta tree.Entry, todo []chunk.Range, w endpoint.FileWriter, pr *reporter) error {
	p := meta.Path
	k, err := e.openOn(ctx, get)
	if err != nil {
		return fmt.Errorf("unable to download %s: %w", p, err)
	}
	defer k.close()
	o, err := expect[control.Opened](k.recv())
	if err != nil {
		return err
	}
	if o.Size != meta.Size {
		return fmt.Errorf("unable to download %s: it is now %d bytes on the server, scanned at %d: %w", p, o.Size, meta.Size, endpoint.ErrChanged)
	}
	i, off := 0, todo[0].Off
	for {
		// Step past the ranges already complete (and empty ones).
		for i < len(todo) && off == todo[i].Off+todo[i].Len {
			if i++; i < len(todo) {
				off = todo[i].Off
			}
		}
		m, err := k.recv()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("unable to download %s: %w", p, err)
		}
		if _, ok := m.(control.OK); ok {
			break
		}
		d, ok := m.(control.Data)
		if !ok || i == len(todo) || d.Off != off || int64(len(d.Data)) > todo[i].Off+todo[i].Len-off {
			return fmt.Errorf("%w: unexpected %T while downloading %s", control.ErrProtocol, m, p)
		}
		if err := waitN(ctx, e.down, len(d.Data)); err != nil {
			return err
		}
		if _, err := w.WriteAt(d.Data, d.Off); err != nil {
			return err
		}
		off += int64(len(d.Data))
		pr.add(int64(len(d.Data)), false)
	}
	if i < len(todo) {
		return fmt.Errorf("unable to download %s: server stopped at %d of %d bytes: %w", p, off, meta.Size, endpoint.ErrChanged)
	}
	return nil
}

// seedLocal fills w, the fresh partial of a download of a new version of
// a file dst holds, with the chunks the current version shares with the
// server's list, and returns the ranges it filled. Any failure only means
// the file is fetched whole.
func (e *Endpoint) seedLocal(ctx context.Context, it endpoint.Transfer, dst endpoint.Endpoint, w endpoint.FileWriter, l chunk.List) []chunk.Range {
	p := it.Source.Path
	if len(l.Chunks) == 0 || l.Total != it.Source.Size {
		return nil
	}
	// A seeded partial is no prefix of the file: drop the resume key first,
	// so that an attempt after a crash starts afresh (and seeds again)
	// rather than continuing from the partial's size.
	if rw, ok := w.(endpoint.Checkpointer); ok {
		if err := rw.SaveCheckpoint(nil); err != nil {
			e.log.Warn("unable to reset the checkpoint of a partial; fetching the file whole", "path", p, "err", err)
			return nil
		}
	}
	held, err := endpoint.SeedFrom(ctx, dst, it.Expect, w, l)
	if err != nil {
		e.log.Warn("unable to start from the current version; fetching the file whole", "path", p, "err", err)
		return nil
	}
	return held
}

// missing returns the ranges of [0, size) that held, in order and
// disjoint, does not cover.
func missing(held []chunk.Range, size int64) []chunk.Range {
	var out []chunk.Range
	at := int64(0)
	for _, h := range held {
		if h.Off > at {
			out = append(out, chunk.Range{Off: at, Len: h.Off - at})
		}
		at = max(at, h.Off+h.Len)
	}
	if at < size {
		out = append(out, chunk.Range{Off: at, Len: size - at})
	}
	return out
}

// capRanges keeps rs within control.MaxRanges by merging the last ones,
// up to size, into one: a few more bytes fetched, never fewer.
func capRanges(rs []chunk.Range, size int64) []chunk.Range {
	if len(rs) <= control.MaxRanges {
		return rs
	}
	last := rs[control.MaxRanges-1].Off
	return append(rs[:control.MaxRanges-1:control.MaxRanges-1], chunk.Range{Off: last, Len: size - last})
}

// reporter passes one attempt's progress on and remembers how much it
// reported, so an attempt that built on held bytes and did not verify can
// take it back before the retry reports the file again. What crossed the
// link stays counted as sent.
type reporter struct {
	progress endpoint.Progress
	path     string
	total    int64
}

func (r *reporter) add(n int64, reused bool) {
	if n > 0 {
		r.total += n
		report(r.progress, r.path, n, reused)
	}
}

func (r *reporter) takeBack() {
	if r.progress != nil && r.total > 0 {
		r.progress(r.path, -r.total, true)
		r.total = 0
	}
}

// localResume decides where a download into w continues: at the end of a
// partial whose checkpoint names this content, else at 0 after recording
// the content's key.
func localResume(w endpoint.FileWriter, meta tree.Entry, fresh bool) (int64, error) {
	rw, ok := w.(endpoint.Checkpointer)
	key := ResumeKey(meta)
	if !ok || key == nil {
		return 0, nil
	}
	if have := rw.ExistingSize(); have > 0 && !fresh {
		if ck, err := rw.LoadCheckpoint(); err == nil && bytes.Equal(ck, key) {
			return min(have, meta.Size), nil
		}
	}
	if err := rw.SaveCheckpoint(key); err != nil {
		return 0, err
	}
	return 0, nil
}

func report(progress endpoint.Progress, path string, n int64, reused bool) {
	if progress != nil && n > 0 {
		progress(path, n, reused)
	}
}
