package s3fs

import (
	"container/heap"
	"strings"

	"github.com/ferry-sync/ferry/tree"
)

// S3 lists keys in byte order; ferry's entries go in tree.Compare order,
// which is byte order with '/' below every other byte. The two differ only
// where a name has a byte below '/' (" !\"#$%&'()*+,-.") right after a
// prefix that is also a directory: "a.txt" is listed before "a/b", but
// follows it in tree order. reorder turns the listing into tree order
// holding back only the entries that may still be overtaken: a few names
// per directory, never a directory's subtree.
//
// The rule: after key K, every later key F (F > K in byte order) has a
// tree key (T, '/' as 0) at least bound(K): T(K) itself, unless K has a
// byte below '/' at some position i, when a later key may be K[:i]+"/...",
// so T(K[:i])+"\x00" for the first such i. A held path P goes out once
// T(P) < bound and its node is complete: every key that names it, P and
// its marker P+"/", and whether keys lie below it, is known once the
// listing has reached P+"/".

// tkey is a path's tree-order key: '/' below every other byte.
func tkey(p string) string { return strings.ReplaceAll(p, "/", "\x00") }

// bound is the least tree key any key listed after k can give.
func bound(k string) string {
	for i := 0; i < len(k); i++ {
		if c := k[i]; c < '/' {
			return tkey(k[:i]) + "\x00"
		}
	}
	return tkey(k)
}

type held struct {
	path string
	t    string
	n    *node
}

type heldHeap []*held

func (h heldHeap) Len() int           { return len(h) }
func (h heldHeap) Less(i, j int) bool { return h[i].t < h[j].t }
func (h heldHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *heldHeap) Push(x any)        { *h = append(*h, x.(*held)) }
func (h *heldHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// reorder takes the listing's keys (relative to the prefix, byte order)
// and calls emit for every path in tree order.
type reorder struct {
	h       heldHeap
	pending map[string]*held
	// open is the paths emitted that later keys may still lie below:
	// the last path emitted and its ancestors.
	open []string
	emit func(p string, n *node) error
}

func newReorder(emit func(p string, n *node) error) *reorder {
	return &reorder{pending: map[string]*held{}, emit: emit}
}

func (r *reorder) get(p string) *node {
	if h := r.pending[p]; h != nil {
		return h.n
	}
	h := &held{path: p, t: tkey(p), n: &node{}}
	r.pending[p] = h
	heap.Push(&r.h, h)
	return h.n
}

func (r *reorder) isOpen(p string) bool {
	for _, d := range r.open {
		if d == p {
			return true
		}
	}
	return false
}

// add takes one listed key: rel is the key below the prefix.
func (r *reorder) add(rel string, l *listed) error {
	isMarker := strings.HasSuffix(rel, "/")
	p := strings.TrimSuffix(rel, "/")
	if p != "" {
		if isMarker {
			r.get(p).marker = l
		} else {
			r.get(p).obj = l
		}
		for d := tree.Parent(p); d != ""; d = tree.Parent(d) {
			if r.isOpen(d) {
				break
			}
			r.get(d).children = true
		}
	}
	b := bound(rel)
	for len(r.h) > 0 {
		top := r.h[0]
		// Complete: the listing has reached top.path+"/".
		if top.t >= b || rel < top.path+"/" {
			return nil
		}
		if err := r.pop(); err != nil {
			return err
		}
	}
	return nil
}

func (r *reorder) pop() error {
	top := heap.Pop(&r.h).(*held)
	delete(r.pending, top.path)
	for len(r.open) > 0 && !tree.IsBelow(top.path, r.open[len(r.open)-1]) {
		r.open = r.open[:len(r.open)-1]
	}
	// An object goes on too: keys below it (a file that is also a
	// directory, reported as a problem) must not name it again.
	r.open = append(r.open, top.path)
	return r.emit(top.path, top.n)
}

// flush emits what is held at the end of the listing.
func (r *reorder) flush() error {
	for len(r.h) > 0 {
		if err := r.pop(); err != nil {
			return err
		}
	}
	return nil
}
