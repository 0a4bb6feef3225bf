package halt

import (
	"strings"
	"testing"
)

// TestFixPerKind pins the advice for each kind: the right command for it,
// never `ferry resume` (which only undoes `ferry stop`), and --config on
// every ferry command.
func TestFixPerKind(t *testing.T) {
	cases := []struct {
		name string
		h    Halt
		want []string // substrings of Fix
		not  []string
	}{
		{"root emptied explains both choices",
			Halt{Kind: RootEmptied, Job: "docs", Config: "/etc/my jobs.yaml", Side: Local, Root: "/mnt/x", Count: 12},
			[]string{"restore or mount it", "ferry sync --allow-deletes --config '/etc/my jobs.yaml' docs",
				"ferry reset-sync --config '/etc/my jobs.yaml' docs is not a fix", "copies everything back from the remote side"},
			nil},
		{"too many deletes",
			Halt{Kind: TooManyDeletes, Job: "docs", Config: "/j.yaml", Side: Remote, Count: 9, Limit: 5, Rule: "50% of 10"},
			[]string{"ferry sync --allow-deletes --config /j.yaml docs", "gone from the local side"},
			[]string{"reset-sync"}},
		{"too many changes",
			Halt{Kind: TooManyChanges, Job: "docs", Config: "/j.yaml", Side: Local, Count: 9, Limit: 2, Rule: "25% of 10"},
			[]string{"ferry sync --allow-changes --config /j.yaml docs", "changed on the remote side", "nothing is overwritten"},
			[]string{"reset-sync", "--allow-deletes"}},
		{"local signature",
			Halt{Kind: SignatureMissing, Job: "docs", Config: "/j.yaml", Side: Local, Root: "/mnt/x", Path: "/mnt/x/.sig"},
			[]string{"touch /mnt/x/.sig", "ferry sync --config /j.yaml docs"},
			[]string{"ssh"}},
		{"remote signature over ferry://",
			Halt{Kind: SignatureMissing, Job: "docs", Config: "/j.yaml", Side: Remote, Root: "/vol/d", Host: "ann@nas", Path: "/vol/d/.sig"},
			[]string{"recreate the signature file /vol/d/.sig on nas, inside the folder the server gives user ann", "/vol/d on nas"},
			// The URL's path is inside the server's root: ssh HOST touch
			// /vol/d/.sig would create a file where ferry never looks.
			[]string{"ssh", "touch"}},
		{"remote folder missing over ferry://",
			Halt{Kind: FolderMissing, Job: "docs", Config: "/j.yaml", Side: Remote, Root: "/vol/d", Host: "ann@nas"},
			[]string{"mount /vol/d on nas, or create it on nas, inside the folder the server gives user ann"},
			[]string{"ssh", "mkdir"}},
		{"folder missing",
			Halt{Kind: FolderMissing, Job: "docs", Config: "/j.yaml", Side: Local, Root: "/mnt/x", Path: "/mnt/x/.sig"},
			[]string{"mount /mnt/x", "mkdir -p /mnt/x && touch /mnt/x/.sig", "carries on by itself"},
			nil},
		{"pair changed",
			Halt{Kind: PairChanged, Job: "docs", Config: "/j.yaml", Recorded: "/a <-> /b", Current: "/a <-> /c"},
			[]string{"ferry reset-sync --config /j.yaml docs", "back at /a <-> /b"},
			nil},
	}
	for _, c := range cases {
		fix := c.h.Fix()
		for _, w := range c.want {
			if !strings.Contains(fix, w) {
				t.Errorf("%s: fix does not contain %q:\n%s", c.name, w, fix)
			}
		}
		for _, n := range append(c.not, "ferry resume") {
			if strings.Contains(fix, n) {
				t.Errorf("%s: fix contains %q:\n%s", c.name, n, fix)
			}
		}
		for _, l := range strings.Split(fix, "\n") {
			if strings.Contains(l, "ferry ") && !strings.Contains(l, "--config ") {
				t.Errorf("%s: a command without --config: %q", c.name, l)
			}
		}
		if r := c.h.Reason(); strings.Contains(r, "\n") || !strings.Contains(r, "nothing was changed") {
			t.Errorf("%s: reason %q", c.name, r)
		}
	}
}

func TestQuote(t *testing.T) {
	for in, want := range map[string]string{
		"plain":     "plain",
		"a b":       "'a b'",
		"it's":      `'it'\''s'`,
		"":          "''",
		"/x/y.yaml": "/x/y.yaml",
	} {
		if got := Quote(in); got != want {
			t.Errorf("Quote(%q) = %q, want %q", in, got, want)
		}
	}
}
