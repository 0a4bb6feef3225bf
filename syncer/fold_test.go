package syncer_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/conflict"
	"github.com/ferry-sync/ferry/endpoint"
)

// folding is an Endpoint that reports a given Folding (or error) in place
// of what its disk does, so a pass meets a case-insensitive side on any
// filesystem.
type folding struct {
	endpoint.Endpoint
	f     endpoint.Folding
	err   error
	calls *int
}

func (f folding) Folding(context.Context) (endpoint.Folding, error) {
	if f.calls != nil {
		*f.calls++
	}
	return f.f, f.err
}

func TestPassWithholdsNamesTheReceivingSideFolds(t *testing.T) {
	for _, c := range []struct {
		name   string
		f      endpoint.Folding
		err    error
		files  []string
		reason conflict.Reason
	}{
		{"case", endpoint.Folding{Case: true}, nil, []string{"README.txt", "Readme.txt", "readme.txt"}, conflict.CaseClash},
		{"normalisation", endpoint.Folding{Normalization: true}, nil, []string{"cafe\u0301.txt", "caf\u00e9.txt"}, conflict.NormalizationClash},
		// A side that cannot say is taken to fold everything.
		{"unknown", endpoint.Folding{}, errors.New("probe refused"), []string{"A.txt", "a.txt"}, conflict.CaseClash},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			for i, n := range c.files {
				e.write("remote", n, strings.Repeat("x", i+1))
			}
			e.write("remote", "other.txt", "o")
			calls := 0
			e.wrap = func(l, r endpoint.Endpoint) (endpoint.Endpoint, endpoint.Endpoint) {
				return folding{l, c.f, c.err, &calls}, r
			}
			rec := e.mustPass()
			if got := dump(t, e.localDir); strings.Join(got, ",") != `other.txt 0644 "o"` {
				t.Fatalf("local holds %q, want only other.txt", got)
			}
			if rec.Conflicts != 1 {
				t.Fatalf("conflicts %d, want 1: %s", rec.Conflicts, summary(rec))
			}
			recs, err := e.db.Conflicts()
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != 1 || recs[0].Reason != c.reason || strings.Join(recs[0].Names(), ",") != strings.Join(c.files, ",") {
				t.Fatalf("conflicts %+v, want one %s listing %q", recs, c.reason, c.files)
			}
			if calls == 0 {
				t.Fatal("the pass never asked the receiving side what it folds")
			}
		})
	}
}

// A one-way job never writes its sending side, so it does not probe it.
func TestPassDoesNotProbeTheSendingSide(t *testing.T) {
	e := newEnv(t)
	e.job.Direction = "local-to-remote"
	e.write("local", "a.txt", "a")
	var lc, rc int
	e.wrap = func(l, r endpoint.Endpoint) (endpoint.Endpoint, endpoint.Endpoint) {
		return folding{Endpoint: l, calls: &lc}, folding{Endpoint: r, calls: &rc}
	}
	e.mustPass()
	if lc != 0 || rc != 1 {
		t.Fatalf("probed local %d and remote %d times, want 0 and 1", lc, rc)
	}
}
