package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/crypt"
)

// marker is written into names, contents and link targets of the trees
// the encryption tests sync: it must appear nowhere on the remote.
const marker = "PLAINMARKER"

// cheapKDF keeps key derivation fast in tests: the header records its
// parameters, so a remote seeded with it opens with them.
var cheapKDF = crypt.KDF{Name: crypt.KDFScrypt, N: 1 << 10, R: 8, P: 1}

// seedKeyHeader writes a key header for pass, with cheap parameters,
// into root, as a first pass would (with the real ones).
func seedKeyHeader(t *testing.T, root, pass string) {
	t.Helper()
	h, _, err := crypt.NewHeaderWithKDF([]byte(pass), rand.Reader, cheapKDF)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, crypt.HeaderName), h.Marshal(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// passFile writes a private passphrase file.
func passFile(t *testing.T, dir, name, pass string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(pass+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// encryptedJobs writes a jobs file with one job "j" from local to the
// remote, encrypted with the passphrase in passPath.
func encryptedJobs(t *testing.T, path, state, local, remote, passPath, extra string) string {
	t.Helper()
	write(t, path, fmt.Sprintf("state_dir: %s\njobs:\n  - name: j\n    local: %s\n    remote: %s\n    direction: two-way\n    encryption:\n      passphrase_file: %s\n%s",
		state, local, remote, passPath, extra))
	return path
}

// markedTree writes a tree with the marker in names, contents and a link
// target: a small file, an empty one, a file past chunk.MinFileSize and
// a nested directory.
func markedTree(t *testing.T, root string) {
	t.Helper()
	write(t, filepath.Join(root, "notes-"+marker+".txt"), "the "+marker+" is here\n")
	write(t, filepath.Join(root, "dir-"+marker, "deeper", "a.txt"), strings.Repeat(marker+" ", 100))
	write(t, filepath.Join(root, "empty.txt"), "")
	big := bytes.Repeat([]byte("0123456789abcdef"), (3<<20)/16)
	copy(big[1<<20:], marker)
	if err := os.WriteFile(filepath.Join(root, "dir-"+marker, "big.bin"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("target-"+marker, filepath.Join(root, "link-"+marker)); err != nil {
		t.Fatal(err)
	}
}

// noMarker fails if the marker appears in any name, content or link
// target under root.
func noMarker(t *testing.T, root string) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		n++
		if strings.Contains(d.Name(), marker) {
			t.Errorf("the remote holds a plaintext name: %s", p)
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if strings.Contains(target, marker) {
				t.Errorf("the remote holds a plaintext link target: %s -> %s", p, target)
			}
		case d.Type().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if bytes.Contains(b, []byte(marker)) {
				t.Errorf("the remote holds plaintext content: %s", p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 5 {
		t.Fatalf("the remote holds only %d entries", n)
	}
}

// treeOf lists a tree: each path with its kind and content (or target).
func treeOf(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		switch {
		case rel == ".ferry-versions":
			// The folder's own store of replaced versions.
			return filepath.SkipDir
		case rel == ".":
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			out[rel] = "link:" + target
		case d.IsDir():
			out[rel] = "dir"
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out[rel] = "file:" + string(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameTree(t *testing.T, a, b string) {
	t.Helper()
	ta, tb := treeOf(t, a), treeOf(t, b)
	for p, v := range ta {
		if w, ok := tb[p]; !ok {
			t.Errorf("%s is missing from %s", p, b)
		} else if v != w {
			t.Errorf("%s differs between %s and %s", p, a, b)
		}
	}
	for p := range tb {
		if _, ok := ta[p]; !ok {
			t.Errorf("%s is in %s, not in %s", p, b, a)
		}
	}
}

// syncExpect runs one pass and returns its exit code and output.
func syncExpect(t *testing.T, ctx context.Context, cfgPath string) (int, string) {
	t.Helper()
	code, out, stderr := runCLI(t, ctx, "sync", "--accept-new-host-key", "--config", cfgPath, "j")
	return code, out + stderr
}

// TestEncryptedJobThroughServe: through a real, unchanged `ferry serve`,
// an encrypted job syncs a tree with a marker in its names, contents and
// link target, and the server's folder holds the marker nowhere; a second
// agent (another folder, another state directory) with the passphrase
// gets a byte-exact copy, and its changes come back; a third with a wrong
// passphrase halts and changes nothing on either side.
func TestEncryptedJobThroughServe(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s := startServedJob(t, ctx)
	seedKeyHeader(t, s.served, "correct horse")
	markedTree(t, s.local)
	pass := passFile(t, s.dir, "docs.pass", "correct horse")
	remote := fmt.Sprintf("ferry://tester@127.0.0.1:%d/docs", s.port)
	idLine := "    identity: " + s.identity + "\n    transport: udp\n"
	cfgA := encryptedJobs(t, filepath.Join(s.dir, "a.yaml"), filepath.Join(s.dir, "state-a"), s.local, remote, pass, idLine)
	if code, out := syncExpect(t, ctx, cfgA); code != exitOK {
		t.Fatalf("first pass: exit %d\n%s", code, out)
	}
	noMarker(t, s.served)

	// A second agent gets the same tree.
	localB := filepath.Join(s.dir, "local-b")
	if err := os.MkdirAll(localB, 0o755); err != nil {
		t.Fatal(err)
	}
	cfgB := encryptedJobs(t, filepath.Join(s.dir, "b.yaml"), filepath.Join(s.dir, "state-b"), localB, remote, pass, idLine)
	if code, out := syncExpect(t, ctx, cfgB); code != exitOK {
		t.Fatalf("second agent: exit %d\n%s", code, out)
	}
	sameTree(t, s.local, localB)

	// Its changes come back to the first.
	write(t, filepath.Join(localB, "from-b-"+marker+".txt"), "B wrote "+marker)
	write(t, filepath.Join(localB, "notes-"+marker+".txt"), "edited by B "+marker)
	if err := os.Remove(filepath.Join(localB, "empty.txt")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{cfgB, cfgA} {
		if code, out := syncExpect(t, ctx, c); code != exitOK {
			t.Fatalf("pass of %s: exit %d\n%s", c, code, out)
		}
	}
	sameTree(t, s.local, localB)
	noMarker(t, s.served)

	// A wrong passphrase halts: nothing written or deleted on either side.
	localC := filepath.Join(s.dir, "local-c")
	write(t, filepath.Join(localC, "c-only.txt"), "C")
	wrong := passFile(t, s.dir, "wrong.pass", "battery staple")
	cfgC := encryptedJobs(t, filepath.Join(s.dir, "c.yaml"), filepath.Join(s.dir, "state-c"), localC, remote, wrong, idLine)
	before, beforeC := treeOf(t, s.served), treeOf(t, localC)
	code, out := syncExpect(t, ctx, cfgC)
	if code != exitHalted || !strings.Contains(out, "job j: wrong passphrase for the encrypted remote") || !strings.Contains(out, "/docs") {
		t.Fatalf("wrong passphrase: exit %d, want %d with the job, the remote and what happened:\n%s", code, exitHalted, out)
	}
	if after := treeOf(t, s.served); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("a pass with a wrong passphrase changed the remote")
	}
	if after := treeOf(t, localC); fmt.Sprint(after) != fmt.Sprint(beforeC) {
		t.Errorf("a pass with a wrong passphrase changed the local folder")
	}
}
