package syncer_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/tree"
)

// scanSignal tells when its Scan starts.
type scanSignal struct {
	endpoint.Endpoint
	started chan struct{}
	once    sync.Once
}

func (s *scanSignal) Scan(ctx context.Context, opts endpoint.ScanOptions, visit func(tree.Entry) error) error {
	s.once.Do(func() { close(s.started) })
	return s.Endpoint.Scan(ctx, opts, visit)
}

// lazyRemote is a remote that must be connected before use. Its Connect
// waits (bounded) for the local scan to start, to see whether the two
// overlap, then succeeds or fails with err.
type lazyRemote struct {
	endpoint.Endpoint
	localScan <-chan struct{}
	err       error
	// firstUse, when set, is closed by the first call; a successful
	// Connect waits for it (bounded), to see whether the pass uses the
	// remote before Connect returns.
	firstUse chan struct{}
	useOnce  sync.Once

	mu         sync.Mutex
	connected  bool
	overlapped bool
	early      []string // calls made before Connect finished
}

func (l *lazyRemote) Connect(ctx context.Context) error {
	select {
	case <-l.localScan:
		l.mu.Lock()
		l.overlapped = true
		l.mu.Unlock()
	case <-time.After(5 * time.Second):
	case <-ctx.Done():
		return ctx.Err()
	}
	if l.err != nil {
		return l.err
	}
	if l.firstUse != nil {
		select {
		case <-l.firstUse:
		case <-time.After(5 * time.Second):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	l.mu.Lock()
	l.connected = true
	l.mu.Unlock()
	return nil
}

func (l *lazyRemote) used(call string) {
	// Noted before Connect is let go: closing firstUse first let Connect
	// mark itself connected before this call was counted as early (seen
	// in CI).
	l.mu.Lock()
	if !l.connected {
		l.early = append(l.early, call)
	}
	l.mu.Unlock()
	if l.firstUse != nil {
		l.useOnce.Do(func() { close(l.firstUse) })
	}
}

func (l *lazyRemote) Scan(ctx context.Context, opts endpoint.ScanOptions, visit func(tree.Entry) error) error {
	l.used("Scan")
	return l.Endpoint.Scan(ctx, opts, visit)
}

func (l *lazyRemote) Stat(ctx context.Context, p string) (tree.Entry, error) {
	l.used("Stat")
	return l.Endpoint.Stat(ctx, p)
}

func lazyEnv(t *testing.T, connectErr error) (*env, **lazyRemote) {
	e := newEnv(t)
	e.write("local", "a.txt", "a")
	var r *lazyRemote
	e.wrap = func(l, rem endpoint.Endpoint) (endpoint.Endpoint, endpoint.Endpoint) {
		started := make(chan struct{})
		wait := (<-chan struct{})(started)
		if connectErr != nil {
			// Failing at once: with a remote signature to check the
			// local scan waits for the connection.
			now := make(chan struct{})
			close(now)
			wait = now
		}
		r = &lazyRemote{Endpoint: rem, localScan: wait, err: connectErr}
		if connectErr == nil {
			r.firstUse = make(chan struct{})
		}
		return &scanSignal{Endpoint: l, started: started}, r
	}
	return e, &r
}

// TestRemoteConnectsWhileLocalScans: a lazily connecting remote is
// connected while the local folder is scanned, and checked and listed
// without waiting for Connect to return (its calls join the connection
// being made). A remote signature file to check does not hold the local
// scan back either.
func TestRemoteConnectsWhileLocalScans(t *testing.T) {
	for _, sig := range []string{"", ".ferry-sig"} {
		e, r := lazyEnv(t, nil)
		if sig != "" {
			e.job.RemoteSignature = sig
			e.write("remote", sig, "")
		}
		rec := e.mustPass()
		want := 1
		if sig != "" {
			want = 2 // the signature file is synced too
		}
		if rec.Created != want {
			t.Fatalf("signature %q: pass: %s", sig, summary(rec))
		}
		if !(*r).overlapped {
			t.Fatalf("signature %q: the local scan did not start while the remote connected", sig)
		}
		if len((*r).early) == 0 {
			t.Fatalf("signature %q: the remote was used only after Connect returned: a round trip lost", sig)
		}
		if got, _ := e.read("remote", "a.txt"); got != "a" {
			t.Fatalf("signature %q: remote a.txt = %q", sig, got)
		}
	}
}

// TestConnectErrorFailsThePassUnwrapped: a remote that cannot be reached
// fails the pass with the connection's own error, as when the caller
// connected before the pass, with or without a remote signature to check
// first; the pass record keeps it.
func TestConnectErrorFailsThePassUnwrapped(t *testing.T) {
	errHostKey := errors.New("unknown host key for [example]:33001: check the fingerprint")
	for _, sig := range []string{"", ".ferry-sig"} {
		e, _ := lazyEnv(t, errHostKey)
		e.job.RemoteSignature = sig
		rec, err := e.pass(context.Background(), false)
		if err != errHostKey {
			t.Fatalf("signature %q: pass error %v, want exactly %v", sig, err, errHostKey)
		}
		if rec.Err != errHostKey.Error() {
			t.Fatalf("signature %q: record error %q", sig, rec.Err)
		}
		if _, ok := e.read("remote", "a.txt"); ok {
			t.Fatalf("signature %q: a.txt reached a remote that never connected", sig)
		}
	}
}

// foldingAfterScan is a remote whose Folding answers only once its Scan
// has started (bounded), as a round trip on a slow link would.
type foldingAfterScan struct {
	endpoint.Endpoint
	scanning chan struct{}
	once     sync.Once
	waited   bool
}

func (f *foldingAfterScan) Scan(ctx context.Context, opts endpoint.ScanOptions, visit func(tree.Entry) error) error {
	f.once.Do(func() { close(f.scanning) })
	return f.Endpoint.Scan(ctx, opts, visit)
}

func (f *foldingAfterScan) Folding(ctx context.Context) (endpoint.Folding, error) {
	select {
	case <-f.scanning:
		f.waited = true
	case <-time.After(10 * time.Second):
	}
	return f.Endpoint.Folding(ctx)
}

// TestFoldingDoesNotHoldTheListingBack: asking a receiving remote whether
// it folds case runs beside its listing, not before it, so on a slow link
// the pass does not wait one more round trip before the listing starts.
func TestFoldingDoesNotHoldTheListingBack(t *testing.T) {
	e := newEnv(t)
	e.write("local", "a.txt", "a")
	var r *foldingAfterScan
	e.wrap = func(l, rem endpoint.Endpoint) (endpoint.Endpoint, endpoint.Endpoint) {
		r = &foldingAfterScan{Endpoint: rem, scanning: make(chan struct{})}
		return l, r
	}
	start := time.Now()
	rec := e.mustPass()
	if rec.Created != 1 {
		t.Fatalf("pass: %s", summary(rec))
	}
	if !r.waited {
		t.Fatalf("the folding question was answered only after %v, without the listing having started: it held the listing back", time.Since(start).Round(time.Millisecond))
	}
}
