package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/agent"
	"github.com/ferry-sync/ferry/crypt"
)

// TestContinuousOwnWritesToEncryptedServeCauseNoExtraPass: as
// TestContinuousOwnWritesToServeCauseNoExtraPass, with an encrypted
// remote: the server's notice of the pass's own write names the file by
// its cipher name and tells the ciphertext's size; the encrypted remote
// translates it (plaintext name, the size of what it sealed), so one new
// file takes one pass, not two. A change made on the server after (its
// permissions) still comes back.
func TestContinuousOwnWritesToEncryptedServeCauseNoExtraPass(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s := startServedJob(t, ctx)
	h, _, err := cryptHeaderForBench()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.served, crypt.HeaderName), h, 0o600); err != nil {
		t.Fatal(err)
	}
	pass := filepath.Join(s.dir, "docs.pass")
	if err := os.WriteFile(pass, []byte("correct horse\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgPath := s.jobs(t, "    mode: continuous\n    direction: two-way\n    interval: 1h\n    rescan_interval: 2h\n    cooloff: 200ms\n    encryption:\n      passphrase_file: "+pass+"\n")
	rj := startRun(t, ctx, cfgPath, "--log-level", "debug")
	settled := func(j agent.JobStatus) bool {
		return j.Last != nil && j.Last.Err == "" && j.State == agent.Idle && j.NextPass.After(time.Now().Add(90*time.Minute))
	}
	rj.waitFor(t, ctx, "the server's watch armed", settled)
	logged := func(what string) int {
		b, _ := os.ReadFile(filepath.Join(s.dir, "state", "logs", "ferry.log"))
		return strings.Count(string(b), what)
	}
	passes := func() int { return logged(`"msg":"pass finished"`) }
	own := func() int { return logged("own writes ask for no pass") }
	before, ownBefore := passes(), own()

	// served is the one cipher file on the server.
	served := func() string {
		ents, _ := os.ReadDir(s.served)
		for _, e := range ents {
			if e.Name() != crypt.HeaderName && e.Type().IsRegular() {
				return filepath.Join(s.served, e.Name())
			}
		}
		return ""
	}
	local := filepath.Join(s.local, "f.txt")
	write(t, local, "from the agent")
	rj.waitFor(t, ctx, "f.txt on the server", func(agent.JobStatus) bool { return served() != "" && passes() > before })
	rj.waitFor(t, ctx, "the server's notice of f.txt taken in", func(j agent.JobStatus) bool {
		return own() > ownBefore || passes() > before+1
	})
	rj.waitFor(t, ctx, "the job settled", settled)
	if n := passes() - before; n != 1 {
		t.Fatalf("%d passes for one new file, want 1: the server's notice of the pass's own write asked for another", n)
	}

	// Changed on the server right after: it comes back.
	if err := os.Chmod(served(), 0o600); err != nil {
		t.Fatal(err)
	}
	rj.waitFor(t, ctx, "the server's change back in the local folder", func(agent.JobStatus) bool {
		fi, err := os.Stat(local)
		return err == nil && fi.Mode().Perm() == 0o600
	})
}
