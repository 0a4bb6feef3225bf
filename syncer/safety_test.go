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
