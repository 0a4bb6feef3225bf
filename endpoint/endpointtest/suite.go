package endpointtest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/ferry-sync/ferry/delta/chunk"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/tree"
)

// Factory returns a new endpoint over a new, empty directory, and that
// directory's path on disk. The suite closes the endpoint.
type Factory func(t *testing.T) (ep endpoint.Endpoint, root string)

// Run runs every conformance test against endpoints made by factory, over
// a directory on this machine.
func Run(t *testing.T, factory Factory) {
	RunBacking(t, func(t *testing.T) (endpoint.Endpoint, Backing) {
		ep, root := factory(t)
		return ep, OSBacking(root)
	})
}

// RunBacking runs every conformance test against endpoints made by
// factory, checking each through its Backing.
func RunBacking(t *testing.T, factory BackingFactory) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s *suite)
	}{
		{"ScanOrder", testScanOrder},
		{"ScanWithin", testScanWithin},
		{"ScanEntries", testScanEntries},
		{"ScanLargeFileHash", testScanLargeFileHash},
		{"ScanHashLater", testScanHashLater},
		{"ScanExcludes", testScanExcludes},
		{"ScanSkipsTemp", testScanSkipsTemp},
		{"ScanRepeatable", testScanRepeatable},
		{"ScanDoesNotFollowSymlinks", testScanDoesNotFollowSymlinks},
		{"ScanUnreadable", testScanUnreadable},
		{"ScanSpecialFile", testScanSpecialFile},
		{"ScanVisitError", testScanVisitError},
		{"ScanCancel", testScanCancel},
		{"Stat", testStat},
		{"Mkdir", testMkdir},
		{"Symlink", testSymlink},
		{"Remove", testRemove},
		{"RemoveNotEmpty", testRemoveNotEmpty},
		{"Rename", testRename},
		{"RenameNeverOverwrites", testRenameNeverOverwrites},
		{"CopyFile", testCopyFile},
		{"CopyFileRefuses", testCopyFileRefuses},
		{"Chunks", testChunks},
		{"Digests", testDigests},
		{"SetMeta", testSetMeta},
		{"OpenFile", testOpenFile},
		{"CreateCommit", testCreateCommit},
		{"CreateOverwrite", testCreateOverwrite},
		{"CommitHashMismatch", testCommitHashMismatch},
		{"CommitDestinationChanged", testCommitDestinationChanged},
		{"AbortResume", testAbortResume},
		{"NoSpace", testNoSpace},
		{"InvalidPaths", testInvalidPaths},
		{"SymlinkParentOutside", testSymlinkParentOutside},
		{"SymlinkParentInside", testSymlinkParentInside},
		{"FreeSpace", testFreeSpace},
		{"Folding", testFolding},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ep, b := factory(t)
			t.Cleanup(func() {
				if err := ep.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			tc.fn(t, &suite{ep: ep, b: b, caps: b.Caps(), ctx: ctx})
		})
	}
}

type suite struct {
	ep   endpoint.Endpoint
	b    Backing
	caps Caps
	ctx  context.Context
}

// abs is p on this machine's disk: only for cases that need Caps.Dir.
func (s *suite) abs(p string) string { return filepath.Join(s.caps.Dir, filepath.FromSlash(p)) }

// needDir skips a case that needs the root on this machine's disk.
func (s *suite) needDir(t *testing.T, why string) {
	t.Helper()
	if s.caps.Dir == "" {
		t.Skipf("the storage behind this endpoint is not a directory on this machine: %s", why)
	}
}

func (s *suite) lstat(t *testing.T, p string) tree.Entry {
	t.Helper()
	e, err := s.b.Lstat(p)
	if err != nil {
		t.Fatalf("lstat %s behind the endpoint: %v", p, err)
	}
	return e
}

func (s *suite) write(t *testing.T, p, content string, mtime int64) {
	t.Helper()
	if err := s.b.WriteFile(p, []byte(content), 0o644, mtime); err != nil {
		t.Fatal(err)
	}
}

func (s *suite) readlink(p string) string {
	e, err := s.b.Lstat(p)
	if err != nil || e.Kind != tree.Symlink {
		return ""
	}
	return e.Target
}

func (s *suite) scan(t *testing.T, opts endpoint.ScanOptions) []tree.Entry {
	t.Helper()
	var got []tree.Entry
	err := s.ep.Scan(s.ctx, opts, func(e tree.Entry) error {
		got = append(got, e)
		return nil
	})
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	return got
}

func (s *suite) stat(t *testing.T, p string) tree.Entry {
	t.Helper()
	e, err := s.ep.Stat(s.ctx, p)
	if err != nil {
		t.Fatalf("Stat(%q): %v", p, err)
	}
	return e
}

func (s *suite) read(t *testing.T, p string) string {
	t.Helper()
	b, err := s.b.ReadFile(p)
	if err != nil {
		t.Fatalf("reading %s from disk: %v", p, err)
	}
	return string(b)
}

func (s *suite) mustNotExist(t *testing.T, p string) {
	t.Helper()
	if _, err := s.b.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("%s exists on disk (lstat err %v), want absent", p, err)
	}
}

func paths(es []tree.Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Path
	}
	return out
}

func byPath(es []tree.Entry) map[string]tree.Entry {
	m := make(map[string]tree.Entry, len(es))
	for _, e := range es {
		m[e.Path] = e
	}
	return m
}

func isRoot() bool { return os.Geteuid() == 0 }

func testScanOrder(t *testing.T, s *suite) {
	BuildIn(t, s.b, Dir{
		"a":         Dir{"b": Dir{"c": "1"}, "b.txt": "2", "b-c": "3"},
		"a.txt":     "4",
		"a-b":       "5",
		"a b":       "6",
		"A":         "7",
		"ab":        Dir{"x": "8"},
		"a0":        "9",
		".hidden":   "10",
		"é":         "11",
		"z":         Dir{},
		"zz":        Link("a"),
		"日本":        "12",
		"tab\tname": "13",
	})
	got := paths(s.scan(t, endpoint.ScanOptions{}))
	want := []string{
		".hidden", "A", "a", "a/b", "a/b/c", "a/b-c", "a/b.txt", "a b", "a-b",
		"a.txt", "a0", "ab", "ab/x", "tab\tname", "z", "zz", "é", "日本",
	}
	slices.SortFunc(want, tree.Compare)
	if !slices.Equal(got, want) {
		t.Fatalf("scan order:\n got %q\nwant %q", got, want)
	}
	for i := 1; i < len(got); i++ {
		if tree.Compare(got[i-1], got[i]) >= 0 {
			t.Fatalf("entries %q and %q out of tree.Compare order", got[i-1], got[i])
		}
	}
}

// testScanWithin: ScanOptions.Within is a hint. Whatever an endpoint
// lists with it, in order, must hold every entry of the scope exactly as a
// whole scan lists it (the context directories and the subtrees); an
// endpoint that honours it lists nothing more.
func testScanWithin(t *testing.T, s *suite) {
	BuildIn(t, s.b, Dir{
		"a":   Dir{"b": Dir{"c": "1", "d": Dir{"e": "2"}}, "b.txt": "3", "b-c": "4"},
		"a.x": "5",
		"z":   Dir{"y": "6"},
	})
	whole := s.scan(t, endpoint.ScanOptions{})
	for _, within := range [][]string{{"a/b/d"}, {"a/b/c", "z"}, {"a/b.txt", "missing/x"}} {
		scope := tree.NewScope(within)
		got := s.scan(t, endpoint.ScanOptions{Within: within})
		for i := 1; i < len(got); i++ {
			if tree.Compare(got[i-1].Path, got[i].Path) >= 0 {
				t.Fatalf("within %q: entries %q and %q out of tree.Compare order", within, got[i-1].Path, got[i].Path)
			}
		}
		have := byPath(got)
		extra := 0
		for _, e := range whole {
			in, _ := scope.Contains(e.Path)
			switch g, ok := have[e.Path]; {
			case in && !ok:
				t.Fatalf("within %q: %s, in the scope, is not listed", within, e.Path)
			case in && !reflect.DeepEqual(g, e):
				t.Fatalf("within %q: %s listed as %+v, a whole scan lists %+v", within, e.Path, g, e)
			case !in && ok:
				extra++
			}
		}
		if extra > 0 && len(got) != len(whole) {
			t.Fatalf("within %q: listed %d entries outside the scope but not the whole tree (%d of %d)", within, extra, len(got), len(whole))
		}
	}
}

func testScanEntries(t *testing.T, s *suite) {
	const mtime = 1_600_000_000_123_456_789
	BuildIn(t, s.b, Dir{
		"f":     File{Content: "hello, ferry", Mode: 0o640, Mtime: mtime},
		"empty": File{Content: "", Mode: 0o600},
		"x":     File{Content: "exec", Mode: 0o755},
		"d":     Dir{},
		"l":     Link("f"),
		"dl":    Link("no/such/target"),
	})
	if err := s.b.Mkdir("d", 0o711); err != nil {
		t.Fatal(err)
	}
	got := byPath(s.scan(t, endpoint.ScanOptions{}))
	if len(got) != 6 {
		t.Fatalf("scan gave %d entries, want 6: %v", len(got), got)
	}
	for p, e := range got {
		fi := s.lstat(t, p)
		if e.Problem != "" {
			t.Errorf("%s: unexpected problem %q", p, e.Problem)
		}
		if e.Mode != fi.Mode {
			t.Errorf("%s: mode %o, disk has %o", p, e.Mode, fi.Mode)
		}
		if e.Mtime != fi.Mtime {
			t.Errorf("%s: mtime %d, disk has %d", p, e.Mtime, fi.Mtime)
		}
		if fi.Ino != 0 && e.Ino != fi.Ino {
			t.Errorf("%s: ino %d, disk has %d", p, e.Ino, fi.Ino)
		}
		switch fi.Kind {
		case tree.File:
			content := s.read(t, p)
			if e.Kind != tree.File || e.Size != int64(len(content)) || e.Hash != xxhash.Sum64String(content) {
				t.Errorf("%s: got kind %s size %d hash %x, want file size %d hash %x",
					p, e.Kind, e.Size, e.Hash, len(content), xxhash.Sum64String(content))
			}
		case tree.Dir:
			if e.Kind != tree.Dir {
				t.Errorf("%s: kind %s, want dir", p, e.Kind)
			}
		case tree.Symlink:
			target := fi.Target
			if e.Kind != tree.Symlink || e.Target != target {
				t.Errorf("%s: kind %s target %q, want symlink to %q", p, e.Kind, e.Target, target)
			}
		}
	}
	if got["f"].Mtime != mtime {
		t.Errorf("f: mtime %d, want %d", got["f"].Mtime, int64(mtime))
	}
}

func testScanLargeFileHash(t *testing.T, s *suite) {
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("FERRY_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("FERRY_SEED=%q: %v", v, err)
		}
		seed = n
	}
	t.Logf("seed %d (set FERRY_SEED to repeat)", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	data := make([]byte, 3<<20+17)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	if err := s.b.WriteFile("big", data, 0o644, 0); err != nil {
		t.Fatal(err)
	}
	got := s.scan(t, endpoint.ScanOptions{})
	if len(got) != 1 || got[0].Hash != xxhash.Sum64(data) || got[0].Size != int64(len(data)) {
		t.Fatalf("scan of a 3 MiB file gave %+v, want hash %x size %d", got, xxhash.Sum64(data), len(data))
	}
}

func testScanExcludes(t *testing.T, s *suite) {
	BuildIn(t, s.b, Dir{
		"keep.txt":          "k",
		"x.tmp":             "t",
		"sub/y.tmp":         "t",
		"build/out.o":       "o",
		"src/build/deep.o":  "o",
		"src/build.c":       "c",
		"docs/a.md":         "m",
		"docs/sub/b.md":     "m",
		"logs/2024/app.log": "l",
	})
	// build is a plain file here: "build/" must not exclude it.
	BuildIn(t, s.b, Dir{"other/build": "file named build"})
	got := paths(s.scan(t, endpoint.ScanOptions{Exclude: []string{"*.tmp", "build/", "docs/*.md", "/logs"}}))
	want := []string{"docs", "docs/sub", "docs/sub/b.md", "keep.txt", "other", "other/build", "src", "src/build.c", "sub"}
	if !slices.Equal(got, want) {
		t.Fatalf("scan with excludes:\n got %q\nwant %q", got, want)
	}
	if err := s.ep.Scan(s.ctx, endpoint.ScanOptions{Exclude: []string{"[unclosed"}}, func(tree.Entry) error { return nil }); err == nil {
		t.Fatal("Scan accepted a malformed exclude pattern")
	}
}

func testScanSkipsTemp(t *testing.T, s *suite) {
	BuildIn(t, s.b, Dir{
		"a":                       "a",
		"a.partial":               "half",
		"a.partial.ferry-ckpt":    "ckpt",
		".ferry-tmp.123":          "tmp",
		"d/b.partial":             "half",
		"d/b.part":                "custom",
		"d/b.part.ferry-ckpt":     "custom ckpt",
		"d/.ferry-tmp.x/inside":   "tmp dir",
		"partial.not-temp.really": "kept",
	})
	got := paths(s.scan(t, endpoint.ScanOptions{}))
	want := []string{"a", "d", "d/b.part", "d/b.part.ferry-ckpt", "partial.not-temp.really"}
	if !slices.Equal(got, want) {
		t.Fatalf("default suffix:\n got %q\nwant %q", got, want)
	}
	got = paths(s.scan(t, endpoint.ScanOptions{PartialSuffix: ".part"}))
	want = []string{"a", "a.partial", "a.partial.ferry-ckpt", "d", "d/b.partial", "partial.not-temp.really"}
	if !slices.Equal(got, want) {
		t.Fatalf("suffix .part:\n got %q\nwant %q", got, want)
	}
}

func testScanRepeatable(t *testing.T, s *suite) {
	d := Dir{}
	for i := range 300 {
		d[path.Join("d"+string(rune('a'+i%7)), "f"+string(rune('a'+i%26))+string(rune('a'+i/26)))] = string(rune(i))
	}
	BuildIn(t, s.b, d)
	first := s.scan(t, endpoint.ScanOptions{})
	second := s.scan(t, endpoint.ScanOptions{})
	if len(first) != 307 {
		t.Fatalf("first scan gave %d entries, want 307", len(first))
	}
	if !slices.Equal(first, second) {
		t.Fatalf("two scans of an unchanged tree differ")
	}
	// A real change must show, cache or not.
	s.write(t, "da/faa", "changed content", 0)
	third := byPath(s.scan(t, endpoint.ScanOptions{}))
	if third["da/faa"].Hash != xxhash.Sum64String("changed content") {
		t.Fatalf("rescan after a change gave hash %x, want %x", third["da/faa"].Hash, xxhash.Sum64String("changed content"))
	}
}

func testScanDoesNotFollowSymlinks(t *testing.T, s *suite) {
	outside := t.TempDir()
	Build(t, outside, Dir{"secret": "outside"})
	BuildIn(t, s.b, Dir{"real/f": "x", "in": Link("real"), "out": Link(outside)})
	got := s.scan(t, endpoint.ScanOptions{})
	if p := paths(got); !slices.Equal(p, []string{"in", "out", "real", "real/f"}) {
		t.Fatalf("scan followed a symlink: %q", p)
	}
	m := byPath(got)
	if m["out"].Kind != tree.Symlink || m["out"].Target != outside || m["in"].Target != "real" {
		t.Fatalf("symlink entries wrong: %+v %+v", m["out"], m["in"])
	}
}

func testScanUnreadable(t *testing.T, s *suite) {
	s.needDir(t, "no chmod to make an entry unreadable")
	if isRoot() {
		t.Skip("running as root, which can read files and directories with mode 000; ScanSpecialFile covers Problem entries as root")
	}
	BuildIn(t, s.b, Dir{"a": "a", "locked": "secret", "sealed/inner": "x", "z": "z"})
	for _, p := range []string{"locked", "sealed"} {
		if err := os.Chmod(s.abs(p), 0o000); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { os.Chmod(s.abs("sealed"), 0o755) })
	got := s.scan(t, endpoint.ScanOptions{})
	if p := paths(got); !slices.Equal(p, []string{"a", "locked", "sealed", "z"}) {
		t.Fatalf("scan of unreadable entries gave %q", p)
	}
	m := byPath(got)
	if m["locked"].Problem == "" || m["locked"].Kind != tree.File {
		t.Errorf("unreadable file: %+v, want kind file with a problem", m["locked"])
	}
	if m["sealed"].Problem == "" || m["sealed"].Kind != tree.Dir {
		t.Errorf("unreadable dir: %+v, want kind dir with a problem", m["sealed"])
	}
	if m["a"].Problem != "" || m["z"].Problem != "" {
		t.Errorf("readable neighbours got problems: %+v %+v", m["a"], m["z"])
	}
}

func testScanSpecialFile(t *testing.T, s *suite) {
	s.needDir(t, "no FIFOs")
	BuildIn(t, s.b, Dir{"a": "a", "z": "z"})
	if err := mkfifo(s.abs("fifo")); err != nil {
		t.Skipf("cannot create a FIFO here: %v", err)
	}
	// Opening a FIFO for reading blocks until a writer appears: a scan that
	// tried would hang until the suite's timeout.
	ctx, cancel := context.WithTimeout(s.ctx, 20*time.Second)
	defer cancel()
	var got []tree.Entry
	err := s.ep.Scan(ctx, endpoint.ScanOptions{}, func(e tree.Entry) error {
		got = append(got, e)
		return nil
	})
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	if p := paths(got); !slices.Equal(p, []string{"a", "fifo", "z"}) {
		t.Fatalf("scan gave %q, want a FIFO reported between a and z", p)
	}
	if got[1].Problem == "" {
		t.Fatalf("FIFO reported without a problem: %+v", got[1])
	}
}

func testScanVisitError(t *testing.T, s *suite) {
	BuildIn(t, s.b, Dir{"a": "a", "b": "b", "c": "c"})
	stop := errors.New("stop here")
	n := 0
	err := s.ep.Scan(s.ctx, endpoint.ScanOptions{}, func(e tree.Entry) error {
		n++
		if e.Path == "b" {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Fatalf("Scan returned %v, want the visit error", err)
	}
	if n != 2 {
		t.Fatalf("visit called %d times after returning an error at the 2nd entry", n)
	}
}

func testScanCancel(t *testing.T, s *suite) {
	d := Dir{}
	for i := range 50 {
		d[path.Join("d", string(rune('a'+i/26))+string(rune('a'+i%26)))] = "x"
	}
	BuildIn(t, s.b, d)
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	n := 0
	err := s.ep.Scan(ctx, endpoint.ScanOptions{}, func(e tree.Entry) error {
		n++
		if n == 3 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Scan after cancel returned %v (after %d entries), want context.Canceled", err, n)
	}
}

func testStat(t *testing.T, s *suite) {
	BuildIn(t, s.b, Dir{"d/f": File{Content: "abc", Mode: 0o604, Mtime: 1_500_000_000_000_000_001}, "l": Link("d/f")})
	f := s.stat(t, "d/f")
	if f.Kind != tree.File || f.Size != 3 || f.Mode != 0o604 || f.Mtime != 1_500_000_000_000_000_001 || f.Hash != 0 || f.Path != "d/f" {
		t.Errorf("Stat(d/f) = %+v", f)
	}
	if d := s.stat(t, "d"); d.Kind != tree.Dir {
		t.Errorf("Stat(d) = %+v", d)
	}
	if l := s.stat(t, "l"); l.Kind != tree.Symlink || l.Target != "d/f" {
		t.Errorf("Stat(l) = %+v, want the link itself", l)
	}
	for _, p := range []string{"missing", "d/missing", "missing/x"} {
		if _, err := s.ep.Stat(s.ctx, p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Stat(%q) error %v, want fs.ErrNotExist", p, err)
		}
	}
}

func testMkdir(t *testing.T, s *suite) {
	BuildIn(t, s.b, Dir{"file": "x"})
	if err := s.ep.Mkdir(s.ctx, "d", 0o750); err != nil {
		t.Fatalf("Mkdir: %v", err)
	}
	fi, err := s.b.Lstat("d")
	if err != nil || fi.Kind != tree.Dir || fi.Mode != 0o750 {
		t.Fatalf("after Mkdir(d, 0750): %v %v", fi, err)
	}
	if err := s.ep.Mkdir(s.ctx, "d/e", 0o755); err != nil {
		t.Fatalf("Mkdir nested: %v", err)
	}
	if err := s.ep.Mkdir(s.ctx, "d", 0o750); err != nil {
		t.Fatalf("Mkdir of an existing directory: %v", err)
	}
	if err := s.ep.Mkdir(s.ctx, "file", 0o755); err == nil {
		t.Fatal("Mkdir over a file succeeded")
	}
	if s.read(t, "file") != "x" {
		t.Fatal("Mkdir over a file changed it")
	}
	if err := s.ep.Mkdir(s.ctx, "no/parent", 0o755); err == nil {
		t.Fatal("Mkdir without a parent succeeded")
	}
	s.mustNotExist(t, "no")
}

func testSymlink(t *testing.T, s *suite) {
	BuildIn(t, s.b, Dir{"file": "content", "old": Link("first"), "emptydir": Dir{}})
	if err := s.ep.Symlink(s.ctx, "new", "some/target", tree.Entry{}); err != nil {
		t.Fatalf("Symlink new: %v", err)
	}
	if got := s.readlink("new"); got != "some/target" {
		t.Fatalf("new link reads %q", got)
	}
	if err := s.ep.Symlink(s.ctx, "new", "other", tree.Entry{}); !errors.Is(err, endpoint.ErrChanged) {
		t.Fatalf("Symlink over an existing link with expect absent: %v, want ErrChanged", err)
	}
	old := s.stat(t, "old")
	stale := old
	stale.Target = "something else"
	if err := s.ep.Symlink(s.ctx, "old", "second", stale); !errors.Is(err, endpoint.ErrChanged) {
		t.Fatalf("Symlink with a stale expect: %v, want ErrChanged", err)
	}
	if got := s.readlink("old"); got != "first" {
		t.Fatalf("failed Symlink changed the link to %q", got)
	}
	if err := s.ep.Symlink(s.ctx, "old", "second", old); err != nil {
		t.Fatalf("Symlink replacing a link: %v", err)
	}
	if got := s.readlink("old"); got != "second" {
		t.Fatalf("replaced link reads %q, want second", got)
	}
	if err := s.ep.Symlink(s.ctx, "file", "x", s.stat(t, "file")); err != nil {
		t.Fatalf("Symlink replacing a file: %v", err)
	}
	if got := s.readlink("file"); got != "x" {
		t.Fatalf("file replaced by link reads %q", got)
	}
	if err := s.ep.Symlink(s.ctx, "emptydir", "y", s.stat(t, "emptydir")); err != nil {
		t.Fatalf("Symlink replacing an empty dir: %v", err)
	}
	if got := s.readlink("emptydir"); got != "y" {
		t.Fatalf("dir replaced by link reads %q", got)
	}
	got := paths(s.scan(t, endpoint.ScanOptions{}))
	if !slices.Equal(got, []string{"emptydir", "file", "new", "old"}) {
		t.Fatalf("leftovers after Symlink: %q", got)
	}
	if ents, _ := readRoot(s.b); len(ents) != 4 {
		t.Fatalf("temporary files left in the root: %v", ents)
	}
}

func testRemove(t *testing.T, s *suite) {
	BuildIn(t, s.b, Dir{"f": "content", "g": "other", "e": Dir{}, "l": Link("g")})
	f := s.stat(t, "f")
	if err := s.ep.Remove(s.ctx, "f", f); err != nil {
		t.Fatalf("Remove matching file: %v", err)
	}
	s.mustNotExist(t, "f")

	g := s.stat(t, "g")
	// Same size, different mtime: someone rewrote it after the scan.
	s.write(t, "g", "OTHER", g.Mtime+3e9)
	if err := s.ep.Remove(s.ctx, "g", g); !errors.Is(err, endpoint.ErrChanged) {
		t.Fatalf("Remove of a modified file: %v, want ErrChanged", err)
	}
	if s.read(t, "g") != "OTHER" {
		t.Fatal("modified file was touched")
	}
	asDir := g
	asDir.Kind = tree.Dir
	if err := s.ep.Remove(s.ctx, "g", asDir); !errors.Is(err, endpoint.ErrChanged) {
		t.Fatalf("Remove with the wrong kind: %v, want ErrChanged", err)
	}
	if err := s.ep.Remove(s.ctx, "l", s.stat(t, "l")); err != nil {
		t.Fatalf("Remove symlink: %v", err)
	}
	s.mustNotExist(t, "l")
	if s.read(t, "g") != "OTHER" {
		t.Fatal("removing a symlink touched its target")
	}
	if err := s.ep.Remove(s.ctx, "e", s.stat(t, "e")); err != nil {
		t.Fatalf("Remove empty dir: %v", err)
	}
	s.mustNotExist(t, "e")
	if err := s.ep.Remove(s.ctx, "missing", tree.Entry{Path: "missing", Kind: tree.File}); err == nil {
		t.Fatal("Remove of a missing path succeeded")
	}
}

func testRemoveNotEmpty(t *testing.T, s *suite) {
	BuildIn(t, s.b, Dir{"d/f": "x"})
	if err := s.ep.Remove(s.ctx, "d", s.stat(t, "d")); !errors.Is(err, endpoint.ErrNotEmpty) {
		t.Fatalf("Remove of a non-empty dir: %v, want ErrNotEmpty", err)
	}
	if s.read(t, "d/f") != "x" {
		t.Fatal("contents of the non-empty dir changed")
	}
}

func testRename(t *testing.T, s *suite) {
	BuildIn(t, s.b, Dir{"f": "content", "d/x": "x", "other": Dir{}})
	if err := s.ep.Rename(s.ctx, "f", "other/g", s.stat(t, "f")); err != nil {
		t.Fatalf("Rename file: %v", err)
	}
	s.mustNotExist(t, "f")
	if s.read(t, "other/g") != "content" {
		t.Fatal("renamed file lost its content")
	}
	if s.ep.Caps().PathBound {
		t.Log("a path-bound endpoint renames no directory (endpoint.Caps.PathBound): not checked")
	} else {
		if err := s.ep.Rename(s.ctx, "d", "d2", s.stat(t, "d")); err != nil {
			t.Fatalf("Rename dir: %v", err)
		}
		if s.read(t, "d2/x") != "x" {
			t.Fatal("renamed dir lost its content")
		}
	}
	stale := s.stat(t, "other/g")
	stale.Size++
	if err := s.ep.Rename(s.ctx, "other/g", "h", stale); !errors.Is(err, endpoint.ErrChanged) {
		t.Fatalf("Rename with a stale expect: %v, want ErrChanged", err)
	}
	s.mustNotExist(t, "h")
	if err := s.ep.Rename(s.ctx, "missing", "h", tree.Entry{Path: "missing", Kind: tree.File}); err == nil {
		t.Fatal("Rename of a missing path succeeded")
	}
}

func testRenameNeverOverwrites(t *testing.T, s *suite) {
	BuildIn(t, s.b, Dir{"a": "A", "b": "B", "d": Dir{}, "l": Link("a")})
	for _, to := range []string{"b", "d", "l"} {
		if err := s.ep.Rename(s.ctx, "a", to, s.stat(t, "a")); !errors.Is(err, endpoint.ErrExists) {
			t.Fatalf("Rename a over %s: %v, want ErrExists", to, err)
		}
	}
	if s.read(t, "a") != "A" || s.read(t, "b") != "B" {
		t.Fatal("a failed Rename changed a file")
	}
	if got := s.readlink("l"); got != "a" {
		t.Fatal("a failed Rename changed a symlink")
	}
}

func testCopyFile(t *testing.T, s *suite) {
	content := strings.Repeat("copy me ", 100_000)
	BuildIn(t, s.b, Dir{"src": content, "d": Dir{}})
	src := s.stat(t, "src")
	const mt = 1_650_000_000_000_000_777
	meta := tree.Entry{Path: "d/copy", Kind: tree.File, Size: int64(len(content)), Mode: 0o640, Mtime: mt, Hash: xxhash.Sum64String(content)}
	if err := s.ep.CopyFile(s.ctx, "src", src, meta, tree.Entry{}); err != nil {
		t.Fatalf("CopyFile: %v", err)
	}
	fi := s.lstat(t, "d/copy")
	if s.read(t, "d/copy") != content || fi.Mode != 0o640 || fi.Mtime != mt {
		t.Fatalf("copy: %d bytes, mode %o, mtime %d", fi.Size, fi.Mode, fi.Mtime)
	}
	if s.read(t, "src") != content || !s.stat(t, "src").SameStat(src) {
		t.Fatal("CopyFile changed its source")
	}
	if ents, _ := s.b.ReadDir("d"); len(ents) != 1 {
		t.Fatalf("leftovers beside the copy: %v", ents)
	}
	// Over an existing file, as expected.
	BuildIn(t, s.b, Dir{"old": "old content"})
	meta.Path = "old"
	if err := s.ep.CopyFile(s.ctx, "src", src, meta, s.stat(t, "old")); err != nil {
		t.Fatalf("CopyFile over an expected file: %v", err)
	}
	if s.read(t, "old") != content {
		t.Fatal("CopyFile over an expected file did not replace it")
	}
}

// testChunks: the chunk list of a file is the list its content gives, a
// small file has an empty one, and a file that is not as expected gives
// ErrChanged, never a list of other content.
func testChunks(t *testing.T, s *suite) {
	rng := rand.New(rand.NewPCG(12, 1))
	data := make([]byte, 2<<20+5)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	BuildIn(t, s.b, Dir{"big": string(data), "small": "tiny"})
	big := s.stat(t, "big")
	big.Hash = xxhash.Sum64(data)
	c, _ := chunk.New(int64(len(data)), nil)
	c.Write(data)
	want, err := c.List()
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.ep.Chunks(s.ctx, "big", big)
	if err != nil {
		t.Fatalf("Chunks: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Chunks gave %d chunks of %d bytes, want %d of %d", len(got.Chunks), got.Total, len(want.Chunks), want.Total)
	}
	small := s.stat(t, "small")
	if l, err := s.ep.Chunks(s.ctx, "small", small); err != nil || len(l.Chunks) != 0 || l.Total != 4 {
		t.Fatalf("Chunks of a small file: %+v, %v; want an empty list of 4 bytes", l, err)
	}
	stale := big
	stale.Hash++
	if _, err := s.ep.Chunks(s.ctx, "big", stale); !errors.Is(err, endpoint.ErrChanged) {
		t.Fatalf("Chunks with another hash expected: %v, want ErrChanged", err)
	}
	stale = big
	stale.Size--
	if _, err := s.ep.Chunks(s.ctx, "big", stale); !errors.Is(err, endpoint.ErrChanged) {
		t.Fatalf("Chunks with another size expected: %v, want ErrChanged", err)
	}
	if _, err := s.ep.Chunks(s.ctx, "missing", big); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Chunks of a missing file: %v, want fs.ErrNotExist", err)
	}
}

// testDigests: a small file's digest is the SHA-256 of its bytes, a big
// one's the digest of its chunk list; a file not as its entry says, and
// anything not a file, get the zero digest.
func testDigests(t *testing.T, s *suite) {
	rng := rand.New(rand.NewPCG(13, 1))
	big := make([]byte, 1<<20+9)
	for i := range big {
		big[i] = byte(rng.Uint32())
	}
	BuildIn(t, s.b, Dir{"big": string(big), "small": "small content", "d": Dir{}})
	eb, es, ed := s.stat(t, "big"), s.stat(t, "small"), s.stat(t, "d")
	eb.Hash, es.Hash = xxhash.Sum64(big), xxhash.Sum64String("small content")
	stale := es
	stale.Hash++
	c, _ := chunk.New(int64(len(big)), nil)
	c.Write(big)
	l, err := c.List()
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.ep.Digests(s.ctx, []tree.Entry{eb, es, stale, ed, {Path: "missing", Kind: tree.File, Size: 3}})
	if err != nil {
		t.Fatalf("Digests: %v", err)
	}
	want := []chunk.Digest{chunk.ListDigest(l), chunk.SmallDigest([]byte("small content")), {}, {}, {}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Digests = %x\nwant %x", got, want)
	}
}

// testCopyFileRefuses: a source that is not what the caller saw, a
// destination that is taken, or content that does not hash to meta.Hash
// never lands.
func testCopyFileRefuses(t *testing.T, s *suite) {
	BuildIn(t, s.b, Dir{"src": "source", "taken": "mine", "l": Link("src")})
	src := s.stat(t, "src")
	meta := tree.Entry{Path: "dst", Kind: tree.File, Size: 6, Mode: 0o644, Hash: xxhash.Sum64String("source")}

	stale := src
	stale.Mtime++
	if err := s.ep.CopyFile(s.ctx, "src", stale, meta, tree.Entry{}); !errors.Is(err, endpoint.ErrChanged) {
		t.Fatalf("CopyFile from a changed source: %v, want ErrChanged", err)
	}
	s.mustNotExist(t, "dst")

	taken := meta
	taken.Path = "taken"
	if err := s.ep.CopyFile(s.ctx, "src", src, taken, tree.Entry{}); !errors.Is(err, endpoint.ErrChanged) {
		t.Fatalf("CopyFile onto a taken name: %v, want ErrChanged", err)
	}
	if s.read(t, "taken") != "mine" {
		t.Fatal("CopyFile overwrote a file it did not expect")
	}

	wrong := meta
	wrong.Hash = xxhash.Sum64String("srcxxx")
	if err := s.ep.CopyFile(s.ctx, "src", src, wrong, tree.Entry{}); !errors.Is(err, endpoint.ErrHashMismatch) {
		t.Fatalf("CopyFile with a wrong hash: %v, want ErrHashMismatch", err)
	}
	s.mustNotExist(t, "dst")

	if err := s.ep.CopyFile(s.ctx, "l", s.stat(t, "l"), meta, tree.Entry{}); err == nil {
		t.Fatal("CopyFile copied through a symlink")
	}
	s.mustNotExist(t, "dst")
	if err := s.ep.CopyFile(s.ctx, "missing", src, meta, tree.Entry{}); err == nil {
		t.Fatal("CopyFile of a missing file succeeded")
	}
	for _, bad := range []string{"../src", "/etc/passwd", ""} {
		if err := s.ep.CopyFile(s.ctx, bad, src, meta, tree.Entry{}); err == nil {
			t.Fatalf("CopyFile from %q succeeded", bad)
		}
		out := meta
		out.Path = bad
		if err := s.ep.CopyFile(s.ctx, "src", src, out, tree.Entry{}); err == nil {
			t.Fatalf("CopyFile to %q succeeded", bad)
		}
	}
}

func testSetMeta(t *testing.T, s *suite) {
	BuildIn(t, s.b, Dir{"f": "x", "target": File{Content: "t", Mode: 0o644}, "l": Link("target"), "d": Dir{}})
	const mt = 1_400_000_000_987_654_321
	if err := s.ep.SetMeta(s.ctx, "f", 0o600, mt); err != nil {
		t.Fatalf("SetMeta file: %v", err)
	}
	fi := s.lstat(t, "f")
	if fi.Mode != 0o600 || fi.Mtime != mt {
		t.Fatalf("after SetMeta: mode %o mtime %d", fi.Mode, fi.Mtime)
	}
	if err := s.ep.SetMeta(s.ctx, "d", 0o700, mt); err != nil {
		t.Fatalf("SetMeta dir: %v", err)
	}
	if fi := s.lstat(t, "d"); fi.Mode != 0o700 || fi.Mtime != mt {
		t.Fatalf("dir after SetMeta: mode %o mtime %d", fi.Mode, fi.Mtime)
	}
	before := s.lstat(t, "target")
	if err := s.ep.SetMeta(s.ctx, "l", 0o600, mt); err != nil {
		t.Fatalf("SetMeta symlink: %v", err)
	}
	after := s.lstat(t, "target")
	if after.Mode != before.Mode || after.Mtime != before.Mtime {
		t.Fatalf("SetMeta on a symlink changed its target: mode %o→%o mtime %v→%v",
			before.Mode, after.Mode, before.Mtime, after.Mtime)
	}
	if err := s.ep.SetMeta(s.ctx, "missing", 0o600, mt); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("SetMeta of a missing path: %v, want fs.ErrNotExist", err)
	}
}

// testScanHashLater: ScanOptions.HashLater lists the same entries as a
// scan without it, with each file's Hash either 0 or its content's (an
// endpoint may ignore the option). A file listed with Hash 0 opens as an
// endpoint.HashingReader: read whole, in order, its Sum is the content's
// xxhash; once the file changed after it was opened, Sum is ErrChanged.
func testScanHashLater(t *testing.T, s *suite) {
	BuildIn(t, s.b, Dir{"f": "hello, ferry", "empty": "", "d": Dir{"g": strings.Repeat("ferry ", 1000)}})
	plain := s.scan(t, endpoint.ScanOptions{})
	later := s.scan(t, endpoint.ScanOptions{HashLater: true})
	if len(later) != len(plain) {
		t.Fatalf("HashLater listed %d entries, a plain scan %d", len(later), len(plain))
	}
	for i, e := range later {
		want := plain[i]
		if e.Path != want.Path || e.Kind != want.Kind || e.Size != want.Size || e.Mtime != want.Mtime || e.Mode != want.Mode || e.Problem != "" {
			t.Errorf("HashLater listed %+v, a plain scan %+v", e, want)
		}
		if e.Kind != tree.File {
			continue
		}
		content := s.read(t, e.Path)
		if e.Hash != 0 {
			if e.Hash != xxhash.Sum64String(content) {
				t.Errorf("%s: hash %x, want %x", e.Path, e.Hash, xxhash.Sum64String(content))
			}
			continue
		}
		r, err := s.ep.OpenFile(s.ctx, e.Path)
		if err != nil {
			t.Fatal(err)
		}
		hr, ok := r.(endpoint.HashingReader)
		if !ok {
			r.Close()
			t.Fatalf("%s was listed unhashed, but its reader %T cannot hash it", e.Path, r)
		}
		buf := make([]byte, 1000)
		for off := int64(0); off < r.Size(); {
			n, err := r.ReadAt(buf[:min(int64(len(buf)), r.Size()-off)], off)
			if err != nil && !errors.Is(err, io.EOF) {
				t.Fatal(err)
			}
			off += int64(n)
		}
		sum, err := hr.Sum(e)
		r.Close()
		if err != nil || sum != xxhash.Sum64String(content) {
			t.Errorf("%s: Sum = %x, %v; want %x", e.Path, sum, err, xxhash.Sum64String(content))
		}
	}
	// A file changed after it was opened and read gives no hash.
	var f tree.Entry
	for _, e := range later {
		if e.Path == "f" {
			f = e
		}
	}
	if f.Hash != 0 {
		return
	}
	r, err := s.ep.OpenFile(s.ctx, "f")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b := make([]byte, f.Size)
	if _, err := r.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	s.write(t, "f", "HELLO, FERRY", f.Mtime+int64(time.Second))
	if sum, err := r.(endpoint.HashingReader).Sum(f); !errors.Is(err, endpoint.ErrChanged) {
		t.Errorf("Sum of a file rewritten after it was read: %x, %v; want ErrChanged", sum, err)
	}
}

func testOpenFile(t *testing.T, s *suite) {
	BuildIn(t, s.b, Dir{"f": "0123456789", "l": Link("f"), "d": Dir{}})
	r, err := s.ep.OpenFile(s.ctx, "f")
	if err != nil {
		t.Fatalf("OpenFile: %v", err)
	}
	defer r.Close()
	if r.Size() != 10 {
		t.Fatalf("Size() = %d, want 10", r.Size())
	}
	b := make([]byte, 4)
	if n, err := r.ReadAt(b, 3); n != 4 || err != nil || string(b) != "3456" {
		t.Fatalf("ReadAt(3) = %d %v %q", n, err, b)
	}
	if _, err := r.ReadAt(b, 8); err != io.EOF {
		t.Fatalf("ReadAt past the end: %v, want io.EOF", err)
	}
	if r, err := s.ep.OpenFile(s.ctx, "l"); err == nil {
		r.Close()
		t.Fatal("OpenFile followed a symlink")
	}
	if r, err := s.ep.OpenFile(s.ctx, "d"); err == nil {
		r.Close()
		t.Fatal("OpenFile opened a directory")
	}
	if _, err := s.ep.OpenFile(s.ctx, "missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("OpenFile of a missing path: %v, want fs.ErrNotExist", err)
	}
}

func (s *suite) create(t *testing.T, p, content string, mode fs.FileMode, mtime int64, expect tree.Entry) error {
	t.Helper()
	meta := tree.Entry{Path: p, Kind: tree.File, Size: int64(len(content)), Mode: mode, Mtime: mtime, Hash: xxhash.Sum64String(content)}
	w, err := s.ep.CreateFile(s.ctx, meta, expect)
	if err != nil {
		return err
	}
	// Out of order, to exercise WriteAt rather than a stream.
	half := len(content) / 2
	if _, err := w.WriteAt([]byte(content[half:]), int64(half)); err != nil {
		w.Abort()
		return err
	}
	if _, err := w.WriteAt([]byte(content[:half]), 0); err != nil {
		w.Abort()
		return err
	}
	return w.Commit()
}

func testCreateCommit(t *testing.T, s *suite) {
	BuildIn(t, s.b, Dir{"d": Dir{}})
	const mt = 1_650_000_000_000_000_042
	if err := s.create(t, "d/new", "fresh content", 0o640, mt, tree.Entry{}); err != nil {
		t.Fatalf("create: %v", err)
	}
	fi := s.lstat(t, "d/new")
	if s.read(t, "d/new") != "fresh content" || fi.Mode != 0o640 || fi.Mtime != mt {
		t.Fatalf("committed file: content %q mode %o mtime %d", s.read(t, "d/new"), fi.Mode, fi.Mtime)
	}
	if ents, _ := s.b.ReadDir("d"); len(ents) != 1 {
		t.Fatalf("leftovers beside the committed file: %v", ents)
	}
	if err := s.create(t, "empty", "", 0o600, mt, tree.Entry{}); err != nil {
		t.Fatalf("create empty file: %v", err)
	}
	if fi, err := s.b.Lstat("empty"); err != nil || fi.Size != 0 {
		t.Fatalf("empty file: %v %v", fi, err)
	}
}

func testCreateOverwrite(t *testing.T, s *suite) {
	BuildIn(t, s.b, Dir{"f": "old content", "l": Link("f")})
	if err := s.create(t, "f", "new!", 0o644, 0, s.stat(t, "f")); err != nil {
		t.Fatalf("overwrite: %v", err)
	}
	if s.read(t, "f") != "new!" {
		t.Fatalf("overwritten file reads %q", s.read(t, "f"))
	}
	if err := s.create(t, "f", "newer", 0o644, 0, tree.Entry{}); !errors.Is(err, endpoint.ErrChanged) {
		t.Fatalf("create over an existing file with expect absent: %v, want ErrChanged", err)
	}
	// Replacing a symlink replaces the link, never writes through it.
	if err := s.create(t, "l", "instead of a link", 0o644, 0, s.stat(t, "l")); err != nil {
		t.Fatalf("replace symlink: %v", err)
	}
	if fi, _ := s.b.Lstat("l"); fi.Kind != tree.File || s.read(t, "l") != "instead of a link" {
		t.Fatalf("symlink not replaced by a file")
	}
	if s.read(t, "f") != "new!" {
		t.Fatalf("write went through the symlink: f reads %q", s.read(t, "f"))
	}
}

func testCommitHashMismatch(t *testing.T, s *suite) {
	meta := tree.Entry{Path: "f", Kind: tree.File, Size: 5, Mode: 0o644, Hash: xxhash.Sum64String("right")}
	w, err := s.ep.CreateFile(s.ctx, meta, tree.Entry{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteAt([]byte("wrong"), 0); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); !errors.Is(err, endpoint.ErrHashMismatch) {
		t.Fatalf("Commit of wrong content: %v, want ErrHashMismatch", err)
	}
	s.mustNotExist(t, "f")
}

func testCommitDestinationChanged(t *testing.T, s *suite) {
	BuildIn(t, s.b, Dir{"exists": "original"})
	content := "incoming"
	meta := tree.Entry{Path: "new", Kind: tree.File, Size: int64(len(content)), Mode: 0o644, Hash: xxhash.Sum64String(content)}
	w, err := s.ep.CreateFile(s.ctx, meta, tree.Entry{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteAt([]byte(content), 0); err != nil {
		t.Fatal(err)
	}
	// Someone creates the destination while the transfer runs.
	BuildIn(t, s.b, Dir{"new": "local edit"})
	if err := w.Commit(); !errors.Is(err, endpoint.ErrChanged) {
		t.Fatalf("Commit over a file created meanwhile: %v, want ErrChanged", err)
	}
	if s.read(t, "new") != "local edit" {
		t.Fatal("Commit overwrote a file created meanwhile")
	}

	expect := s.stat(t, "exists")
	meta.Path = "exists"
	w, err = s.ep.CreateFile(s.ctx, meta, expect)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteAt([]byte(content), 0); err != nil {
		t.Fatal(err)
	}
	s.write(t, "exists", "edited meanwhile, longer", 0)
	if err := w.Commit(); !errors.Is(err, endpoint.ErrChanged) {
		t.Fatalf("Commit over a file edited meanwhile: %v, want ErrChanged", err)
	}
	if s.read(t, "exists") != "edited meanwhile, longer" {
		t.Fatal("Commit overwrote a file edited meanwhile")
	}
}

func testAbortResume(t *testing.T, s *suite) {
	// Larger than what an endpoint may receive whole (see
	// endpoint.FileWriter): a file this size must resume.
	content := bytes.Repeat([]byte("0123456789abcdef"), 16384)
	meta := tree.Entry{Path: "big", Kind: tree.File, Size: int64(len(content)), Mode: 0o644, Hash: xxhash.Sum64(content)}
	w, err := s.ep.CreateFile(s.ctx, meta, tree.Entry{})
	if err != nil {
		t.Fatal(err)
	}
	half := len(content) / 2
	if _, err := w.WriteAt(content[:half], 0); err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(); err != nil {
		t.Fatalf("Abort: %v", err)
	}
	s.mustNotExist(t, "big")
	if s.caps.PartialVisible {
		partial, err := s.b.ReadFile("big" + tree.DefaultPartialSuffix)
		if err != nil {
			t.Fatalf("Abort did not keep the partial file: %v", err)
		}
		if !bytes.Equal(partial, content[:half]) {
			t.Fatalf("partial file holds %d bytes, want the %d written", len(partial), half)
		}
	}
	w, err = s.ep.CreateFile(s.ctx, meta, tree.Entry{})
	if err != nil {
		t.Fatal(err)
	}
	from := 0
	if r, ok := w.(endpoint.Resumable); ok {
		if got := r.ExistingSize(); got != int64(half) {
			t.Fatalf("ExistingSize() = %d, want %d", got, half)
		}
		from = half
	} else {
		t.Log("writer does not implement ExistingSize; resume not checked")
	}
	if _, err := w.WriteAt(content[from:], int64(from)); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatalf("Commit after resume: %v", err)
	}
	if got := s.read(t, "big"); got != string(content) {
		t.Fatalf("resumed file has %d bytes, differs from the %d sent", len(got), len(content))
	}
	s.mustNotExist(t, "big"+tree.DefaultPartialSuffix)
}

func testNoSpace(t *testing.T, s *suite) {
	meta := tree.Entry{Path: "huge", Kind: tree.File, Size: 1 << 62, Mode: 0o644}
	w, err := s.ep.CreateFile(s.ctx, meta, tree.Entry{})
	if err == nil {
		w.Abort()
	}
	if !errors.Is(err, endpoint.ErrNoSpace) {
		t.Fatalf("CreateFile of a 4 EiB file: %v, want ErrNoSpace", err)
	}
	if ents, _ := readRoot(s.b); len(ents) != 0 {
		t.Fatalf("ErrNoSpace left files behind: %v", ents)
	}
}

func testInvalidPaths(t *testing.T, s *suite) {
	outside := t.TempDir()
	sentinel := filepath.Join(outside, "x")
	if err := os.WriteFile(sentinel, []byte("sentinel"), 0o644); err != nil {
		t.Fatal(err)
	}
	BuildIn(t, s.b, Dir{"a/f": "f"})
	rel := "../x"
	if s.caps.Dir != "" {
		r, err := filepath.Rel(s.caps.Dir, sentinel)
		if err != nil {
			t.Fatal(err)
		}
		rel = r
	}
	bad := []string{"", "../x", "/etc/passwd", sentinel, "a/../../x", "a/../f", "./a", "a//f", "a/", "a\x00b", filepath.ToSlash(rel)}
	for _, p := range bad {
		checkRefused(t, s, p)
	}
	checkSentinel(t, sentinel, "sentinel")
}

// checkRefused tries every operation on p and expects each to fail.
func checkRefused(t *testing.T, s *suite, p string) {
	t.Helper()
	file := tree.Entry{Path: p, Kind: tree.File, Size: 1, Mode: 0o644, Hash: xxhash.Sum64String("!")}
	if _, err := s.ep.Stat(s.ctx, p); err == nil {
		t.Errorf("Stat(%q) succeeded", p)
	}
	if err := s.ep.Mkdir(s.ctx, p, 0o755); err == nil {
		t.Errorf("Mkdir(%q) succeeded", p)
	}
	if err := s.ep.Symlink(s.ctx, p, "t", tree.Entry{}); err == nil {
		t.Errorf("Symlink(%q) succeeded", p)
	}
	if err := s.ep.Remove(s.ctx, p, file); err == nil {
		t.Errorf("Remove(%q) succeeded", p)
	}
	if err := s.ep.Rename(s.ctx, "a/f", p, s.stat(t, "a/f")); err == nil {
		t.Errorf("Rename(a/f, %q) succeeded", p)
	}
	if err := s.ep.Rename(s.ctx, p, "moved", file); err == nil {
		t.Errorf("Rename(%q, moved) succeeded", p)
	}
	if err := s.ep.SetMeta(s.ctx, p, 0o777, 1); err == nil {
		t.Errorf("SetMeta(%q) succeeded", p)
	}
	if r, err := s.ep.OpenFile(s.ctx, p); err == nil {
		r.Close()
		t.Errorf("OpenFile(%q) succeeded", p)
	}
	if w, err := s.ep.CreateFile(s.ctx, file, tree.Entry{}); err == nil {
		_, werr := w.WriteAt([]byte("!"), 0)
		if cerr := w.Commit(); werr == nil && cerr == nil {
			t.Errorf("CreateFile+Commit(%q) succeeded", p)
		}
	}
	if s.read(t, "a/f") != "f" {
		t.Fatalf("a/f changed while trying %q", p)
	}
}

func checkSentinel(t *testing.T, path, content string) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatalf("sentinel outside the root: %v", err)
	}
	b, _ := os.ReadFile(path)
	if string(b) != content || fi.Mode().Perm() != 0o644 || fi.ModTime().UnixNano() == 1 {
		t.Fatalf("sentinel outside the root was changed: %q mode %o", b, fi.Mode().Perm())
	}
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 1 {
		t.Fatalf("entries appeared outside the root: %v", ents)
	}
}

func testSymlinkParentOutside(t *testing.T, s *suite) {
	outside := t.TempDir()
	sentinel := filepath.Join(outside, "x")
	if err := os.WriteFile(sentinel, []byte("sentinel"), 0o644); err != nil {
		t.Fatal(err)
	}
	mt := time.Unix(1_000_000, 0)
	os.Chtimes(sentinel, mt, mt)
	BuildIn(t, s.b, Dir{"a/f": "f", "esc": Link(outside), "deep/esc": Link("../../" + filepath.Base(outside))})
	for _, p := range []string{"esc/x", "esc/new", "esc/sub/new", "deep/esc/x"} {
		checkRefused(t, s, p)
	}
	checkSentinel(t, sentinel, "sentinel")
	if fi, _ := os.Lstat(sentinel); !fi.ModTime().Equal(mt) {
		t.Fatalf("sentinel mtime changed to %v", fi.ModTime())
	}
	// Removing the link itself is fine and must not touch what it points to.
	if err := s.ep.Remove(s.ctx, "esc", s.stat(t, "esc")); err != nil {
		t.Fatalf("Remove of the escaping link: %v", err)
	}
	checkSentinel(t, sentinel, "sentinel")
}

func testSymlinkParentInside(t *testing.T, s *suite) {
	BuildIn(t, s.b, Dir{"real/f": "f", "in": Link("real")})
	meta := tree.Entry{Path: "in/new", Kind: tree.File, Size: 1, Mode: 0o644, Hash: xxhash.Sum64String("!")}
	if w, err := s.ep.CreateFile(s.ctx, meta, tree.Entry{}); err == nil {
		w.WriteAt([]byte("!"), 0)
		if err := w.Commit(); err == nil {
			t.Fatal("CreateFile wrote through a symlinked directory")
		}
	}
	if err := s.ep.Mkdir(s.ctx, "in/sub", 0o755); err == nil {
		t.Fatal("Mkdir went through a symlinked directory")
	}
	f := s.stat(t, "real/f")
	if err := s.ep.Remove(s.ctx, "in/f", f); err == nil {
		t.Fatal("Remove went through a symlinked directory")
	}
	got := paths(s.scan(t, endpoint.ScanOptions{}))
	if !slices.Equal(got, []string{"in", "real", "real/f"}) {
		t.Fatalf("writes through a symlinked directory left %q", got)
	}
}

func testFreeSpace(t *testing.T, s *suite) {
	sp, err := s.ep.FreeSpace(s.ctx)
	if err != nil {
		t.Fatalf("FreeSpace: %v", err)
	}
	if !s.caps.FreeSpace {
		if sp.Free > sp.Total {
			t.Fatalf("FreeSpace = %+v: more free than in all", sp)
		}
		t.Skipf("the storage has no free space to compare with (FreeSpace = %+v)", sp)
	}
	total, err := diskTotal(s.caps.Dir)
	if errors.Is(err, errors.ErrUnsupported) {
		total = sp.Total // no statfs to compare with here (Windows)
	} else if err != nil {
		t.Fatal(err)
	}
	if sp.Free == 0 || sp.Total == 0 || sp.Free > sp.Total || sp.Total != total {
		t.Fatalf("FreeSpace = %+v, statfs total %d", sp, total)
	}
}

// testFolding checks Folding against what the disk behind the endpoint
// does with other spellings, and that the probe leaves nothing behind.
func testFolding(t *testing.T, s *suite) {
	BuildIn(t, s.b, Dir{"keep": File{Content: "k"}})
	got, err := s.ep.Folding(s.ctx)
	if err != nil {
		t.Fatalf("Folding: %v", err)
	}
	if err := s.b.WriteFile("probe-Ab-e\u0301", nil, 0o644, 0); err != nil {
		t.Fatal(err)
	}
	_, cerr := s.b.Lstat("probe-aB-e\u0301")
	_, nerr := s.b.Lstat("probe-Ab-\u00e9")
	want := endpoint.Folding{Case: cerr == nil, Normalization: nerr == nil}
	if got != want {
		t.Fatalf("Folding = %+v, the disk behaves as %+v", got, want)
	}
	if err := s.b.Remove("probe-Ab-e\u0301"); err != nil {
		t.Fatal(err)
	}
	ents, err := readRoot(s.b)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 || ents[0] != "keep" {
		t.Fatalf("after the probe the root holds %q, want only keep", ents)
	}
	again, err := s.ep.Folding(s.ctx)
	if err != nil || again != got {
		t.Fatalf("second Folding = %+v, %v; want %+v", again, err, got)
	}
}
