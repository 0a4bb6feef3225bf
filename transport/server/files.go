package server

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/ferry-sync/ferry/delta/chunk"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/localfs"
	"github.com/ferry-sync/ferry/transport/control"
	"github.com/ferry-sync/ferry/transport/data"
	"github.com/ferry-sync/ferry/tree"
)

// Scan batches: a batch goes out when it holds this many entries or bytes,
// so that a client sees progress on huge trees and memory stays bounded.
const (
	scanBatchEntries = 512
	scanBatchBytes   = 256 << 10
)

func (s *session) scan(st *stream, ep endpoint.Endpoint, root *rootState, m control.Scan) error {
	select {
	case <-root.scan:
	case <-s.ctx.Done():
		return s.ctx.Err()
	}
	defer func() { root.scan <- struct{}{} }()
	var batch []tree.Entry
	size := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := st.send(control.Entries{Entries: batch})
		batch, size = batch[:0], 0
		return err
	}
	opts := endpoint.ScanOptions{Exclude: m.Exclude, PartialSuffix: m.PartialSuffix, KeepStale: m.KeepStale, Within: m.Within}
	out := &listing{log: s.log, emit: func(e tree.Entry) error {
		batch = append(batch, e)
		size += len(e.Path) + len(e.Target) + len(e.Problem) + 48
		if len(batch) >= scanBatchEntries || size >= scanBatchBytes {
			return flush()
		}
		return nil
	}}
	err := ep.Scan(s.ctx, opts, out.add)
	if err == nil {
		err = out.finish()
	}
	if err == nil {
		err = flush()
	}
	if err != nil {
		return st.reply(err, nil)
	}
	if root.cache != nil {
		if cerr := root.cache.Commit(); cerr != nil {
			s.log.Warn("unable to save scan cache", "folder", root.dir, "err", cerr)
		}
	}
	// A scan starts a pass: the versions the last one kept are pruned
	// here too, for connections kept open across passes.
	root.prune(s.srv.clock.Now(), false, s.log)
	return st.send(control.OK{})
}

// maxRead bounds one Read request's answer.
const maxRead = 8 << 20

func (s *session) openFile(st *stream, ep endpoint.Endpoint, m control.Open) error {
	if err := validPaths(m.Path); err != nil {
		return st.reply(err, nil)
	}
	r, err := ep.OpenFile(s.ctx, m.Path)
	if err != nil {
		return st.reply(err, nil)
	}
	defer r.Close()
	if err := st.send(control.Opened{Size: r.Size()}); err != nil {
		return err
	}
	buf := make([]byte, control.MaxData)
	for {
		msg, err := st.recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		rq, ok := msg.(control.Read)
		if !ok {
			return st.reply(protocolError("%T inside an open file", msg), nil)
		}
		if rq.Off < 0 || rq.Len > maxRead {
			return st.reply(protocolError("read of %d bytes at %d", rq.Len, rq.Off), nil)
		}
		off, left := rq.Off, int(rq.Len)
		var rerr error
		for left > 0 {
			n, err := r.ReadAt(buf[:min(left, len(buf))], off)
			if n > 0 {
				if err := waitN(s.ctx, n, s.acct.limiter, s.srv.total); err != nil {
					return err
				}
				if err := st.send(control.Data{Off: off, Data: buf[:n]}); err != nil {
					return err
				}
				off += int64(n)
				left -= n
			}
			if err != nil {
				if !errors.Is(err, io.EOF) {
					rerr = fmt.Errorf("unable to read %s: %w", m.Path, err)
				}
				break
			}
		}
		if rerr != nil {
			return st.reply(rerr, nil)
		}
		if err := st.send(control.OK{}); err != nil {
			return err
		}
	}
}

// The folders the server opens by default are localfs's: a writer that
// lost a method would silently stop resuming.
var (
	_ endpoint.Checkpointer = (*localfs.Writer)(nil)
	_ data.Resumable        = (*localfs.Writer)(nil)
)

// resumeOffset decides where a Create continues. A partial is only resumed
// when its checkpoint names the same content (Key); anything else restarts
// at 0 and the new key is saved before the first byte is written.
func resumeOffset(w endpoint.FileWriter, m control.Create) (int64, error) {
	rw, ok := w.(endpoint.Checkpointer)
	if !ok || len(m.Key) == 0 {
		return 0, nil
	}
	if have := rw.ExistingSize(); have > 0 && !m.Fresh {
		ck, err := rw.LoadCheckpoint()
		if err == nil && bytes.Equal(ck, m.Key) {
			return min(have, m.Meta.Size), nil
		}
	}
	if err := rw.SaveCheckpoint(m.Key); err != nil {
		return 0, fmt.Errorf("unable to save resume checkpoint for %s: %w", m.Meta.Path, err)
	}
	return 0, nil
}

func (s *session) create(st *stream, ep endpoint.Endpoint, m control.Create) error {
	if err := validPaths(m.Meta.Path); err != nil {
		return st.reply(err, nil)
	}
	if m.Meta.Kind != tree.File || m.Meta.Size < 0 {
		return st.reply(protocolError("create %s: not a file of non-negative size", m.Meta.Path), nil)
	}
	w, err := ep.CreateFile(s.ctx, m.Meta, m.Expect)
	if err != nil {
		return st.reply(err, nil)
	}
	done := false
	defer func() {
		if !done {
			// The client vanished: keep the partial for a resume.
			w.Abort()
		}
	}()
	off, err := resumeOffset(w, m)
	if err != nil {
		return st.reply(err, nil)
	}
	var held []chunk.Range
	if off == 0 && len(m.List.Chunks) > 0 {
		held = s.seed(ep, w, m)
	}
	if err := st.send(control.Created{Offset: off, Held: held}); err != nil {
		return err
	}
	var werr error
	for {
		msg, err := st.recv()
		if err != nil {
			return err
		}
		switch d := msg.(type) {
		case control.Data:
			if werr != nil {
				continue
			}
			if d.Off < 0 || d.Off > m.Meta.Size || int64(len(d.Data)) > m.Meta.Size-d.Off {
				werr = protocolError("write of %d bytes at %d past the end of %s (%d bytes)", len(d.Data), d.Off, m.Meta.Path, m.Meta.Size)
				continue
			}
			if err := waitN(s.ctx, len(d.Data), s.acct.limiter, s.srv.total); err != nil {
				return err
			}
			if _, err := w.WriteAt(d.Data, d.Off); err != nil {
				werr = err
			}
		case control.Commit:
			done = true
			if werr != nil {
				w.Abort()
				return st.reply(werr, nil)
			}
			return st.reply(w.Commit(), control.OK{})
		case control.Abort:
			done = true
			return st.reply(w.Abort(), control.OK{})
		default:
			return st.reply(protocolError("%T inside a file being written", msg), nil)
		}
	}
}

// seed fills the fresh partial w of a Create that carries the new
// version's chunk list with the chunks the current version on the server
// shares with it, and returns the ranges it filled, for the client to skip.
// The list is the client's word only for which chunks to look for: the
// server finds them by its own scan's list of its file, or by hashing its
// file again (endpoint.SeedFrom), and the whole file's hash is checked at
// Commit, so a lying list costs bytes, never a wrong file. Any failure here only means the file is sent
// whole.
func (s *session) seed(ep endpoint.Endpoint, w endpoint.FileWriter, m control.Create) []chunk.Range {
	if m.List.Total != m.Meta.Size || !endpoint.ReuseCandidate(endpoint.Transfer{Source: m.Meta, Expect: m.Expect}) {
		return nil
	}
	// A seeded partial is no prefix of the file: drop the resume key first,
	// so that an attempt after a crash starts afresh (and seeds again)
	// rather than continuing from the partial's size.
	if rw, ok := w.(endpoint.Checkpointer); ok {
		if err := rw.SaveCheckpoint(nil); err != nil {
			s.log.Warn("unable to reset the checkpoint of a partial; sending the file whole", "path", m.Meta.Path, "err", err)
			return nil
		}
	}
	held, err := endpoint.SeedFrom(s.ctx, ep, m.Expect, w, m.List)
	if err != nil {
		s.log.Warn("unable to start from the current version; the file is sent whole", "path", m.Meta.Path, "err", err)
		return nil
	}
	if len(held) == 0 && len(m.Key) > 0 {
		// Nothing seeded, nothing written: the partial fills from 0 in
		// order, a prefix again, so the resume key goes back and an
		// attempt after a crash (on this node or another over the same
		// root) continues where this one stopped instead of from 0.
		if rw, ok := w.(endpoint.Checkpointer); ok {
			if err := rw.SaveCheckpoint(m.Key); err != nil {
				s.log.Warn("unable to save the resume checkpoint of a partial", "path", m.Meta.Path, "err", err)
			}
		}
	}
	// Held ranges past the bound are sent again: correct, only larger.
	return held[:min(len(held), control.MaxRanges)]
}

// get streams one file from an offset, or only the ranges asked for,
// after checking that it is still the file the client's scan saw.
func (s *session) get(st *stream, ep endpoint.Endpoint, m control.Get) error {
	if err := validPaths(m.Path); err != nil {
		return st.reply(err, nil)
	}
	if m.Offset < 0 {
		return st.reply(protocolError("negative offset"), nil)
	}
	if len(m.Ranges) > 0 && m.Offset != 0 {
		return st.reply(protocolError("ranges and an offset"), nil)
	}
	if m.Expect.Kind != tree.Absent {
		want := m.Expect
		want.Path = m.Path
		if err := checkUnchanged(s.ctx, ep, want); err != nil {
			return st.reply(err, nil)
		}
	}
	r, err := ep.OpenFile(s.ctx, m.Path)
	if err != nil {
		return st.reply(err, nil)
	}
	defer r.Close()
	size := r.Size()
	if m.Expect.Kind != tree.Absent && size != m.Expect.Size {
		return st.reply(fmt.Errorf("%w: %s changed on the server since it was scanned", endpoint.ErrChanged, m.Path), nil)
	}
	ranges := m.Ranges
	if len(ranges) == 0 {
		ranges = []chunk.Range{{Off: m.Offset, Len: max(size-m.Offset, 0)}}
	} else if last := ranges[len(ranges)-1]; last.Off+last.Len > size {
		// The decoder checked order; only the end needs the file's size.
		return st.reply(protocolError("range %d+%d past the end of %s (%d bytes)", last.Off, last.Len, m.Path, size), nil)
	}
	if err := st.send(control.Opened{Size: size}); err != nil {
		return err
	}
	buf := make([]byte, control.MaxData)
	for _, rg := range ranges {
		for off, end := rg.Off, rg.Off+rg.Len; off < end; {
			n, err := r.ReadAt(buf[:min(int64(len(buf)), end-off)], off)
			if n > 0 {
				if err := waitN(s.ctx, n, s.acct.limiter, s.srv.total); err != nil {
					return err
				}
				if err := st.send(control.Data{Off: off, Data: buf[:n]}); err != nil {
					return err
				}
				off += int64(n)
			}
			if err != nil {
				if errors.Is(err, io.EOF) && off == end {
					break
				}
				if errors.Is(err, io.EOF) {
					err = fmt.Errorf("%w: %s shrank while being sent", endpoint.ErrChanged, m.Path)
				}
				return st.reply(fmt.Errorf("unable to read %s: %w", m.Path, err), nil)
			}
		}
	}
	return st.send(control.OK{})
}

// chunksMany answers ChunksMany: a ChunkList per file that has a list
// (kept by the scan, or, for m.Read, computed now), then OK. A file that is
// not as the client's entry says, or has no list, is left out.
func (s *session) chunksMany(st *stream, ep endpoint.Endpoint, m control.ChunksMany) error {
	for _, e := range slices.Concat(m.Read, m.Kept) {
		if err := validPaths(e.Path); err != nil {
			return st.reply(err, nil)
		}
	}
	keeper, _ := ep.(endpoint.ChunkKeeper)
	send := func(e tree.Entry, l chunk.List) error {
		if len(l.Chunks) == 0 || l.Total != e.Size {
			return nil
		}
		return st.send(control.ChunkList{Path: e.Path, Hash: e.Hash, List: l})
	}
	for _, e := range m.Read {
		if l, err := ep.Chunks(s.ctx, e.Path, e); err == nil {
			if err := send(e, l); err != nil {
				return err
			}
		}
	}
	for _, e := range m.Kept {
		if keeper == nil {
			break
		}
		if l, ok := keeper.StoredChunks(s.ctx, e.Path, e); ok {
			if err := send(e, l); err != nil {
				return err
			}
		}
	}
	return st.send(control.OK{})
}
