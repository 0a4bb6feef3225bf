package snapshot

import (
	"bytes"
	"errors"
	"flag"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/tree"
)

var seedFlag = flag.Uint64("seed", 0, "seed for randomised tests (0: from FERRY_SEED or the clock)")

// testSeed returns the seed for a randomised test and logs it so a failure
// can be replayed with -seed.
func testSeed(t testing.TB) uint64 {
	s := *seedFlag
	if s == 0 {
		if env := os.Getenv("FERRY_SEED"); env != "" {
			v, err := strconv.ParseUint(env, 10, 64)
			if err != nil {
				t.Fatalf("FERRY_SEED: %v", err)
			}
			s = v
		}
	}
	if s == 0 {
		s = rand.Uint64()
	}
	t.Logf("seed %d", s)
	return s
}

var codecCases = []tree.Entry{
	{Kind: tree.Dir, Mode: 0o755, Mtime: 1},
	{Kind: tree.File, Size: 12345, Mtime: 1_700_000_000_123_456_789, Mode: 0o644, Hash: 0xdeadbeefcafef00d},
	{Kind: tree.File, Size: 0, Mtime: -5, Mode: 0o600},
	{Kind: tree.Symlink, Mtime: 42, Mode: 0o777, Target: "../elsewhere/ünïcode"},
	{Kind: tree.File, Size: math.MaxInt64, Mtime: math.MinInt64, Mode: fs.FileMode(math.MaxUint32), Hash: math.MaxUint64, Ino: math.MaxUint64},
	{Kind: tree.File, Size: 1, Hash: 1, Ino: 77, Target: "odd but encodable"},
}

func TestEntryRoundTrip(t *testing.T) {
	for i, want := range codecCases {
		b := AppendEntry([]byte("prefix"), want)
		got, n, err := ParseEntry(b[len("prefix"):])
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if n != len(b)-len("prefix") {
			t.Errorf("case %d: consumed %d of %d bytes", i, n, len(b)-len("prefix"))
		}
		if got != want {
			t.Errorf("case %d: got %+v, want %+v", i, got, want)
		}
	}
}

func TestEntryRejectsEveryTruncatedPrefix(t *testing.T) {
	for i, e := range codecCases {
		b := AppendEntry(nil, e)
		for l := 0; l < len(b); l++ {
			if _, _, err := ParseEntry(b[:l]); !errors.Is(err, ErrCorruptEntry) {
				t.Errorf("case %d: prefix of %d/%d bytes: err = %v, want ErrCorruptEntry", i, l, len(b), err)
			}
		}
	}
}

func TestEntryRejectsGarbage(t *testing.T) {
	for name, b := range map[string][]byte{
		"unknown flag":             {0x80, 0, 0, 0},
		"unknown kind":             {0x04, 0, 0, 0},
		"mode too wide":            append([]byte{byte(tree.File), 0, 0}, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01),
		"target longer than input": {byte(tree.Symlink) | flagTarget, 0, 0, 0, 5, 'a'},
	} {
		if _, _, err := ParseEntry(b); !errors.Is(err, ErrCorruptEntry) {
			t.Errorf("%s: err = %v, want ErrCorruptEntry", name, err)
		}
	}
	v := append(AppendEntry(nil, codecCases[0]), 0)
	if _, err := parseValue("x", v); !errors.Is(err, ErrCorruptEntry) {
		t.Errorf("trailing byte: err = %v, want ErrCorruptEntry", err)
	}
}

func FuzzParseEntry(f *testing.F) {
	for _, e := range codecCases {
		f.Add(AppendEntry(nil, e))
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, n, err := ParseEntry(b)
		if err != nil {
			return
		}
		if n <= 0 || n > len(b) {
			t.Fatalf("consumed %d of %d bytes", n, len(b))
		}
		again, m, err := ParseEntry(AppendEntry(nil, e))
		if err != nil || again != e {
			t.Fatalf("re-encoding %+v gave %+v, %v", e, again, err)
		}
		if enc := AppendEntry(nil, e); m != len(enc) {
			t.Fatalf("re-parse consumed %d of %d bytes", m, len(enc))
		}
	})
}

// The key encoding must order exactly as tree.Compare, or Ancestor would
// return an unsorted listing.
func TestKeyOrderMatchesCompare(t *testing.T) {
	rng := rand.New(rand.NewPCG(testSeed(t), 1))
	alphabet := []string{"a", "b", "-", ".", " ", "é", "~", "0", "A"}
	paths := map[string]bool{}
	for len(paths) < 2000 {
		var parts []string
		for d := rng.IntN(4); d >= 0; d-- {
			var sb strings.Builder
			for l := rng.IntN(3); l >= 0; l-- {
				sb.WriteString(alphabet[rng.IntN(len(alphabet))])
			}
			parts = append(parts, sb.String())
		}
		p := strings.Join(parts, "/")
		if tree.ValidPath(p) == nil {
			paths[p] = true
		}
	}
	list := make([]string, 0, len(paths))
	for p := range paths {
		list = append(list, p)
	}
	byCompare := slices.Clone(list)
	slices.SortFunc(byCompare, tree.Compare)
	byKey := slices.Clone(list)
	slices.SortFunc(byKey, func(a, b string) int { return bytes.Compare(appendKey(nil, a), appendKey(nil, b)) })
	if !slices.Equal(byCompare, byKey) {
		for i := range byCompare {
			if byCompare[i] != byKey[i] {
				t.Fatalf("first difference at %d: Compare has %q, key order has %q", i, byCompare[i], byKey[i])
			}
		}
	}
	for _, p := range list {
		if got := keyPath(appendKey(nil, p)); got != p {
			t.Fatalf("key round trip of %q gave %q", p, got)
		}
	}
}
