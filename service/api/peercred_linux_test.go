package api

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestHelperDial is run as another user by TestOtherUserRefused.
func TestHelperDial(t *testing.T) {
	path := os.Getenv("FERRY_TEST_DIAL")
	if path == "" {
		t.Skip("helper for TestOtherUserRefused")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := NewClient(path, "").Stop(ctx, "docs")
	fmt.Printf("uid %d: %v\n", os.Getuid(), err)
}

// TestOtherUserRefused connects as "nobody": first the socket's 0600 mode
// stops it, and with the mode loosened by hand SO_PEERCRED still does.
func TestOtherUserRefused(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to run a process as another user")
	}
	dir := t.TempDir()
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "api.test")
	if err := copyFile(os.Args[0], bin); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "ferry.sock")
	l, err := ListenUnix(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := fixture()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go Serve(ctx, l, NewHandler(f, Options{}))

	dial := func() string {
		cmd := exec.Command(bin, "-test.run=^TestHelperDial$", "-test.v")
		cmd.Env = append(os.Environ(), "FERRY_TEST_DIAL="+path)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("helper: %v\n%s", err, out)
		}
		return string(out)
	}
	if out := dial(); !strings.Contains(out, "uid 65534: ") || !strings.Contains(out, "permission denied") {
		t.Fatalf("as nobody through a 0600 socket:\n%s", out)
	}
	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatal(err)
	}
	// Past the file mode, the connection opens and is then dropped.
	out := dial()
	if !strings.Contains(out, "uid 65534: ") || strings.Contains(out, "uid 65534: <nil>") || strings.Contains(out, "permission denied") {
		t.Fatalf("as nobody through a 0666 socket:\n%s", out)
	}
	t.Logf("refused: %s", out[strings.Index(out, "uid 65534"):])
	if len(f.Calls()) != 0 {
		t.Fatalf("another user reached the agent: %q", f.Calls())
	}
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
