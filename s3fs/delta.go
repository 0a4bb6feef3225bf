package s3fs

import (
	"io"
	"os"

	"github.com/ferry-sync/ferry/delta/chunk"
	"github.com/ferry-sync/ferry/tree"
)

// A new version of a large file is mostly its current version: a delta
// seeds the spool with the unchanged chunks. Those bytes need not cross
// the link to the store again: a part of the new version whose chunks are
// consecutive chunks of the current version, at one shift, is the same
// bytes as a range of the current object, and goes as an UploadPartCopy
// of that range (conditional on the object's ETag). The part's bytes are
// still read from the spool for the whole-file hash.
//
// The current version's chunk list comes from the cache (Chunks, or a
// whole sequential read through OpenFile, which a seed does); without one
// every part is uploaded as bytes.

type deltaBase struct {
	key, etag string
	at        *listed // the object, as its cached list is filed
	list      chunk.List
	bySum     map[[chunk.SumSize]byte]int
	loaded    bool

	c      *chunk.Chunker // over the new version, from 0
	fed    int64
	closed []chunk.Chunk
	all    bool
}

// newDelta is the delta state of a writer replacing expect, the current
// version of its path, or nil when there is nothing to copy from.
func (w *writer) newDelta(expect tree.Entry) *deltaBase {
	if w.ps == 0 || w.prefix > 0 || expect.Kind != tree.File || expect.Path != w.meta.Path || expect.Size < chunk.MinFileSize {
		return nil
	}
	o, err := w.f.head(w.ctx, w.key)
	if err != nil || o.size != expect.Size || (expect.Ino != 0 && inoOf(o.etag) != expect.Ino) {
		return nil
	}
	c, ok := chunk.New(w.meta.Size, nil)
	if !ok {
		return nil
	}
	return &deltaBase{key: w.key, etag: o.etag, at: &listed{key: w.key, etag: o.etag, size: o.size, lastMod: o.lastMod}, c: c}
}

// load reads the current version's list from the cache, if it is there
// and cut as the new version's is.
func (d *deltaBase) load(w *writer) bool {
	if d.loaded {
		return true
	}
	b, err := os.ReadFile(w.f.cachePath("chunks", d.at))
	if err != nil {
		return false
	}
	l, _, err := chunk.ParseList(b)
	if err != nil || l.Total != d.at.size {
		return false
	}
	pb, okb := l.Params()
	pn, okn := chunk.ParamsFor(w.meta.Size)
	if !okb || !okn || pb != pn {
		return false
	}
	d.list, d.loaded = l, true
	d.bySum = make(map[[chunk.SumSize]byte]int, len(l.Chunks))
	for i := len(l.Chunks) - 1; i >= 0; i-- {
		d.bySum[l.Chunks[i].Sum] = i
	}
	return true
}

// feed chunks the new version as far as the spool holds it from 0.
func (d *deltaBase) feed(w *writer) error {
	avail := d.fed
	for _, r := range w.written {
		if r[0] <= avail {
			avail = max(avail, r[1])
		}
	}
	if avail > d.fed {
		if _, err := io.Copy(d.c, io.NewSectionReader(w.spool, d.fed, avail-d.fed)); err != nil {
			return err
		}
		d.fed = avail
	}
	switch {
	case d.all:
	case d.fed == w.meta.Size:
		l, err := d.c.List()
		if err != nil {
			return err
		}
		d.closed, d.all = l.Chunks, true
	default:
		d.closed = d.c.Chunks()
	}
	return nil
}

// source says where in the current object the part [lo, hi) of the new
// version lies (-1: nowhere, upload its bytes), and false while the new
// version's chunks are not yet known as far as hi.
func (d *deltaBase) source(w *writer, lo, hi int64) (int64, bool, error) {
	if !d.load(w) {
		return -1, true, nil
	}
	if err := d.feed(w); err != nil {
		return -1, true, err
	}
	if !d.all && (len(d.closed) == 0 || d.closed[len(d.closed)-1].End() < hi) {
		return -1, false, nil
	}
	i := 0
	for i < len(d.closed) && d.closed[i].End() <= lo {
		i++
	}
	var first, prev int
	for m := i; m < len(d.closed) && d.closed[m].Off < hi; m++ {
		nc := d.closed[m]
		var bi int
		if m == i {
			b, ok := d.bySum[nc.Sum]
			if !ok {
				return -1, true, nil
			}
			bi, first = b, b
		} else {
			bi = prev + 1
			if bi >= len(d.list.Chunks) || d.list.Chunks[bi].Sum != nc.Sum {
				return -1, true, nil
			}
		}
		if d.list.Chunks[bi].Len != nc.Len {
			return -1, true, nil
		}
		prev = bi
	}
	if i >= len(d.closed) {
		return -1, true, nil
	}
	src := lo - (d.closed[i].Off - d.list.Chunks[first].Off)
	if src < 0 || src+(hi-lo) > d.list.Total {
		return -1, true, nil
	}
	return src, true, nil
}
