package api

import (
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/agent"
	"github.com/ferry-sync/ferry/service/api/apitest"
	"github.com/ferry-sync/ferry/snapshot"
)

// TestJobStatusNamesProblemPaths: a job's status JSON carries the paths its
// last pass could not read, not only their number.
func TestJobStatusNamesProblemPaths(t *testing.T) {
	f := apitest.New([]agent.JobStatus{{Name: "docs", State: agent.Idle, Last: &snapshot.PassRecord{
		Problems:     1,
		ProblemPaths: []snapshot.ProblemPath{{Side: "local", Path: "private/key", Problem: "unable to read: permission denied"}},
	}}}, nil)
	addr := serve(t, f, Options{})
	code, body := raw(t, "GET", "http://"+addr+"/api/v1/jobs/docs", "", ferryHdr)
	want := `"problem_paths":[{"side":"local","path":"private/key","problem":"unable to read: permission denied"}]`
	if code != 200 || !strings.Contains(body, want) {
		t.Fatalf("GET job: %d %s\nwant it to contain %s", code, body, want)
	}
}
