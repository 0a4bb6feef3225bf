package remote_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/endpoint/endpointtest"
	"github.com/ferry-sync/ferry/transport/remote"
)

func TestEndpointConformance(t *testing.T) {
	endpointtest.Run(t, func(t *testing.T) (endpoint.Endpoint, string) {
		e := newEnv(t, nil)
		// Serve a sub-folder, so the URL path mapping is exercised too.
		dir := filepath.Join(e.root, "docs")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		ep, err := e.dial(func(o *remote.Options) { o.Path = "/docs/" })
		if err != nil {
			t.Fatal(err)
		}
		return ep, dir
	})
}

func TestBatchConformance(t *testing.T) {
	endpointtest.RunBatch(t, func(t *testing.T) (endpoint.Endpoint, string) {
		e := newEnv(t, nil)
		ep, err := e.dial(nil)
		if err != nil {
			t.Fatal(err)
		}
		return ep, e.root
	}, func(t *testing.T, root string) endpoint.Endpoint { return local(t, root) })
}
