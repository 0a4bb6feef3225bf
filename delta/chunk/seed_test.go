package chunk

import (
	"bytes"
	"io"
	"testing"
)

// TestSeedBuildsTheNewFile seeds a new file from its old version for an
// append, a middle insert, a middle overwrite, a truncation and a
// rewrite, fills the ranges Seed left from the new file, and checks the
// result byte for byte and that an edit leaves little to send.
func TestSeedBuildsTheNewFile(t *testing.T) {
	for _, seed := range seeds(6) {
		r := newRand(seed)
		old := randomBytes(r, 3<<20)
		cases := []struct {
			name    string
			next    []byte
			maxSend int64 // bytes Seed may leave to the sender
		}{
			{"append", append(append([]byte(nil), old...), 'x'), 2 << 20 / 4},
			{"insert", splice(old, len(old)/2, 0, randomBytes(r, 1024)), 2 << 20 / 4},
			{"overwrite", splice(old, len(old)/2, 64<<10, randomBytes(r, 64<<10)), 2 << 20 / 4},
			{"truncate", old[:len(old)-100<<10], 2 << 20 / 4},
			{"rewrite", randomBytes(r, 3<<20), 3 << 20},
		}
		for _, c := range cases {
			next := chunkFile(t, c.next)
			dst := &memFile{}
			held, err := Seed(dst, bytes.NewReader(old), int64(len(old)), next, nil)
			if err != nil {
				t.Fatalf("seed %d %s: %v", seed, c.name, err)
			}
			if len(dst.b) < len(c.next) {
				dst.b = append(dst.b, make([]byte, len(c.next)-len(dst.b))...)
			}
			at := int64(0)
			for _, h := range held {
				if h.Off < at || h.Len <= 0 || h.Off+h.Len > int64(len(c.next)) {
					t.Fatalf("seed %d %s: ranges out of order or bounds: %v", seed, c.name, held)
				}
				copy(dst.b[at:h.Off], c.next[at:h.Off])
				at = h.Off + h.Len
			}
			copy(dst.b[at:], c.next[at:])
			if !bytes.Equal(dst.b[:len(c.next)], c.next) {
				t.Fatalf("seed %d %s: built file differs from the new version", seed, c.name)
			}
			if send := int64(len(c.next)) - Bytes(held); send > c.maxSend {
				t.Errorf("seed %d %s: %d bytes left to send, want at most %d", seed, c.name, send, c.maxSend)
			}
		}
	}
}

// TestSeedBaseChangedUnderIt: a base rewritten while Seed reads it
// (modelled by a reader whose bytes invert after the first MiB) yields no
// wrong range: every range Seed reports holds the new file's bytes, and
// nothing after the change is taken.
func TestSeedBaseChangedUnderIt(t *testing.T) {
	r := newRand(7)
	old := randomBytes(r, 4<<20)
	want := append(append([]byte(nil), old...), 'y')
	next := chunkFile(t, want)
	dst := &memFile{}
	held, err := Seed(dst, &flipAfter{b: old, after: 1 << 20}, int64(len(old)), next, make([]byte, 64<<10))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range held {
		if !bytes.Equal(dst.b[h.Off:h.Off+h.Len], want[h.Off:h.Off+h.Len]) {
			t.Fatalf("range %v holds wrong bytes", h)
		}
	}
	if n := Bytes(held); n == 0 || n > 1<<20+256<<10 {
		t.Fatalf("seeded %d bytes from a base that changed after its first MiB", n)
	}
}

// flipAfter reads b, but after the first `after` bytes read, every read
// returns b with its bytes inverted: a file rewritten between Seed's cut
// and its copy.
type flipAfter struct {
	b     []byte
	after int
	read  int
}

func (f *flipAfter) ReadAt(p []byte, off int64) (int, error) {
	n := copy(p, f.b[off:])
	if f.read >= f.after {
		for i := range p[:n] {
			p[i] ^= 0xff
		}
	}
	f.read += n
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// TestSeedWithTrustsTheBaseList: with the base's own list, SeedWith copies
// every shared chunk without hashing, to the same effect as Seed.
func TestSeedWithTrustsTheBaseList(t *testing.T) {
	for _, seed := range seeds(4) {
		r := newRand(seed)
		old := randomBytes(r, 3<<20)
		next := splice(old, len(old)/3, 0, randomBytes(r, 1000))
		nl, bl := chunkFile(t, next), chunkFile(t, old)
		a, b := &memFile{}, &memFile{}
		viaList, err := SeedWith(a, bytes.NewReader(old), bl, nl, nil)
		if err != nil {
			t.Fatal(err)
		}
		viaRead, err := Seed(b, bytes.NewReader(old), int64(len(old)), nl, nil)
		if err != nil {
			t.Fatal(err)
		}
		if Bytes(viaList) != Bytes(viaRead) || Bytes(viaList) < int64(len(next))*9/10 {
			t.Fatalf("seed %d: SeedWith filled %d bytes, Seed %d, of %d", seed, Bytes(viaList), Bytes(viaRead), len(next))
		}
		for _, h := range viaList {
			if !bytes.Equal(a.b[h.Off:h.Off+h.Len], next[h.Off:h.Off+h.Len]) {
				t.Fatalf("seed %d: range %v holds wrong bytes", seed, h)
			}
		}
	}
}
