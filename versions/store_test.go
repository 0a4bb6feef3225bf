package versions

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeClock is a clock moved by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func write(t *testing.T, root, rel, content string) {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o640); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, s *Store, v Version) string {
	t.Helper()
	f, err := s.Open(v)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestKeepMovesIntoTheStoreUnderABrowsableName(t *testing.T) {
	root := t.TempDir()
	clock := &fakeClock{t: t0}
	s, err := Open(root, Options{Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	write(t, root, "dir/report.txt", "v1")
	before, _ := os.Stat(filepath.Join(root, "dir/report.txt"))
	v, err := s.Keep("dir/report.txt", Deleted)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(root, "dir/report.txt")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the file is still in place: %v", err)
	}
	kept := filepath.Join(root, ".ferry-versions/dir/report~20261207-140512.123Z~deleted.txt")
	after, err := os.Stat(kept)
	if err != nil {
		t.Fatalf("not at the browsable name: %v", err)
	}
	if !os.SameFile(before, after) {
		t.Errorf("kept by copy, not by rename")
	}
	if v.StorePath() != ".ferry-versions/dir/report~20261207-140512.123Z~deleted.txt" || v.Size != 2 || v.Reason != Deleted {
		t.Errorf("version %+v", v)
	}

	// A second version in the same millisecond gets the next one.
	write(t, root, "dir/report.txt", "v2")
	v2, err := s.Keep("dir/report.txt", Replaced)
	if err != nil {
		t.Fatal(err)
	}
	write(t, root, "dir/report.txt", "v3")
	v3, err := s.Keep("dir/report.txt", Replaced)
	if err != nil {
		t.Fatal(err)
	}
	if !v3.Time.After(v2.Time) {
		t.Errorf("same-millisecond versions: %v then %v", v2.Time, v3.Time)
	}
	write(t, root, "dir/sub/x", "x")
	if _, err := s.Keep("dir/sub/x", Conflict); err != nil {
		t.Fatal(err)
	}
	write(t, root, "dirx", "not under dir")
	if _, err := s.Keep("dirx", Reset); err != nil {
		t.Fatal(err)
	}

	list, err := s.List("dir/report.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 || read(t, s, list[0]) != "v1" || read(t, s, list[1]) != "v2" || read(t, s, list[2]) != "v3" {
		t.Fatalf("List(dir/report.txt) = %+v", list)
	}
	if list, _ := s.List("dir"); len(list) != 4 {
		t.Errorf("List(dir) = %+v, want 4 versions", list)
	}
	if list, _ := s.List(""); len(list) != 5 {
		t.Errorf("List() = %+v, want 5 versions", list)
	}
	if list, _ := s.List("nothing/here"); len(list) != 0 {
		t.Errorf("List(nothing/here) = %+v", list)
	}
	u, err := s.Usage()
	if err != nil || u.Files != 5 || u.Bytes != int64(2+2+2+1+len("not under dir")) {
		t.Errorf("Usage = %+v, %v", u, err)
	}

	// Restore puts v1 back and keeps what it replaces.
	write(t, root, "dir/report.txt", "current")
	clock.t = t0.Add(time.Minute)
	if err := s.Restore(list[0], "dir/report.txt"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "dir/report.txt")); string(b) != "v1" {
		t.Errorf("restored %q", b)
	}
	if fi, _ := os.Stat(filepath.Join(root, "dir/report.txt")); fi.Mode().Perm() != 0o640 {
		t.Errorf("restored mode %v", fi.Mode())
	}
	list, _ = s.List("dir/report.txt")
	if len(list) != 4 || list[3].Reason != Restore || read(t, s, list[3]) != "current" {
		t.Errorf("after restore: %+v", list)
	}
}

func TestKeepRefusesDirectoriesAndTheStore(t *testing.T) {
	root := t.TempDir()
	s, err := Open(root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	os.Mkdir(filepath.Join(root, "d"), 0o755)
	if _, err := s.Keep("d", Deleted); !errors.Is(err, ErrIsDir) {
		t.Errorf("Keep(dir) = %v", err)
	}
	write(t, root, ".ferry-versions/x", "x")
	if _, err := s.Keep(".ferry-versions/x", Deleted); !errors.Is(err, ErrInStore) {
		t.Errorf("Keep(store) = %v", err)
	}
	if _, err := s.Keep("absent", Deleted); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Keep(absent) = %v", err)
	}
}

func TestKeepSymlinkKeepsTheLink(t *testing.T) {
	root := t.TempDir()
	s, err := Open(root, Options{Now: (&fakeClock{t: t0}).now})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	write(t, root, "target", "data")
	os.Symlink("target", filepath.Join(root, "link"))
	v, err := s.Keep("link", Deleted)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := os.Readlink(filepath.Join(root, filepath.FromSlash(v.StorePath()))); err != nil || got != "target" {
		t.Errorf("kept link reads %q, %v", got, err)
	}
	if err := s.Restore(v, "link"); err != nil {
		t.Fatal(err)
	}
	if got, err := os.Readlink(filepath.Join(root, "link")); err != nil || got != "target" {
		t.Errorf("restored link reads %q, %v", got, err)
	}
}

func TestStorePruneRemovesWhatThePolicyDrops(t *testing.T) {
	root := t.TempDir()
	clock := &fakeClock{t: t0}
	s, err := Open(root, Options{Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	write(t, root, "deep/er/old.txt", "old")
	if _, err := s.Keep("deep/er/old.txt", Deleted); err != nil {
		t.Fatal(err)
	}
	clock.t = t0.Add(20 * day)
	write(t, root, "new.txt", "new")
	if _, err := s.Keep("new.txt", Deleted); err != nil {
		t.Fatal(err)
	}
	clock.t = t0.Add(31 * day)
	removed, err := s.Prune(DefaultPolicy())
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 1 || removed[0].Path != "deep/er/old.txt" {
		t.Errorf("removed %+v", removed)
	}
	if _, err := os.Stat(filepath.Join(root, ".ferry-versions/deep")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("emptied directories stay: %v", err)
	}
	if list, _ := s.List(""); len(list) != 1 || list[0].Path != "new.txt" {
		t.Errorf("left %+v", list)
	}
}

func TestIsStorePath(t *testing.T) {
	for p, want := range map[string]bool{
		".ferry-versions": true, ".ferry-versions/a": true, ".Ferry-Versions/a/b": true,
		".ferry-versions2": false, "a/.ferry-versions": true, "a/.FERRY-VERSIONS/b": true, "x": false, "a/.ferry-versions.txt": false,
	} {
		if IsStorePath(p) != want {
			t.Errorf("IsStorePath(%q) = %v", p, !want)
		}
	}
}

func TestLinkAtLeavesTheFileInPlace(t *testing.T) {
	root := t.TempDir()
	s, err := Open(root, Options{Now: (&fakeClock{t: t0}).now})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	write(t, root, "a/f.txt", "old")
	d, err := os.Open(filepath.Join(root, "a"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	v, moved, err := s.LinkAt(d, "f.txt", "a/f.txt", Replaced)
	if err != nil || moved {
		t.Fatalf("LinkAt: %v, moved %v", err, moved)
	}
	if b, err := os.ReadFile(filepath.Join(root, "a/f.txt")); err != nil || string(b) != "old" {
		t.Errorf("the file left its place: %q, %v", b, err)
	}
	if read(t, s, v) != "old" {
		t.Errorf("the version does not hold the old content")
	}
}

// TestFailedRestoreKeepsNoVersion: Restore links what is at the path into
// the store before renaming the restored copy over it; when that rename
// fails, nothing was replaced and no "restore" version of the file still
// in place may be listed (one was, before the undo).
func TestFailedRestoreKeepsNoVersion(t *testing.T) {
	root := t.TempDir()
	clock := &fakeClock{t: t0}
	var armed bool
	s, err := Open(root, Options{Now: clock.now, Failpoint: func(step KeepStep, rel string) {
		if !armed || step != KeepDirMade {
			return
		}
		// The restored copy, ready beside the file, goes before the
		// rename that would put it in place.
		ents, _ := os.ReadDir(root)
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), ".ferry-tmp.") {
				os.Remove(filepath.Join(root, e.Name()))
			}
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	write(t, root, "f.txt", "old")
	v, err := s.Keep("f.txt", Deleted)
	if err != nil {
		t.Fatal(err)
	}
	write(t, root, "f.txt", "current")
	clock.t = clock.t.Add(time.Second)
	armed = true
	if err := s.Restore(v, "f.txt"); err == nil {
		t.Fatal("Restore succeeded without its restored copy")
	}
	if b, _ := os.ReadFile(filepath.Join(root, "f.txt")); string(b) != "current" {
		t.Errorf("in place: %q, want the current file", b)
	}
	list, err := s.List("f.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Reason != Deleted {
		t.Errorf("versions after a failed restore: %+v, want only the deleted one", list)
	}
}
