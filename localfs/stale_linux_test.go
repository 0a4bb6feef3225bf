package localfs

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
	"golang.org/x/sys/unix"

	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/endpoint/endpointtest"
	"github.com/ferry-sync/ferry/tree"
)

// staleClock is the injected now of these tests: years from the real
// clock, so a scan measuring ages with time.Now would find every file
// fresh and remove nothing.
var staleClock = time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC)

// stale and fresh are mtimes either side of the default age.
var (
	stale = staleClock.Add(-DefaultStalePartialAge - time.Hour)
	fresh = staleClock.Add(-DefaultStalePartialAge + time.Hour)
)

func newSweepFS(t *testing.T, root string, log *bytes.Buffer) *FS {
	t.Helper()
	f := newFS(t, root, Options{
		Now: func() time.Time { return staleClock },
		Log: slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	resumable(f) // these tests sweep partials, which small files leave here
	return f
}

// interrupt leaves the partial file of p as an interrupted transfer does,
// with a saved checkpoint if ckpt is not nil, and dates it (and the
// checkpoint) at mtime.
func interrupt(t *testing.T, f *FS, root, p string, ckpt []byte, mtime time.Time) {
	t.Helper()
	resumable(f) // a partial, as a file above wholeMax leaves
	content := []byte("content of " + p)
	meta := tree.Entry{Path: p, Kind: tree.File, Size: int64(len(content)), Mode: 0o644, Hash: xxhash.Sum64(content)}
	w, err := f.createFile(context.Background(), meta, tree.Entry{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteAt(content[:4], 0); err != nil {
		t.Fatal(err)
	}
	if ckpt != nil {
		if err := w.SaveCheckpoint(ckpt); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	age(t, root, p+tree.DefaultPartialSuffix, mtime)
	if _, err := os.Lstat(filepath.Join(root, p+tree.DefaultPartialSuffix+tree.CheckpointSuffix)); err == nil {
		age(t, root, p+tree.DefaultPartialSuffix+tree.CheckpointSuffix, mtime)
	}
}

func age(t *testing.T, root, p string, mtime time.Time) {
	t.Helper()
	if err := os.Chtimes(filepath.Join(root, p), mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

func exists(t *testing.T, root, p string) bool {
	t.Helper()
	_, err := os.Lstat(filepath.Join(root, p))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return err == nil
}

func paths(es []tree.Entry) []string {
	var ps []string
	for _, e := range es {
		ps = append(ps, e.Path)
	}
	return ps
}

// TestScanRemovesStaleTaggedPartial: an interrupted transfer's partial
// (tagged with the xattr) and its checkpoint outlive the age only until the
// next scan; one younger than the age stays for its resume.
func TestScanRemovesStaleTaggedPartial(t *testing.T) {
	root := t.TempDir()
	needXattr(t, root)
	endpointtest.Build(t, root, endpointtest.Dir{"keep": "k", "sub/other": "o"})
	var log bytes.Buffer
	f := newSweepFS(t, root, &log)
	defer f.Close()
	interrupt(t, f, root, "sub/gone", []byte("ranges"), stale)
	interrupt(t, f, root, "sub/bare", nil, stale)
	interrupt(t, f, root, "resuming", []byte("ranges"), fresh)
	if !tagged(t, filepath.Join(root, "sub/bare.partial")) || exists(t, root, "sub/bare.partial"+tree.CheckpointSuffix) {
		t.Fatal("setup: sub/bare.partial should be ferry's by its tag alone")
	}

	// What a scan lists is what it would list without the removals.
	keep := newFS(t, root, Options{StalePartialAge: -1, Now: func() time.Time { return staleClock }})
	before := scanAll(t, keep)
	keep.Close()
	if !exists(t, root, "sub/gone.partial") {
		t.Fatal("a scan with a negative StalePartialAge removed a stale partial")
	}
	got := scanAll(t, f)
	if want := []string{"keep", "sub", "sub/other"}; !slices.Equal(paths(got), want) {
		t.Fatalf("scan listed %v, want %v", paths(got), want)
	}
	if !slices.Equal(got, before) {
		t.Fatalf("scan that removed partials listed\n%+v\nwithout removals\n%+v", got, before)
	}
	for _, p := range []string{"sub/gone.partial", "sub/gone.partial" + tree.CheckpointSuffix, "sub/bare.partial"} {
		if exists(t, root, p) {
			t.Errorf("stale %s survived the scan", p)
		}
	}
	for _, p := range []string{"resuming.partial", "resuming.partial" + tree.CheckpointSuffix} {
		if !exists(t, root, p) {
			t.Errorf("fresh %s was removed", p)
		}
	}
	if !strings.Contains(log.String(), `msg="removed stale partial file"`) || !strings.Contains(log.String(), "path=sub/gone.partial age=25h0m0s") {
		t.Errorf("removal not logged with path and age:\n%s", log.String())
	}

	// The fresh one still resumes.
	content := []byte("content of resuming")
	w, err := f.createFile(context.Background(), tree.Entry{Path: "resuming", Kind: tree.File, Size: int64(len(content)), Mode: 0o644, Hash: xxhash.Sum64(content)}, tree.Entry{})
	if err != nil {
		t.Fatal(err)
	}
	if w.ExistingSize() != 4 {
		t.Fatalf("fresh partial resumes from %d, want 4", w.ExistingSize())
	}
	w.Abort()
}

// TestScanRemovesStaleMarkedPartial: where the filesystem has no user
// xattrs, the empty checkpoint beside a partial is what makes it ferry's,
// and a stale one goes with its partial.
func TestScanRemovesStaleMarkedPartial(t *testing.T) {
	root := t.TempDir()
	var log bytes.Buffer
	f := newSweepFS(t, root, &log)
	defer f.Close()
	f.noXattr = true
	interrupt(t, f, root, "f", nil, stale)
	if tagged(t, filepath.Join(root, "f.partial")) || !exists(t, root, "f.partial"+tree.CheckpointSuffix) {
		t.Fatal("setup: f.partial should be ferry's by its marker alone")
	}
	if got := scanAll(t, f); len(got) != 0 {
		t.Fatalf("scan listed %v, want nothing", paths(got))
	}
	if got := listDir(t, root); len(got) != 0 {
		t.Fatalf("left after the scan: %v, want nothing", got)
	}
}

// TestScanRemovesStaleOrphanCheckpoint: a checkpoint whose partial is gone
// is removed once stale; a fresh one, or one whose partial is there, stays.
func TestScanRemovesStaleOrphanCheckpoint(t *testing.T) {
	root := t.TempDir()
	ck := tree.DefaultPartialSuffix + tree.CheckpointSuffix
	endpointtest.Build(t, root, endpointtest.Dir{
		"old" + ck:     "ranges",
		"new" + ck:     "ranges",
		"d/deep" + ck:  "",
		"d/x":          "x",
		"link" + ck:    "",
		"link.partial": endpointtest.Link("d/x"),
	})
	for _, p := range []string{"old" + ck, "d/deep" + ck, "link" + ck} {
		age(t, root, p, stale)
	}
	age(t, root, "new"+ck, fresh)
	var log bytes.Buffer
	f := newSweepFS(t, root, &log)
	defer f.Close()
	got := scanAll(t, f)
	if want := []string{"d", "d/x"}; !slices.Equal(paths(got), want) {
		t.Fatalf("scan listed %v, want %v", paths(got), want)
	}
	for _, p := range []string{"old" + ck, "d/deep" + ck} {
		if exists(t, root, p) {
			t.Errorf("stale orphan %s survived the scan", p)
		}
	}
	// link.partial is no partial of ferry's, but its checkpoint is not
	// an orphan while something has the partial's name.
	for _, p := range []string{"new" + ck, "link.partial", "link" + ck} {
		if !exists(t, root, p) {
			t.Errorf("%s was removed", p)
		}
	}
	if !strings.Contains(log.String(), `msg="removed orphan checkpoint" folder=`+root+" path=d/deep"+ck) {
		t.Errorf("removal not logged:\n%s", log.String())
	}
}

// TestScanKeepsWhatIsNotFerrysStalePartial: only a regular file that ferry
// tagged or marked, stale and unlocked, is ever removed.
func TestScanKeepsWhatIsNotFerrysStalePartial(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	endpointtest.Build(t, outside, endpointtest.Dir{
		"victim.partial":                        "precious",
		"sub/x.partial":                         "precious too",
		"sub/x.partial" + tree.CheckpointSuffix: "",
	})
	endpointtest.Build(t, root, endpointtest.Dir{
		"notes.partial":                          "user's own",
		"dir.partial/inside":                     "i",
		"out.partial":                            endpointtest.Link(filepath.Join(outside, "victim.partial")),
		"out.partial" + tree.CheckpointSuffix:    "",
		"dir.partial" + tree.CheckpointSuffix:    "",
		".partial":                               "no name before the suffix",
		"empty.partial":                          endpointtest.Dir{},
		"empty.partial" + tree.CheckpointSuffix:  "",
		"lonely.partial" + tree.CheckpointSuffix: endpointtest.Dir{},
		"sl.partial" + tree.CheckpointSuffix:     endpointtest.Link("notes.partial"),
		"linkdir":                                endpointtest.Link(filepath.Join(outside, "sub")),
	})
	// A tag on the outside target must not make the link look like ferry's.
	if err := unix.Setxattr(filepath.Join(outside, "victim.partial"), ownerXattr, []byte{1}, 0); err != nil {
		t.Logf("no user xattrs in %s, the link's target is untagged: %v", outside, err)
	}
	for _, p := range []string{"notes.partial", "dir.partial", "dir.partial/inside", "out.partial" + tree.CheckpointSuffix, "dir.partial" + tree.CheckpointSuffix, ".partial",
		"empty.partial", "empty.partial" + tree.CheckpointSuffix, "lonely.partial" + tree.CheckpointSuffix} {
		age(t, root, p, stale)
	}
	for _, p := range []string{"victim.partial", "sub/x.partial", "sub/x.partial" + tree.CheckpointSuffix} {
		age(t, outside, p, stale)
	}
	// The links themselves are stale too, not only what they point to.
	for _, p := range []string{"out.partial", "sl.partial" + tree.CheckpointSuffix} {
		ts := []unix.Timespec{unix.NsecToTimespec(stale.UnixNano()), unix.NsecToTimespec(stale.UnixNano())}
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, filepath.Join(root, p), ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			t.Fatal(err)
		}
	}
	var log bytes.Buffer
	f := newSweepFS(t, root, &log)
	defer f.Close()
	scanAll(t, f)
	for _, p := range []string{"notes.partial", "dir.partial/inside", "out.partial", "out.partial" + tree.CheckpointSuffix, "dir.partial" + tree.CheckpointSuffix, ".partial",
		"empty.partial", "empty.partial" + tree.CheckpointSuffix, "lonely.partial" + tree.CheckpointSuffix, "sl.partial" + tree.CheckpointSuffix} {
		if !exists(t, root, p) {
			t.Errorf("%s was removed", p)
		}
	}
	for _, p := range []string{"victim.partial", "sub/x.partial", "sub/x.partial" + tree.CheckpointSuffix} {
		if !exists(t, outside, p) {
			t.Errorf("%s outside the folder was removed", p)
		}
	}
	if b, err := os.ReadFile(filepath.Join(outside, "victim.partial")); err != nil || string(b) != "precious" {
		t.Errorf("file outside the folder: %q, %v", b, err)
	}
	if strings.Contains(log.String(), "removed") {
		t.Errorf("removals logged:\n%s", log.String())
	}
}

// TestScanKeepsStalePartialLockedByWriter: a writer holds its partial
// locked, and Commit dates it with the source's mtime before the rename,
// so an old mtime alone does not make it stale.
func TestScanKeepsStalePartialLockedByWriter(t *testing.T) {
	root := t.TempDir()
	var log bytes.Buffer
	f := newSweepFS(t, root, &log)
	defer f.Close()
	for _, noXattr := range []bool{false, true} {
		f.noXattr = noXattr
		content := []byte("0123456789")
		meta := tree.Entry{Path: "f", Kind: tree.File, Size: 10, Mode: 0o644, Hash: xxhash.Sum64(content)}
		w, err := f.createFile(context.Background(), meta, tree.Entry{})
		if err != nil {
			t.Fatal(err)
		}
		w.WriteAt(content[:5], 0)
		age(t, root, "f.partial", stale)
		scanAll(t, f)
		if !exists(t, root, "f.partial") {
			t.Fatalf("noXattr=%v: the partial of an open writer was removed", noXattr)
		}
		if noXattr && !exists(t, root, "f.partial"+tree.CheckpointSuffix) {
			t.Fatalf("noXattr=%v: the marker of an open writer's partial was removed", noXattr)
		}
		w.WriteAt(content[5:], 5)
		if err := w.Commit(); err != nil {
			t.Fatalf("noXattr=%v: Commit after a scan: %v", noXattr, err)
		}
		if got := listDir(t, root); len(got) != 1 || got[0] != "f" {
			t.Fatalf("noXattr=%v: after Commit: %v, want f alone", noXattr, got)
		}
		os.Remove(filepath.Join(root, "f"))

		// Once the writer lets go, the same stale partial is removed.
		interrupt(t, f, root, "f", nil, stale)
		scanAll(t, f)
		if got := listDir(t, root); len(got) != 0 {
			t.Fatalf("noXattr=%v: a stale partial no writer holds stayed: %v", noXattr, got)
		}
	}
}

// TestScanStalePartialAgeOption: the age is configurable, and a negative
// one keeps every partial.
func TestScanStalePartialAgeOption(t *testing.T) {
	for _, tc := range []struct {
		age    time.Duration
		remain []string
	}{
		{-1, []string{"a.partial", "b.partial"}},
		{90 * time.Minute, []string{"a.partial"}},
		{0, []string{"a.partial", "b.partial"}},
	} {
		root := t.TempDir()
		f := newFS(t, root, Options{StalePartialAge: tc.age, Now: func() time.Time { return staleClock }})
		f.noXattr = true
		interrupt(t, f, root, "a", nil, staleClock.Add(-time.Hour))
		interrupt(t, f, root, "b", nil, staleClock.Add(-2*time.Hour))
		scanAll(t, f)
		var got []string
		for _, n := range listDir(t, root) {
			if !strings.HasSuffix(n, tree.CheckpointSuffix) {
				got = append(got, n)
			}
		}
		if !slices.Equal(got, tc.remain) {
			t.Errorf("StalePartialAge %v: left %v, want %v", tc.age, got, tc.remain)
		}
		f.Close()
	}
}

// TestScanKeepsPartialOfRefusedCommit: Commit dates the partial with the
// source's mtime before the rename. When the rename is refused the
// complete partial stays for the retry, and must not look as old as the
// source to the next scan.
func TestScanKeepsPartialOfRefusedCommit(t *testing.T) {
	for _, noXattr := range []bool{false, true} {
		root := t.TempDir()
		var log bytes.Buffer
		f := newSweepFS(t, root, &log)
		f.noXattr = noXattr
		content := []byte("abcdef")
		meta := tree.Entry{Path: "f", Kind: tree.File, Size: 6, Mode: 0o644, Hash: xxhash.Sum64(content),
			Mtime: staleClock.Add(-30 * 24 * time.Hour).UnixNano()}
		w, err := f.createFile(context.Background(), meta, tree.Entry{})
		if err != nil {
			t.Fatal(err)
		}
		w.WriteAt(content, 0)
		if err := os.WriteFile(filepath.Join(root, "f"), []byte("user's"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := w.Commit(); err == nil {
			t.Fatalf("noXattr=%v: Commit onto a file that appeared succeeded", noXattr)
		}
		scanAll(t, f)
		if !exists(t, root, "f.partial") {
			t.Fatalf("noXattr=%v: the partial of a refused Commit was removed as stale:\n%s", noXattr, log.String())
		}
		cur, err := f.Stat(context.Background(), "f")
		if err != nil {
			t.Fatal(err)
		}
		w, err = f.createFile(context.Background(), meta, cur)
		if err != nil {
			t.Fatalf("noXattr=%v: retry: %v", noXattr, err)
		}
		if got := w.ExistingSize(); got != 6 {
			t.Fatalf("noXattr=%v: retry resumes from %d, want 6", noXattr, got)
		}
		if err := w.Commit(); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(filepath.Join(root, "f"))
		if err != nil || fi.ModTime().UnixNano() != meta.Mtime {
			t.Fatalf("noXattr=%v: committed file: %v, mtime %v, want the source's", noXattr, err, fi.ModTime())
		}
		f.Close()
	}
}

// TestScanKeepsPartialResumedRecently: a partial's age counts from the
// last attempt that asked for it, even one that wrote nothing before it
// was interrupted.
func TestScanKeepsPartialResumedRecently(t *testing.T) {
	root := t.TempDir()
	var log bytes.Buffer
	f := newSweepFS(t, root, &log)
	defer f.Close()
	interrupt(t, f, root, "f", []byte("ranges"), stale)
	content := []byte("content of f")
	w, err := f.createFile(context.Background(), tree.Entry{Path: "f", Kind: tree.File, Size: int64(len(content)), Mode: 0o644, Hash: xxhash.Sum64(content)}, tree.Entry{})
	if err != nil {
		t.Fatal(err)
	}
	if w.ExistingSize() != 4 {
		t.Fatalf("resumes from %d, want 4", w.ExistingSize())
	}
	w.Abort()
	scanAll(t, f)
	if !exists(t, root, "f.partial") || !exists(t, root, "f.partial"+tree.CheckpointSuffix) {
		t.Fatalf("a partial resumed just now was removed as stale:\n%s", log.String())
	}
}

// TestScanRemovesStaleTempFiles: a process killed while it created a
// partial file (or saved a checkpoint, or replaced a symlink) left a
// .ferry-tmp.* file that scans skipped and nothing ever removed. Stale ones
// are now swept like stale partials; fresh ones, locked ones, directories
// and names ferry does not make stay.
func TestScanRemovesStaleTempFiles(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	endpointtest.Build(t, outside, endpointtest.Dir{"target": "precious"})
	endpointtest.Build(t, root, endpointtest.Dir{
		".ferry-tmp.0123456789abcdef":     "left by a crash",
		"d/.ferry-tmp.fedcba9876543210":   "",
		".ferry-tmp.00000000000000aa":     endpointtest.Link(filepath.Join(outside, "target")),
		".ferry-tmp.1111111111111111":     "fresh",
		".ferry-tmp.2222222222222222":     "locked",
		".ferry-tmp.3333333333333333":     endpointtest.Dir{"inside": "x"},
		".ferry-tmp.user":                 "not a name ferry makes",
		".ferry-tmp.0123456789ABCDEF":     "upper case: not ferry's",
		".ferry-tmp.0123456789abcdef0":    "too long",
		".ferry-tmp.0123456789abcdef.bak": "not ferry's either",
	})
	for _, p := range []string{".ferry-tmp.0123456789abcdef", "d/.ferry-tmp.fedcba9876543210", ".ferry-tmp.2222222222222222",
		".ferry-tmp.3333333333333333", ".ferry-tmp.user", ".ferry-tmp.0123456789ABCDEF", ".ferry-tmp.0123456789abcdef0", ".ferry-tmp.0123456789abcdef.bak"} {
		age(t, root, p, stale)
	}
	age(t, root, ".ferry-tmp.1111111111111111", fresh)
	link := filepath.Join(root, ".ferry-tmp.00000000000000aa")
	ts := []unix.Timespec{unix.NsecToTimespec(stale.UnixNano()), unix.NsecToTimespec(stale.UnixNano())}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, link, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		t.Fatal(err)
	}
	locked, err := os.OpenFile(filepath.Join(root, ".ferry-tmp.2222222222222222"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer locked.Close()
	if err := lockFile(locked); err != nil {
		t.Fatal(err)
	}

	var log bytes.Buffer
	f := newSweepFS(t, root, &log)
	defer f.Close()
	if got := paths(scanAll(t, f)); !slices.Equal(got, []string{"d"}) {
		t.Errorf("scan lists %q, want only d", got)
	}
	for _, p := range []string{".ferry-tmp.0123456789abcdef", "d/.ferry-tmp.fedcba9876543210", ".ferry-tmp.00000000000000aa"} {
		if exists(t, root, p) {
			t.Errorf("stale %s was kept", p)
		}
	}
	for _, p := range []string{".ferry-tmp.1111111111111111", ".ferry-tmp.2222222222222222", ".ferry-tmp.3333333333333333/inside",
		".ferry-tmp.user", ".ferry-tmp.0123456789ABCDEF", ".ferry-tmp.0123456789abcdef0", ".ferry-tmp.0123456789abcdef.bak"} {
		if !exists(t, root, p) {
			t.Errorf("%s was removed", p)
		}
	}
	if b, err := os.ReadFile(filepath.Join(outside, "target")); err != nil || string(b) != "precious" {
		t.Errorf("the stale link's target: %q, %v", b, err)
	}
	if n := strings.Count(log.String(), "removed stale temporary file"); n != 3 {
		t.Errorf("%d removals logged, want 3:\n%s", n, log.String())
	}
}

// TestScanRemovesStaleFoldingProbe: the folding probe's file is a ferry
// temporary file that, per Folding's doc, is swept once stale if a crash
// leaves it; scans skip it, so nothing else would ever remove it.
func TestScanRemovesStaleFoldingProbe(t *testing.T) {
	root := t.TempDir()
	probe := probePrefix + "0123456789abcdef-Ab-e\u0301"
	keep := probePrefix + "0123456789abcdef-Ab-e\u0301.user"
	endpointtest.Build(t, root, endpointtest.Dir{probe: "", keep: "user's"})
	age(t, root, probe, stale)
	age(t, root, keep, stale)
	var log bytes.Buffer
	f := newSweepFS(t, root, &log)
	defer f.Close()
	scanAll(t, f)
	if exists(t, root, probe) {
		t.Errorf("stale folding probe %q was kept:\n%s", probe, log.String())
	}
	if !exists(t, root, keep) {
		t.Errorf("%q, not a name ferry makes, was removed", keep)
	}
}

// TestScanKeepStaleLeavesStalePartials: a scan asked to keep stale
// partials (a dry run) lists what a sweeping scan lists and removes
// nothing; the next ordinary scan still removes them.
func TestScanKeepStaleLeavesStalePartials(t *testing.T) {
	root := t.TempDir()
	needXattr(t, root)
	endpointtest.Build(t, root, endpointtest.Dir{"keep": "k", "sub/other": "o"})
	var log bytes.Buffer
	f := newSweepFS(t, root, &log)
	defer f.Close()
	interrupt(t, f, root, "sub/gone", []byte("ranges"), stale)
	var got []tree.Entry
	err := f.Scan(context.Background(), endpoint.ScanOptions{KeepStale: true}, func(e tree.Entry) error {
		got = append(got, e)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"keep", "sub", "sub/other"}; !slices.Equal(paths(got), want) {
		t.Fatalf("scan listed %v, want %v", paths(got), want)
	}
	if !exists(t, root, "sub/gone.partial") {
		t.Fatal("a scan asked to keep stale partials removed one")
	}
	scanAll(t, f)
	if exists(t, root, "sub/gone.partial") {
		t.Fatal("the ordinary scan after it did not remove the stale partial")
	}
}
