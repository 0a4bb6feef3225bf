package logging

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
)

// Rotator is an io.WriteCloser on path that, before a write would take the
// file past maxSize, renames it to path.1 (path.1 to path.2, and so on) and
// starts afresh, keeping keep old files. Safe for concurrent use; each Write
// lands whole in one file.
type Rotator struct {
	path    string
	maxSize int64
	keep    int

	mu   sync.Mutex
	f    *os.File
	size int64
}

// OpenRotator opens path for appending, creating it and its directory
// (mode 0700) as needed. The file is mode 0600: logs name the owner's files.
func OpenRotator(path string, maxSize int64, keep int) (*Rotator, error) {
	if maxSize <= 0 || keep < 0 {
		return nil, fmt.Errorf("unable to open log %s: max size %d and keep %d must be positive", path, maxSize, keep)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("unable to create log directory for %s: %w", path, err)
	}
	r := &Rotator{path: path, maxSize: maxSize, keep: keep}
	if err := r.open(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *Rotator) open() error {
	f, err := os.OpenFile(r.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("unable to open log %s: %w", r.path, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("unable to open log %s: %w", r.path, err)
	}
	r.f, r.size = f, fi.Size()
	return nil
}

// Write appends p, rotating first if p would not fit.
func (r *Rotator) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return 0, fmt.Errorf("unable to write log %s: %w", r.path, os.ErrClosed)
	}
	if r.size > 0 && r.size+int64(len(p)) > r.maxSize {
		if err := r.rotate(); err != nil {
			return 0, err
		}
	}
	n, err := r.f.Write(p)
	r.size += int64(n)
	return n, err
}

func (r *Rotator) rotate() error {
	if err := r.f.Close(); err != nil {
		return fmt.Errorf("unable to rotate log %s: %w", r.path, err)
	}
	r.f = nil
	name := func(i int) string { return r.path + "." + strconv.Itoa(i) }
	if r.keep == 0 {
		if err := os.Remove(r.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("unable to rotate log %s: %w", r.path, err)
		}
	} else {
		if err := os.Remove(name(r.keep)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("unable to rotate log %s: %w", r.path, err)
		}
		for i := r.keep - 1; i >= 1; i-- {
			if err := os.Rename(name(i), name(i+1)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("unable to rotate log %s: %w", r.path, err)
			}
		}
		if err := os.Rename(r.path, name(1)); err != nil {
			return fmt.Errorf("unable to rotate log %s: %w", r.path, err)
		}
	}
	return r.open()
}

// Close closes the current file.
func (r *Rotator) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f = nil
	return err
}
