package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/agent"
	"github.com/ferry-sync/ferry/crypt"
	"github.com/ferry-sync/ferry/halt"
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
func privatePassFile(t *testing.T, dir, name, pass string) string {
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
	if n < 3 {
		t.Fatalf("the remote holds only %d entries", n)
	}
}

// treeOf lists a tree: each path with its kind and content (or target).
func syncedTree(t *testing.T, root string) map[string]string {
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

func sameSyncedTree(t *testing.T, a, b string) {
	t.Helper()
	ta, tb := syncedTree(t, a), syncedTree(t, b)
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
	pass := privatePassFile(t, s.dir, "docs.pass", "correct horse")
	remote := fmt.Sprintf("ferry://tester@127.0.0.1:%d/docs", s.port)
	idLine := "    identity: " + s.identity + "\n    transport: udp\n"
	cfgA := encryptedJobs(t, filepath.Join(s.dir, "a.yaml"), filepath.Join(s.dir, "state-a"), s.local, remote, pass, idLine)
	if code, out := syncExpect(t, ctx, cfgA); code != exitOK {
		t.Fatalf("first pass: exit %d\n%s", code, out)
	}
	noMarker(t, s.served)

	// A second agent gets the same tree.
	localB, cfgB := encryptedAgent(t, s, "b")
	if code, out := syncExpect(t, ctx, cfgB); code != exitOK {
		t.Fatalf("second agent: exit %d\n%s", code, out)
	}
	sameSyncedTree(t, s.local, localB)

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
	sameSyncedTree(t, s.local, localB)
	noMarker(t, s.served)

	// A rename on the other agent reaches this one as a rename: the
	// strong digests it checks first come from the encrypted headers.
	mv(t, filepath.Join(localB, "dir-"+marker, "big.bin"), filepath.Join(localB, "moved-big.bin"))
	syncOnce(t, ctx, cfgB)
	if out := syncOnce(t, ctx, cfgA); !strings.Contains(out, "renamed 1,") || !strings.Contains(out, "bytes 0 ") {
		t.Errorf("a rename made elsewhere did not arrive as a rename:\n%s", out)
	}
	sameSyncedTree(t, s.local, localB)

	// What the job wrote is what ferry decrypt reads offline.
	back := filepath.Join(s.dir, "decrypted")
	if code, out, stderr := runCLI(t, ctx, "decrypt", "--passphrase-file", pass, s.served, back); code != exitOK {
		t.Fatalf("ferry decrypt of the served folder: exit %d\n%s%s", code, out, stderr)
	}
	sameSyncedTree(t, s.local, back)

	// A wrong passphrase halts: nothing written or deleted on either side.
	localC := filepath.Join(s.dir, "local-c")
	write(t, filepath.Join(localC, "c-only.txt"), "C")
	wrong := privatePassFile(t, s.dir, "wrong.pass", "battery staple")
	cfgC := encryptedJobs(t, filepath.Join(s.dir, "c.yaml"), filepath.Join(s.dir, "state-c"), localC, remote, wrong, idLine)
	before, beforeC := syncedTree(t, s.served), syncedTree(t, localC)
	code, out := syncExpect(t, ctx, cfgC)
	if code != exitHalted || !strings.Contains(out, "job j: wrong passphrase for the encrypted remote") || !strings.Contains(out, "/docs") {
		t.Fatalf("wrong passphrase: exit %d, want %d with the job, the remote and what happened:\n%s", code, exitHalted, out)
	}
	if after := syncedTree(t, s.served); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("a pass with a wrong passphrase changed the remote")
	}
	if after := syncedTree(t, localC); fmt.Sprint(after) != fmt.Sprint(beforeC) {
		t.Errorf("a pass with a wrong passphrase changed the local folder")
	}
}

// servedEncrypted starts a served job whose remote is encrypted with
// "correct horse" (a header with cheap parameters seeded), and returns it
// with the jobs file of its agent (extra: more job keys).
func servedEncrypted(t *testing.T, ctx context.Context, extra string) (*servedJob, string) {
	t.Helper()
	s := startServedJob(t, ctx)
	seedKeyHeader(t, s.served, "correct horse")
	pass := privatePassFile(t, s.dir, "docs.pass", "correct horse")
	remote := fmt.Sprintf("ferry://tester@127.0.0.1:%d/docs", s.port)
	cfg := encryptedJobs(t, filepath.Join(s.dir, "jobs.yaml"), filepath.Join(s.dir, "state"), s.local, remote, pass,
		"    identity: "+s.identity+"\n    transport: udp\n"+extra)
	return s, cfg
}

// encryptedAgent sets up another agent of a served encrypted job, with
// the passphrase file docs.pass: its empty folder local-NAME and its jobs
// file, with its own state directory.
func encryptedAgent(t *testing.T, s *servedJob, name string) (local, cfg string) {
	t.Helper()
	local = filepath.Join(s.dir, "local-"+name)
	if err := os.MkdirAll(local, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg = encryptedJobs(t, filepath.Join(s.dir, name+".yaml"), filepath.Join(s.dir, "state-"+name), local,
		fmt.Sprintf("ferry://tester@127.0.0.1:%d/docs", s.port), filepath.Join(s.dir, "docs.pass"),
		"    identity: "+s.identity+"\n    transport: udp\n")
	return local, cfg
}

// TestEncryptedDeltaThroughServe: on an encrypted job, an append, an
// insert, an overwrite and a truncation of an 8 MiB file made locally
// reach the server as a block delta of its ciphertext (the plaintext's
// chunks are the frames, and the ciphertext's chunks are cut from the
// frames, so an edit changes one or two of them); the same edits made
// on another agent come down the same way.
func TestEncryptedDeltaThroughServe(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s, cfgA := servedEncrypted(t, ctx, "")
	const size = 8 << 20
	a := filepath.Join(s.local, "big.bin")
	writeBig(t, a, size)
	syncOnce(t, ctx, cfgA)
	localB, cfgB := encryptedAgent(t, s, "b")
	b := filepath.Join(localB, "big.bin")
	syncOnce(t, ctx, cfgB)
	sameBytes(t, a, b)
	// An edit changes one or two plaintext chunks (up to Max, 4× the
	// average, each), so as many frames; the ciphertext's own chunks that
	// hold those frames reach up to a chunk past each end. The keys' salt
	// is random, so where those chunks fall differs from run to run: a
	// sixteenth of the file (the plain job's bound) is exceeded now and
	// then, an eighth never is, and the whole file is eight times that.
	const most = size / 8
	for _, e := range deltaEdits {
		t.Run("up/"+e.name, func(t *testing.T) {
			editAndSync(t, ctx, cfgA, a, a, e.edit, most)
			// The other agent fetches it as a block delta of the
			// ciphertext onto its own file, encrypted on the fly.
			out := syncOnce(t, ctx, cfgB)
			sameBytes(t, a, b)
			m := sentRe.FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("summary does not tell bytes sent:\n%s", out)
			}
			if sent := parseSize(t, m[2]); sent > most {
				t.Errorf("the download of a small edit sent %s:\n%s", m[2], out)
			}
		})
	}
}

// TestEncryptedRenameThroughServe: a rename of a 20 MiB file on an
// encrypted job cannot be a rename on the server (the ciphertext is bound
// to its path): the file goes anew under its new name, built on the
// server from the chunks of the old one, which is removed after. A proxy
// counts the bytes on the link (transport: tcp puts the content on it).
func TestEncryptedRenameThroughServe(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s := startServedJob(t, ctx)
	seedKeyHeader(t, s.served, "correct horse")
	proxy := startCountingProxy(t, fmt.Sprintf("127.0.0.1:%d", s.port))
	pass := privatePassFile(t, s.dir, "docs.pass", "correct horse")
	cfg := encryptedJobs(t, filepath.Join(s.dir, "jobs.yaml"), filepath.Join(s.dir, "state"), s.local,
		"ferry://tester@"+proxy.addr+"/docs", pass, "    identity: "+s.identity+"\n    transport: tcp\n")
	const size = 20 << 20
	writeBig(t, filepath.Join(s.local, "big.bin"), size)
	syncOnce(t, ctx, cfg)
	// A pass that changes nothing lets the server's scan keep the list
	// of the file it received.
	syncOnce(t, ctx, cfg)
	mv(t, filepath.Join(s.local, "big.bin"), filepath.Join(s.local, "archive", "big-2025.bin"))
	proxy.bytes.Store(0)
	out := syncOnce(t, ctx, cfg)
	n := proxy.bytes.Load()
	t.Logf("renaming a %d-byte file on an encrypted job moved %d bytes over the link", size, n)
	if n > size/16 {
		t.Fatalf("renaming moved %d bytes over the link; the file alone is %d\n%s", n, size, out)
	}
	if out := syncOnce(t, ctx, cfg); !strings.Contains(out, "created 0, updated 0, deleted 0, conflicts 0, bytes 0 ") {
		t.Fatalf("the rename was not recorded; the next pass still has work:\n%s", out)
	}
	// The other agent gets the file under its new name.
	localB, cfgB := encryptedAgent(t, s, "b")
	syncOnce(t, ctx, cfgB)
	sameSyncedTree(t, s.local, localB)
}

// TestEncryptedRenameThatFailsKeepsTheOldFile: a rename on an encrypted
// job is an upload of the new name and a removal of the old one. A new
// name too long to encrypt (over crypt.MaxNameLen bytes, though the local
// folder takes it) fails to upload; the server keeps the file under its
// old name, pass after pass, so another agent still gets it, and once the
// name fits the rename goes through.
func TestEncryptedRenameThatFailsKeepsTheOldFile(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s, cfg := servedEncrypted(t, ctx, "")
	const pass = "correct horse"
	write(t, filepath.Join(s.local, "a.txt"), "the only copy")
	syncOnce(t, ctx, cfg)
	old := cipherName(t, s.served, pass, "a.txt")
	long := strings.Repeat("n", crypt.MaxNameLen+10) + ".txt"
	mv(t, filepath.Join(s.local, "a.txt"), filepath.Join(s.local, long))
	for i := range 2 {
		if code, out := syncExpect(t, ctx, cfg); code == exitOK {
			t.Fatalf("pass %d: a rename to a name too long to encrypt exited 0:\n%s", i, out)
		}
		if _, err := os.Stat(old); err != nil {
			t.Fatalf("pass %d: the server lost the old name of a file whose new name failed to upload: %v", i, err)
		}
	}
	if _, err := os.Stat(filepath.Join(s.local, "a.txt")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the old name came back to the local folder: %v", err)
	}
	localB, cfgB := encryptedAgent(t, s, "b")
	syncOnce(t, ctx, cfgB)
	if got := read(t, filepath.Join(localB, "a.txt")); got != "the only copy" {
		t.Fatalf("another agent got a.txt = %q", got)
	}

	mv(t, filepath.Join(s.local, long), filepath.Join(s.local, "b.txt"))
	syncOnce(t, ctx, cfg)
	if _, err := os.Stat(old); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the old name is still on the server after the rename went through: %v", err)
	}
	if _, err := os.Stat(cipherName(t, s.served, pass, "b.txt")); err != nil {
		t.Errorf("the new name is not on the server: %v", err)
	}
}

// cipherName is the name on the remote of a plaintext path, for a
// remote encrypted with pass.
func cipherName(t *testing.T, root, pass, p string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, crypt.HeaderName))
	if err != nil {
		t.Fatal(err)
	}
	h, err := crypt.ParseHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	k, err := h.Unlock([]byte(pass))
	if err != nil {
		t.Fatal(err)
	}
	c, err := k.EncryptPath(p)
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, filepath.FromSlash(c))
}

// TestEncryptedTamperingIsAProblem: a server that flips a byte of a file,
// truncates one, swaps two files' contents or renames a file to another
// name gets no plaintext onto the agent and no deletion out of it: each
// path is reported as a problem (at the listing, where the header gives
// it away, else at the download), and the agent's copy stays as it was.
func TestEncryptedTamperingIsAProblem(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s, cfgA := servedEncrypted(t, ctx, "")
	for _, n := range []string{"s.txt", "t.txt", "u.txt"} {
		write(t, filepath.Join(s.local, n), "version 1 of "+n)
	}
	writeBig(t, filepath.Join(s.local, "big.bin"), 2<<20)
	syncOnce(t, ctx, cfgA)
	localB, cfgB := encryptedAgent(t, s, "b")
	syncOnce(t, ctx, cfgB)
	sameSyncedTree(t, s.local, localB)
	before := syncedTree(t, localB)

	// New versions on the server, then tampered with there.
	write(t, filepath.Join(s.local, "s.txt"), "version 2 of s.txt")
	write(t, filepath.Join(s.local, "t.txt"), "version 2 of t.txt")
	writeBig(t, filepath.Join(s.local, "big.bin"), 3<<20)
	write(t, filepath.Join(s.local, "n.txt"), "new")
	syncOnce(t, ctx, cfgA)
	const pass = "correct horse"
	cs := cipherName(t, s.served, pass, "s.txt")
	f, err := os.OpenFile(cs, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{'!'}, crypt.HeaderSize+crypt.FrameOverhead+3); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.Truncate(cipherName(t, s.served, pass, "big.bin"), 3<<20); err != nil {
		t.Fatal(err)
	}
	ct, cu := cipherName(t, s.served, pass, "t.txt"), cipherName(t, s.served, pass, "u.txt")
	bt, bu := read(t, ct), read(t, cu)
	write(t, ct, bu)
	write(t, cu, bt)
	mv(t, cipherName(t, s.served, pass, "n.txt"), cipherName(t, s.served, pass, "renamed.txt"))

	code, out := syncExpect(t, ctx, cfgB)
	if code == exitOK {
		t.Errorf("a pass that met tampered files exited 0:\n%s", out)
	}
	if after := syncedTree(t, localB); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("tampered files changed the agent's folder:\nbefore %v\nafter  %v\n%s", before, after, out)
	}
	for _, p := range []string{"s.txt", "big.bin", "t.txt", "u.txt", "renamed.txt"} {
		if !strings.Contains(out, p) {
			t.Errorf("the pass does not name %s:\n%s", p, out)
		}
	}
	if !strings.Contains(out, "failed verification") {
		t.Errorf("the pass does not say what failed:\n%s", out)
	}
}

// TestEncryptedLocalFolderRemote: a local-folder remote (a NAS, a USB
// disk) is encrypted the same way. The first pass makes its key header
// (a dry run before it writes nothing, not even that); a second agent
// gets a byte-exact copy and its changes come back. A job without an
// encryption block halts on the encrypted folder, and an encrypted job
// halts on a folder of plaintext files, both changing nothing.
func TestEncryptedLocalFolderRemote(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	local, nas := filepath.Join(dir, "local"), filepath.Join(dir, "nas")
	markedTree(t, local)
	if err := os.MkdirAll(nas, 0o755); err != nil {
		t.Fatal(err)
	}
	pass := privatePassFile(t, dir, "nas.pass", "correct horse")
	cfgA := encryptedJobs(t, filepath.Join(dir, "a.yaml"), filepath.Join(dir, "state-a"), local, nas, pass, "")
	if code, out, stderr := runCLI(t, ctx, "sync", "--dry-run", "--config", cfgA, "j"); code != exitOK {
		t.Fatalf("dry run: exit %d\n%s%s", code, out, stderr)
	}
	if got := syncedTree(t, nas); len(got) != 0 {
		t.Fatalf("a dry run wrote to the remote: %v", got)
	}
	if code, out := syncExpect(t, ctx, cfgA); code != exitOK {
		t.Fatalf("first pass: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(nas, crypt.HeaderName)); err != nil {
		t.Fatalf("the first pass made no key header: %v", err)
	}
	noMarker(t, nas)

	localB := filepath.Join(dir, "local-b")
	if err := os.MkdirAll(localB, 0o755); err != nil {
		t.Fatal(err)
	}
	cfgB := encryptedJobs(t, filepath.Join(dir, "b.yaml"), filepath.Join(dir, "state-b"), localB, nas, pass, "")
	if code, out := syncExpect(t, ctx, cfgB); code != exitOK {
		t.Fatalf("second agent: exit %d\n%s", code, out)
	}
	sameSyncedTree(t, local, localB)
	write(t, filepath.Join(localB, "dir-"+marker, "from-b.txt"), "B "+marker)
	for _, c := range []string{cfgB, cfgA} {
		if code, out := syncExpect(t, ctx, c); code != exitOK {
			t.Fatalf("pass of %s: exit %d\n%s", c, code, out)
		}
	}
	sameSyncedTree(t, local, localB)
	noMarker(t, nas)

	// The encrypted folder under a job that does not encrypt.
	localC := filepath.Join(dir, "local-c")
	write(t, filepath.Join(localC, "c.txt"), "C")
	cfgC := filepath.Join(dir, "c.yaml")
	write(t, cfgC, fmt.Sprintf("state_dir: %s\njobs:\n  - name: j\n    local: %s\n    remote: %s\n    direction: two-way\n", filepath.Join(dir, "state-c"), localC, nas))
	nasBefore, cBefore := syncedTree(t, nas), syncedTree(t, localC)
	code, out := syncExpect(t, ctx, cfgC)
	if code != exitHalted || !strings.Contains(out, "is encrypted (it holds .ferry-crypt), but job j has no encryption block") {
		t.Fatalf("a plain job on an encrypted folder: exit %d, want %d:\n%s", code, exitHalted, out)
	}
	if fmt.Sprint(syncedTree(t, nas)) != fmt.Sprint(nasBefore) || fmt.Sprint(syncedTree(t, localC)) != fmt.Sprint(cBefore) {
		t.Errorf("the halted pass changed a folder")
	}

	// An encrypted job on a folder of plaintext files.
	plainNas := filepath.Join(dir, "plain-nas")
	write(t, filepath.Join(plainNas, "readme.txt"), "plain")
	cfgD := encryptedJobs(t, filepath.Join(dir, "d.yaml"), filepath.Join(dir, "state-d"), localC, plainNas, pass, "")
	plainBefore := syncedTree(t, plainNas)
	code, out = syncExpect(t, ctx, cfgD)
	if code != exitHalted || !strings.Contains(out, "holds files and no .ferry-crypt") {
		t.Fatalf("an encrypted job on a plaintext folder: exit %d, want %d:\n%s", code, exitHalted, out)
	}
	if fmt.Sprint(syncedTree(t, plainNas)) != fmt.Sprint(plainBefore) || fmt.Sprint(syncedTree(t, localC)) != fmt.Sprint(cBefore) {
		t.Errorf("the halted pass changed a folder")
	}
}

// TestEncryptedContinuousRun: `ferry run` keeps an encrypted job's remote
// between passes, and its watch names changed paths by their plaintext:
// a file another agent encrypts onto the server reaches the local folder
// on the server's notice (the job polls once an hour), and a local file
// goes up encrypted. With a wrong passphrase the job shows the halt.
func TestEncryptedContinuousRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s, cfgA := servedEncrypted(t, ctx, "    mode: continuous\n    interval: 1h\n    rescan_interval: 2h\n    cooloff: 200ms\n")
	rj := startRun(t, ctx, cfgA)
	rj.waitFor(t, ctx, "the server's watch armed", func(j agent.JobStatus) bool {
		return passAfter(time.Time{})(j) && j.NextPass.After(time.Now().Add(90*time.Minute))
	})
	localB, cfgB := encryptedAgent(t, s, "b")
	write(t, filepath.Join(localB, "from-b-"+marker+".txt"), "B "+marker)
	syncOnce(t, ctx, cfgB)
	rj.waitFor(t, ctx, "B's file reaching the running agent", func(agent.JobStatus) bool {
		b, err := os.ReadFile(filepath.Join(s.local, "from-b-"+marker+".txt"))
		return err == nil && string(b) == "B "+marker
	})
	written := time.Now()
	write(t, filepath.Join(s.local, "from-a.txt"), "A")
	rj.waitFor(t, ctx, "a pass after the local write", passAfter(written))
	syncOnce(t, ctx, cfgB)
	if got := read(t, filepath.Join(localB, "from-a.txt")); got != "A" {
		t.Fatalf("B got %q", got)
	}
	noMarker(t, s.served)
}

// TestEncryptedRunWrongPassphraseHalts: `ferry run` of an encrypted job
// whose passphrase does not open the remote shows the halt in its status,
// with what to do, and changes nothing.
func TestEncryptedRunWrongPassphraseHalts(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s := startServedJob(t, ctx)
	seedKeyHeader(t, s.served, "correct horse")
	write(t, filepath.Join(s.local, "a.txt"), "a")
	wrong := privatePassFile(t, s.dir, "wrong.pass", "battery staple")
	cfg := encryptedJobs(t, filepath.Join(s.dir, "jobs.yaml"), filepath.Join(s.dir, "state"), s.local,
		fmt.Sprintf("ferry://tester@127.0.0.1:%d/docs", s.port), wrong, "    identity: "+s.identity+"\n    interval: 1h\n")
	before := syncedTree(t, s.served)
	rj := startRun(t, ctx, cfg)
	j := rj.waitFor(t, ctx, "the halt", func(j agent.JobStatus) bool { return j.Halt != nil })
	if j.Halt.Kind != halt.WrongPassphrase || !strings.Contains(j.Halted, "wrong passphrase for the encrypted remote") || !strings.Contains(j.Fix, "passphrase") {
		t.Fatalf("status %+v", j)
	}
	if fmt.Sprint(syncedTree(t, s.served)) != fmt.Sprint(before) {
		t.Fatal("the halted job changed the remote")
	}
}

// TestEncryptedServerVersionsListAndRestore: the server keeps versions of
// an encrypted job's files as it keeps any (ciphertext under cipher
// names); `ferry versions --side remote` lists them under their
// plaintext paths, and `ferry restore --side remote` puts one back,
// which the next pass brings down decrypted. Before, both showed and
// took cipher names.
func TestEncryptedServerVersionsListAndRestore(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s, cfg := servedEncrypted(t, ctx, "")
	p := filepath.Join(s.local, "d", "note-"+marker+".txt")
	write(t, p, "first, from the agent")
	syncOnce(t, ctx, cfg)
	write(t, p, "second, from the agent, longer")
	syncOnce(t, ctx, cfg)

	rel := "d/note-" + marker + ".txt"
	vs := versionsOf(t, ctx, cfg, "--side", "remote")
	var found bool
	for _, v := range vs {
		if strings.Contains(v.Path, marker) && v.Path != rel {
			t.Errorf("a version listed under %q", v.Path)
		}
		if v.Path == rel && v.Side == "remote" && string(v.Reason) == "replaced" {
			found = true
		}
	}
	if !found {
		t.Fatalf("no replaced version of %s on the remote side among %+v", rel, vs)
	}
	restoreCLI(t, ctx, cfg, "--side", "remote", "--version", "1", "j", rel)
	syncOnce(t, ctx, cfg)
	if got := mustRead(t, p); got != "first, from the agent" {
		t.Errorf("after restoring the server's version and a pass, the local file holds %q", got)
	}
}
