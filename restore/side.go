package restore

import (
	"context"
	"fmt"

	"github.com/ferry-sync/ferry/versions"
)

// Side is one side of a job as far as its kept versions go.
type Side interface {
	// ListVersions returns the versions of the file at prefix and of
	// every file below it ("" for all), ordered by path then time.
	ListVersions(ctx context.Context, prefix string) ([]versions.Version, error)
	// RestoreVersion puts a copy of v back at to as an ordinary edit; the
	// file at to, if any, is kept as a version first.
	RestoreVersion(ctx context.Context, v versions.Version, to string) error
}

// Folder is the version store of a folder on this machine.
type Folder struct {
	store *versions.Store
}

var _ Side = (*Folder)(nil)

// OpenFolder opens the version store of the folder dir.
func OpenFolder(dir string) (*Folder, error) {
	s, err := versions.Open(dir, versions.Options{})
	if err != nil {
		return nil, fmt.Errorf("unable to open the versions of %s: %w", dir, err)
	}
	return &Folder{store: s}, nil
}

// Close releases the folder.
func (f *Folder) Close() error { return f.store.Close() }

// ListVersions lists the store.
func (f *Folder) ListVersions(ctx context.Context, prefix string) ([]versions.Version, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return f.store.List(prefix)
}

// RestoreVersion restores v at to.
func (f *Folder) RestoreVersion(ctx context.Context, v versions.Version, to string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return f.store.Restore(v, to)
}
