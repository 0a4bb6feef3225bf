package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/restore"
)

// fakeVersions records what the handler asks of it.
type fakeVersions struct {
	mu       sync.Mutex
	listed   []string
	restored []RestoreRequest
	err      error
}

func (f *fakeVersions) List(_ context.Context, job, side, path string) (VersionList, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.listed = append(f.listed, job+"|"+side+"|"+path)
	if f.err != nil {
		return VersionList{}, f.err
	}
	return VersionList{Versions: []Version{{Path: path + "/a.txt", Side: SideLocal, Number: 1, Reason: "deleted", Why: "deleted by the peer"}},
		Errors: []SideError{{Side: SideRemote, Error: "unreachable"}}}, nil
}

func (f *fakeVersions) Restore(_ context.Context, job string, req RestoreRequest) (Restored, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.restored = append(f.restored, req)
	if f.err != nil {
		return Restored{}, f.err
	}
	return Restored{Restored: []Version{{Path: req.Path, Side: req.Side, Number: 1}}}, nil
}

func TestVersionsEndpoints(t *testing.T) {
	fv := &fakeVersions{}
	addr := serve(t, fixture(), Options{Versions: fv})
	base := "http://" + addr + "/api/v1/jobs/"
	post := map[string]string{RequestHeader: "1", "Content-Type": "application/json"}

	code, body := raw(t, "GET", base+"docs/versions?path=dir%2Fsub&side=remote", "", nil)
	var list VersionList
	if code != http.StatusOK || json.Unmarshal([]byte(body), &list) != nil || len(list.Versions) != 1 || list.Versions[0].Path != "dir/sub/a.txt" ||
		len(list.Errors) != 1 || list.Errors[0].Side != SideRemote {
		t.Fatalf("list: %d %s", code, body)
	}
	if fv.listed[0] != "docs|remote|dir/sub" {
		t.Fatalf("asked %q", fv.listed[0])
	}
	at := time.Date(2026, 12, 7, 14, 5, 0, 0, time.UTC)
	code, body = raw(t, "POST", base+"docs/restore", fmt.Sprintf(`{"path":"dir/a.txt","at":%q}`, at.Format(time.RFC3339)), post)
	var done Restored
	if code != http.StatusOK || json.Unmarshal([]byte(body), &done) != nil || len(done.Restored) != 1 || done.Restored[0].Side != SideLocal {
		t.Fatalf("restore: %d %s", code, body)
	}
	if got := fv.restored[0]; got.Path != "dir/a.txt" || got.Side != SideLocal || !got.At.Equal(at) || got.Version != 0 {
		t.Fatalf("restore asked %+v", got)
	}

	for _, c := range []struct {
		method, path, body string
		hdr                map[string]string
		status             int
		want               string
	}{
		{"GET", "nope/versions", "", nil, http.StatusNotFound, "no job named"},
		{"GET", "docs/versions?side=both", "", nil, http.StatusBadRequest, "not local or remote"},
		{"GET", "docs/versions?path=..%2Fetc", "", nil, http.StatusBadRequest, "path"},
		{"POST", "docs/restore", `{"path":"a.txt"}`, nil, http.StatusForbidden, RequestHeader},
		{"POST", "docs/restore", `{"path":"a.txt","version":1,"at":"2026-12-07T14:05:00Z"}`, post, http.StatusBadRequest, "not both"},
		{"POST", "docs/restore", `{"path":"a.txt","side":"both"}`, post, http.StatusBadRequest, "side"},
		{"POST", "docs/restore", `{"path":"../a.txt"}`, post, http.StatusBadRequest, "path"},
		{"POST", "docs/restore", `{"path":"a.txt","colour":1}`, post, http.StatusBadRequest, "colour"},
		{"POST", "nope/restore", `{"path":"a.txt"}`, post, http.StatusNotFound, "no job named"},
	} {
		code, body := raw(t, c.method, base+c.path, c.body, c.hdr)
		if code != c.status || !strings.Contains(body, c.want) {
			t.Errorf("%s %s %s: %d %s; want %d and %q", c.method, c.path, c.body, code, body, c.status, c.want)
		}
	}
	if len(fv.restored) != 1 {
		t.Errorf("refused requests reached the store: %+v", fv.restored)
	}

	fv.err = fmt.Errorf("%w: nothing there", restore.ErrNoVersion)
	if code, body := raw(t, "POST", base+"docs/restore", `{"path":"a.txt"}`, post); code != http.StatusConflict || !strings.Contains(body, "nothing there") {
		t.Errorf("nothing to restore: %d %s", code, body)
	}
	fv.err = fmt.Errorf("%w: gone", ErrNoJob)
	if code, _ := raw(t, "GET", base+"docs/versions", "", nil); code != http.StatusNotFound {
		t.Errorf("a job removed meanwhile: %d", code)
	}

	// Without a Versions, the endpoints do not exist.
	bare := serve(t, fixture(), Options{})
	if code, _ := raw(t, "GET", "http://"+bare+"/api/v1/jobs/docs/versions", "", nil); code != http.StatusNotFound {
		t.Errorf("versions without a store: %d", code)
	}
}

func TestVersionsClient(t *testing.T) {
	fv := &fakeVersions{}
	addr := serve(t, fixture(), Options{Versions: fv})
	c := NewClient(addr, "")
	ctx := context.Background()
	list, err := c.Versions(ctx, "docs", "", "x")
	if err != nil || len(list.Versions) != 1 || fv.listed[0] != "docs||x" {
		t.Fatalf("%+v %v %v", list, err, fv.listed)
	}
	done, err := c.Restore(ctx, "docs", RestoreRequest{Path: "x", Version: 2, Side: SideRemote})
	if err != nil || len(done.Restored) != 1 || fv.restored[0].Version != 2 || fv.restored[0].Side != SideRemote {
		t.Fatalf("%+v %v %+v", done, err, fv.restored)
	}
	if _, err := c.Versions(ctx, "nope", "", ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown job: %v", err)
	}
}
