package remote_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/transport/remote"
	"github.com/ferry-sync/ferry/tree"
)

// silentUDPPort returns a port with a socket that never answers: what a
// firewall dropping UDP looks like to the client (no ICMP either).
func silentUDPPort(t *testing.T) int {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc.LocalAddr().(*net.UDPAddr).Port
}

func TestUDPUploadAndDownload(t *testing.T) {
	r := rng(t)
	e := newEnvUDP(t, true, nil)
	ep := e.mustDial(func(o *remote.Options) { o.Transport = config.UDP })
	src := t.TempDir()
	var items []endpoint.Transfer
	contents := map[string][]byte{}
	for i := range 12 {
		p := "f" + string(rune('a'+i))
		c := randomBytes(r, r.IntN(900_000))
		contents[p] = c
		items = append(items, endpoint.Transfer{Source: fileEntry(t, src, p, c)})
	}
	var moved atomic.Int64
	noErrors(t, ep.Upload(context.Background(), items, local(t, src), func(_ string, d int64, _ bool) { moved.Add(d) }))
	st, ok := ep.DataStats()
	if !ok || st.PayloadBytes == 0 {
		t.Fatalf("upload did not go over UDP: %+v %v", st, ok)
	}
	var total int64
	for _, it := range items {
		mustEqualFile(t, filepath.Join(e.root, it.Source.Path), contents[it.Source.Path], it.Source.Mtime)
		total += it.Source.Size
	}
	if moved.Load() != total {
		t.Fatalf("progress reported %d bytes of %d", moved.Load(), total)
	}

	dst := t.TempDir()
	var down []endpoint.Transfer
	if err := ep.Scan(context.Background(), endpoint.ScanOptions{}, func(en tree.Entry) error {
		down = append(down, endpoint.Transfer{Source: en})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// One file changes on the server after the scan: it must fail alone,
	// as ErrChanged, and not be written.
	changed := down[3].Source.Path
	if err := os.WriteFile(filepath.Join(e.root, changed), []byte("new content"), 0o640); err != nil {
		t.Fatal(err)
	}
	errs := ep.Download(context.Background(), down, local(t, dst), nil)
	for i, it := range down {
		if it.Source.Path == changed {
			if !errors.Is(errs[i], endpoint.ErrChanged) {
				t.Fatalf("changed file: %v, want ErrChanged", errs[i])
			}
			if _, err := os.Lstat(filepath.Join(dst, changed)); err == nil {
				t.Fatal("changed file was written")
			}
			continue
		}
		if errs[i] != nil {
			t.Fatalf("%s: %v", it.Source.Path, errs[i])
		}
		mustEqualFile(t, filepath.Join(dst, it.Source.Path), contents[it.Source.Path], it.Source.Mtime)
	}
}

func TestAutoFallsBackToSSHWhenUDPIsBlocked(t *testing.T) {
	r := rng(t)
	e := newEnvUDP(t, true, nil)
	ep := e.mustDial(func(o *remote.Options) {
		o.Transport = config.Auto
		o.UDPPort = silentUDPPort(t)
		o.NoUDPTimeout = 500 * time.Millisecond
	})
	src := t.TempDir()
	content := randomBytes(r, 2<<20)
	item := endpoint.Transfer{Source: fileEntry(t, src, "f.bin", content)}
	noErrors(t, ep.Upload(context.Background(), []endpoint.Transfer{item}, local(t, src), nil))
	mustEqualFile(t, filepath.Join(e.root, "f.bin"), content, item.Source.Mtime)
	if !strings.Contains(e.log.String(), "UDP data path blocked") {
		t.Fatalf("fallback was not logged:\n%s", e.log.String())
	}
	// The failed UDP session's figures must not be reported as if the
	// files had moved over UDP (ferry sync's transport line did).
	if st, ok := ep.DataStats(); ok {
		t.Fatalf("after falling back to SSH, DataStats still reports a UDP session: %+v", st)
	}
	// The next batch goes straight to the stream, without waiting again.
	item2 := endpoint.Transfer{Source: fileEntry(t, src, "g.bin", content[:1000])}
	start := time.Now()
	noErrors(t, ep.Upload(context.Background(), []endpoint.Transfer{item2}, local(t, src), nil))
	if el := time.Since(start); el > 400*time.Millisecond {
		t.Logf("second upload took %v (it should not have waited for UDP)", el)
	}
	if n := strings.Count(e.log.String(), "UDP data path blocked"); n != 1 {
		t.Fatalf("fallback logged %d times, want once", n)
	}
}

func TestUDPTransportFailsWhenUDPIsBlocked(t *testing.T) {
	r := rng(t)
	e := newEnvUDP(t, true, nil)
	ep := e.mustDial(func(o *remote.Options) {
		o.Transport = config.UDP
		o.UDPPort = silentUDPPort(t)
		o.NoUDPTimeout = 300 * time.Millisecond
	})
	src := t.TempDir()
	item := endpoint.Transfer{Source: fileEntry(t, src, "f.bin", randomBytes(r, 1000))}
	errs := ep.Upload(context.Background(), []endpoint.Transfer{item}, local(t, src), nil)
	if !errors.Is(errs[0], remote.ErrNoUDP) {
		t.Fatalf("upload with UDP blocked and transport udp: %v, want ErrNoUDP", errs[0])
	}
	if _, err := os.Lstat(filepath.Join(e.root, "f.bin")); err == nil {
		t.Fatal("file arrived although UDP was blocked and fallback is off")
	}
}

func TestUDPTransportNeedsAServerUDPPort(t *testing.T) {
	e := newEnv(t, nil)
	ep := e.mustDial(func(o *remote.Options) { o.Transport = config.UDP })
	src := t.TempDir()
	item := endpoint.Transfer{Source: fileEntry(t, src, "f", []byte("x"))}
	if errs := ep.Upload(context.Background(), []endpoint.Transfer{item}, local(t, src), nil); !errors.Is(errs[0], remote.ErrNoUDP) {
		t.Fatalf("got %v, want ErrNoUDP", errs[0])
	}
}

// afterRestart runs a transfer after the server was killed and started
// again. The endpoint learns of the old connection's end in the
// background, so the first call may still meet it and fail with
// ErrDisconnected, and then the next call dials (see the package doc);
// one more call is allowed for that, not a race with that notice.
func afterRestart(t *testing.T, run func() []error) {
	t.Helper()
	errs := run()
	for _, err := range errs {
		if errors.Is(err, remote.ErrDisconnected) {
			t.Logf("the first call after the restart met the old connection (%v); calling again", err)
			errs = run()
			break
		}
	}
	noErrors(t, errs)
}

func TestUDPUploadResumesAfterServerKilled(t *testing.T) {
	r := rng(t)
	e := newEnvUDP(t, true, nil)
	ep := e.mustDial(func(o *remote.Options) { o.Transport = config.UDP })
	src := t.TempDir()
	content := randomBytes(r, 24<<20)
	item := endpoint.Transfer{Source: fileEntry(t, src, "big.bin", content)}
	var moved atomic.Int64
	var once sync.Once
	start := time.Now()
	errs := ep.Upload(context.Background(), []endpoint.Transfer{item}, local(t, src), func(_ string, d int64, _ bool) {
		if moved.Add(d) > 8<<20 {
			once.Do(e.stop)
		}
	})
	if !errors.Is(errs[0], remote.ErrDisconnected) {
		t.Fatalf("upload with the server killed: %v, want an error wrapping ErrDisconnected", errs[0])
	}
	if el := time.Since(start); el > 15*time.Second {
		t.Errorf("the session noticed the server's death only after %v", el)
	}
	e.start()
	afterRestart(t, func() []error { return ep.Upload(context.Background(), []endpoint.Transfer{item}, local(t, src), nil) })
	mustEqualFile(t, filepath.Join(e.root, "big.bin"), content, item.Source.Mtime)
	st, _ := ep.DataStats()
	if st.ResumedBytes == 0 {
		t.Fatalf("second session resent everything: %+v", st)
	}
	t.Logf("resumed %d of %d bytes", st.ResumedBytes, len(content))
}

func TestUDPDownloadResumesAfterServerKilled(t *testing.T) {
	r := rng(t)
	e := newEnvUDP(t, true, nil)
	ep := e.mustDial(func(o *remote.Options) { o.Transport = config.UDP })
	content := randomBytes(r, 24<<20)
	item := endpoint.Transfer{Source: fileEntry(t, e.root, "big.bin", content)}
	dst := t.TempDir()
	var moved atomic.Int64
	var once sync.Once
	errs := ep.Download(context.Background(), []endpoint.Transfer{item}, local(t, dst), func(_ string, d int64, _ bool) {
		if moved.Add(d) > 8<<20 {
			once.Do(e.stop)
		}
	})
	if !errors.Is(errs[0], remote.ErrDisconnected) {
		t.Fatalf("download with the server killed: %v, want an error wrapping ErrDisconnected", errs[0])
	}
	if _, err := os.Lstat(filepath.Join(dst, "big.bin")); err == nil {
		t.Fatal("a partial download appeared under the final name")
	}
	e.start()
	afterRestart(t, func() []error {
		return ep.Download(context.Background(), []endpoint.Transfer{item}, local(t, dst), nil)
	})
	mustEqualFile(t, filepath.Join(dst, "big.bin"), content, item.Source.Mtime)
	// The receiver counts the bytes it was sent; fewer than the file
	// means the partial from the first session was used.
	st, _ := ep.DataStats()
	if st.PayloadBytes == 0 || st.PayloadBytes >= uint64(len(content)) {
		t.Fatalf("second session received %d bytes of %d: nothing was resumed", st.PayloadBytes, len(content))
	}
	t.Logf("second session received %d of %d bytes", st.PayloadBytes, len(content))
}

// New files are not listed before a UDP upload; one that turns out to
// exist on the server must fail as ErrChanged and be left alone, while an
// overwrite the client expected (listed) goes through.
func TestUDPUploadUnlistedNewFileDoesNotOverwrite(t *testing.T) {
	r := rng(t)
	e := newEnvUDP(t, true, nil)
	ep := e.mustDial(func(o *remote.Options) { o.Transport = config.UDP })
	src := t.TempDir()
	there := []byte("already on the server")
	if err := os.WriteFile(filepath.Join(e.root, "taken"), there, 0o640); err != nil {
		t.Fatal(err)
	}
	old := fileEntry(t, e.root, "replace", []byte("old content"))
	items := []endpoint.Transfer{
		{Source: fileEntry(t, src, "taken", randomBytes(r, 5000))},
		{Source: fileEntry(t, src, "fresh", randomBytes(r, 7000))},
		{Source: fileEntry(t, src, "replace", randomBytes(r, 3000)), Expect: old},
	}
	errs := ep.Upload(context.Background(), items, local(t, src), nil)
	if !errors.Is(errs[0], endpoint.ErrChanged) {
		t.Fatalf("upload onto an existing file expected absent: %v, want ErrChanged", errs[0])
	}
	got, err := os.ReadFile(filepath.Join(e.root, "taken"))
	if err != nil || string(got) != string(there) {
		t.Fatalf("existing file changed: %q %v", got, err)
	}
	for i := 1; i < 3; i++ {
		if errs[i] != nil {
			t.Fatalf("%s: %v", items[i].Source.Path, errs[i])
		}
		content, _ := os.ReadFile(filepath.Join(src, items[i].Source.Path))
		mustEqualFile(t, filepath.Join(e.root, items[i].Source.Path), content, items[i].Source.Mtime)
	}
}
