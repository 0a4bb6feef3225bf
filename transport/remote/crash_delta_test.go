package remote_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/localfs"
	"github.com/ferry-sync/ferry/transport/server"

	"github.com/ferry-sync/ferry/versions"
)

// crashSeedEnv asks the server process to kill itself with SIGKILL once
// it has read that many bytes of a file through OpenFile: on an upload,
// only the build of a new version from the current one reads there.
const crashSeedEnv = "FERRY_TEST_CRASH_SEED_AFTER"

func seedKillingOpener(after string) server.Opener {
	n, err := strconv.ParseInt(after, 10, 64)
	if err != nil {
		panic(fmt.Sprintf("%s=%q: %v", crashSeedEnv, after, err))
	}
	return func(dir, partialSuffix string, cache server.Cache, _ *versions.Store, log *slog.Logger) (endpoint.Endpoint, error) {
		opts := localfs.Options{Log: log, PartialSuffix: partialSuffix}
		if cache != nil {
			opts.Cache = cache
		}
		fs, err := localfs.New(dir, opts)
		if err != nil {
			return nil, err
		}
		return &readKiller{Endpoint: fs, after: n}, nil
	}
}

// readKiller kills the process once its files have been read past after.
type readKiller struct {
	endpoint.Endpoint
	after int64
	read  atomic.Int64
}

func (k *readKiller) OpenFile(ctx context.Context, p string) (endpoint.FileReader, error) {
	r, err := k.Endpoint.OpenFile(ctx, p)
	if err != nil {
		return nil, err
	}
	return killingReader{r, k}, nil
}

type killingReader struct {
	endpoint.FileReader
	k *readKiller
}

func (r killingReader) ReadAt(b []byte, off int64) (int, error) {
	if r.k.read.Add(int64(len(b))) > r.k.after {
		killSelf()
		select {} // the signal is on its way
	}
	return r.FileReader.ReadAt(b, off)
}

// TestKillServerMidDeltaBuild: a ferry serve killed (SIGKILL) while it
// builds a new version of a file from its current one, half way through
// writing the partial, leaves nothing wrong: restarted, the next pass
// brings the file to the new version byte for byte.
func TestKillServerMidDeltaBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three server processes")
	}
	for _, mode := range []config.TransportMode{config.UDP, config.TCP} {
		t.Run(string(mode), func(t *testing.T) { killMidBuild(t, mode) })
	}
}

func killMidBuild(t *testing.T, mode config.TransportMode) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	src := t.TempDir()
	const size = 6 << 20
	old := make([]byte, size)
	for i := range old {
		old[i] = byte(i*7 + i>>11)
	}
	if err := os.WriteFile(filepath.Join(src, "big.bin"), old, 0o644); err != nil {
		t.Fatal(err)
	}
	dir, root, pass := crashJob(t, ctx, mode, src)
	env := []string{udpEnv + "=1"}
	cmd, addr := serverProcess(t, dir, "127.0.0.1:0", env...)
	if rec, err := pass(addr); err != nil || rec.Created != 1 {
		t.Fatalf("first pass: %v, %+v", err, rec)
	}
	cmd.Process.Kill()
	cmd.Wait()

	// Insert 1 KiB in the middle; the server reads the current version
	// once, cutting it and copying matching chunks as it goes (chunk.Seed):
	// kill it a third of the way in.
	next := append(append(append([]byte(nil), old[:size/2]...), make([]byte, 1024)...), old[size/2:]...)
	if err := os.WriteFile(filepath.Join(src, "big.bin"), next, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd, _ = serverProcess(t, dir, addr, append(env, crashSeedEnv+"="+strconv.Itoa(size/3))...)
	rec, err := pass(addr)
	cmd.Wait()
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("server was not killed mid-build (pass: %+v, %v)", rec, err)
	}
	t.Logf("killed mid-build; the pass: %v", err)
	if b, err := os.ReadFile(filepath.Join(root, "big.bin")); err != nil || string(b) != string(old) {
		t.Fatalf("after the crash the server's file is not the old version: %v", err)
	}

	serverProcess(t, dir, addr, env...)
	rec, err = pass(addr)
	if err != nil || rec.Skipped != 0 || rec.Problems != 0 || rec.Updated != 1 {
		t.Fatalf("pass after the crash: %v, %+v", err, rec)
	}
	if b, err := os.ReadFile(filepath.Join(root, "big.bin")); err != nil || string(b) != string(next) {
		t.Fatalf("after the crash and a pass, big.bin: %v (%d bytes, want %d)", err, len(b), len(next))
	}
}
