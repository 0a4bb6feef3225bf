// Package offline encrypts and decrypts files and whole folders with
// package crypt, without a server or a job: `ferry encrypt` seeds a server
// folder, `ferry decrypt` reads a copy taken off one.
package offline

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/ferry-sync/ferry/crypt"
	"github.com/ferry-sync/ferry/tree"
	"github.com/ferry-sync/ferry/versions"
)

// ErrNoHeader reports that no key header file (crypt.HeaderName) was found.
var ErrNoHeader = errors.New("no encryption key header found")

// ErrFailed reports that some files were not encrypted or decrypted; each
// was reported to Options.Problem.
var ErrFailed = errors.New("each is named above")

// Options are what EncryptTree and DecryptTree share.
type Options struct {
	Keys *crypt.Keys
	// PlainNames: names are stored as they are (a job's names: plain).
	PlainNames bool
	// Problem is told of each file that failed (the run goes on) and of
	// each that was skipped on purpose (err matches ErrSkipped).
	Problem func(path string, err error)
}

// ErrSkipped marks an entry left out on purpose (a device, a socket, a
// named pipe), reported to Options.Problem but not counted as a failure.
var ErrSkipped = errors.New("skipped")

// Unlock reads the key header file in root and unlocks it with passphrase.
// With create, a root without a header gets a new one (and is created if
// missing); a wrong passphrase against an existing one fails with
// crypt.ErrWrongPassphrase before anything is written.
func Unlock(root string, passphrase []byte, create bool) (*crypt.Keys, error) {
	p := filepath.Join(root, crypt.HeaderName)
	_, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) && create {
		h, k, err := crypt.NewHeader(passphrase, rand.Reader)
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(root, 0o755); err != nil {
			return nil, fmt.Errorf("unable to create %q: %w", root, err)
		}
		if err := writeAtomic(p, h.Marshal(), 0o644); err != nil {
			return nil, fmt.Errorf("unable to write the key header: %w", err)
		}
		return k, nil
	}
	return UnlockFile(p, passphrase)
}

// UnlockFile reads the key header file p and unlocks it with passphrase.
func UnlockFile(p string, passphrase []byte) (*crypt.Keys, error) {
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("unable to read the key header: %q does not exist: %w", p, ErrNoHeader)
	}
	if err != nil {
		return nil, fmt.Errorf("unable to read the key header: %w", err)
	}
	h, err := crypt.ParseHeader(b)
	if err != nil {
		return nil, fmt.Errorf("unable to read the key header %q: %w", p, err)
	}
	k, err := h.Unlock(passphrase)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", p, err)
	}
	return k, nil
}

// FindRoot returns the nearest directory at or above dir that holds a key
// header file.
func FindRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Lstat(filepath.Join(dir, crypt.HeaderName)); err == nil {
			return dir, nil
		}
		up := filepath.Dir(dir)
		if up == dir {
			return "", fmt.Errorf("unable to find %s in the folder or any folder above it: %w", crypt.HeaderName, ErrNoHeader)
		}
		dir = up
	}
}

// skipName reports names that are ferry's own, never user files: in-flight
// temporaries, the version store, and the key header at the root.
func skipName(rel, name string) bool {
	return tree.IsTemp(name, "") || versions.IsStoreName(name) || rel == crypt.HeaderName
}

// checkApart refuses a destination inside the source or the other way
// round: the walk would read what it writes.
func checkApart(src, dst string) error {
	a, err := filepath.Abs(src)
	if err != nil {
		return err
	}
	b, err := filepath.Abs(dst)
	if err != nil {
		return err
	}
	if within(a, b) || within(b, a) {
		return fmt.Errorf("%q and %q overlap: give a destination outside the source", src, dst)
	}
	return nil
}

func within(parent, p string) bool {
	rel, err := filepath.Rel(parent, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// walk calls file for every regular file and dir for every directory under
// src (rel is slash-separated, "" for src itself is not passed), skipping
// ferry's own names; it reports links and special files as skipped.
// mapName turns a source relative path into the destination's.
type step struct {
	rel, out string // source and destination relative paths, slash-separated
	info     fs.FileInfo
}

func walkTree(ctx context.Context, src string, o Options, mapName func(string) (string, error), each func(step) error) (failed int, err error) {
	type dirTime struct {
		path string
		info fs.FileInfo
	}
	fail := func(rel string, err error) {
		failed++
		o.Problem(rel, err)
	}
	err = filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		rel, rerr := filepath.Rel(src, p)
		if rerr != nil {
			return rerr
		}
		rel = filepath.ToSlash(rel)
		if err != nil {
			if rel == "." {
				return err
			}
			fail(rel, err)
			return nil
		}
		if rel == "." {
			return nil
		}
		if skipName(rel, d.Name()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		info, err := d.Info()
		if err != nil {
			fail(rel, err)
			return nil
		}
		if !d.IsDir() && !info.Mode().IsRegular() && info.Mode()&fs.ModeSymlink == 0 {
			o.Problem(rel, fmt.Errorf("not a regular file, folder or symbolic link: %w", ErrSkipped))
			return nil
		}
		out, err := mapName(rel)
		if err != nil {
			fail(rel, err)
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if err := each(step{rel: rel, out: out, info: info}); err != nil {
			fail(rel, err)
			if d.IsDir() {
				return filepath.SkipDir
			}
		}
		return nil
	})
	return failed, err
}

// EncryptTree encrypts every file and folder under src into dst, the root
// of an encrypted folder (see Unlock). Existing files are replaced.
func EncryptTree(ctx context.Context, src, dst string, o Options) error {
	return convertTree(ctx, src, dst, o, true, func(rel string) (string, error) {
		if o.PlainNames {
			if rel == crypt.HeaderName {
				return "", fmt.Errorf("a file named %s at the root cannot be stored with plain names", crypt.HeaderName)
			}
			return rel, nil
		}
		return o.Keys.EncryptPath(rel)
	})
}

// DecryptTree decrypts every file and folder under src, the root of an
// encrypted folder, into dst. A file that fails verification is reported
// and leaves nothing at dst. Existing files are replaced.
func DecryptTree(ctx context.Context, src, dst string, o Options) error {
	return convertTree(ctx, src, dst, o, false, func(rel string) (string, error) {
		if o.PlainNames {
			return rel, nil
		}
		return o.Keys.DecryptPath(rel)
	})
}

// convertTree encrypts (or decrypts) every file, link and folder under
// src into dst, naming each by mapName. Contents and link targets are
// bound to the plaintext path: the source's when encrypting, the
// destination's when decrypting.
func convertTree(ctx context.Context, src, dst string, o Options, encrypt bool, mapName func(string) (string, error)) error {
	if err := checkApart(src, dst); err != nil {
		return err
	}
	if err := os.MkdirAll(dst, 0o700); err != nil {
		return err
	}
	target, content := o.Keys.DecryptLinkTarget, decryptFile
	if encrypt {
		target, content = o.Keys.EncryptLinkTarget, encryptFile
	}
	var dirs []step
	failed, err := walkTree(ctx, src, o, mapName, func(s step) error {
		out := filepath.Join(dst, filepath.FromSlash(s.out))
		if s.info.IsDir() {
			dirs = append(dirs, s)
			return os.MkdirAll(out, 0o700)
		}
		in := filepath.Join(src, filepath.FromSlash(s.rel))
		plain := s.out
		if encrypt {
			plain = s.rel
		}
		if s.info.Mode()&fs.ModeSymlink != 0 {
			return copyLink(in, out, func(t string) (string, error) { return target(plain, t) })
		}
		return content(o.Keys, in, out, plain, s.info)
	})
	return finish(dst, dirs, failed, err)
}

// finish gives the folders their modes and times, deepest first, once
// their content is written.
func finish(dst string, dirs []step, failed int, err error) error {
	for i := len(dirs) - 1; i >= 0; i-- {
		p := filepath.Join(dst, filepath.FromSlash(dirs[i].out))
		if cerr := os.Chmod(p, dirs[i].info.Mode().Perm()); cerr != nil && err == nil {
			err = cerr
		}
		if cerr := os.Chtimes(p, dirs[i].info.ModTime(), dirs[i].info.ModTime()); cerr != nil && err == nil {
			err = cerr
		}
	}
	if err != nil {
		return err
	}
	if failed > 0 {
		return fmt.Errorf("%d file(s) failed: %w", failed, ErrFailed)
	}
	return nil
}

// EncryptFile encrypts the plaintext file src into the encrypted folder at
// root, under the name its base name encrypts to (or keeps, with plain
// names), and returns that path.
func EncryptFile(src, root string, o Options) (string, error) {
	info, err := os.Stat(src)
	if err != nil {
		return "", err
	}
	if !info.Mode().IsRegular() {
		return "", fmt.Errorf("%q is not a regular file", src)
	}
	rel := filepath.Base(src)
	out := rel
	if !o.PlainNames {
		if out, err = o.Keys.EncryptPath(rel); err != nil {
			return "", err
		}
	} else if rel == crypt.HeaderName {
		return "", fmt.Errorf("a file named %s at the root cannot be stored with plain names", crypt.HeaderName)
	}
	dst := filepath.Join(root, out)
	return dst, encryptFile(o.Keys, src, dst, rel, info)
}

// DecryptFile decrypts src, a file inside the encrypted folder at root
// (its path below root gives its plaintext path), into dst, or into dst
// under its plaintext base name if dst is a folder. It returns the path
// written.
func DecryptFile(src, root, dst string, o Options) (string, error) {
	info, err := os.Stat(src)
	if err != nil {
		return "", err
	}
	if !info.Mode().IsRegular() {
		return "", fmt.Errorf("%q is not a regular file", src)
	}
	absSrc, err := filepath.Abs(src)
	if err != nil {
		return "", err
	}
	rel, err := filepath.Rel(root, absSrc)
	if err != nil || !within(root, absSrc) || rel == "." {
		return "", fmt.Errorf("%q is not inside the encrypted folder %q", src, root)
	}
	rel = filepath.ToSlash(rel)
	plain := rel
	if !o.PlainNames {
		if plain, err = o.Keys.DecryptPath(rel); err != nil {
			return "", err
		}
	}
	if fi, err := os.Stat(dst); err == nil && fi.IsDir() {
		dst = filepath.Join(dst, filepath.Base(filepath.FromSlash(plain)))
	}
	return dst, decryptFile(o.Keys, src, dst, plain, info)
}

func encryptFile(k *crypt.Keys, src, dst, rel string, info fs.FileInfo) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	e, err := k.NewEncoder(crypt.Source{Path: rel, R: f, Size: info.Size()})
	if err != nil {
		return err
	}
	return writeFile(dst, info, func(w io.Writer) error {
		_, err := e.WriteTo(w)
		return err
	})
}

func decryptFile(k *crypt.Keys, src, dst, plain string, info fs.FileInfo) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	return writeFile(dst, info, func(w io.Writer) error {
		_, err := k.Decrypt(w, bufio.NewReaderSize(f, 1<<20), plain)
		return err
	})
}

// writeFile writes dst through a temporary file in its folder (a name
// ferry's scans skip), given info's mode and time, and renamed into place
// only if fill succeeds: on any error nothing is left at dst.
func writeFile(dst string, info fs.FileInfo, fill func(io.Writer) error) (err error) {
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".ferry-tmp.crypt-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	w := bufio.NewWriterSize(tmp, 1<<20)
	if err := fill(w); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if err := tmp.Chmod(info.Mode().Perm()); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chtimes(tmp.Name(), info.ModTime(), info.ModTime()); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}

func writeAtomic(p string, b []byte, perm fs.FileMode) error {
	return writeFile(p, fakeInfo{perm: perm}, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}

// copyLink makes a symbolic link at dst whose target is src's mapped by
// conv (encrypted or decrypted), replacing what is at dst.
func copyLink(src, dst string, conv func(string) (string, error)) error {
	t, err := os.Readlink(src)
	if err != nil {
		return err
	}
	if t, err = conv(t); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	if err := os.Remove(dst); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return os.Symlink(t, dst)
}
