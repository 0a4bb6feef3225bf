package syncer

import (
	"errors"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/config"
)

func TestHaltErrorsAreHalted(t *testing.T) {
	for _, err := range []error{
		signatureMissing(config.Job{Name: "j", Local: "/data"}, "f.yaml", SideLocal, ".mounted"),
		rootEmptied(2, 0, SideRemote, config.Job{Name: "j", Remote: "/srv"}, "f.yaml", false),
		pairChanged("/a <-> /b", config.Job{Name: "j", Local: "/a", Remote: "/c"}, "f.yaml"),
		tooManyDeletes(&Plan{LocalDeletes: 3}, 4, config.Job{Name: "j", MaxDelete: config.Limit{Count: 2}}, "f.yaml", false),
	} {
		var h *HaltError
		if !errors.Is(err, ErrHalted) || !errors.As(err, &h) || h.Job != "j" || h.Config != "f.yaml" {
			t.Errorf("%v: not a halt error matching ErrHalted and its kind", err)
		}
	}
	if errors.Is(signatureMissing(config.Job{Local: "/d"}, "", SideLocal, "s"), ErrRootEmptied) {
		t.Error("signature halt matches ErrRootEmptied")
	}
}

func TestRootEmptied(t *testing.T) {
	cases := []struct {
		name         string
		anc, scanned int
		halts        bool
	}{
		{"two entries gone", 2, 0, true},
		{"one entry gone is an ordinary deletion", 1, 0, false},
		{"never synced", 0, 0, false},
		{"one left", 5, 1, false},
	}
	for _, c := range cases {
		a := ents()
		for i := 0; i < c.anc; i++ {
			a = append(a, at(string(rune('a'+i)), tF1))
		}
		s := ents()
		for i := 0; i < c.scanned; i++ {
			s = append(s, at(string(rune('a'+i)), tF1))
		}
		h := rootEmptied(len(a), len(s), SideLocal, config.Job{Name: "j", Local: "/data"}, "f.yaml", false)
		if (h != nil) != c.halts {
			t.Errorf("%s: halted=%v, want %v", c.name, h != nil, c.halts)
		}
		if h != nil && (!strings.Contains(h.Error(), "/data") || !strings.Contains(h.Fix(), "--allow-deletes --config f.yaml j") || h.Count != c.anc) {
			t.Errorf("%s: reason %q does not name the folder and the way to proceed", c.name, h.Error())
		}
		if allowed := rootEmptied(len(a), len(s), SideLocal, config.Job{Name: "j", Local: "/data"}, "f.yaml", true); allowed != nil {
			t.Errorf("%s: --allow-deletes did not lift the halt", c.name)
		}
	}
}

func TestTooManyDeletes(t *testing.T) {
	pct := func(p float64) config.Limit { return config.Limit{IsPercent: true, Percent: p} }
	cases := []struct {
		name          string
		limit         config.Limit
		ancestor      int
		local, remote int
		allow, halts  bool
	}{
		{"count within", config.Limit{Count: 3}, 100, 3, 0, false, false},
		{"count exceeded remote", config.Limit{Count: 3}, 100, 0, 4, false, true},
		{"percent within", pct(10), 100, 10, 0, false, false},
		{"percent exceeded", pct(10), 100, 11, 0, false, true},
		{"default is half", config.Limit{}, 10, 5, 0, false, false},
		{"explicit zero allows none", config.Limit{Set: true}, 10, 1, 0, false, true},
		{"explicit zero allows none remote", config.Limit{Set: true}, 10, 0, 1, false, true},
		{"explicit zero, nothing deleted", config.Limit{Set: true}, 10, 0, 0, false, false},
		{"default exceeded", config.Limit{}, 10, 6, 0, false, true},
		{"allow-deletes lifts it", config.Limit{Count: 1}, 10, 9, 9, true, false},
	}
	for _, c := range cases {
		job := config.Job{Name: "photos", MaxDelete: c.limit}
		h := tooManyDeletes(&Plan{LocalDeletes: c.local, RemoteDeletes: c.remote}, c.ancestor, job, "/etc/ferry.yaml", c.allow)
		if (h != nil) != c.halts {
			t.Errorf("%s: halted=%v, want %v", c.name, h != nil, c.halts)
			continue
		}
		if h != nil && !strings.Contains(h.Fix(), "ferry sync --allow-deletes --config /etc/ferry.yaml photos") {
			t.Errorf("%s: %q does not say how to proceed", c.name, h.Error())
		}
	}
}

func TestPairChanged(t *testing.T) {
	job := config.Job{Name: "j", Local: "/home/me/docs", Remote: "/mnt/nas/docs"}
	if h := pairChanged("", job, "f.yaml"); h != nil {
		t.Errorf("no recorded pair halted: %v", h)
	}
	if h := pairChanged(folderPair(job), job, "f.yaml"); h != nil {
		t.Errorf("the same pair halted: %v", h)
	}
	moved := job
	moved.Remote = "/mnt/newnas/docs"
	h := pairChanged(folderPair(job), moved, "f.yaml")
	if h == nil || !errors.Is(h, ErrPairChanged) || !strings.Contains(h.Fix(), "ferry reset-sync --config f.yaml j") {
		t.Fatalf("a repointed remote gave %v, want a pair-changed halt naming reset-sync", h)
	}
}

// TestSignatureHaltNamesItsHost: a ferry:// remote's signature is fixed on
// that host, so the halt carries user@host and the path there.
func TestSignatureHaltNamesItsHost(t *testing.T) {
	job := config.Job{Name: "j", Local: "/l", Remote: "ferry://ann@nas:33001/vol/d",
		RemoteURL: &config.RemoteURL{User: "ann", Host: "nas", Port: 33001, Path: "/vol/d"}}
	h := signatureMissing(job, "f.yaml", SideRemote, ".sig")
	if h.Host != "ann@nas" || h.Root != "/vol/d" || h.Path != "/vol/d/.sig" {
		t.Fatalf("halt %+v", h.Halt)
	}
}

// TestTooManyChanges: max_change halts a pass that overwrites more of the
// tree's files than it allows on either side; unset, it checks nothing.
func TestTooManyChanges(t *testing.T) {
	pct := func(p float64) config.Limit { return config.Limit{IsPercent: true, Percent: p, Set: true} }
	cases := []struct {
		name          string
		limit         config.Limit
		files         int
		local, remote int
		allow, halts  bool
		rule          string
	}{
		{"unset is off", config.Limit{}, 10, 10, 10, false, false, ""},
		{"count within", config.Limit{Count: 3, Set: true}, 100, 3, 0, false, false, ""},
		{"count exceeded locally", config.Limit{Count: 3, Set: true}, 100, 4, 0, false, true, "3"},
		{"count exceeded remotely", config.Limit{Count: 3, Set: true}, 100, 0, 4, false, true, "3"},
		{"percent within", pct(50), 10, 5, 5, false, false, ""},
		{"percent exceeded", pct(50), 10, 6, 0, false, true, "50% of 10"},
		{"percent rounds down", pct(25), 10, 3, 0, false, true, "25% of 10"},
		{"explicit zero allows none", config.Limit{Set: true}, 10, 0, 1, false, true, "0"},
		{"explicit zero, nothing overwritten", config.Limit{Set: true}, 10, 0, 0, false, false, ""},
		{"allow-changes lifts it", config.Limit{Count: 1, Set: true}, 10, 9, 9, true, false, ""},
	}
	for _, c := range cases {
		job := config.Job{Name: "photos", Local: "/l", Remote: "/r", MaxChange: c.limit}
		h := tooManyChanges(&Plan{LocalOverwrites: c.local, RemoteOverwrites: c.remote}, c.files, job, "/etc/ferry.yaml", c.allow)
		if (h != nil) != c.halts {
			t.Errorf("%s: halted=%v, want %v", c.name, h != nil, c.halts)
			continue
		}
		if h == nil {
			continue
		}
		if !errors.Is(h, ErrTooManyChanges) || !errors.Is(h, ErrHalted) || h.Rule != c.rule || h.Count != max(c.local, c.remote) {
			t.Errorf("%s: halt %+v", c.name, h.Halt)
		}
		if !strings.Contains(h.Fix(), "ferry sync --allow-changes --config /etc/ferry.yaml photos") {
			t.Errorf("%s: %q does not say how to proceed", c.name, h.Fix())
		}
	}
}

// TestOverwritesCounted: max_change counts the files a pass writes over,
// per side, and neither new files, deletions, metadata nor a conflict's
// loser (renamed aside, not overwritten).
func TestOverwritesCounted(t *testing.T) {
	anc := ents("a", tF1, "b", tF1, "c", tF1, "d", tF1, "e", tF1)
	loc := ents("a", tF1, "b", tF1, "c", tF2, "d", tF1, "e", tF1x, "n", tF1)
	rem := ents("a", tF3, "b", tF3, "c", tF3, "e", tF1, "m", tF2)
	p := Reconcile(anc, loc, rem, Mode{Direction: config.TwoWay})
	// a, b: remote edits overwrite local files; c: conflict (local aside);
	// d: deleted remotely; e: mode only; m: new remotely; n: new locally.
	if p.LocalOverwrites != 2 || p.RemoteOverwrites != 0 {
		t.Errorf("overwrites %d/%d, want 2/0:\n%s", p.LocalOverwrites, p.RemoteOverwrites, strings.Join(describePlan(p), "\n"))
	}
	back := Reconcile(anc, loc, rem, Mode{Direction: config.LocalToRemote})
	// One-way to the remote: the remote's edits of a, b and c are each
	// kept as a conflict copy before the local version is written, so
	// nothing is overwritten.
	if back.LocalOverwrites != 0 || back.RemoteOverwrites != 0 {
		t.Errorf("local-to-remote overwrites %d/%d, want 0/0:\n%s", back.LocalOverwrites, back.RemoteOverwrites, strings.Join(describePlan(back), "\n"))
	}
}
