package remote_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/transport/remote"
	"github.com/ferry-sync/ferry/transport/server"
	"github.com/ferry-sync/ferry/tree"
)

// TestMain doubles as a `ferry serve` process for the kill test: run with
// FERRY_TEST_SERVE set, the test binary serves instead of testing.
func TestMain(m *testing.M) {
	if os.Getenv("FERRY_TEST_SERVE") != "" {
		os.Exit(serveForTest())
	}
	os.Exit(m.Run())
}

func serveForTest() int {
	cfg := server.Config{
		Root: os.Getenv("FERRY_TEST_ROOT"), AuthorizedKeys: os.Getenv("FERRY_TEST_KEYS"),
		HostKeyPath: os.Getenv("FERRY_TEST_HOSTKEY"), StateDir: os.Getenv("FERRY_TEST_STATE"),
	}
	if step := os.Getenv(crashStepEnv); step != "" {
		cfg.Open = crashingOpener(step)
	}
	if n := os.Getenv(crashSeedEnv); n != "" {
		cfg.Open = seedKillingOpener(n)
	}
	ln, err := net.Listen("tcp", os.Getenv("FERRY_TEST_LISTEN"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if os.Getenv(udpEnv) != "" {
		// Data sessions on the listener's port, as ferry serve does.
		pc, err := net.ListenPacket("udp", ln.Addr().String())
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		cfg.UDPConn = pc
	}
	s, err := server.New(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("listening", ln.Addr().String())
	// Serves until killed: the test sends SIGKILL, so nothing is cleaned
	// up, as in a crash.
	if err := s.Serve(context.Background(), ln); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// serverProcess starts the test binary as a server on addr, with env added
// to its environment, and returns it with the address it listens on.
func serverProcess(t *testing.T, dir, addr string, env ...string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(),
		"FERRY_TEST_SERVE=1",
		"FERRY_TEST_ROOT="+filepath.Join(dir, "root"),
		"FERRY_TEST_KEYS="+filepath.Join(dir, "authorized_keys"),
		"FERRY_TEST_HOSTKEY="+filepath.Join(dir, "host_key"),
		"FERRY_TEST_STATE="+filepath.Join(dir, "server-state"),
		"FERRY_TEST_LISTEN="+addr,
	)
	cmd.Env = append(cmd.Env, env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	select {
	case l, ok := <-lines:
		if !ok || !strings.HasPrefix(l, "listening ") {
			t.Fatalf("server process did not start: %q", l)
		}
		return cmd, strings.TrimPrefix(l, "listening ")
	case <-time.After(30 * time.Second):
		t.Fatal("server process did not start within 30 s")
	}
	return nil, ""
}

func TestUploadResumesAfterServerProcessKilled(t *testing.T) {
	r := rng(t)
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "root"), 0o755); err != nil {
		t.Fatal(err)
	}
	signer := writeKey(t, filepath.Join(dir, "id_ed25519"))
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), ssh.MarshalAuthorizedKey(signer.PublicKey()), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd, addr := serverProcess(t, dir, "127.0.0.1:0")
	host, portS, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(portS)
	ctx := context.Background()
	ep, err := remote.Dial(ctx, remote.Options{
		User: "tester", Host: host, Port: port, IdentityFile: filepath.Join(dir, "id_ed25519"),
		KnownHostsFile: filepath.Join(dir, "known_hosts"), AcceptNewHostKey: true, Transport: config.TCP,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Close()

	src := t.TempDir()
	content := randomBytes(r, 24<<20)
	item := endpoint.Transfer{Source: fileEntry(t, src, "big.bin", content)}
	var moved atomic.Int64
	var once sync.Once
	errs := ep.Upload(ctx, []endpoint.Transfer{item}, local(t, src), func(_ string, d int64, _ bool) {
		if moved.Add(d) > 6<<20 {
			once.Do(func() {
				cmd.Process.Kill() // SIGKILL: no handler runs, no Abort
				cmd.Wait()
			})
		}
	})
	if !errors.Is(errs[0], remote.ErrDisconnected) {
		t.Fatalf("upload with the server process killed: %v, want ErrDisconnected", errs[0])
	}
	partial, err := os.Stat(filepath.Join(dir, "root", "big.bin"+tree.DefaultPartialSuffix))
	if err != nil || partial.Size() == 0 {
		t.Fatalf("no partial file left for a resume: %v", err)
	}

	serverProcess(t, dir, addr)
	var read atomic.Int64
	noErrors(t, ep.Upload(ctx, []endpoint.Transfer{item}, countingSource{local(t, src), &read}, nil))
	mustEqualFile(t, filepath.Join(dir, "root", "big.bin"), content, item.Source.Mtime)
	if max := int64(len(content)) - partial.Size(); read.Load() > max {
		t.Fatalf("second attempt read %d bytes, at most %d were missing", read.Load(), max)
	}
	t.Logf("killed with %d of %d bytes on the server; resumed from there", partial.Size(), len(content))
}
