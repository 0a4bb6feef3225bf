package control

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/delta/chunk"
	"github.com/ferry-sync/ferry/endpoint"

	"github.com/ferry-sync/ferry/tree"
)

var seed = flag.Uint64("seed", 0, "random seed (0: from the clock)")

func rng(t testing.TB) *rand.Rand {
	s := *seed
	if s == 0 {
		s = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -seed=%d)", s, s)
	return rand.New(rand.NewPCG(s, s^0x9e3779b97f4a7c15))
}

func randString(r *rand.Rand, max int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz/._-é日"
	rs := []rune(alphabet)
	n := r.IntN(max + 1)
	var b []rune
	for range n {
		b = append(b, rs[r.IntN(len(rs))])
	}
	return string(b)
}

func randEntry(r *rand.Rand) tree.Entry {
	return tree.Entry{
		Path:    randString(r, 40),
		Kind:    tree.Kind(r.IntN(4)),
		Size:    r.Int64() >> r.IntN(63),
		Mtime:   r.Int64() - r.Int64(),
		Mode:    fs.FileMode(r.IntN(0o1000)),
		Hash:    r.Uint64(),
		Target:  randString(r, 20),
		Ino:     r.Uint64() >> r.IntN(64),
		Problem: randString(r, 10),
	}
}

// randChanged is a Changed frame with a state for each path, as a server
// asked for them sends it: no hash nor inode.
func randChanged(r *rand.Rand) Changed {
	var c Changed
	for range 1 + r.IntN(3) {
		e := randEntry(r)
		e.Hash, e.Ino = 0, 0
		c.Paths = append(c.Paths, e.Path)
		c.States = append(c.States, e)
	}
	return c
}

func randVersion(r *rand.Rand) VersionInfo {
	return VersionInfo{Path: randString(r, 40), Time: r.Int64() - r.Int64(), ModTime: r.Int64() - r.Int64(),
		Reason: randString(r, 10), Size: r.Int64() >> r.IntN(63), Mode: fs.FileMode(r.IntN(0o1000)), Link: r.IntN(2) == 0}
}

func randBytes(r *rand.Rand, max int) []byte {
	n := r.IntN(max + 1)
	if n == 0 {
		return nil
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// samples returns one message of every type with random fields.
func samples(r *rand.Rand) []Msg {
	var es []tree.Entry
	for range r.IntN(5) {
		es = append(es, randEntry(r))
	}
	var ex []string
	for range r.IntN(4) {
		ex = append(ex, randString(r, 12))
	}
	return []Msg{
		Hello{Version: r.Uint32(), Path: randString(r, 30), Client: "ferry test", PartialSuffix: randString(r, 8)},
		Welcome{Version: 1, User: randString(r, 8), RateCap: r.Int64(), UDPPort: r.Uint32()},
		Scan{Exclude: ex, PartialSuffix: randString(r, 8)},
		Scan{Exclude: ex, PartialSuffix: randString(r, 8), KeepStale: true},
		Scan{Exclude: ex, PartialSuffix: randString(r, 8), Within: []string{randString(r, 12), randString(r, 30)}},
		Scan{Exclude: ex, PartialSuffix: randString(r, 8), KeepStale: true, Within: []string{randString(r, 12)}},
		Stat{Path: randString(r, 30)},
		Mkdir{Path: randString(r, 30), Mode: fs.FileMode(r.IntN(0o1000))},
		Symlink{Path: randString(r, 30), Target: randString(r, 30), Expect: randEntry(r)},
		Remove{Path: randString(r, 30), Expect: randEntry(r)},
		Rename{From: randString(r, 30), To: randString(r, 30), Expect: randEntry(r)},
		Copy{From: randString(r, 30), FromExpect: randEntry(r), Meta: randEntry(r), Expect: randEntry(r)},
		Chunks{Path: randString(r, 30), Expect: randEntry(r)},
		StatMany{Paths: []string{randString(r, 30), randString(r, 30)}},
		Watch{Exclude: ex},
		Watch{Exclude: ex, States: true},
		Changed{Paths: []string{randString(r, 30)}, Rescan: r.IntN(2) == 0},
		randChanged(r),
		Digests{Files: []tree.Entry{randEntry(r), randEntry(r)}},
		ChunksMany{Read: []tree.Entry{randEntry(r)}, Kept: []tree.Entry{randEntry(r), randEntry(r)}},
		DigestList{Digests: []chunk.Digest{{1, 2, 3}, {}}},
		ListVersions{Prefix: randString(r, 30)},
		VersionList{Versions: []VersionInfo{randVersion(r), randVersion(r)}},
		VersionList{},
		RestoreVersion{Path: randString(r, 30), Time: r.Int64() - r.Int64(), Reason: randString(r, 10), To: randString(r, 30)},
		ChunkList{Path: randString(r, 30), Hash: r.Uint64(), List: randList(r)},
		ChunkList{Path: randString(r, 30), Hash: r.Uint64(), List: chunk.List{Total: r.Int64N(1 << 20)}},
		SetMeta{Path: randString(r, 30), Mode: 0o644, Mtime: r.Int64()},
		FreeSpace{},
		Open{Path: randString(r, 30)},
		Folding{},
		Folded{Case: r.IntN(2) == 0, Normalization: r.IntN(2) == 0},
		Create{Meta: randEntry(r), Expect: randEntry(r), Key: randBytes(r, 40), Fresh: r.IntN(2) == 0},
		Create{Meta: randEntry(r), Expect: randEntry(r), Key: randBytes(r, 40), List: randList(r)},
		Get{Path: randString(r, 30), Offset: r.Int64(), Expect: randEntry(r)},
		Get{Path: randString(r, 30), Expect: randEntry(r), Ranges: randRanges(r)},
		DataSession{Download: r.IntN(2) == 0, Rate: r.Int64(), AbsentUnlisted: r.IntN(2) == 0, NoEntries: r.IntN(2) == 0},
		DataSession{Download: r.IntN(2) == 0, Rate: r.Int64(), AbsentUnlisted: r.IntN(2) == 0, NoEntries: r.IntN(2) == 0, Lane: 3, Lanes: 4, SplitAt: 1 << 30, Align: 1 << 20},
		SessionOK{Port: r.Uint32(), ID: randBytes(r, 16), Key: randBytes(r, 32), Rate: r.Int64()},
		FileError{Path: randString(r, 30), Code: Code(r.IntN(11)), Message: randString(r, 40)},
		Read{Off: r.Int64(), Len: r.Uint32()},
		Data{Off: r.Int64(), Data: randBytes(r, 3000)},
		Commit{}, Abort{}, OK{},
		Error{Code: Code(r.IntN(11)), Message: randString(r, 50)},
		EntryMsg{Entry: randEntry(r)},
		Entries{Entries: es},
		Space{Free: r.Uint64(), Total: r.Uint64()},
		Opened{Size: r.Int64()},
		Created{Offset: r.Int64()},
		Created{Held: randRanges(r)},
	}
}

// normalise makes empty and nil slices compare equal.
func normalise(m Msg) Msg {
	switch v := m.(type) {
	case VersionList:
		if len(v.Versions) == 0 {
			v.Versions = nil
		}
		return v
	case Entries:
		if len(v.Entries) == 0 {
			v.Entries = nil
		}
		return v
	case Scan:
		if len(v.Exclude) == 0 {
			v.Exclude = nil
		}
		return v
	case Data:
		if len(v.Data) == 0 {
			v.Data = nil
		}
		return v
	case Create:
		if len(v.Key) == 0 {
			v.Key = nil
		}
		return v
	case Get:
		if len(v.Ranges) == 0 {
			v.Ranges = nil
		}
		return v
	case Created:
		if len(v.Held) == 0 {
			v.Held = nil
		}
		return v
	case SessionOK:
		if len(v.Key) == 0 {
			v.Key = nil
		}
		if len(v.ID) == 0 {
			v.ID = nil
		}
		return v
	}
	return m
}

func TestRoundTripEveryMessage(t *testing.T) {
	r := rng(t)
	seen := map[MsgType]bool{}
	for range 50 {
		for _, m := range samples(r) {
			b := Append([]byte("prefix"), m)
			got, n, err := Parse(b[len("prefix"):])
			if err != nil {
				t.Fatalf("%T: %v", m, err)
			}
			if n != len(b)-len("prefix") {
				t.Fatalf("%T: consumed %d of %d", m, n, len(b)-len("prefix"))
			}
			if !reflect.DeepEqual(normalise(got), normalise(m)) {
				t.Fatalf("%T: round trip\n got %#v\nwant %#v", m, got, m)
			}
			seen[m.Type()] = true
		}
	}
	if len(seen) != 41 {
		t.Fatalf("covered %d message types, want 41", len(seen))
	}
}

func TestEveryTruncatedPrefixIsRejected(t *testing.T) {
	r := rng(t)
	for _, m := range samples(r) {
		b := Append(nil, m)
		for i := range len(b) {
			if _, _, err := Parse(b[:i]); !errors.Is(err, ErrTruncated) {
				t.Fatalf("%T: prefix of %d/%d bytes: err %v, want ErrTruncated", m, i, len(b), err)
			}
			if _, _, err := ReadFrame(bytes.NewReader(b[:i]), nil); err == nil {
				t.Fatalf("%T: ReadFrame accepted a prefix of %d/%d bytes", m, i, len(b))
			}
		}
	}
}

// A frame whose declared body is shorter than its fields (a lying length)
// must fail to decode rather than read the next frame's bytes.
func TestBodyCutShortWithinFrameIsRejected(t *testing.T) {
	r := rng(t)
	for _, m := range samples(r) {
		b := Append(nil, m)
		for cut := 1; cut < len(b)-frameHeader; cut++ {
			short := append([]byte(nil), b[:len(b)-cut]...)
			n := len(short) - frameHeader
			short[0], short[1], short[2], short[3] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
			if _, _, err := Parse(short); err == nil {
				got, _, _ := Parse(short)
				// Some messages end in an optional-looking field; a shorter
				// body that still decodes must at least differ.
				if reflect.DeepEqual(normalise(got), normalise(m)) {
					t.Fatalf("%T: body cut by %d decoded to the same message", m, cut)
				}
			}
		}
	}
}

// A Watch and a Changed frame without their states encode exactly as
// before the states were added, so a peer of an earlier release reads them.
func TestWatchStatesAreOptionalTrailingFields(t *testing.T) {
	w := Append(nil, Watch{Exclude: []string{"x"}})
	if want := []byte{0, 0, 0, 4, byte(TypeWatch), 1, 1, 'x'}; !bytes.Equal(w, want) {
		t.Fatalf("Watch without States: %x, want %x", w, want)
	}
	c := Append(nil, Changed{Paths: []string{"a"}, Rescan: true})
	if want := []byte{0, 0, 0, 5, byte(TypeChanged), 1, 1, 'a', 1}; !bytes.Equal(c, want) {
		t.Fatalf("Changed without States: %x, want %x", c, want)
	}
	// States for other paths than the frame names are refused.
	bad := Changed{Paths: []string{"a", "b"}, States: []tree.Entry{{Path: "a"}}}
	if _, _, err := Parse(Append(nil, bad)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("a Changed with 1 state for 2 paths: err %v, want ErrMalformed", err)
	}
	// The path of each state is its path's.
	m, _, err := Parse(Append(nil, Changed{Paths: []string{"a"}, States: []tree.Entry{{Path: "elsewhere", Kind: tree.File, Size: 3}}}))
	if err != nil {
		t.Fatal(err)
	}
	if got := m.(Changed).States; len(got) != 1 || got[0] != (tree.Entry{Path: "a", Kind: tree.File, Size: 3}) {
		t.Fatalf("states %+v, want one file a of 3 bytes", got)
	}
}

func TestTrailingBytesAreRejected(t *testing.T) {
	b := Append(nil, Stat{Path: "a"})
	b = append(b, 0)
	n := len(b) - frameHeader
	b[3] = byte(n)
	if _, _, err := Parse(b); !errors.Is(err, ErrMalformed) {
		t.Fatalf("err %v, want ErrMalformed", err)
	}
}

func TestHostileLengthsAreRejected(t *testing.T) {
	cases := map[string][]byte{
		"zero frame":       {0, 0, 0, 0},
		"huge frame":       {0xff, 0xff, 0xff, 0xff, byte(TypeOK)},
		"unknown type":     {0, 0, 0, 1, 0xee},
		"huge string":      Append(nil, Stat{Path: "x"})[:5],
		"entries overflow": {0, 0, 0, 4, byte(TypeEntries), 0xff, 0xff, 0x03},
		"bad kind":         append([]byte{0, 0, 0, 0, byte(TypeEntry), 1, 'a', 9}, make([]byte, 20)...),
		"bad mode":         {0, 0, 0, 5, byte(TypeMkdir), 1, 'a', 0x80, 0x40},
		"bad bool":         nil,
	}
	b := Append(nil, Create{})
	b[len(b)-1] = 7
	cases["bad bool"] = b
	hs := cases["huge string"]
	hs = append(hs, 0xff, 0xff, 0x03, 'a')
	hs[3] = byte(len(hs) - frameHeader)
	cases["huge string"] = hs
	be := cases["bad kind"]
	be[3] = byte(len(be) - frameHeader)
	for name, b := range cases {
		if _, _, err := Parse(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err %v, want ErrMalformed", name, err)
		}
	}
}

func TestErrorsKeepTheirSentinelAcrossTheWire(t *testing.T) {
	for _, s := range []error{fs.ErrNotExist, endpoint.ErrChanged, endpoint.ErrExists, endpoint.ErrNotEmpty,
		endpoint.ErrHashMismatch, endpoint.ErrNoSpace, tree.ErrInvalidPath, fs.ErrPermission} {
		orig := fmt.Errorf("unable to do it to a/b: %w", s)
		b := Append(nil, ErrorOf(orig))
		m, _, err := Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		got := m.(Error).Err()
		if !errors.Is(got, s) {
			t.Errorf("%v: decoded error %v does not unwrap to its sentinel", s, got)
		}
		if got.Error() != orig.Error() {
			t.Errorf("message %q, want %q", got.Error(), orig.Error())
		}
	}
	plain := Append(nil, ErrorOf(errors.New("boom")))
	m, _, _ := Parse(plain)
	if errors.Is(m.(Error).Err(), fs.ErrNotExist) {
		t.Fatal("a plain error unwrapped to a sentinel")
	}
}

func FuzzParse(f *testing.F) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, m := range samples(r) {
		f.Add(Append(nil, m))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, n, err := Parse(b)
		if err != nil {
			return
		}
		if n > len(b) || n <= frameHeader {
			t.Fatalf("consumed %d of %d", n, len(b))
		}
		// A decoded message re-encodes to a frame that decodes the same.
		again := Append(nil, m)
		m2, _, err := Parse(again)
		if err != nil {
			t.Fatalf("re-encoded %T does not parse: %v", m, err)
		}
		if !reflect.DeepEqual(normalise(m2), normalise(m)) {
			t.Fatalf("re-encoding changed %#v to %#v", m, m2)
		}
	})
}

// randList is the chunk list of a random file a little over the size
// that gets one.
func randList(r *rand.Rand) chunk.List {
	b := make([]byte, chunk.MinFileSize+r.IntN(256<<10))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	c, _ := chunk.New(int64(len(b)), nil)
	c.Write(b)
	l, err := c.List()
	if err != nil {
		panic(err)
	}
	return l
}

// randRanges returns 1 to 20 ranges in order and disjoint, some touching.
func randRanges(r *rand.Rand) []chunk.Range {
	var rs []chunk.Range
	at := int64(0)
	for range 1 + r.IntN(20) {
		off := at + r.Int64N(1<<r.IntN(40))
		n := 1 + r.Int64N(1<<r.IntN(30))
		rs = append(rs, chunk.Range{Off: off, Len: n})
		at = off + n
	}
	return rs
}

// Ranges a peer sends must be in order, disjoint, non-empty, bounded in
// count and end within a chunk list's largest file.
func TestHostileRangesAreRejected(t *testing.T) {
	body := func(tail ...byte) []byte {
		b := Append(nil, Created{Offset: 0})
		b = append(b, tail...)
		n := len(b) - frameHeader
		b[0], b[1], b[2], b[3] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
		return b
	}
	huge := binaryUvarint(chunk.MaxTotal)
	cases := map[string][]byte{
		"no ranges":     body(0),
		"empty range":   body(1, 5, 0),
		"count too big": body(append(binaryUvarint(MaxRanges+1), make([]byte, 2*(MaxRanges+1))...)...),
		"count lies":    body(3, 1, 1),
		"past the end":  body(append(append([]byte{2, 0}, huge...), append([]byte{0}, huge...)...)...),
	}
	for name, b := range cases {
		if _, _, err := Parse(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err %v, want ErrMalformed", name, err)
		}
	}
	if _, _, err := Parse(body(1, 5, 7)); err != nil {
		t.Fatalf("a valid range was refused: %v", err)
	}
}

func binaryUvarint(v uint64) []byte { return binary.AppendUvarint(nil, v) }

// TestScanWithoutWithinEncodesAsBefore: a Scan that carries no Within is
// the bytes a server older than the field parses, so a client scanning
// the whole tree still works with it.
func TestScanWithoutWithinEncodesAsBefore(t *testing.T) {
	for _, m := range []Scan{
		{Exclude: []string{"*.tmp"}, PartialSuffix: ".part"},
		{Exclude: []string{"*.tmp"}, PartialSuffix: ".part", KeepStale: true},
		{Exclude: []string{"*.tmp"}, PartialSuffix: ".part", Within: []string{}},
	} {
		old := appendStrings(nil, m.Exclude)
		old = appendString(old, m.PartialSuffix)
		if m.KeepStale {
			old = appendUvarint(old, 1)
		}
		if got := m.appendBody(nil); !bytes.Equal(got, old) {
			t.Errorf("%+v encodes as %x, the old encoding is %x", m, got, old)
		}
	}
}
