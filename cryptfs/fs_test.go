package cryptfs

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cespare/xxhash/v2"

	"github.com/ferry-sync/ferry/crypt"
	"github.com/ferry-sync/ferry/delta/chunk"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/halt"
	"github.com/ferry-sync/ferry/localfs"
	"github.com/ferry-sync/ferry/tree"
)

var cheapKDF = crypt.KDF{Name: crypt.KDFScrypt, N: 1 << 10, R: 8, P: 1}

func cheapHeader(pass []byte, rand io.Reader) (crypt.Header, *crypt.Keys, error) {
	return crypt.NewHeaderWithKDF(pass, rand, cheapKDF)
}

// counting is a local folder that counts the files opened for reading.
type counting struct {
	*localfs.FS
	opens atomic.Int64
}

func (c *counting) OpenFile(ctx context.Context, p string) (endpoint.FileReader, error) {
	c.opens.Add(1)
	return c.FS.OpenFile(ctx, p)
}

// newFS returns an encrypted endpoint over a fresh folder, the folder,
// and the counting inner endpoint.
func newFS(t *testing.T, root, pass string, opts Options) (*FS, *counting) {
	t.Helper()
	l, err := localfs.New(root, localfs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := &counting{FS: l}
	opts.Passphrase = []byte(pass)
	opts.NewHeader = cheapHeader
	opts.TempDir = t.TempDir()
	if opts.StateFile == "" {
		opts.StateFile = filepath.Join(t.TempDir(), "crypt.db")
	}
	f, err := New(c, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, c
}

func put(t *testing.T, f *FS, p, content string) tree.Entry {
	t.Helper()
	ctx := context.Background()
	meta := tree.Entry{Path: p, Kind: tree.File, Size: int64(len(content)), Mode: 0o644, Mtime: 1_700_000_000_000_000_000, Hash: xxhash.Sum64String(content)}
	w, err := f.CreateFile(ctx, meta, tree.Entry{Path: p})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteAt([]byte(content), 0); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	return meta
}

func scan(t *testing.T, f *FS) []tree.Entry {
	t.Helper()
	var out []tree.Entry
	if err := f.Scan(context.Background(), endpoint.ScanOptions{}, func(e tree.Entry) error {
		out = append(out, e)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func readAll(t *testing.T, f *FS, p string) string {
	t.Helper()
	r, err := f.OpenFile(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(io.NewSectionReader(r, 0, r.Size()))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestRoundTripInPlaintextOrder: what is written through the wrapper
// scans back in tree.Compare order of the plaintext paths, with their
// plaintext sizes and hashes, reads back, and is ciphertext on disk.
func TestRoundTripInPlaintextOrder(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	f, _ := newFS(t, root, "pw", Options{})
	if err := f.Mkdir(ctx, "a", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := f.Mkdir(ctx, "a/b", 0o755); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"a/b/secret.txt": "secret one", "a.txt": "secret two", "a/z": "", "b": strings.Repeat("x", 5000)}
	for p, c := range want {
		put(t, f, p, c)
	}
	if err := f.Symlink(ctx, "a/link", "../secret-target", tree.Entry{}); err != nil {
		t.Fatal(err)
	}
	es := scan(t, f)
	var paths []string
	for _, e := range es {
		paths = append(paths, e.Path)
		if c, ok := want[e.Path]; ok && (e.Size != int64(len(c)) || e.Hash != xxhash.Sum64String(c) || e.Kind != tree.File) {
			t.Errorf("%s scanned as %+v", e.Path, e)
		}
		if e.Path == "a/link" && e.Target != "../secret-target" {
			t.Errorf("link target %q", e.Target)
		}
	}
	wantPaths := []string{"a", "a/b", "a/b/secret.txt", "a/link", "a/z", "a.txt", "b"}
	if !slices.Equal(paths, wantPaths) {
		t.Fatalf("scan order %v, want %v", paths, wantPaths)
	}
	for p, c := range want {
		if got := readAll(t, f, p); got != c {
			t.Errorf("%s reads %q", p, got)
		}
	}
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if strings.Contains(d.Name(), "secret") || strings.Contains(d.Name(), ".txt") {
			t.Errorf("plaintext name on disk: %s", p)
		}
		if d.Type().IsRegular() {
			b, _ := os.ReadFile(p)
			if bytes.Contains(b, []byte("secret")) {
				t.Errorf("plaintext content on disk: %s", p)
			}
		}
		if d.Type()&os.ModeSymlink != 0 {
			if target, _ := os.Readlink(p); strings.Contains(target, "secret") {
				t.Errorf("plaintext link target on disk: %s", p)
			}
		}
		return nil
	})
}

// TestNoChangeScanReadsNoHeaders: headers are cached by cipher path, size
// and xxhash, in the state file, so a scan of unchanged files (by a new
// endpoint over the same state, as each pass makes one) opens none.
func TestNoChangeScanReadsNoHeaders(t *testing.T) {
	root, state := t.TempDir(), filepath.Join(t.TempDir(), "crypt.db")
	f, _ := newFS(t, root, "pw", Options{StateFile: state})
	for _, p := range []string{"a", "b", "c"} {
		put(t, f, p, "content of "+p)
	}
	f.Close()
	g, c := newFS(t, root, "pw", Options{StateFile: state})
	scan(t, g)
	opens := c.opens.Load() // the key header
	scan(t, g)
	if n := c.opens.Load() - opens; n != 0 {
		t.Fatalf("a scan of unchanged files opened %d files", n)
	}
	// Without the cache, every header is read.
	h, c2 := newFS(t, root, "pw", Options{StateFile: filepath.Join(t.TempDir(), "other.db")})
	scan(t, h)
	if n := c2.opens.Load(); n != 4 {
		t.Fatalf("a scan with an empty cache opened %d files, want the key header and 3 files", n)
	}
}

// TestWrongPassphraseHalts: a remote whose header another passphrase
// made halts every call with halt.WrongPassphrase, and nothing is
// written.
func TestWrongPassphraseHalts(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	f, _ := newFS(t, root, "right", Options{})
	put(t, f, "a", "x")
	g, _ := newFS(t, root, "wrong", Options{})
	var he *halt.Error
	err := g.Scan(ctx, endpoint.ScanOptions{}, func(tree.Entry) error { return nil })
	if !errors.As(err, &he) || he.Kind != halt.WrongPassphrase {
		t.Fatalf("scan with a wrong passphrase: %v", err)
	}
	if err := g.Mkdir(ctx, "d", 0o755); !errors.As(err, &he) {
		t.Fatalf("mkdir with a wrong passphrase: %v", err)
	}
	entries, _ := os.ReadDir(root)
	if len(entries) != 2 {
		t.Fatalf("the remote holds %d entries, want the header and one file", len(entries))
	}
}

// TestBadNameIsAProblem: a cipher name that does not decrypt is listed
// with Problem set, naming it, never dropped.
func TestBadNameIsAProblem(t *testing.T) {
	root := t.TempDir()
	f, _ := newFS(t, root, "pw", Options{})
	put(t, f, "a", "x")
	if err := os.WriteFile(filepath.Join(root, "notacipher"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	es := scan(t, f)
	var bad *tree.Entry
	for i := range es {
		if es[i].Problem != "" {
			bad = &es[i]
		}
	}
	if bad == nil || bad.Path != "notacipher" || !strings.Contains(bad.Problem, "notacipher") {
		t.Fatalf("scan %+v, want notacipher with a problem naming it", es)
	}
}

// TestExpectIsMappedToTheCipherEntry: Remove checks the plaintext entry
// the engine expects against what the remote holds now.
func TestExpectIsMappedToTheCipherEntry(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	f, _ := newFS(t, root, "pw", Options{})
	put(t, f, "a", "x")
	es := scan(t, f)
	stale := es[0]
	stale.Mtime++
	if err := f.Remove(ctx, "a", stale); !errors.Is(err, endpoint.ErrChanged) {
		t.Fatalf("remove against a stale entry: %v", err)
	}
	if err := f.Remove(ctx, "a", es[0]); err != nil {
		t.Fatal(err)
	}
	if es := scan(t, f); len(es) != 0 {
		t.Fatalf("left %v", es)
	}
}

// TestTamperedFileDoesNotOpen: OpenFile verifies the whole file before
// handing out a byte.
func TestTamperedFileDoesNotOpen(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	f, _ := newFS(t, root, "pw", Options{})
	put(t, f, "a", strings.Repeat("y", 1000))
	var cipher string
	entries, _ := os.ReadDir(root)
	for _, e := range entries {
		if e.Name() != crypt.HeaderName {
			cipher = filepath.Join(root, e.Name())
		}
	}
	b, _ := os.ReadFile(cipher)
	b[len(b)-1] ^= 1
	os.WriteFile(cipher, b, 0o644)
	if _, err := f.OpenFile(ctx, "a"); !errors.Is(err, crypt.ErrTampered) {
		t.Fatalf("open of a tampered file: %v", err)
	}
}

// TestRenameReencrypts: Rename (the engine's conflict copies on an
// encrypted remote) makes the file readable under its new path.
func TestRenameReencrypts(t *testing.T) {
	ctx := context.Background()
	f, _ := newFS(t, t.TempDir(), "pw", Options{})
	put(t, f, "a", "content")
	es := scan(t, f)
	if err := f.Rename(ctx, "a", "b", es[0]); err != nil {
		t.Fatal(err)
	}
	es = scan(t, f)
	if len(es) != 1 || es[0].Path != "b" || readAll(t, f, "b") != "content" {
		t.Fatalf("after rename: %+v", es)
	}
	if err := f.Symlink(ctx, "l", "../t", tree.Entry{}); err != nil {
		t.Fatal(err)
	}
	es = scan(t, f)
	if err := f.Rename(ctx, "l", "m", es[1]); err != nil {
		t.Fatal(err)
	}
	if es = scan(t, f); len(es) != 2 || es[1].Path != "m" || es[1].Target != "../t" {
		t.Fatalf("after renaming a link: %+v", es)
	}
}

// TestHeaderMadeElsewhereIsTaken: a remote this endpoint found empty
// (its header made but not yet written) that another agent initialises
// meanwhile is read with that agent's keys at the next scan, not halted
// as plaintext.
func TestHeaderMadeElsewhereIsTaken(t *testing.T) {
	root := t.TempDir()
	kept, _ := newFS(t, root, "pw", Options{})
	if es := scan(t, kept); len(es) != 0 {
		t.Fatalf("scan of an empty remote: %+v", es)
	}
	other, _ := newFS(t, root, "pw", Options{})
	put(t, other, "a", "from the other agent")
	es := scan(t, kept)
	if len(es) != 1 || es[0].Problem != "" || readAll(t, kept, "a") != "from the other agent" {
		t.Fatalf("after another agent made the remote: %+v", es)
	}
}

// TestPlainNames: names: plain keeps names, contents are still sealed.
func TestPlainNames(t *testing.T) {
	root := t.TempDir()
	f, _ := newFS(t, root, "pw", Options{PlainNames: true})
	put(t, f, "dir.txt", "secret")
	if b, err := os.ReadFile(filepath.Join(root, "dir.txt")); err != nil || bytes.Contains(b, []byte("secret")) {
		t.Fatalf("plain name: %v, content sealed: %v", err, !bytes.Contains(b, []byte("secret")))
	}
	if got := readAll(t, f, "dir.txt"); got != "secret" {
		t.Fatalf("read %q", got)
	}
}

// TestChangedSourceIsErrChanged: a local file that no longer matches the
// entry an upload was planned with is ErrChanged (the next pass sends
// it), not a failure.
func TestChangedSourceIsErrChanged(t *testing.T) {
	ctx := context.Background()
	f, _ := newFS(t, t.TempDir(), "pw", Options{})
	k, err := f.unlock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	meta := tree.Entry{Path: "a", Kind: tree.File, Size: 5, Hash: xxhash.Sum64String("other")}
	if _, _, err := f.seal(k, meta, strings.NewReader("hello"), chunk.List{}); !errors.Is(err, endpoint.ErrChanged) {
		t.Fatalf("sealing a changed file: %v", err)
	}
}

// smallDisk is a local folder that reports little free space.
type smallDisk struct {
	*localfs.FS
	free uint64
}

func (d smallDisk) FreeSpace(context.Context) (endpoint.Space, error) {
	return endpoint.Space{Free: d.free, Total: 1 << 30}, nil
}

// TestCreateFileThatDoesNotFitIsErrNoSpace: a file bigger than the
// remote's free space is refused with ErrNoSpace by CreateFile, before
// its plaintext is spooled on this machine, not at Commit.
func TestCreateFileThatDoesNotFitIsErrNoSpace(t *testing.T) {
	ctx := context.Background()
	l, err := localfs.New(t.TempDir(), localfs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f, err := New(smallDisk{l, 10}, Options{Passphrase: []byte("pw"), NewHeader: cheapHeader, TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	big := tree.Entry{Path: "big", Kind: tree.File, Size: 11, Mode: 0o644, Hash: xxhash.Sum64String("eleven byte")}
	if w, err := f.CreateFile(ctx, big, tree.Entry{Path: "big"}); !errors.Is(err, endpoint.ErrNoSpace) {
		if err == nil {
			w.Abort()
		}
		t.Fatalf("CreateFile of 11 bytes with 10 free: %v, want ErrNoSpace", err)
	}
	put(t, f, "small", "ten bytes!")
}
