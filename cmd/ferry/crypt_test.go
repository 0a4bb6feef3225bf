package main

import (
	"bytes"
	"context"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/crypt"
	"github.com/ferry-sync/ferry/delta/chunk"
)

const cryptMarker = "ZEBRAFINCH"

// plainTree writes a tree with the marker in names and contents: empty,
// small, exactly chunk.MinFileSize and multi-chunk files, nested folders,
// modes and mtimes.
func plainTree(t *testing.T, dir string) {
	t.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	big := make([]byte, 3*chunk.MinFileSize+17)
	for i := range big {
		big[i] = byte(r.Uint32())
	}
	copy(big[chunk.MinFileSize:], cryptMarker)
	atBoundary := bytes.Repeat([]byte(cryptMarker+" "), chunk.MinFileSize/11+1)[:chunk.MinFileSize]
	files := map[string][]byte{
		"empty":                               nil,
		cryptMarker + ".txt":                  []byte("the " + cryptMarker + " sings"),
		"docs/" + cryptMarker + "/notes.md":   []byte(cryptMarker),
		"docs/big.bin":                        big,
		"docs/boundary.bin":                   atBoundary,
		"deep/a/b/c/d/" + cryptMarker + ".go": []byte("package " + cryptMarker),
	}
	mtime := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	for p, b := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		write(t, full, string(b))
		if err := os.Chtimes(full, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(dir, cryptMarker+".txt"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "empty-dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../"+cryptMarker+".txt", filepath.Join(dir, "docs", "link-"+cryptMarker)); err != nil {
		t.Fatal(err)
	}
}

// treeOf maps each path under dir to its kind, mode, mtime and content.
func treeOf(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." {
			return nil // the root is DST, made by the command
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		desc := info.Mode().String()
		if info.Mode()&fs.ModeSymlink != 0 {
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			out[filepath.ToSlash(rel)] = "link to " + target
			return nil
		}
		if !d.IsDir() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			desc += " " + info.ModTime().UTC().String() + " " + string(b)
		}
		out[filepath.ToSlash(rel)] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameTree(t *testing.T, got, want map[string]string) {
	t.Helper()
	for p, w := range want {
		if g, ok := got[p]; !ok {
			t.Errorf("%q missing", p)
		} else if g != w {
			t.Errorf("%q differs: %.80q, want %.80q", p, g, w)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("%q is extra", p)
		}
	}
}

func passFile(t *testing.T, pass string) string {
	p := filepath.Join(t.TempDir(), "pass")
	write(t, p, pass+"\n")
	return p
}

// TestEncryptDecryptRoundTrip: ferry encrypt then ferry decrypt give the
// tree back byte for byte with modes and mtimes, and no cipher file's name
// or content holds the marker the plaintext is full of.
func TestEncryptDecryptRoundTrip(t *testing.T) {
	ctx := context.Background()
	plain, cipher, back := t.TempDir(), filepath.Join(t.TempDir(), "server"), filepath.Join(t.TempDir(), "back")
	plainTree(t, plain)
	pf := passFile(t, "correct horse")
	if code, _, stderr := runCLI(t, ctx, "encrypt", "--passphrase-file", pf, plain, cipher); code != exitOK {
		t.Fatalf("encrypt: exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(cipher, crypt.HeaderName)); err != nil {
		t.Fatalf("no key header: %v", err)
	}
	files := 0
	filepath.WalkDir(cipher, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(strings.ToLower(p), strings.ToLower(cryptMarker)) {
			t.Errorf("cipher name %q holds the marker", p)
		}
		if d.Type()&fs.ModeSymlink != 0 {
			files++
			if target, _ := os.Readlink(p); strings.Contains(strings.ToLower(target), strings.ToLower(cryptMarker)) || !strings.HasPrefix(target, crypt.LinkTargetPrefix) {
				t.Errorf("cipher link %q points to %q", p, target)
			}
		} else if !d.IsDir() {
			files++
			if b, _ := os.ReadFile(p); bytes.Contains(bytes.ToLower(b), bytes.ToLower([]byte(cryptMarker))) {
				t.Errorf("cipher file %q holds the marker", p)
			}
		}
		return nil
	})
	if files != 8 { // six files, a link and the header
		t.Errorf("%d files in the encrypted folder, want 8", files)
	}
	t.Setenv("FERRY_TEST_PASS", "correct horse")
	if code, _, stderr := runCLI(t, ctx, "decrypt", "--passphrase-env", "FERRY_TEST_PASS", cipher, back); code != exitOK {
		t.Fatalf("decrypt: exit %d: %s", code, stderr)
	}
	sameTree(t, treeOf(t, back), treeOf(t, plain))

	// One file on its own, found below its root (the header is looked up
	// in the folders above it).
	name, err := encryptedName(t, cipher, "correct horse", "docs/big.bin")
	if err != nil {
		t.Fatal(err)
	}
	one := filepath.Join(t.TempDir(), "big.bin")
	if code, _, stderr := runCLI(t, ctx, "decrypt", "--passphrase-file", pf, filepath.Join(cipher, name), one); code != exitOK {
		t.Fatalf("decrypt one file: exit %d: %s", code, stderr)
	}
	if read(t, one) != read(t, filepath.Join(plain, "docs", "big.bin")) {
		t.Fatal("one file decrypted differs")
	}
	// With --header, into a folder: the file gets its plaintext name.
	into := t.TempDir()
	if code, _, stderr := runCLI(t, ctx, "decrypt", "--passphrase-file", pf, "--header", filepath.Join(cipher, crypt.HeaderName), filepath.Join(cipher, name), into); code != exitOK {
		t.Fatalf("decrypt one file with --header: exit %d: %s", code, stderr)
	}
	if read(t, filepath.Join(into, "big.bin")) != read(t, filepath.Join(plain, "docs", "big.bin")) {
		t.Fatal("one file decrypted into a folder differs")
	}
}

func encryptedName(t *testing.T, root, pass, plain string) (string, error) {
	b, err := os.ReadFile(filepath.Join(root, crypt.HeaderName))
	if err != nil {
		return "", err
	}
	h, err := crypt.ParseHeader(b)
	if err != nil {
		return "", err
	}
	k, err := h.Unlock([]byte(pass))
	if err != nil {
		return "", err
	}
	c, err := k.EncryptPath(plain)
	return filepath.FromSlash(c), err
}

// TestCryptWrongPassphrase: against an existing encrypted folder, a wrong
// passphrase makes ferry encrypt and ferry decrypt fail before writing
// anything.
func TestCryptWrongPassphrase(t *testing.T) {
	ctx := context.Background()
	plain, cipher := t.TempDir(), filepath.Join(t.TempDir(), "server")
	write(t, filepath.Join(plain, "a.txt"), "alpha")
	if code, _, stderr := runCLI(t, ctx, "encrypt", "--passphrase-file", passFile(t, "right"), plain, cipher); code != exitOK {
		t.Fatalf("encrypt: exit %d: %s", code, stderr)
	}
	before := treeOf(t, cipher)
	write(t, filepath.Join(plain, "b.txt"), "beta")
	code, _, stderr := runCLI(t, ctx, "encrypt", "--passphrase-file", passFile(t, "wrong"), plain, cipher)
	if code != exitError || !strings.Contains(stderr, "wrong passphrase") {
		t.Fatalf("encrypt with a wrong passphrase: exit %d: %s", code, stderr)
	}
	sameTree(t, treeOf(t, cipher), before)
	back := filepath.Join(t.TempDir(), "back")
	code, _, stderr = runCLI(t, ctx, "decrypt", "--passphrase-file", passFile(t, "wrong"), cipher, back)
	if code != exitError || !strings.Contains(stderr, "wrong passphrase") {
		t.Fatalf("decrypt with a wrong passphrase: exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(back); !os.IsNotExist(err) {
		t.Fatalf("decrypt with a wrong passphrase made %q: %v", back, err)
	}
}

// TestDecryptTamperedFile: a flipped byte in one encrypted file is named on
// stderr, ferry decrypt exits non-zero, nothing of that file (not even a
// temporary) is left at DST, and the other files are decrypted.
func TestDecryptTamperedFile(t *testing.T) {
	ctx := context.Background()
	plain, cipher, back := t.TempDir(), filepath.Join(t.TempDir(), "server"), filepath.Join(t.TempDir(), "back")
	plainTree(t, plain)
	pf := passFile(t, "pw")
	if code, _, stderr := runCLI(t, ctx, "encrypt", "--passphrase-file", pf, plain, cipher); code != exitOK {
		t.Fatalf("encrypt: exit %d: %s", code, stderr)
	}
	for _, victim := range []string{"docs/big.bin", cryptMarker + ".txt"} {
		name, err := encryptedName(t, cipher, "pw", victim)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(cipher, name)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)-100] ^= 0x40
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	code, _, stderr := runCLI(t, ctx, "decrypt", "--passphrase-file", pf, cipher, back)
	if code != exitError {
		t.Fatalf("decrypt of a tampered tree: exit %d, want %d: %s", code, exitError, stderr)
	}
	for _, victim := range []string{"docs/big.bin", cryptMarker + ".txt"} {
		if !strings.Contains(stderr, victim) || !strings.Contains(stderr, "failed verification") {
			t.Errorf("stderr does not name %q as tampered:\n%s", victim, stderr)
		}
	}
	got := treeOf(t, back)
	want := treeOf(t, plain)
	delete(want, "docs/big.bin")
	delete(want, cryptMarker+".txt")
	sameTree(t, got, want)
}

// TestDecryptMovedFile: a file moved to another folder on the server no
// longer decrypts (its name's tweak and its content's binding are its
// plaintext path).
func TestDecryptMovedFile(t *testing.T) {
	ctx := context.Background()
	plain, cipher, back := t.TempDir(), filepath.Join(t.TempDir(), "server"), filepath.Join(t.TempDir(), "back")
	write(t, filepath.Join(plain, "a", "secret.txt"), "alpha")
	write(t, filepath.Join(plain, "b", "other.txt"), "beta")
	pf := passFile(t, "pw")
	if code, _, stderr := runCLI(t, ctx, "encrypt", "--passphrase-file", pf, plain, cipher); code != exitOK {
		t.Fatalf("encrypt: exit %d: %s", code, stderr)
	}
	from, _ := encryptedName(t, cipher, "pw", "a/secret.txt")
	dirB, _ := encryptedName(t, cipher, "pw", "b")
	if err := os.Rename(filepath.Join(cipher, from), filepath.Join(cipher, dirB, filepath.Base(from))); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(t, ctx, "decrypt", "--passphrase-file", pf, cipher, back)
	if code != exitError {
		t.Fatalf("decrypt: exit %d, want %d: %s", code, exitError, stderr)
	}
	if b, err := os.ReadFile(filepath.Join(back, "b", "other.txt")); err != nil || string(b) != "beta" {
		t.Fatalf("the untouched file: %q, %v", b, err)
	}
	entries, _ := os.ReadDir(filepath.Join(back, "b"))
	if len(entries) != 1 {
		t.Fatalf("the moved file left something in b: %v", entries)
	}
}

// TestEncryptPlainNames: with --names plain the names stay, the contents
// are still encrypted, and decrypt with --names plain gives the tree back.
func TestEncryptPlainNames(t *testing.T) {
	ctx := context.Background()
	plain, cipher, back := t.TempDir(), filepath.Join(t.TempDir(), "server"), filepath.Join(t.TempDir(), "back")
	write(t, filepath.Join(plain, "dir", "name.txt"), cryptMarker)
	pf := passFile(t, "pw")
	if code, _, stderr := runCLI(t, ctx, "encrypt", "--names", "plain", "--passphrase-file", pf, plain, cipher); code != exitOK {
		t.Fatalf("encrypt: exit %d: %s", code, stderr)
	}
	b, err := os.ReadFile(filepath.Join(cipher, "dir", "name.txt"))
	if err != nil || bytes.Contains(b, []byte(cryptMarker)) {
		t.Fatalf("plain-named cipher file: %q, %v", b, err)
	}
	if code, _, stderr := runCLI(t, ctx, "decrypt", "--names", "plain", "--passphrase-file", pf, cipher, back); code != exitOK {
		t.Fatalf("decrypt: exit %d: %s", code, stderr)
	}
	sameTree(t, treeOf(t, back), treeOf(t, plain))
}
