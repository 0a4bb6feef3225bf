package remote_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/transport/remote"
	"github.com/ferry-sync/ferry/tree"
)

// negotiatedRE matches the client's line for a negotiated data session
// (the sender's trace lines share its message but carry t=).
var negotiatedRE = regexp.MustCompile(`msg="data session" remote=\S+ download=`)

func negotiated(e *env) int { return len(negotiatedRE.FindAllString(e.log.String(), -1)) }

// waitLog polls the shared log for n occurrences of s (bounded).
func waitLog(t *testing.T, e *env, s string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(e.log.String(), s) < n {
		if time.Now().After(deadline) {
			t.Fatalf("log has %d of %d %q:\n%s", strings.Count(e.log.String(), s), n, s, e.log.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestPreparedSessionCarriesTheTransfer: a data session prepared ahead is
// the one the upload and the download use; no second one is negotiated.
func TestPreparedSessionCarriesTheTransfer(t *testing.T) {
	r := rng(t)
	e := newEnvUDP(t, true, nil)
	ep := e.mustDial(func(o *remote.Options) { o.Transport = config.Auto })
	ctx := context.Background()
	src := t.TempDir()
	var items []endpoint.Transfer
	contents := map[string][]byte{}
	for i := range 5 {
		p := "f" + string(rune('a'+i))
		contents[p] = randomBytes(r, r.IntN(200_000))
		items = append(items, endpoint.Transfer{Source: fileEntry(t, src, p, contents[p])})
	}
	release := ep.Prepare(ctx, items, false)
	noErrors(t, ep.Upload(ctx, items, local(t, src), nil))
	release()
	for _, it := range items {
		mustEqualFile(t, filepath.Join(e.root, it.Source.Path), contents[it.Source.Path], it.Source.Mtime)
	}
	if n := negotiated(e); n != 1 {
		t.Fatalf("%d upload sessions negotiated, want the prepared one only:\n%s", n, e.log.String())
	}
	if !strings.Contains(e.log.String(), "data session ready") {
		t.Fatalf("the upload did not take the prepared session:\n%s", e.log.String())
	}

	var down []endpoint.Transfer
	if err := ep.Scan(ctx, endpoint.ScanOptions{}, func(en tree.Entry) error {
		down = append(down, endpoint.Transfer{Source: en})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	release = ep.Prepare(ctx, down, true)
	noErrors(t, ep.Download(ctx, down, local(t, dst), nil))
	release()
	for _, it := range down {
		mustEqualFile(t, filepath.Join(dst, it.Source.Path), contents[it.Source.Path], it.Source.Mtime)
	}
	if n := negotiated(e); n != 2 {
		t.Fatalf("%d sessions negotiated for one upload and one download, want 2:\n%s", n, e.log.String())
	}
	if n := strings.Count(e.log.String(), "data session ready"); n != 2 {
		t.Fatalf("the download did not take the prepared session:\n%s", e.log.String())
	}
}

// TestPreparedSessionThatDoesNotFitIsReplaced: an upload whose
// destinations differ from what was prepared negotiates its own session
// and still succeeds.
func TestPreparedSessionThatDoesNotFitIsReplaced(t *testing.T) {
	r := rng(t)
	e := newEnvUDP(t, true, nil)
	ep := e.mustDial(func(o *remote.Options) { o.Transport = config.UDP })
	ctx := context.Background()
	src := t.TempDir()
	content := randomBytes(r, 50_000)
	item := endpoint.Transfer{Source: fileEntry(t, src, "a.bin", content)}
	// Prepared as an overwrite of an existing file; the upload is of a
	// new one.
	stale := item
	stale.Expect = tree.Entry{Path: "a.bin", Kind: tree.File, Size: 3, Mtime: 1}
	release := ep.Prepare(ctx, []endpoint.Transfer{stale}, false)
	defer release()
	noErrors(t, ep.Upload(ctx, []endpoint.Transfer{item}, local(t, src), nil))
	mustEqualFile(t, filepath.Join(e.root, "a.bin"), content, item.Source.Mtime)
	if !strings.Contains(e.log.String(), "lists other files") {
		t.Fatalf("the unfitting session was not refused:\n%s", e.log.String())
	}
	// The refused session is closed: the server sees both sessions end.
	waitLog(t, e, "data session ended", 2)
}

// TestUnusedPreparedSessionIsReleased: release (or Close) ends a prepared
// session nobody used, on both sides, leaving no goroutine behind.
func TestUnusedPreparedSessionIsReleased(t *testing.T) {
	r := rng(t)
	e := newEnvUDP(t, true, nil)
	ep := e.mustDial(func(o *remote.Options) { o.Transport = config.Auto })
	ctx := context.Background()
	src := t.TempDir()
	item := endpoint.Transfer{Source: fileEntry(t, src, "a.bin", randomBytes(r, 1000))}
	before := runtime.NumGoroutine()

	release := ep.Prepare(ctx, []endpoint.Transfer{item}, false)
	waitLog(t, e, "download=false peer=", 1)
	release()
	waitLog(t, e, "data session ended", 1)

	// Released while still negotiating, or left to Close.
	release = ep.Prepare(ctx, []endpoint.Transfer{item}, false)
	release()
	ep.Prepare(ctx, []endpoint.Transfer{item}, true)
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before+2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	ep.Close()
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines after release and Close, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
	if _, err := os.Lstat(filepath.Join(e.root, "a.bin")); err == nil {
		t.Fatal("a prepared session wrote a file nobody sent")
	}
}

// TestPrepareOverTCPDoesNothing: with transport tcp there is no data
// session to prepare; the upload streams as before.
func TestPrepareOverTCPDoesNothing(t *testing.T) {
	r := rng(t)
	e := newEnvUDP(t, true, nil)
	ep := e.mustDial(func(o *remote.Options) { o.Transport = config.TCP })
	ctx := context.Background()
	src := t.TempDir()
	content := randomBytes(r, 10_000)
	item := endpoint.Transfer{Source: fileEntry(t, src, "a.bin", content)}
	release := ep.Prepare(ctx, []endpoint.Transfer{item}, false)
	noErrors(t, ep.Upload(ctx, []endpoint.Transfer{item}, local(t, src), nil))
	release()
	mustEqualFile(t, filepath.Join(e.root, "a.bin"), content, item.Source.Mtime)
	if strings.Contains(e.log.String(), "data session") {
		t.Fatalf("a data session was negotiated over transport tcp:\n%s", e.log.String())
	}
}

// TestPreparedSessionExpiresBeforeTheServerGivesUp: a prepared session
// nobody takes is closed by the client before the server's no-UDP
// timeout, so the server does not log a blocked UDP path; a later upload
// negotiates its own session.
func TestPreparedSessionExpiresBeforeTheServerGivesUp(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the prepared session to expire")
	}
	r := rng(t)
	e := newEnvUDP(t, true, nil)
	ep := e.mustDial(func(o *remote.Options) { o.Transport = config.Auto })
	ctx := context.Background()
	src := t.TempDir()
	content := randomBytes(r, 1000)
	item := endpoint.Transfer{Source: fileEntry(t, src, "a.bin", content)}
	release := ep.Prepare(ctx, []endpoint.Transfer{item}, false)
	defer release()
	waitLog(t, e, "prepared data session expired unused", 1)
	waitLog(t, e, "data session ended", 1)
	ended := e.log.String()
	if i := strings.Index(ended, "data session ended"); strings.Contains(ended[i:], "no UDP") || strings.Contains(ended[i:], "blocked") {
		t.Fatalf("the server gave up on the session itself:\n%s", ended)
	}
	noErrors(t, ep.Upload(ctx, []endpoint.Transfer{item}, local(t, src), nil))
	mustEqualFile(t, filepath.Join(e.root, "a.bin"), content, item.Source.Mtime)
	if strings.Contains(e.log.String(), "UDP data path blocked") {
		t.Fatalf("the upload fell back to the SSH stream:\n%s", e.log.String())
	}
}
