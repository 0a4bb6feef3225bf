package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countingProxy forwards TCP connections to target and counts every byte
// it carries, both ways: what crossed the "link", measured outside ferry.
type countingProxy struct {
	addr     string
	bytes    atomic.Int64
	accepted atomic.Int64 // connections made through it
	cut      func()       // closes every connection so far
}

type countingWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n.Add(int64(n))
	return n, err
}

func startCountingProxy(t *testing.T, target string) *countingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &countingProxy{addr: ln.Addr().String()}
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	track := func(c net.Conn) {
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.accepted.Add(1)
			track(c)
			track(u)
			wg.Add(2)
			go func() {
				defer wg.Done()
				io.Copy(countingWriter{u, &p.bytes}, c)
				u.Close()
			}()
			go func() {
				defer wg.Done()
				io.Copy(countingWriter{c, &p.bytes}, u)
				c.Close()
			}()
		}
	}()
	p.cut = func() {
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	}
	t.Cleanup(func() {
		ln.Close()
		p.cut()
		wg.Wait()
	})
	return p
}

// makePhotos writes n small files of distinct content under dir.
func makePhotos(t *testing.T, dir string, n int) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		write(t, filepath.Join(dir, fmt.Sprintf("%03d.jpg", i)), strings.Repeat(fmt.Sprintf("picture %d ", i), 400))
	}
}

func mv(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(from, to); err != nil {
		t.Fatal(err)
	}
}

func cp(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func sameBytes(t *testing.T, a, b string) {
	t.Helper()
	x, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := os.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	if string(x) != string(y) {
		t.Fatalf("%s and %s differ", a, b)
	}
}

// syncOnce runs `ferry sync` and returns what it printed.
func syncOnce(t *testing.T, ctx context.Context, cfgPath string) string {
	t.Helper()
	var out, stderr strings.Builder
	if code := run(ctx, &env{stdout: &out, stderr: &stderr}, []string{"sync", "--accept-new-host-key", "--config", cfgPath, "j"}); code != exitOK {
		t.Fatalf("ferry sync exited %d\n%s\n%s", code, out.String(), stderr.String())
	}
	return out.String()
}

// TestRenamesCrossNoContentThroughServe: through a real `ferry serve`,
// renaming an 8 MiB file and moving a folder of 200 files (past the
// default max_delete of 50%, had they counted as deletions) sends no file
// content: a proxy in front of the server counts the bytes on the link,
// and the receiving side keeps its inodes. The same holds the other way,
// and a copy of a file the receiver holds is made there.
func TestRenamesCrossNoContentThroughServe(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := startServedJob(t, ctx)
	proxy := startCountingProxy(t, fmt.Sprintf("127.0.0.1:%d", s.port))
	const size = 8 << 20
	writeBig(t, filepath.Join(s.local, "big.bin"), size)
	makePhotos(t, filepath.Join(s.local, "photos"), 200)
	cfgPath := filepath.Join(s.dir, "jobs.yaml")
	// transport: tcp puts file content on the SSH connection, through the
	// proxy, so the proxy sees everything that crosses.
	write(t, cfgPath, fmt.Sprintf("state_dir: %s\njobs:\n  - name: j\n    local: %s\n    remote: ferry://tester@%s/docs\n    identity: %s\n    transport: tcp\n    direction: two-way\n",
		filepath.Join(s.dir, "state"), s.local, proxy.addr, s.identity))

	out := syncOnce(t, ctx, cfgPath)
	if first := proxy.bytes.Load(); first < size {
		t.Fatalf("the first sync moved %d bytes through the proxy, less than the %d-byte file: the proxy does not see the link\n%s", first, size, out)
	}
	before := inode(t, filepath.Join(s.served, "big.bin"))
	photoBefore := inode(t, filepath.Join(s.served, "photos", "123.jpg"))

	// Local renames flow to the server.
	mv(t, filepath.Join(s.local, "big.bin"), filepath.Join(s.local, "archive", "big-2025.bin"))
	mv(t, filepath.Join(s.local, "photos"), filepath.Join(s.local, "archive", "photos-2025"))
	proxy.bytes.Store(0)
	out = syncOnce(t, ctx, cfgPath)
	if !strings.Contains(out, "renamed 2, copied 0, deleted 0") || !strings.Contains(out, "bytes 0 ") || !strings.Contains(out, ", 8.9 MiB in sync, 0 B sent") {
		t.Fatalf("summary does not tell two renames and nothing sent:\n%s", out)
	}
	if n := proxy.bytes.Load(); n > 256<<10 {
		t.Fatalf("renaming moved %d bytes over the link; the file alone is %d", n, size)
	}
	if got := inode(t, filepath.Join(s.served, "archive", "big-2025.bin")); got != before {
		t.Errorf("server's big-2025.bin is inode %d, was %d: made anew, not renamed", got, before)
	}
	if got := inode(t, filepath.Join(s.served, "archive", "photos-2025", "123.jpg")); got != photoBefore {
		t.Errorf("server's photo is inode %d, was %d: made anew, not renamed", got, photoBefore)
	}
	sameBytes(t, filepath.Join(s.local, "archive", "big-2025.bin"), filepath.Join(s.served, "archive", "big-2025.bin"))
	if _, err := os.Stat(filepath.Join(s.served, "photos")); !os.IsNotExist(err) {
		t.Errorf("server's photos still there: %v", err)
	}

	// A rename on the server and a copy there flow back the same way.
	localBefore := inode(t, filepath.Join(s.local, "archive", "big-2025.bin"))
	mv(t, filepath.Join(s.served, "archive", "big-2025.bin"), filepath.Join(s.served, "big-final.bin"))
	cp(t, filepath.Join(s.served, "archive", "photos-2025", "007.jpg"), filepath.Join(s.served, "cover.jpg"))
	proxy.bytes.Store(0)
	out = syncOnce(t, ctx, cfgPath)
	if !strings.Contains(out, "renamed 1, copied 1, deleted 0") || !strings.Contains(out, "bytes 0 ") {
		t.Fatalf("summary does not tell a rename and a copy:\n%s", out)
	}
	if !strings.Contains(out, "big-final.bin: renamed from archive/big-2025.bin") || !strings.Contains(out, "cover.jpg: copied from archive/photos-2025/007.jpg") {
		t.Errorf("the per-file lines do not say where the content came from:\n%s", out)
	}
	if n := proxy.bytes.Load(); n > 64<<10 {
		t.Fatalf("a rename and a copy moved %d bytes over the link", n)
	}
	if got := inode(t, filepath.Join(s.local, "big-final.bin")); got != localBefore {
		t.Errorf("local big-final.bin is inode %d, was %d: not renamed", got, localBefore)
	}
	sameBytes(t, filepath.Join(s.local, "cover.jpg"), filepath.Join(s.served, "cover.jpg"))

	if out := syncOnce(t, ctx, cfgPath); !strings.Contains(out, "created 0, updated 0, deleted 0, conflicts 0, bytes 0 ") {
		t.Fatalf("the moves were not recorded; the next pass still has work:\n%s", out)
	}
}

// TestRenamesOnALocalFolderRemoteKeepInodes: against a local-folder remote
// (a NAS mount), a renamed file and a moved folder of 200 files are renamed
// on the receiving side, not copied: the inodes stay. A copy of a file the
// receiver keeps is made there from its own bytes.
func TestRenamesOnALocalFolderRemoteKeepInodes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	local, rem := filepath.Join(dir, "local"), filepath.Join(dir, "nas")
	if err := os.MkdirAll(rem, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(local, 0o755); err != nil {
		t.Fatal(err)
	}
	writeBig(t, filepath.Join(local, "big.bin"), 8<<20)
	writeBig(t, filepath.Join(local, "keep.bin"), 1<<20)
	makePhotos(t, filepath.Join(local, "photos"), 200)
	cfgPath := filepath.Join(dir, "jobs.yaml")
	write(t, cfgPath, fmt.Sprintf("state_dir: %s\njobs:\n  - name: j\n    local: %s\n    remote: %s\n    direction: two-way\n",
		filepath.Join(dir, "state"), local, rem))
	syncOnce(t, ctx, cfgPath)
	big := inode(t, filepath.Join(rem, "big.bin"))
	photo := inode(t, filepath.Join(rem, "photos", "042.jpg"))

	mv(t, filepath.Join(local, "big.bin"), filepath.Join(local, "big-renamed.bin"))
	mv(t, filepath.Join(local, "photos"), filepath.Join(local, "old", "photos"))
	cp(t, filepath.Join(local, "keep.bin"), filepath.Join(local, "keep-copy.bin"))
	out := syncOnce(t, ctx, cfgPath)
	if !strings.Contains(out, "renamed 2, copied 1, deleted 0") || !strings.Contains(out, "bytes 0 ") {
		t.Fatalf("summary does not tell two renames and a copy:\n%s", out)
	}
	if got := inode(t, filepath.Join(rem, "big-renamed.bin")); got != big {
		t.Errorf("big-renamed.bin is inode %d, was %d: copied, not renamed", got, big)
	}
	if got := inode(t, filepath.Join(rem, "old", "photos", "042.jpg")); got != photo {
		t.Errorf("moved photo is inode %d, was %d: copied, not renamed", got, photo)
	}
	sameBytes(t, filepath.Join(local, "keep-copy.bin"), filepath.Join(rem, "keep-copy.bin"))
	if out := syncOnce(t, ctx, cfgPath); !strings.Contains(out, "created 0, updated 0, deleted 0, conflicts 0, bytes 0 ") {
		t.Fatalf("the moves were not recorded; the next pass still has work:\n%s", out)
	}
}
