package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/cespare/xxhash/v2"

	"github.com/ferry-sync/ferry/syncer"
	"github.com/ferry-sync/ferry/transport/control"
	"github.com/ferry-sync/ferry/tree"
)

// resumable is the part of localfs's FileWriter that lets a download
// continue a partial file.
type resumable interface {
	ExistingSize() int64
	SaveCheckpoint(data []byte) error
	LoadCheckpoint() ([]byte, error)
}

// Upload sends files from src to the server, several at a time. A file
// whose partial on the server holds the same content (ResumeKey) continues
// where it stopped.
func (e *Endpoint) Upload(ctx context.Context, items []syncer.Transfer, src syncer.Endpoint, progress syncer.Progress) []error {
	return e.transfer(ctx, items,
		func(c *conn) ([]error, error) { return e.uploadUDP(ctx, c, items, src, progress) },
		func(it syncer.Transfer) error {
			return e.retryFresh(func(fresh bool) (bool, error) { return e.uploadStream(ctx, it, src, progress, fresh) })
		})
}

// Download fetches files from the server into dst, several at a time,
// continuing partial files left in dst by an earlier attempt.
func (e *Endpoint) Download(ctx context.Context, items []syncer.Transfer, dst syncer.Endpoint, progress syncer.Progress) []error {
	return e.transfer(ctx, items,
		func(c *conn) ([]error, error) { return e.downloadUDP(ctx, c, items, dst, progress) },
		func(it syncer.Transfer) error {
			return e.retryFresh(func(fresh bool) (bool, error) { return e.downloadStream(ctx, it, dst, progress, fresh) })
		})
}

// retryFresh runs one attempt and, if it resumed a partial file whose
// content turned out wrong, one more from offset 0.
func (e *Endpoint) retryFresh(attempt func(fresh bool) (resumed bool, err error)) error {
	resumed, err := attempt(false)
	if resumed && errors.Is(err, syncer.ErrHashMismatch) {
		e.log.Info("resumed partial file did not verify; sending it again from the start", "err", err)
		_, err = attempt(true)
	}
	return err
}

// each runs fn for every item with at most Parallel at once and returns
// one error per item, in order.
func (e *Endpoint) each(ctx context.Context, items []syncer.Transfer, fn func(syncer.Transfer) error) []error {
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

func (e *Endpoint) uploadStream(ctx context.Context, it syncer.Transfer, src syncer.Endpoint, progress syncer.Progress, fresh bool) (resumed bool, err error) {
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
		return false, fmt.Errorf("unable to upload %s: it is now %d bytes, scanned at %d: %w", p, r.Size(), meta.Size, syncer.ErrChanged)
	}
	w, err := e.create(ctx, meta, it.Expect, fresh)
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

	off := w.existing
	resumed = off > 0
	if resumed {
		e.log.Debug("resuming upload", "path", p, "offset", off, "size", meta.Size)
		report(progress, p, off, true)
	}
	// From offset 0 the sent bytes can be hashed on the way, so a file
	// that changed while being read is caught here, as ErrChanged, rather
	// than as a mismatch on the server.
	var h *xxhash.Digest
	if off == 0 && meta.Hash != 0 {
		h = xxhash.New()
	}
	buf := make([]byte, control.MaxData)
	for off < meta.Size {
		n, rerr := r.ReadAt(buf[:min(int64(len(buf)), meta.Size-off)], off)
		if n > 0 {
			if h != nil {
				h.Write(buf[:n])
			}
			if err := waitN(ctx, e.up, n); err != nil {
				return resumed, err
			}
			if err := w.k.send(control.Data{Off: off, Data: buf[:n]}); err != nil {
				if ctx.Err() != nil {
					return resumed, ctx.Err()
				}
				return resumed, fmt.Errorf("unable to upload %s: %w", p, err)
			}
			off += int64(n)
			report(progress, p, int64(n), false)
		}
		if rerr != nil {
			if errors.Is(rerr, io.EOF) && off < meta.Size {
				return resumed, fmt.Errorf("unable to upload %s: it shrank while being read: %w", p, syncer.ErrChanged)
			}
			if !errors.Is(rerr, io.EOF) {
				return resumed, fmt.Errorf("unable to upload %s: %w", p, rerr)
			}
		}
	}
	if h != nil && h.Sum64() != meta.Hash {
		return resumed, fmt.Errorf("unable to upload %s: it changed while being read: %w", p, syncer.ErrChanged)
	}
	committed = true
	if err := w.Commit(); err != nil {
		if ctx.Err() != nil {
			return resumed, ctx.Err()
		}
		return resumed, err
	}
	return resumed, nil
}

func (e *Endpoint) downloadStream(ctx context.Context, it syncer.Transfer, dst syncer.Endpoint, progress syncer.Progress, fresh bool) (resumed bool, err error) {
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
	resumed = off > 0
	k, err := e.openOn(ctx, control.Get{Path: p, Offset: off, Expect: meta})
	if err != nil {
		return resumed, fmt.Errorf("unable to download %s: %w", p, err)
	}
	defer k.close()
	o, err := expect[control.Opened](k.recv())
	if err != nil {
		return resumed, err
	}
	if o.Size != meta.Size {
		return resumed, fmt.Errorf("unable to download %s: it is now %d bytes on the server, scanned at %d: %w", p, o.Size, meta.Size, syncer.ErrChanged)
	}
	if resumed {
		e.log.Debug("resuming download", "path", p, "offset", off, "size", meta.Size)
		report(progress, p, off, true)
	}
	for {
		m, err := k.recv()
		if err != nil {
			if ctx.Err() != nil {
				return resumed, ctx.Err()
			}
			return resumed, fmt.Errorf("unable to download %s: %w", p, err)
		}
		if _, ok := m.(control.OK); ok {
			break
		}
		d, ok := m.(control.Data)
		if !ok || d.Off != off || int64(len(d.Data)) > meta.Size-off {
			return resumed, fmt.Errorf("%w: unexpected %T while downloading %s", control.ErrProtocol, m, p)
		}
		if err := waitN(ctx, e.down, len(d.Data)); err != nil {
			return resumed, err
		}
		if _, err := w.WriteAt(d.Data, d.Off); err != nil {
			return resumed, err
		}
		off += int64(len(d.Data))
		report(progress, p, int64(len(d.Data)), false)
	}
	if off != meta.Size {
		return resumed, fmt.Errorf("unable to download %s: server sent %d of %d bytes: %w", p, off, meta.Size, syncer.ErrChanged)
	}
	committed = true
	return resumed, w.Commit()
}

// localResume decides where a download into w continues: at the end of a
// partial whose checkpoint names this content, else at 0 after recording
// the content's key.
func localResume(w syncer.FileWriter, meta tree.Entry, fresh bool) (int64, error) {
	rw, ok := w.(resumable)
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

func report(progress syncer.Progress, path string, n int64, reused bool) {
	if progress != nil && n > 0 {
		progress(path, n, reused)
	}
}
