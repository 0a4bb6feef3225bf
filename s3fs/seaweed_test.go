package s3fs

import (
	"testing"

	"github.com/ferry-sync/ferry/endpoint/endpointtest"
	"github.com/ferry-sync/ferry/internal/seaweedtest"
)

// TestSeaweed runs the conformance suite and the several-nodes cases on a
// real SeaweedFS (weed server -s3 on loopback). It skips without a weed
// binary and fails under FERRY_REQUIRE_SEAWEED=1 (see seaweedtest).
func TestSeaweed(t *testing.T) {
	c := seaweedtest.Start(t)
	storeFor := func(t *testing.T) store {
		return store{endpoint: c.Endpoint(), access: c.AccessKey(), secret: c.SecretKey(), bucket: c.NewBucket(t)}
	}
	t.Run("Conformance", func(t *testing.T) {
		endpointtest.RunBacking(t, storeFor(t).factory())
	})
	t.Run("Nodes", func(t *testing.T) {
		nodeTests(t, storeFor(t), true)
	})
}
