package web_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/service/api"
	"github.com/ferry-sync/ferry/service/render"
	"github.com/ferry-sync/ferry/service/web"
	"github.com/ferry-sync/ferry/service/web/webtest"
)

// pageVersions serves two kept versions with hostile names and records
// the restores asked for.
type pageVersions struct {
	mu       sync.Mutex
	restores []api.RestoreRequest
}

func (p *pageVersions) List(_ context.Context, job, side, path string) (api.VersionList, error) {
	t := time.Date(2026, 12, 7, 14, 5, 12, 0, time.UTC)
	return api.VersionList{Versions: []api.Version{
		{Path: hostile, Side: api.SideLocal, Number: 1, Time: t, Size: 2048, Reason: "deleted", Why: "deleted by the peer"},
		{Path: bidi, Side: api.SideRemote, Number: 2, Time: t, Size: 10, Reason: "replaced", Why: "replaced by the peer"},
	}}, nil
}

func (p *pageVersions) Restore(_ context.Context, job string, req api.RestoreRequest) (api.Restored, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.restores = append(p.restores, req)
	return api.Restored{Restored: []api.Version{{Path: req.Path, Side: req.Side, Number: req.Version}}}, nil
}

// TestVersionsInBrowser: a job's Versions button lists both sides' kept
// versions, hostile names as escaped text, and Restore asks the API for
// exactly that version.
func TestVersionsInBrowser(t *testing.T) {
	d := webtest.Start(t)
	pv := &pageVersions{}
	l, err := api.ListenTCP("127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		served <- api.Serve(ctx, l, api.NewHandler(fixture(time.Now()), api.Options{Page: web.Handler(), Versions: pv}))
	}()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Error(err)
		}
	}()
	d.Open("http://" + l.Addr().String() + "/")
	d.WaitFor("docs state", "transferring", jobState, "docs")
	d.Click(`section[data-job="docs"] button.versions-toggle`)
	paths := `return [...document.querySelectorAll('section[data-job="docs"] .version .path')].map(e => e.textContent).join("|")`
	d.WaitFor("version list", hostile+"|"+render.Clean(bidi), paths)
	var meta string
	d.Exec(&meta, `return document.querySelector('section[data-job="docs"] .version .meta').textContent`)
	if !strings.HasPrefix(meta, "local #1, kept ") || !strings.HasSuffix(meta, ", 2.0 KiB, deleted by the peer") {
		t.Errorf("version shown as %q", meta)
	}
	var imgs int
	d.Exec(&imgs, `return document.getElementsByTagName("img").length`)
	if dialogs := d.Dialogs(); imgs != 0 || len(dialogs) != 0 {
		t.Fatalf("a kept file's name came to life: %d img elements, dialogs %q", imgs, dialogs)
	}
	d.Click(`section[data-job="docs"] .version[data-side="remote"] button.restore`)
	d.WaitFor("restore note", "restored "+render.Clean(bidi)+" on the remote side; the next pass syncs it",
		`const n = document.querySelector('section[data-job="docs"] .versions-note'); return n ? n.textContent : ""`)
	pv.mu.Lock()
	got := pv.restores
	pv.mu.Unlock()
	if len(got) != 1 || got[0].Path != bidi || got[0].Side != api.SideRemote || got[0].Version != 2 || !got[0].At.IsZero() {
		t.Fatalf("restores asked: %+v", got)
	}
	var errText string
	d.Exec(&errText, `return document.getElementById("error").textContent`)
	if errText != "" {
		t.Fatalf("page shows an error: %q", errText)
	}
}
