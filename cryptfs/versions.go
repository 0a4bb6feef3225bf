package cryptfs

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/ferry-sync/ferry/restore"
	"github.com/ferry-sync/ferry/versions"
)

// Versions shows side, the version store of the folder behind f (the
// server's, or a local-folder remote's), in plaintext: versions are
// listed under their decrypted paths, and one picked from such a list is
// put back at its own path. A kept version is the ciphertext the path
// held, bound to that path, so it decrypts there and only there; its Size
// is the ciphertext's. A kept name that does not decrypt with the job's
// keys (written by something else) is left out.
func (f *FS) Versions(side restore.Side) restore.Side {
	return &versionSide{f: f, inner: side, stored: map[versions.Version]versions.Version{}}
}

type versionSide struct {
	f     *FS
	inner restore.Side

	mu sync.Mutex
	// stored maps each version this side listed, as shown, to the
	// version as the store keeps it.
	stored map[versions.Version]versions.Version
}

var _ restore.Side = (*versionSide)(nil)

func (s *versionSide) ListVersions(ctx context.Context, prefix string) ([]versions.Version, error) {
	k, err := s.f.unlock(ctx)
	if err != nil {
		return nil, err
	}
	cp := ""
	if prefix != "" {
		if cp, err = s.f.encPath(k, prefix); err != nil {
			return nil, err
		}
	}
	vs, err := s.inner.ListVersions(ctx, cp)
	if err != nil {
		return nil, err
	}
	out := make([]versions.Version, 0, len(vs))
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range vs {
		p, err := s.f.decPath(k, v.Path)
		if err != nil {
			continue
		}
		shown := v
		shown.Path = p
		s.stored[shown] = v
		out = append(out, shown)
	}
	// The store orders by its (cipher) paths; the list is by plaintext
	// path, then time, as a plain one is.
	slices.SortStableFunc(out, func(a, b versions.Version) int {
		if c := strings.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		return a.Time.Compare(b.Time)
	})
	return out, nil
}

func (s *versionSide) RestoreVersion(ctx context.Context, v versions.Version, to string) error {
	s.mu.Lock()
	stored, ok := s.stored[v]
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("unable to restore %q: it is not among the versions listed", v.Path)
	}
	if to != v.Path {
		return fmt.Errorf("unable to restore %q to %q: an encrypted version decrypts only at its own path", v.Path, to)
	}
	k, err := s.f.unlock(ctx)
	if err != nil {
		return err
	}
	ct, err := s.f.encPath(k, to)
	if err != nil {
		return err
	}
	return s.inner.RestoreVersion(ctx, stored, ct)
}
