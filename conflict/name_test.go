package conflict

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ferry-sync/ferry/tree"
)

func TestName(t *testing.T) {
	cases := []struct {
		path string
		n    int
		want string
	}{
		{"log.txt", 1, "log.conflict-mine.txt"},
		{"log.txt", 2, "log.conflict-mine-2.txt"},
		{"log.txt", 3, "log.conflict-mine-3.txt"},
		{"log.txt", 0, "log.conflict-mine.txt"},
		{"archive.tar.gz", 1, "archive.tar.conflict-mine.gz"},
		{".bashrc", 1, ".bashrc.conflict-mine"},
		{".bashrc", 2, ".bashrc.conflict-mine-2"},
		{"..x", 1, "..x.conflict-mine"},
		{".config.yaml", 1, ".config.conflict-mine.yaml"},
		{"Makefile", 1, "Makefile.conflict-mine"},
		{"a/b/log.txt", 1, "a/b/log.conflict-mine.txt"},
		{"a.d/Makefile", 1, "a.d/Makefile.conflict-mine"},
		{"a.d/.bashrc", 12, "a.d/.bashrc.conflict-mine-12"},
		{"notes.", 1, "notes.conflict-mine."},
	}
	for _, c := range cases {
		if got := Name(c.path, c.n); got != c.want {
			t.Errorf("Name(%q, %d) = %q, want %q", c.path, c.n, got, c.want)
		}
	}
}

func TestNameKeepsWithinNameLimit(t *testing.T) {
	long := strings.Repeat("é", 200) + ".txt" // 404 bytes
	for _, n := range []int{1, 2, 9999} {
		got := Name("dir/"+long, n)
		base := tree.Base(got)
		if len(base) > tree.MaxNameLen {
			t.Errorf("n=%d: base is %d bytes, over %d", n, len(base), tree.MaxNameLen)
		}
		if !utf8.ValidString(base) {
			t.Errorf("n=%d: %q is not valid UTF-8", n, base)
		}
		if !strings.HasPrefix(got, "dir/é") || !strings.HasSuffix(got, ".txt") {
			t.Errorf("n=%d: %q lost its directory or extension", n, got)
		}
	}
	hugeExt := "a." + strings.Repeat("x", 300)
	if got := Name(hugeExt, 1); len(got) > tree.MaxNameLen || !strings.HasSuffix(got, Marker) {
		t.Errorf("huge extension: got %q (%d bytes)", got, len(got))
	}
}

func TestFreeName(t *testing.T) {
	taken := map[string]bool{
		"d/log.conflict-mine.txt":   true,
		"d/log.conflict-mine-2.txt": true,
	}
	got, err := FreeName("d/log.txt", func(p string) (bool, error) { return taken[p], nil })
	if err != nil {
		t.Fatal(err)
	}
	if got != "d/log.conflict-mine-3.txt" {
		t.Errorf("got %q, want d/log.conflict-mine-3.txt", got)
	}
}

// A second conflict on the same file must not land on the copy the first
// conflict made.
func TestConflictDoesNotOverwriteEarlierConflict(t *testing.T) {
	disk := map[string]bool{"log.txt": true}
	exists := func(p string) (bool, error) { return disk[p], nil }
	seen := map[string]bool{}
	for i := 0; i < 5; i++ {
		name, err := FreeName("log.txt", exists)
		if err != nil {
			t.Fatal(err)
		}
		if disk[name] || seen[name] {
			t.Fatalf("conflict %d reused %q", i+1, name)
		}
		seen[name] = true
		disk[name] = true
	}
	if !disk["log.conflict-mine-5.txt"] {
		t.Errorf("expected five distinct copies, have %v", disk)
	}
}

func TestFreeNameErrors(t *testing.T) {
	boom := errors.New("boom")
	_, err := FreeName("x", func(string) (bool, error) { return false, boom })
	if !errors.Is(err, boom) {
		t.Errorf("err = %v, want wrapping boom", err)
	}
	calls := 0
	_, err = FreeName("x", func(string) (bool, error) { calls++; return true, nil })
	if err == nil {
		t.Error("all names taken: want an error")
	}
	if calls != MaxAttempts {
		t.Errorf("probed %d names, want %d", calls, MaxAttempts)
	}
}
