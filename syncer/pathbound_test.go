package syncer_test

import (
	"context"
	"crypto/rand"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/crypt"
	"github.com/ferry-sync/ferry/cryptfs"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/tree"
)

// renameCounter wraps an endpoint by the interface, as a caller that
// meters or hooks a side does, and counts the renames asked of it.
type renameCounter struct {
	endpoint.Endpoint
	renames int
}

func (r *renameCounter) Rename(ctx context.Context, from, to string, expect tree.Entry) error {
	r.renames++
	return r.Endpoint.Rename(ctx, from, to, expect)
}

// TestPathBoundSurvivesWrapping: an encrypted side stays path-bound when
// something wraps it by the endpoint interface (the capability comes with
// the interface, not from an assertion on the outer type), so a moved
// folder is sent under its new path instead of renamed, which an
// encrypted remote cannot do for a directory.
func TestPathBoundSurvivesWrapping(t *testing.T) {
	e := newEnv(t)
	e.job.Direction = config.TwoWay
	e.write("local", "photos/1.jpg", "picture 1")
	rc := &renameCounter{}
	e.wrap = func(l, r endpoint.Endpoint) (endpoint.Endpoint, endpoint.Endpoint) {
		c, err := cryptfs.New(r, cryptfs.Options{Passphrase: []byte("pw"), TempDir: e.t.TempDir(),
			NewHeader: func(pass []byte, rnd io.Reader) (crypt.Header, *crypt.Keys, error) {
				return crypt.NewHeaderWithKDF(pass, rand.Reader, crypt.KDF{Name: crypt.KDFScrypt, N: 1 << 10, R: 8, P: 1})
			}})
		if err != nil {
			e.t.Fatal(err)
		}
		rc.Endpoint = c
		return l, rc
	}
	e.mustPass()
	if err := os.Rename(filepath.Join(e.root("local"), "photos"), filepath.Join(e.root("local"), "pictures")); err != nil {
		t.Fatal(err)
	}
	e.mustPass()
	if rc.renames != 0 {
		t.Fatalf("%d renames asked of a wrapped encrypted side", rc.renames)
	}
	if rec := e.mustPass(); rec.Created+rec.Updated+rec.Deleted+rec.Renamed != 0 {
		t.Errorf("the next pass still has work: %s", summary(rec))
	}
}
