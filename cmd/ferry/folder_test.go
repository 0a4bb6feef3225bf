package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// TestMissingFolderIsSaidOnce: a job whose local folder is missing, or is
// a file, says so once, naming the folder and the job, and what to do
// (it used to say the same thing three times in one line).
func TestMissingFolderIsSaidOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg, local, _ := jobFixture(t, "")
	if err := os.RemoveAll(local); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := runCLI(t, ctx, "sync", "--config", cfg, "j")
	want := "ferry sync: job j: local folder " + local + " does not exist; create it, or correct local: in the jobs file\n"
	if code != exitError || stderr != want || strings.Count(out+stderr, local) != 1 {
		t.Fatalf("sync with the local folder missing: exit %d\nout %q\nerr %q\nwant err %q", code, out, stderr, want)
	}

	write(t, local, "a file where the folder belongs")
	code, out, stderr = runCLI(t, ctx, "sync", "--config", cfg, "j")
	want = "ferry sync: job j: local: " + local + " is a file, not a folder; correct local: in the jobs file\n"
	if code != exitError || stderr != want {
		t.Fatalf("sync with a file as the local folder: exit %d\nout %q\nerr %q\nwant err %q", code, out, stderr, want)
	}
}
