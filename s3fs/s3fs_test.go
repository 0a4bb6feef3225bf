package s3fs

import (
	"testing"

	"github.com/ferry-sync/ferry/endpoint/endpointtest"
)

// TestConformanceFake runs the conformance suite on an in-process fake
// (unit test only; TestConformanceSeaweed is the acceptance run).
func TestConformanceFake(t *testing.T) {
	endpointtest.RunBacking(t, fakeStore(t).factory())
}

// TestNodesFake runs the several-nodes cases on the fake.
func TestNodesFake(t *testing.T) {
	nodeTests(t, fakeStore(t), false)
}
