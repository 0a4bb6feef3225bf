package server

import (
	"log/slog"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ferry-sync/ferry/tree"
)

// TestListingSendsNonUTF8NamesAsProblemsInOrder: a scan entry whose name is
// not UTF-8 used to go out as is, which the client's decoder refuses
// ("string is not UTF-8"), failing the whole listing. Replacing the bad
// bytes also moves the name in the order, which the client checks too.
func TestListingSendsNonUTF8NamesAsProblemsInOrder(t *testing.T) {
	raw := []tree.Entry{
		{Path: "a\x80", Kind: tree.File, Problem: "name cannot be synced: it is not valid UTF-8; rename it"},
		{Path: "a\xc3\xa9", Kind: tree.File, Hash: 1}, // "aé": sorts after "a\x80" raw, before "a\uFFFD"
		{Path: "a\xc3\xa9/x", Kind: tree.File, Hash: 2},
		{Path: "a\xfe", Kind: tree.File},             // reads as "a\uFFFD" too: only the first is sent
		{Path: "a\xff", Kind: tree.File, Hash: 3},    // not flagged by the scan: flagged here
		{Path: `b\c`, Kind: tree.File, Problem: "x"}, // valid UTF-8 but never a valid ferry path
		{Path: "c", Kind: tree.Symlink, Target: "t\xff"},
		{Path: "d", Kind: tree.File, Hash: 4},
	}
	var logs strings.Builder
	var got []tree.Entry
	l := &listing{log: slog.New(slog.NewTextHandler(&logs, nil)), emit: func(e tree.Entry) error {
		got = append(got, e)
		return nil
	}}
	for _, e := range raw {
		if err := l.add(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.finish(); err != nil {
		t.Fatal(err)
	}
	for i, e := range got {
		if err := tree.ValidPath(e.Path); err != nil {
			t.Errorf("sent an invalid path: %v", err)
		}
		if !utf8.ValidString(e.Target) || !utf8.ValidString(e.Problem) {
			t.Errorf("sent a string that is not UTF-8: %+v", e)
		}
		if i > 0 && tree.Compare(got[i-1].Path, e.Path) >= 0 {
			t.Errorf("out of order: %q after %q", e.Path, got[i-1].Path)
		}
	}
	paths := func(es []tree.Entry) []string {
		var ps []string
		for _, e := range es {
			ps = append(ps, e.Path)
		}
		return ps
	}
	want := []string{"a\u00e9", "a\u00e9/x", "a\uFFFD", "c", "d"}
	if !slices.Equal(paths(got), want) {
		t.Fatalf("sent %q, want %q", paths(got), want)
	}
	for _, e := range got {
		bad := e.Path == "a\uFFFD" || e.Path == "c"
		if bad != (e.Problem != "") {
			t.Errorf("%q: Problem %q, want problem=%v", e.Path, e.Problem, bad)
		}
		if bad && e.Hash != 0 {
			t.Errorf("%q: a problem entry kept its hash", e.Path)
		}
	}
	if n := strings.Count(logs.String(), "left out of a listing"); n != 3 {
		t.Errorf("logged %d dropped entries, want 3 (two duplicates and the backslash):\n%s", n, logs.String())
	}
}

func TestListingRefusesAnOutOfOrderScan(t *testing.T) {
	l := &listing{log: slog.New(slog.DiscardHandler), emit: func(tree.Entry) error { return nil }}
	if err := l.add(tree.Entry{Path: "b", Kind: tree.File}); err != nil {
		t.Fatal(err)
	}
	if err := l.add(tree.Entry{Path: "a", Kind: tree.File}); err == nil {
		t.Fatal("an entry out of order was accepted (or silently dropped)")
	}
}
