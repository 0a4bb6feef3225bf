package localfs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"

	"github.com/ferry-sync/ferry/endpoint"
)

// foldProbe remembers what the probe learnt: a folder's filesystem does
// not change under an open endpoint.
type foldProbe struct {
	mu   sync.Mutex
	done bool
	v    endpoint.Folding
}

// Caps: a folder takes every operation.
func (f *FS) Caps() endpoint.Caps { return endpoint.Caps{} }

// Folding learns, on the first call, whether the folder's filesystem
// folds case and Unicode normalisation, by creating a ferry temporary file
// with a mixed-case NFD name, looking it up under other spellings, and
// removing it.
func (f *FS) Folding(ctx context.Context) (endpoint.Folding, error) {
	f.fold.mu.Lock()
	defer f.fold.mu.Unlock()
	if f.fold.done {
		return f.fold.v, nil
	}
	if err := ctx.Err(); err != nil {
		return endpoint.Folding{}, err
	}
	v, err := probeFolding(f.root)
	if err != nil {
		return endpoint.Folding{}, fmt.Errorf("unable to learn whether folder %q folds case (check that it is writable): %w", f.root.Name(), err)
	}
	f.fold.v, f.fold.done = v, true
	return v, nil
}

// probePrefix starts the probe's name; tree.IsTemp matches it, so scans
// and watchers pass over it, and a probe left by a crash is swept like
// any stale temporary file.
const probePrefix = ".ferry-tmp.probe-"

// probeSuffix ends the probe's name: mixed case, and "é" as e + U+0301
// (NFD).
const probeSuffix = "-Ab-e\u0301"

func probeFolding(r *os.Root) (endpoint.Folding, error) {
	var id [8]byte
	if _, err := rand.Read(id[:]); err != nil {
		return endpoint.Folding{}, err
	}
	name := probePrefix + hex.EncodeToString(id[:]) + probeSuffix
	file, err := r.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return endpoint.Folding{}, err
	}
	fi, err := file.Stat()
	file.Close()
	defer r.Remove(name)
	if err != nil {
		return endpoint.Folding{}, err
	}
	same := func(other string) (bool, error) {
		oi, err := r.Lstat(other)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return false, nil
		case err != nil:
			return false, err
		}
		return os.SameFile(fi, oi), nil
	}
	var v endpoint.Folding
	if v.Case, err = same(swapCase(name)); err != nil {
		return endpoint.Folding{}, err
	}
	if v.Normalization, err = same(strings.Replace(name, "e\u0301", "\u00e9", 1)); err != nil {
		return endpoint.Folding{}, err
	}
	return v, nil
}

// swapCase swaps the case of ASCII letters.
func swapCase(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		case r >= 'A' && r <= 'Z':
			return r - 'A' + 'a'
		}
		return r
	}, s)
}
