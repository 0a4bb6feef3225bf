package cryptfs

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/ferry-sync/ferry/crypt"
	"github.com/ferry-sync/ferry/delta/chunk"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/halt"
	"github.com/ferry-sync/ferry/tree"
)

// Options configure an encrypted endpoint.
type Options struct {
	// Passphrase opens (or, for a remote without .ferry-crypt, makes) the
	// remote's key header.
	Passphrase []byte
	// PlainNames keeps names as they are (names: plain); contents are
	// encrypted either way.
	PlainNames bool
	// StateFile is the cache of headers and encrypted forms (a bbolt
	// file beside the job's snapshot); "" keeps them in memory.
	StateFile string
	// TempDir holds decrypted downloads and spooled uploads while they
	// are verified; "" is os.TempDir.
	TempDir string
	// Connect connects the inner endpoint when it connects lazily
	// (syncer.Connector); nil when it needs no connecting.
	Connect func(ctx context.Context) error
	// NewHeader makes the key header of a new encrypted remote; nil is
	// crypt.NewHeader (tests pass one with cheap KDF parameters).
	NewHeader func(passphrase []byte, rand io.Reader) (crypt.Header, *crypt.Keys, error)
	// HeaderWorkers bounds the headers read at once by a scan; 0 means 8.
	HeaderWorkers int
	Log           *slog.Logger
	// Now is the clock for the header file's mtime; nil is time.Now.
	Now func() time.Time
}

// FS is an encrypted endpoint over inner. It has no Batch: NewBatch
// wraps an inner endpoint that has one.
type FS struct {
	inner endpoint.Endpoint
	opts  Options
	cache *cache

	mu sync.Mutex
	// keys are set once the header is read (or made); fresh says it was
	// made here and header holds it until written, before the first
	// change to the remote.
	keys   *crypt.Keys
	fresh  bool
	header []byte
	// halted is a halt found unlocking: every later call gives it.
	halted error
	// seen maps each plaintext path to what the last scan or stat saw
	// on the remote under its cipher name.
	seen map[string]seenEntry
	// sending holds the files being written to the remote, by plaintext
	// path, as they will be there once written: a watch's notice of one
	// may come before the write returns (PlainNotice).
	sending map[string]seenEntry
}

// seenEntry is one path as the engine sees it (plain) and as the remote
// holds it (cipher).
type seenEntry struct {
	plain, cipher tree.Entry
}

var _ endpoint.Endpoint = (*FS)(nil)

// New wraps inner. Nothing is read until the first call.
func New(inner endpoint.Endpoint, opts Options) (*FS, error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.NewHeader == nil {
		opts.NewHeader = crypt.NewHeader
	}
	if opts.HeaderWorkers <= 0 {
		opts.HeaderWorkers = 8
	}
	if len(opts.Passphrase) == 0 {
		return nil, errors.New("unable to open the encrypted remote: no passphrase")
	}
	c, err := openCache(opts.StateFile)
	if err != nil {
		return nil, err
	}
	return &FS{inner: inner, opts: opts, cache: c, seen: map[string]seenEntry{}, sending: map[string]seenEntry{}}, nil
}

// Caps: files here are bound to their paths, so the engine uploads a
// renamed or copied file anew instead of renaming it here.
func (f *FS) Caps() endpoint.Caps { return endpoint.Caps{PathBound: true} }

// Connect connects the inner endpoint, if it connects lazily.
func (f *FS) Connect(ctx context.Context) error {
	if f.opts.Connect == nil {
		return nil
	}
	return f.opts.Connect(ctx)
}

// Close closes the inner endpoint and the cache.
func (f *FS) Close() error {
	return errors.Join(f.inner.Close(), f.cache.close())
}

// maxHeaderFile bounds the .ferry-crypt read: a real one is a few
// hundred bytes.
const maxHeaderFile = 64 << 10

// unlock reads the remote's key header and opens it with the passphrase,
// once. A remote without one gets a new header, written before the first
// change (writeHeader). A wrong passphrase is a halt.
func (f *FS) unlock(ctx context.Context) (*crypt.Keys, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.halted != nil {
		return nil, f.halted
	}
	if f.keys != nil {
		return f.keys, nil
	}
	b, err := f.readHeaderFile(ctx)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		_, k, err := f.newHeaderLocked()
		if err != nil {
			return nil, err
		}
		return k, nil
	case err != nil:
		return nil, err
	}
	k, err := f.open(b)
	if err != nil {
		return nil, err
	}
	f.keys = k
	return k, nil
}

func (f *FS) newHeaderLocked() (crypt.Header, *crypt.Keys, error) {
	h, k, err := f.opts.NewHeader(f.opts.Passphrase, rand.Reader)
	if err != nil {
		return crypt.Header{}, nil, fmt.Errorf("unable to make the encrypted remote's key header: %w", err)
	}
	f.keys, f.fresh, f.header = k, true, h.Marshal()
	return h, k, nil
}

// open parses a header file and unlocks it.
func (f *FS) open(b []byte) (*crypt.Keys, error) {
	h, err := crypt.ParseHeader(b)
	if err != nil {
		return nil, fmt.Errorf("unable to read the encrypted remote's %s (damaged, or not ferry's): %w", crypt.HeaderName, err)
	}
	k, err := h.Unlock(f.opts.Passphrase)
	if errors.Is(err, crypt.ErrWrongPassphrase) {
		f.halted = &halt.Error{Kind: halt.WrongPassphrase}
		return nil, f.halted
	}
	if err != nil {
		return nil, fmt.Errorf("unable to unlock the encrypted remote: %w", err)
	}
	return k, nil
}

func (f *FS) readHeaderFile(ctx context.Context) ([]byte, error) {
	e, err := f.inner.Stat(ctx, crypt.HeaderName)
	if err != nil {
		return nil, err
	}
	if e.Kind != tree.File || e.Size > maxHeaderFile {
		return nil, fmt.Errorf("unable to read the encrypted remote's %s: it is a %s of %d bytes, not a key header", crypt.HeaderName, e.Kind, e.Size)
	}
	r, err := f.inner.OpenFile(ctx, crypt.HeaderName)
	if err != nil {
		return nil, fmt.Errorf("unable to read the encrypted remote's %s: %w", crypt.HeaderName, err)
	}
	defer r.Close()
	b := make([]byte, r.Size())
	if _, err := r.ReadAt(b, 0); err != nil && !(errors.Is(err, io.EOF)) {
		return nil, fmt.Errorf("unable to read the encrypted remote's %s: %w", crypt.HeaderName, err)
	}
	return b, nil
}

// writeHeader writes a header made here before the first change to the
// remote. If another agent wrote one meanwhile, its keys are taken
// instead (nothing was written with ours).
func (f *FS) writeHeader(ctx context.Context) (*crypt.Keys, error) {
	k, err := f.unlock(ctx)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.fresh {
		return k, nil
	}
	meta := tree.Entry{Path: crypt.HeaderName, Kind: tree.File, Size: int64(len(f.header)), Mode: 0o600,
		Mtime: f.opts.Now().UnixNano(), Hash: xxhash.Sum64(f.header)}
	w, err := f.inner.CreateFile(ctx, meta, tree.Entry{Path: crypt.HeaderName})
	if err == nil {
		if _, err = w.WriteAt(f.header, 0); err == nil {
			err = w.Commit()
		} else {
			w.Abort()
		}
	}
	if errors.Is(err, endpoint.ErrChanged) || errors.Is(err, endpoint.ErrExists) {
		b, rerr := f.readHeaderFile(ctx)
		if rerr != nil {
			return nil, errors.Join(err, rerr)
		}
		if k, err = f.open(b); err != nil {
			return nil, err
		}
		f.keys, f.fresh, f.header = k, false, nil
		return k, nil
	}
	if err != nil {
		return nil, fmt.Errorf("unable to write the encrypted remote's key header %s: %w", crypt.HeaderName, err)
	}
	f.fresh, f.header = false, nil
	f.opts.Log.Info("made the key header of a new encrypted remote", "file", crypt.HeaderName)
	return k, nil
}

// encPath is the cipher path of a plaintext path.
func (f *FS) encPath(k *crypt.Keys, p string) (string, error) {
	if f.opts.PlainNames {
		return p, nil
	}
	return k.EncryptPath(p)
}

func (f *FS) decPath(k *crypt.Keys, c string) (string, error) {
	if f.opts.PlainNames {
		return c, nil
	}
	return k.DecryptPath(c)
}

// remember records what a scan or stat saw of a path.
func (f *FS) remember(plain, cipher tree.Entry) {
	f.mu.Lock()
	f.seen[plain.Path] = seenEntry{plain, cipher}
	f.mu.Unlock()
}

// send records a file about to be written to the remote: plain as the
// engine sees it, cipher as the remote will hold it.
func (f *FS) send(plain, cipher tree.Entry) {
	plain.Ino, cipher.Ino = 0, 0
	f.mu.Lock()
	f.sending[plain.Path] = seenEntry{plain, cipher}
	f.mu.Unlock()
}

// sent ends the write of plaintext path p: written, what the remote now
// holds is what it is as sent.
func (f *FS) sent(p string, written bool) {
	f.mu.Lock()
	if s, ok := f.sending[p]; ok && written {
		f.seen[p] = s
	}
	delete(f.sending, p)
	f.mu.Unlock()
}

func (f *FS) forget(p string) {
	f.mu.Lock()
	delete(f.seen, p)
	f.mu.Unlock()
}

// cipherExpect maps expect, a plaintext entry the engine passes, to the
// cipher entry the remote checks: the one seen under it if it still
// describes expect, else the remote's entry now (ErrChanged if that is
// not what expect says).
func (f *FS) cipherExpect(ctx context.Context, k *crypt.Keys, p string, expect tree.Entry) (tree.Entry, error) {
	cp, err := f.encPath(k, p)
	if err != nil {
		return tree.Entry{}, err
	}
	if !expect.Exists() {
		return tree.Entry{Path: cp}, nil
	}
	expect.Path = p
	f.mu.Lock()
	s, ok := f.seen[expect.Path]
	f.mu.Unlock()
	if ok && s.plain.SameStat(expect) && (expect.Hash == 0 || s.plain.Hash == 0 || s.plain.Hash == expect.Hash) {
		return s.cipher, nil
	}
	plain, cipher, err := f.stat(ctx, k, expect.Path)
	if err != nil {
		return tree.Entry{}, err
	}
	if !plain.SameStat(expect) || expect.Hash != 0 && plain.Hash != 0 && plain.Hash != expect.Hash {
		return tree.Entry{}, fmt.Errorf("unable to change %s on the encrypted remote: it is no longer as scanned: %w", expect.Path, endpoint.ErrChanged)
	}
	return cipher, nil
}

// stat lstats a plaintext path: its plaintext view (a file's size and
// xxhash from its header) and the cipher entry.
func (f *FS) stat(ctx context.Context, k *crypt.Keys, p string) (tree.Entry, tree.Entry, error) {
	cp, err := f.encPath(k, p)
	if err != nil {
		return tree.Entry{}, tree.Entry{}, err
	}
	ce, err := f.inner.Stat(ctx, cp)
	if err != nil {
		return tree.Entry{}, tree.Entry{}, err
	}
	pe := ce
	pe.Path = p
	switch ce.Kind {
	case tree.File:
		m, err := f.fileMeta(ctx, k, ce, p)
		if err != nil {
			return tree.Entry{}, tree.Entry{}, err
		}
		pe.Size, pe.Hash = m.Size, m.Hash
	case tree.Symlink:
		if pe.Target, err = f.decTarget(k, p, ce.Target); err != nil {
			return tree.Entry{}, tree.Entry{}, err
		}
	}
	f.remember(pe, ce)
	return pe, ce, nil
}

// fileMeta returns the header facts of the cipher file ce (whose
// plaintext path is p): from the cache when its hash is known and
// cached, else read.
func (f *FS) fileMeta(ctx context.Context, k *crypt.Keys, ce tree.Entry, p string) (crypt.Meta, error) {
	if ce.Hash != 0 {
		if m, ok := f.cache.header(headerKey(ce.Path, ce.Size, ce.Hash)); ok {
			return m, nil
		}
	} else {
		f.mu.Lock()
		s, ok := f.seen[p]
		f.mu.Unlock()
		if ok && s.cipher.Kind == tree.File && s.cipher.SameStat(ce) && s.cipher.Hash != 0 {
			if m, ok := f.cache.header(headerKey(ce.Path, ce.Size, s.cipher.Hash)); ok {
				return m, nil
			}
		}
	}
	r, err := f.inner.OpenFile(ctx, ce.Path)
	if err != nil {
		return crypt.Meta{}, err
	}
	defer r.Close()
	m, err := k.ReadHeader(r, r.Size(), p)
	if err != nil {
		return crypt.Meta{}, fmt.Errorf("%s (%s on the remote): %w", p, ce.Path, err)
	}
	if ce.Hash != 0 {
		_ = f.cache.putHeaders([][]byte{headerKey(ce.Path, ce.Size, ce.Hash)}, []crypt.Meta{m})
	}
	return m, nil
}

// Stat lstats a plaintext path.
func (f *FS) Stat(ctx context.Context, p string) (tree.Entry, error) {
	k, err := f.unlock(ctx)
	if err != nil {
		return tree.Entry{}, err
	}
	pe, _, err := f.stat(ctx, k, p)
	if err != nil {
		return tree.Entry{}, err
	}
	pe.Hash = 0
	return pe, nil
}

// Mkdir creates a directory.
func (f *FS) Mkdir(ctx context.Context, p string, mode fs.FileMode) error {
	k, err := f.writeHeader(ctx)
	if err != nil {
		return err
	}
	cp, err := f.encPath(k, p)
	if err != nil {
		return err
	}
	return f.inner.Mkdir(ctx, cp, mode)
}

// Remove deletes a path checked against expect.
func (f *FS) Remove(ctx context.Context, p string, expect tree.Entry) error {
	k, err := f.unlock(ctx)
	if err != nil {
		return err
	}
	ce, err := f.cipherExpect(ctx, k, p, expect)
	if err != nil {
		return err
	}
	if err := f.inner.Remove(ctx, ce.Path, ce); err != nil {
		return err
	}
	f.forget(p)
	return nil
}

// SetMeta sets mode and mtime: the cipher file carries the plaintext's.
func (f *FS) SetMeta(ctx context.Context, p string, mode fs.FileMode, mtime int64) error {
	k, err := f.unlock(ctx)
	if err != nil {
		return err
	}
	cp, err := f.encPath(k, p)
	if err != nil {
		return err
	}
	return f.inner.SetMeta(ctx, cp, mode, mtime)
}

// encTarget seals a symlink target, bound to the link's path and to
// being a link's target (crypt.EncryptLinkTarget, the format ferry
// decrypt reads).
func (f *FS) encTarget(k *crypt.Keys, p, target string) (string, error) {
	s, err := k.EncryptLinkTarget(p, target)
	if err != nil {
		return "", err
	}
	if len(s) > tree.MaxPathLen-1 {
		return "", fmt.Errorf("unable to create symlink %s: its target is too long to encrypt (%d bytes)", p, len(target))
	}
	return s, nil
}

func (f *FS) decTarget(k *crypt.Keys, p, target string) (string, error) {
	t, err := k.DecryptLinkTarget(p, target)
	if err != nil {
		return "", fmt.Errorf("symlink %s: %w", p, err)
	}
	return t, nil
}

// Symlink creates a link whose target is sealed.
func (f *FS) Symlink(ctx context.Context, p, target string, expect tree.Entry) error {
	k, err := f.writeHeader(ctx)
	if err != nil {
		return err
	}
	ce, err := f.cipherExpect(ctx, k, p, expect)
	if err != nil {
		return err
	}
	ct, err := f.encTarget(k, p, target)
	if err != nil {
		return err
	}
	return f.inner.Symlink(ctx, ce.Path, ct, ce)
}

// Rename moves a file by re-encrypting it under its new path (content
// is bound to its path), a link by sealing its target anew: the engine
// does not ask this of a path-bound endpoint, except to set a conflicting
// file aside. Directories cannot be renamed.
func (f *FS) Rename(ctx context.Context, from, to string, expect tree.Entry) error {
	if expect.Kind == tree.Symlink {
		if _, err := f.Stat(ctx, to); err == nil {
			return fmt.Errorf("unable to rename %s to %s: %w", from, to, endpoint.ErrExists)
		}
		if err := f.Symlink(ctx, to, expect.Target, tree.Entry{Path: to}); err != nil {
			return err
		}
		return f.Remove(ctx, from, expect)
	}
	if expect.Kind != tree.File {
		return fmt.Errorf("unable to rename %s to %s on the encrypted remote: only files can be (names and contents are bound to their paths)", from, to)
	}
	if _, err := f.Stat(ctx, to); err == nil {
		return fmt.Errorf("unable to rename %s to %s: %w", from, to, endpoint.ErrExists)
	}
	meta := expect
	meta.Path = to
	if meta.Hash == 0 {
		// An expect from Stat carries no hash; the copy is checked
		// against the one in the file's header.
		k, err := f.unlock(ctx)
		if err != nil {
			return err
		}
		pe, _, err := f.stat(ctx, k, from)
		if err != nil {
			return err
		}
		meta.Hash = pe.Hash
	}
	if err := f.CopyFile(ctx, from, expect, meta, tree.Entry{Path: to}); err != nil {
		return err
	}
	return f.Remove(ctx, from, expect)
}

// CopyFile copies through this machine: the copy is decrypted, verified
// and encrypted again under its path.
func (f *FS) CopyFile(ctx context.Context, from string, fromExpect, meta, expect tree.Entry) error {
	k, err := f.unlock(ctx)
	if err != nil {
		return err
	}
	if _, err := f.cipherExpect(ctx, k, from, fromExpect); err != nil {
		return err
	}
	r, err := f.OpenFile(ctx, from)
	if err != nil {
		return err
	}
	defer r.Close()
	if r.Size() != fromExpect.Size {
		return fmt.Errorf("unable to copy %s: %w", from, endpoint.ErrChanged)
	}
	w, err := f.CreateFile(ctx, meta, expect)
	if err != nil {
		return err
	}
	if _, err := io.Copy(&offsetWriter{w: w}, io.NewSectionReader(r, 0, r.Size())); err != nil {
		w.Abort()
		return fmt.Errorf("unable to copy %s to %s: %w", from, meta.Path, err)
	}
	return w.Commit()
}

// OpenFile decrypts a file into a temporary file, verifying all of it,
// and reads from that: nothing unverified is handed out.
func (f *FS) OpenFile(ctx context.Context, p string) (endpoint.FileReader, error) {
	k, err := f.unlock(ctx)
	if err != nil {
		return nil, err
	}
	cp, err := f.encPath(k, p)
	if err != nil {
		return nil, err
	}
	r, err := f.inner.OpenFile(ctx, cp)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return f.decryptToTemp(k, p, io.NewSectionReader(r, 0, r.Size()))
}

func (f *FS) decryptToTemp(k *crypt.Keys, p string, src io.Reader) (*tempReader, error) {
	tmp, err := os.CreateTemp(f.opts.TempDir, "ferry-decrypt-*")
	if err != nil {
		return nil, fmt.Errorf("unable to decrypt %s: %w", p, err)
	}
	os.Remove(tmp.Name())
	m, err := k.Decrypt(tmp, src, p)
	if err != nil {
		tmp.Close()
		return nil, fmt.Errorf("unable to decrypt %s: %w", p, err)
	}
	return &tempReader{File: tmp, size: m.Size}, nil
}

// tempReader reads a verified plaintext from an unlinked temporary file.
type tempReader struct {
	*os.File
	size int64
}

func (t *tempReader) Size() int64 { return t.size }

// CreateFile spools the plaintext to a temporary file; Commit encrypts
// it and writes the ciphertext through the inner endpoint.
func (f *FS) CreateFile(ctx context.Context, meta tree.Entry, expect tree.Entry) (endpoint.FileWriter, error) {
	k, err := f.writeHeader(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := f.encPath(k, meta.Path); err != nil {
		return nil, err
	}
	if err := f.fits(ctx, meta); err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(f.opts.TempDir, "ferry-encrypt-*")
	if err != nil {
		return nil, fmt.Errorf("unable to write %s: %w", meta.Path, err)
	}
	os.Remove(tmp.Name())
	return &spoolWriter{f: f, ctx: ctx, k: k, meta: meta, expect: expect, tmp: tmp}, nil
}

// fits gives ErrNoSpace for a file that cannot be encrypted (over
// chunk.MaxTotal) or would not fit in the remote's free space, before it
// is spooled here: the inner endpoint would find out only at Commit.
func (f *FS) fits(ctx context.Context, meta tree.Entry) error {
	if meta.Size > chunk.MaxTotal {
		return fmt.Errorf("unable to write %s: %d bytes is more than a file can be encrypted with (%d): %w", meta.Path, meta.Size, int64(chunk.MaxTotal), endpoint.ErrNoSpace)
	}
	sp, err := f.inner.FreeSpace(ctx)
	if err != nil || sp.Total == 0 {
		// Unknown: the inner endpoint checks at Commit.
		return nil
	}
	if uint64(meta.Size) > sp.Free {
		return fmt.Errorf("unable to write %s: it needs %d bytes but only %d are free on the encrypted remote; free some space and it will be retried: %w", meta.Path, meta.Size, sp.Free, endpoint.ErrNoSpace)
	}
	return nil
}

// spoolWriter is a plaintext file being received for the remote.
type spoolWriter struct {
	f            *FS
	ctx          context.Context
	k            *crypt.Keys
	meta, expect tree.Entry
	tmp          *os.File
}

func (w *spoolWriter) WriteAt(p []byte, off int64) (int, error) { return w.tmp.WriteAt(p, off) }

func (w *spoolWriter) Abort() error { return w.tmp.Close() }

func (w *spoolWriter) Commit() error {
	defer w.tmp.Close()
	h := xxhash.New()
	if n, err := io.Copy(h, io.NewSectionReader(w.tmp, 0, w.meta.Size+1)); err != nil {
		return fmt.Errorf("unable to write %s: %w", w.meta.Path, err)
	} else if n != w.meta.Size || h.Sum64() != w.meta.Hash {
		return fmt.Errorf("unable to write %s: received content does not match: %w", w.meta.Path, endpoint.ErrHashMismatch)
	}
	return w.f.put(w.ctx, w.k, w.meta, w.expect, w.tmp)
}

// put encrypts the plaintext in r (meta says what it is) and writes it
// over expect through the inner endpoint.
func (f *FS) put(ctx context.Context, k *crypt.Keys, meta, expect tree.Entry, r io.ReaderAt) error {
	ce, err := f.cipherExpect(ctx, k, meta.Path, expect)
	if err != nil {
		return err
	}
	enc, s, err := f.seal(k, meta, r, chunk.List{})
	if err != nil {
		return err
	}
	cm := tree.Entry{Path: ce.Path, Kind: tree.File, Size: s.Size, Hash: s.Hash, Mode: meta.Mode, Mtime: meta.Mtime}
	w, err := f.inner.CreateFile(ctx, cm, ce)
	if err != nil {
		return err
	}
	f.send(meta, cm)
	if _, err := enc.WriteTo(&offsetWriter{w: w}); err != nil {
		w.Abort()
		f.sent(meta.Path, false)
		return fmt.Errorf("unable to write %s: %w", meta.Path, err)
	}
	err = w.Commit()
	f.sent(meta.Path, err == nil)
	if err != nil {
		return err
	}
	f.learned(cm, meta, enc.Meta())
	return nil
}

// learned records a file written: its header is known, and the next
// scan need not read it.
func (f *FS) learned(cipher, plain tree.Entry, m crypt.Meta) {
	_ = f.cache.putHeaders([][]byte{headerKey(cipher.Path, cipher.Size, cipher.Hash)}, []crypt.Meta{m})
}

// seal makes the encoder of a plaintext file and its encrypted form's
// size, xxhash and chunk list (one pass over the ciphertext).
func (f *FS) seal(k *crypt.Keys, meta tree.Entry, r io.ReaderAt, plainList chunk.List) (*crypt.Encoder, sealed, error) {
	enc, err := k.NewEncoder(crypt.Source{Path: meta.Path, R: r, Size: meta.Size, Hash: meta.Hash, Chunks: plainList})
	if err != nil {
		return nil, sealed{}, fmt.Errorf("unable to encrypt %s: %w", meta.Path, changed(err))
	}
	h := xxhash.New()
	var s sealed
	s.Size = enc.Size()
	c, ok := chunk.New(s.Size, h)
	var dst io.Writer = h
	if ok {
		dst = c
	}
	if _, err := enc.WriteTo(dst); err != nil {
		return nil, sealed{}, fmt.Errorf("unable to encrypt %s: %w", meta.Path, changed(err))
	}
	if ok {
		if s.List, err = c.List(); err != nil {
			return nil, sealed{}, fmt.Errorf("unable to encrypt %s: %w", meta.Path, err)
		}
	}
	s.Hash, s.Meta = h.Sum64(), enc.Meta()
	return enc, s, nil
}

// offsetWriter writes a stream through a WriterAt.
type offsetWriter struct {
	w   io.WriterAt
	off int64
}

func (o *offsetWriter) Write(p []byte) (int, error) {
	n, err := o.w.WriteAt(p, o.off)
	o.off += int64(n)
	return n, err
}

// Chunks returns the chunk list of a file's plaintext, which it decrypts
// to make.
func (f *FS) Chunks(ctx context.Context, p string, expect tree.Entry) (chunk.List, error) {
	r, err := f.OpenFile(ctx, p)
	if err != nil {
		return chunk.List{}, err
	}
	defer r.Close()
	if r.Size() != expect.Size {
		return chunk.List{}, fmt.Errorf("unable to list the chunks of %s: %w", p, endpoint.ErrChanged)
	}
	h := xxhash.New()
	c, ok := chunk.New(r.Size(), h)
	if !ok {
		if _, err := io.Copy(h, io.NewSectionReader(r, 0, r.Size())); err != nil {
			return chunk.List{}, err
		}
		if expect.Hash != 0 && h.Sum64() != expect.Hash {
			return chunk.List{}, fmt.Errorf("unable to list the chunks of %s: %w", p, endpoint.ErrChanged)
		}
		return chunk.List{Total: r.Size()}, nil
	}
	if _, err := io.Copy(c, io.NewSectionReader(r, 0, r.Size())); err != nil {
		return chunk.List{}, err
	}
	l, err := c.List()
	if err != nil {
		return chunk.List{}, err
	}
	if expect.Hash != 0 && h.Sum64() != expect.Hash {
		return chunk.List{}, fmt.Errorf("unable to list the chunks of %s: %w", p, endpoint.ErrChanged)
	}
	return l, nil
}

// Digests answers from the files' headers, which carry the plaintext's
// digest.
func (f *FS) Digests(ctx context.Context, files []tree.Entry) ([]chunk.Digest, error) {
	k, err := f.unlock(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]chunk.Digest, len(files))
	for i, e := range files {
		f.mu.Lock()
		s, ok := f.seen[e.Path]
		f.mu.Unlock()
		ce := s.cipher
		if !ok || s.plain.Size != e.Size || s.plain.Hash != e.Hash {
			var pe tree.Entry
			if pe, ce, err = f.stat(ctx, k, e.Path); err != nil || pe.Size != e.Size || pe.Hash != e.Hash {
				continue
			}
		}
		m, err := f.fileMeta(ctx, k, ce, e.Path)
		if err != nil || m.Size != e.Size || m.Hash != e.Hash {
			continue
		}
		out[i] = m.Digest
	}
	return out, nil
}

// FreeSpace is the inner endpoint's.
func (f *FS) FreeSpace(ctx context.Context) (endpoint.Space, error) { return f.inner.FreeSpace(ctx) }

// Folding: encrypted names are lowercase base32 and differ whenever the
// plaintext names do, so no two plaintext names land on one file whatever
// the remote's filesystem folds. Plain names fold as the remote does.
func (f *FS) Folding(ctx context.Context) (endpoint.Folding, error) {
	if f.opts.PlainNames {
		return f.inner.Folding(ctx)
	}
	return endpoint.Folding{}, nil
}

// Inner returns the endpoint that holds the ciphertext.
func (f *FS) Inner() endpoint.Endpoint { return f.inner }

// PlainNotice translates a watch's notice of cipher paths, and their
// states as the server saw them when it told (nil when it does not tell
// them), to plaintext: names decrypted, leaving out those that do not
// decrypt (a partial file) and the key header; a link's target
// decrypted; a file's plaintext size, which its ciphertext's size does
// not tell (it depends on the number of chunks), taken from the file as
// this endpoint last saw or wrote it when the ciphertext's size is that
// one's. A state it cannot translate carries a Problem, so that it is
// taken for a change.
func (f *FS) PlainNotice(ctx context.Context, paths []string, states []tree.Entry) ([]string, []tree.Entry) {
	k, err := f.unlock(ctx)
	if err != nil {
		return nil, nil
	}
	out := make([]string, 0, len(paths))
	var outStates []tree.Entry
	if states != nil {
		outStates = make([]tree.Entry, 0, len(paths))
	}
	for i, c := range paths {
		if c == crypt.HeaderName {
			continue
		}
		p, err := f.decPath(k, c)
		if err != nil {
			continue
		}
		out = append(out, p)
		if states != nil {
			outStates = append(outStates, f.plainState(k, p, states[i]))
		}
	}
	return out, outStates
}

// plainState is the plaintext view of s, the state of the cipher file
// of plaintext path p.
func (f *FS) plainState(k *crypt.Keys, p string, s tree.Entry) tree.Entry {
	s.Path, s.Hash, s.Ino = p, 0, 0
	if s.Problem != "" {
		return s
	}
	switch s.Kind {
	case tree.Symlink:
		t, err := f.decTarget(k, p, s.Target)
		if err != nil {
			return tree.Entry{Path: p, Problem: err.Error()}
		}
		s.Target = t
	case tree.File:
		f.mu.Lock()
		w, writing := f.sending[p]
		r, read := f.seen[p]
		f.mu.Unlock()
		switch {
		case writing && w.cipher.Kind == tree.File && w.cipher.Size == s.Size:
			s.Size = w.plain.Size
		case read && r.cipher.Kind == tree.File && r.cipher.Size == s.Size:
			s.Size = r.plain.Size
		default:
			return tree.Entry{Path: p, Problem: "an encrypted file of unknown plaintext size"}
		}
	}
	return s
}
