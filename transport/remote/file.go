package remote

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"sync"

	"github.com/ferry-sync/ferry/delta/chunk"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/transport/control"
	"github.com/ferry-sync/ferry/tree"
)

// ResumeKey identifies the content a partial file is meant to hold: a
// partial is only continued when its checkpoint holds the same key. It is
// nil (never resume) for an unhashed entry.
func ResumeKey(e tree.Entry) []byte {
	if e.Hash == 0 {
		return nil
	}
	b := []byte("ferry-resume-1:")
	b = binary.BigEndian.AppendUint64(b, uint64(e.Size))
	return binary.BigEndian.AppendUint64(b, e.Hash)
}

// reader reads a remote file with Read requests on one channel; ReadAt
// calls take turns on it.
type reader struct {
	path string
	size int64
	lim  func(ctx context.Context, n int) error

	mu  sync.Mutex
	k   *channel
	err error
}

func (e *Endpoint) OpenFile(ctx context.Context, path string) (endpoint.FileReader, error) {
	// The channel outlives this call, so it must not close with ctx.
	k, err := e.openOn(context.WithoutCancel(ctx), control.Open{Path: path})
	if err != nil {
		return nil, fmt.Errorf("unable to open remote %s: %w", path, err)
	}
	m, err := expect[control.Opened](k.recv())
	if err != nil {
		k.close()
		return nil, err
	}
	return &reader{path: path, size: m.Size, k: k, lim: func(ctx context.Context, n int) error { return waitN(ctx, e.down, n) }}, nil
}

func (r *reader) Size() int64 { return r.size }

func (r *reader) ReadAt(p []byte, off int64) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return 0, r.err
	}
	if off < 0 {
		return 0, fmt.Errorf("unable to read remote %s: negative offset", r.path)
	}
	n := 0
	for n < len(p) {
		want := min(len(p)-n, 4<<20)
		got, err := r.readOnce(p[n:n+want], off+int64(n))
		n += got
		if err != nil {
			return n, err
		}
		if got < want {
			return n, io.EOF
		}
	}
	return n, nil
}

func (r *reader) readOnce(p []byte, off int64) (int, error) {
	if err := r.k.send(control.Read{Off: off, Len: uint32(len(p))}); err != nil {
		r.err = err
		return 0, err
	}
	n := 0
	for {
		m, err := r.k.recv()
		if err != nil {
			r.err = fmt.Errorf("unable to read remote %s: %w", r.path, err)
			return n, r.err
		}
		switch m := m.(type) {
		case control.Data:
			if m.Off != off+int64(n) || len(m.Data) > len(p)-n {
				r.err = fmt.Errorf("%w: data for %s at %d, expected %d", control.ErrProtocol, r.path, m.Off, off+int64(n))
				return n, r.err
			}
			if err := r.lim(context.Background(), len(m.Data)); err != nil {
				return n, err
			}
			n += copy(p[n:], m.Data)
		case control.OK:
			return n, nil
		default:
			r.err = fmt.Errorf("%w: %T while reading %s", control.ErrProtocol, m, r.path)
			return n, r.err
		}
	}
}

func (r *reader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.k.close()
	if r.err == nil {
		r.err = fmt.Errorf("remote %s is closed", r.path)
	}
	return nil
}

// writer sends one file's bytes on a Create channel.
type writer struct {
	path     string
	existing int64
	// held are the ranges the server seeded from its current version
	// (Created.Held): in order, disjoint, within the file.
	held []chunk.Range
	lim  func(ctx context.Context, n int) error

	mu   sync.Mutex
	k    *channel
	done bool
}

func (e *Endpoint) CreateFile(ctx context.Context, meta, expectE tree.Entry) (endpoint.FileWriter, error) {
	return e.create(ctx, meta, expectE, false, chunk.List{})
}

// create opens a Create channel. With list (the new version's chunk list)
// the server may seed the partial from its current version and answer
// the ranges it holds.
func (e *Endpoint) create(ctx context.Context, meta, expectE tree.Entry, fresh bool, list chunk.List) (*writer, error) {
	k, err := e.openOn(context.WithoutCancel(ctx), control.Create{Meta: meta, Expect: expectE, Key: ResumeKey(meta), Fresh: fresh, List: list})
	if err != nil {
		return nil, fmt.Errorf("unable to create remote %s: %w", meta.Path, err)
	}
	m, err := expect[control.Created](k.recv())
	if err != nil {
		k.close()
		return nil, err
	}
	if m.Offset < 0 || m.Offset > meta.Size || len(m.Held) > 0 && (m.Offset != 0 || len(list.Chunks) == 0 || end(m.Held) > meta.Size) {
		k.close()
		return nil, fmt.Errorf("%w: creating %s (%d bytes), the server holds offset %d and %d ranges up to %d", control.ErrProtocol, meta.Path, meta.Size, m.Offset, len(m.Held), end(m.Held))
	}
	return &writer{path: meta.Path, existing: m.Offset, held: m.Held, k: k, lim: func(ctx context.Context, n int) error { return waitN(ctx, e.up, n) }}, nil
}

// end is where the last of rs (in order) ends; 0 for none.
func end(rs []chunk.Range) int64 {
	if len(rs) == 0 {
		return 0
	}
	return rs[len(rs)-1].Off + rs[len(rs)-1].Len
}

// ExistingSize is how many leading bytes of the file the server already
// holds from an earlier attempt with the same content; a sender may start
// there.
func (w *writer) ExistingSize() int64 { return w.existing }

func (w *writer) WriteAt(p []byte, off int64) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return 0, fmt.Errorf("remote %s: write after commit or abort", w.path)
	}
	n := 0
	for n < len(p) {
		c := min(len(p)-n, control.MaxData)
		if err := w.lim(context.Background(), c); err != nil {
			return n, err
		}
		if err := w.k.send(control.Data{Off: off + int64(n), Data: p[n : n+c]}); err != nil {
			return n, fmt.Errorf("unable to write remote %s: %w", w.path, err)
		}
		n += c
	}
	return n, nil
}

func (w *writer) finish(m control.Msg) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return nil
	}
	w.done = true
	defer w.k.close()
	if err := w.k.send(m); err != nil {
		return fmt.Errorf("unable to finish remote %s: %w", w.path, err)
	}
	_, err := expect[control.OK](w.k.recv())
	return err
}

func (w *writer) Commit() error { return w.finish(control.Commit{}) }
func (w *writer) Abort() error  { return w.finish(control.Abort{}) }
