package remote

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"

	"github.com/ferry-sync/ferry/transport/control"
	"github.com/ferry-sync/ferry/tree"
	"github.com/ferry-sync/ferry/versions"
)

// ListVersions asks the server for the versions its store holds of the
// file at prefix and of every file below it ("" for all), ordered by path
// then time. Each path is checked as a scan's are.
func (e *Endpoint) ListVersions(ctx context.Context, prefix string) ([]versions.Version, error) {
	k, err := e.openOn(ctx, control.ListVersions{Prefix: prefix})
	if err != nil {
		return nil, fmt.Errorf("unable to list the server's versions: %w", tooOld(err))
	}
	defer k.close()
	var out []versions.Version
	for {
		m, err := k.recv()
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("unable to list the server's versions: %w", tooOld(err))
		}
		switch m := m.(type) {
		case control.VersionList:
			for _, v := range m.Versions {
				if err := tree.ValidPath(v.Path); err != nil || versions.IsStorePath(v.Path) {
					return nil, fmt.Errorf("%w: server listed a version of an invalid path %q", control.ErrProtocol, v.Path)
				}
				mode := v.Mode.Perm()
				if v.Link {
					mode |= fs.ModeSymlink
				}
				out = append(out, versions.Version{Path: v.Path, Time: time.Unix(0, v.Time).UTC(), Reason: versions.Reason(v.Reason),
					Size: v.Size, ModTime: time.Unix(0, v.ModTime), Mode: mode})
			}
			if len(out) > maxVersions {
				return nil, fmt.Errorf("%w: the server listed more than %d versions", control.ErrProtocol, maxVersions)
			}
		case control.OK:
			slices.SortStableFunc(out, func(a, b versions.Version) int {
				if c := strings.Compare(a.Path, b.Path); c != 0 {
					return c
				}
				return a.Time.Compare(b.Time)
			})
			return out, nil
		default:
			return nil, fmt.Errorf("%w: %T in a version list", control.ErrProtocol, m)
		}
	}
}

// maxVersions bounds what one listing holds in memory.
const maxVersions = 1 << 22

// RestoreVersion asks the server to put v (one it listed) back at to; the
// file at to, if any, is kept as a version there first.
func (e *Endpoint) RestoreVersion(ctx context.Context, v versions.Version, to string) error {
	_, err := expect[control.OK](e.do(ctx, control.RestoreVersion{Path: v.Path, Time: v.Time.UnixNano(), Reason: string(v.Reason), To: to}))
	if err != nil {
		return fmt.Errorf("unable to restore %q on the server: %w", v.Path, tooOld(err))
	}
	return nil
}

// tooOld adds to a protocol error the likeliest cause: a server older
// than these requests refuses them as malformed.
func tooOld(err error) error {
	if errors.Is(err, control.ErrProtocol) {
		return fmt.Errorf("%w (a server older than version stores refuses this request: upgrade ferry on it)", err)
	}
	return err
}
