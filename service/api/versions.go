package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ferry-sync/ferry/restore"
	"github.com/ferry-sync/ferry/tree"
	"github.com/ferry-sync/ferry/versions"
)

// Side names in version requests and replies.
const (
	SideLocal  = "local"
	SideRemote = "remote"
)

// Version is one kept version as GET /api/v1/jobs/{name}/versions and
// `ferry versions --json` write it (docs/json.md).
type Version struct {
	Path string `json:"path"`
	// Side is local or remote: the store it is kept in.
	Side string `json:"side"`
	// Number is its place among the file's versions on that side, 1 the
	// newest (ferry restore --version N).
	Number int `json:"number"`
	// Time is when it was kept, Mtime its modification time then.
	Time  time.Time `json:"time"`
	Size  int64     `json:"size"`
	Mtime time.Time `json:"mtime,omitzero"`
	// Reason is why it was kept (replaced, deleted, conflict, reset,
	// resolve, restore) and Why the same for a person.
	Reason versions.Reason `json:"reason"`
	Why    string          `json:"why"`
}

// NewVersions is one side's numbered versions on the wire, never nil.
func NewVersions(side string, vs []restore.Numbered) []Version {
	out := make([]Version, 0, len(vs))
	for _, v := range vs {
		out = append(out, Version{Path: v.Path, Side: side, Number: v.N, Time: v.Time.UTC(), Size: v.Size,
			Mtime: v.ModTime.UTC(), Reason: v.Reason, Why: v.Reason.Describe()})
	}
	return out
}

// VersionList answers GET /api/v1/jobs/{name}/versions[?path=P&side=S].
type VersionList struct {
	Versions []Version `json:"versions"`
	// Errors names each side that could not be listed (a server that
	// cannot be reached); the other side's versions are still there.
	Errors []SideError `json:"errors,omitempty"`
}

// SideError is a side that could not be listed, and why.
type SideError struct {
	Side  string `json:"side"`
	Error string `json:"error"`
}

// RestoreRequest is the body of POST /api/v1/jobs/{name}/restore: put
// back the file or folder Path on Side (default local) as of At, or the
// file's version Number, or with neither the newest version of each file.
type RestoreRequest struct {
	Path    string    `json:"path"`
	Side    string    `json:"side,omitempty"`
	At      time.Time `json:"at,omitzero"`
	Version int       `json:"version,omitempty"`
}

// Check refuses a request that names no valid path, an unknown side, or
// both a time and a version.
func (r *RestoreRequest) Check() error {
	if r.Side == "" {
		r.Side = SideLocal
	}
	if r.Side != SideLocal && r.Side != SideRemote {
		return fmt.Errorf("field \"side\": %q is not local or remote", r.Side)
	}
	r.Path = strings.Trim(r.Path, "/")
	if r.Path != "" {
		if err := tree.ValidPath(r.Path); err != nil {
			return fmt.Errorf("field \"path\": %w", err)
		}
	}
	if r.Version < 0 {
		return errors.New("field \"version\": must be 1 or more (1 is the newest)")
	}
	if r.Version > 0 && !r.At.IsZero() {
		return errors.New("give either \"at\" or \"version\", not both")
	}
	return nil
}

// Restored answers a restore: the versions put back, each at its path.
type Restored struct {
	Restored []Version `json:"restored"`
}

// Versions lists and restores a job's kept versions for the API. Its
// errors wrapping ErrNoJob answer 404, restore.ErrNoVersion and
// restore.ErrVersionNumber 409.
type Versions interface {
	List(ctx context.Context, job, side, path string) (VersionList, error)
	Restore(ctx context.Context, job string, req RestoreRequest) (Restored, error)
}

// ErrNoJob is wrapped by a Versions error for a job the config lacks.
var ErrNoJob = errors.New("no such job")

func (h *handler) versionsList(w http.ResponseWriter, r *http.Request) {
	j, err := h.known(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	side, p := q.Get("side"), strings.Trim(q.Get("path"), "/")
	if side != "" && side != SideLocal && side != SideRemote {
		h.fail(w, r, badRequest("side %q is not local or remote (leave it out for both)", side))
		return
	}
	if p != "" {
		if err := tree.ValidPath(p); err != nil {
			h.fail(w, r, badRequest("path: %v", err))
			return
		}
	}
	list, err := h.opts.Versions.List(r.Context(), j.Name, side, p)
	if err != nil {
		h.fail(w, r, versionsError(err))
		return
	}
	h.reply(w, list)
}

func (h *handler) versionsRestore(w http.ResponseWriter, r *http.Request) {
	var req RestoreRequest
	if err := decode(w, r, &req, false); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := req.Check(); err != nil {
		h.fail(w, r, badRequest("%v", err))
		return
	}
	j, err := h.known(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	done, err := h.opts.Versions.Restore(r.Context(), j.Name, req)
	if err != nil {
		h.fail(w, r, versionsError(err))
		return
	}
	h.log.Info("control request", "method", r.Method, "path", r.URL.Path, "job", j.Name, "restored", len(done.Restored))
	h.reply(w, done)
}

func versionsError(err error) error {
	switch {
	case errors.Is(err, ErrNoJob):
		return &requestError{status: http.StatusNotFound, msg: err.Error()}
	case errors.Is(err, restore.ErrNoVersion), errors.Is(err, restore.ErrVersionNumber):
		return &requestError{status: http.StatusConflict, msg: err.Error()}
	}
	return err
}

// Versions lists the kept versions of path ("" for all) on side ("" for
// both) of a job.
func (c *Client) Versions(ctx context.Context, name, side, path string) (VersionList, error) {
	q := url.Values{}
	if side != "" {
		q.Set("side", side)
	}
	if path != "" {
		q.Set("path", path)
	}
	p := jobPath(name, "versions")
	if len(q) > 0 {
		p += "?" + q.Encode()
	}
	var out VersionList
	return out, c.do(ctx, http.MethodGet, p, nil, &out)
}

// Restore puts back what req picks.
func (c *Client) Restore(ctx context.Context, name string, req RestoreRequest) (Restored, error) {
	var out Restored
	return out, c.do(ctx, http.MethodPost, jobPath(name, "restore"), req, &out)
}
