package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/agent"
	"github.com/ferry-sync/ferry/internal/demokit"
)

// node is one `ferry serve` process of a cluster, reached through a proxy
// that counts what the agent sends it.
type node struct {
	dir   string
	port  int // ferry serve's own
	srv   *demoServer
	once  *sync.Once // srv stopped or killed
	proxy *tripProxy
}

// startCluster runs n `ferry serve` processes on loopback over one root
// (each with its own host key, state and log in a directory of its own),
// trusting one client key, each behind a tripProxy sharing trip. It
// returns the nodes, the served folder (root/docs) and the client key.
func startCluster(t *testing.T, ctx context.Context, n int, trip *tripWire) (nodes []*node, served, identity string) {
	t.Helper()
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	served = filepath.Join(root, "docs")
	if err := os.MkdirAll(served, 0o755); err != nil {
		t.Fatal(err)
	}
	identity = filepath.Join(dir, "id_ed25519")
	authKeys := filepath.Join(dir, "authorized_keys")
	if err := demokit.WriteKeys(identity, authKeys, "ferry demo"); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		nd := &node{dir: filepath.Join(dir, fmt.Sprintf("node%d", i+1))}
		if err := os.Mkdir(nd.dir, 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		if nd.port, err = demokit.FreePort(); err != nil {
			t.Fatal(err)
		}
		nd.start(t, ctx, root, authKeys)
		nd.proxy = startTripProxy(t, fmt.Sprintf("127.0.0.1:%d", nd.port), trip)
		nodes = append(nodes, nd)
	}
	return nodes, served, identity
}

func (nd *node) start(t *testing.T, ctx context.Context, root, authKeys string) {
	t.Helper()
	srv, err := startDemoServer(ctx, &env{stdout: io.Discard, stderr: io.Discard}, nd.dir, root, authKeys, nd.port)
	if err != nil {
		t.Fatal(err)
	}
	nd.srv, nd.once = srv, new(sync.Once)
	t.Cleanup(nd.stop)
}

// stop ends the node (SIGINT, as ferry serve is stopped); its proxy stays,
// hanging up on every connection until the node is started again.
func (nd *node) stop() { nd.once.Do(nd.srv.stop) }

// kill ends the node at once (SIGKILL) and cuts the agent off it: the
// proxy closes its connections and stops listening.
func (nd *node) kill(t *testing.T) {
	t.Helper()
	var err error
	nd.once.Do(func() {
		if err = nd.srv.cmd.Process.Kill(); err == nil {
			<-nd.srv.done
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	nd.proxy.close()
}

// clusterJobs writes a jobs file with job "j" from local to the served
// folder of every node (through its proxy), transport tcp.
func clusterJobs(t *testing.T, dir, local, identity string, ports []int, extra string) string {
	t.Helper()
	var hosts []string
	for _, p := range ports {
		hosts = append(hosts, fmt.Sprintf("127.0.0.1:%d", p))
	}
	p := filepath.Join(dir, "jobs.yaml")
	write(t, p, fmt.Sprintf("state_dir: %s\njobs:\n  - name: j\n    local: %s\n    remote: ferry://tester@%s/docs\n    identity: %s\n    direction: local-to-remote\n    transport: tcp\n%s",
		filepath.Join(dir, "state"), local, strings.Join(hosts, ","), identity, extra))
	return p
}

// tripWire is shared by the proxies of a cluster: the first to carry
// limit bytes from the agent to its node stops forwarding there and
// reports on tripped. Only one proxy trips.
type tripWire struct {
	limit   int64
	armed   atomic.Bool
	tripped chan *tripProxy
}

func newTripWire(limit int64) *tripWire {
	w := &tripWire{limit: limit, tripped: make(chan *tripProxy, 1)}
	w.armed.Store(limit > 0)
	return w
}

// tripProxy forwards TCP connections to a node and counts the bytes the
// agent sends (upstream), noting when the count reaches marks.
type tripProxy struct {
	addr string
	port int
	wire *tripWire
	up   atomic.Int64
	// hold is closed when the proxy is closed: a copy stopped at the
	// trip waits for it.
	hold chan struct{}

	mu       sync.Mutex
	ln       net.Listener
	conns    []net.Conn
	closed   bool
	accepted []time.Time // when each connection was made
	// firstData is when upstream passed afterData bytes, once set.
	afterData int64
	firstData time.Time
}

func startTripProxy(t *testing.T, target string, wire *tripWire) *tripProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tripProxy{addr: ln.Addr().String(), port: ln.Addr().(*net.TCPAddr).Port, wire: wire, ln: ln, hold: make(chan struct{})}
	t.Cleanup(p.close)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			if p.closed {
				p.mu.Unlock()
				c.Close()
				u.Close()
				return
			}
			p.conns = append(p.conns, c, u)
			p.accepted = append(p.accepted, time.Now())
			p.mu.Unlock()
			go func() {
				p.upstream(u, c)
				u.Close()
			}()
			go func() {
				io.Copy(c, u)
				c.Close()
			}()
		}
	}()
	return p
}

// upstream copies from the agent to the node, counting, until the wire
// trips here: then it forwards no more and waits to be closed.
func (p *tripProxy) upstream(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			b := buf[:n]
			tripped := false
			if p.wire.armed.Load() {
				if left := p.wire.limit - p.up.Load(); int64(n) >= left && p.wire.armed.CompareAndSwap(true, false) {
					b, tripped = b[:max(left, 0)], true
				}
			}
			if _, werr := dst.Write(b); werr != nil {
				return
			}
			total := p.up.Add(int64(len(b)))
			p.mu.Lock()
			if p.afterData > 0 && p.firstData.IsZero() && total >= p.afterData {
				p.firstData = time.Now()
			}
			p.mu.Unlock()
			if tripped {
				p.wire.tripped <- p
				<-p.hold
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// watchData notes when upstream has carried n more bytes than now.
func (p *tripProxy) watchData(n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.afterData, p.firstData = p.up.Load()+n, time.Time{}
}

// since is the first connection made at or after t, and when upstream
// passed the watchData mark (zero times if not).
func (p *tripProxy) since(t time.Time) (conn, data time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, a := range p.accepted {
		if !a.Before(t) {
			conn = a
			break
		}
	}
	return conn, p.firstData
}

func (p *tripProxy) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	close(p.hold)
	p.ln.Close()
	for _, c := range p.conns {
		c.Close()
	}
}

// TestKilledNodeMidUploadFailsOverToAnotherNode: three `ferry serve`
// processes over one root, an agent whose remote lists all three. The
// node the upload goes to is killed (SIGKILL) once 8 MiB of a 24 MiB
// file have reached it; the same `ferry sync` goes on on another node,
// resuming from the partial file the dead node left in the shared root:
// the result is byte-exact and only what the partial did not hold is
// sent again.
func TestKilledNodeMidUploadFailsOverToAnotherNode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three ferry serve processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const size, limit = 24 << 20, 8 << 20
	wire := newTripWire(limit)
	nodes, served, identity := startCluster(t, ctx, 3, wire)
	dir := t.TempDir()
	local := filepath.Join(dir, "local")
	if err := os.Mkdir(local, 0o755); err != nil {
		t.Fatal(err)
	}
	writeBig(t, filepath.Join(local, "big.bin"), size)
	write(t, filepath.Join(local, "small.txt"), "small")
	var ports []int
	for _, nd := range nodes {
		ports = append(ports, nd.proxy.port)
	}
	cfg := clusterJobs(t, dir, local, identity, ports, "")

	type result struct {
		code        int
		out, stderr string
	}
	done := make(chan result, 1)
	go func() {
		code, out, stderr := runCLI(t, ctx, "sync", "--json", "--accept-new-host-key", "--log-level", "info", "--config", cfg, "j")
		done <- result{code, out, stderr}
	}()

	var dead *node
	select {
	case p := <-wire.tripped:
		for _, nd := range nodes {
			if nd.proxy == p {
				dead = nd
			}
		}
	case r := <-done:
		t.Fatalf("the sync ended before %d bytes reached a node: exit %d\n%s\n%s", limit, r.code, r.out, r.stderr)
	case <-ctx.Done():
		t.Fatal("no node received the upload")
	}
	for _, nd := range nodes {
		nd.proxy.watchData(1 << 20)
	}
	// The timeline starts at the SIGKILL: the agent may see its
	// connection end before kill returns.
	killed := time.Now()
	dead.kill(t)
	partial := filepath.Join(served, "big.bin.partial")
	fi, err := os.Stat(partial)
	if err != nil {
		t.Fatalf("the killed node left no partial file: %v", err)
	}
	held := fi.Size()
	upBefore := map[*node]int64{}
	for _, nd := range nodes {
		upBefore[nd] = nd.proxy.up.Load()
	}

	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		t.Fatal("the sync did not end after the kill")
	}
	if r.code != exitOK {
		t.Fatalf("sync after the kill: exit %d\n%s\n%s", r.code, r.out, r.stderr)
	}
	var doc struct {
		Pass struct {
			Created  int   `json:"created"`
			Problems int   `json:"problems"`
			Bytes    int64 `json:"bytes"`
		} `json:"pass"`
		Transport struct {
			Server string `json:"server"`
		} `json:"transport"`
	}
	if err := json.Unmarshal([]byte(r.out), &doc); err != nil {
		t.Fatalf("sync --json: %v\n%s", err, r.out)
	}
	if doc.Pass.Created != 2 || doc.Pass.Problems != 0 {
		t.Fatalf("pass %+v, want both files created and no problem\n%s", doc.Pass, r.stderr)
	}
	for _, name := range []string{"big.bin", "small.txt"} {
		want, _ := os.ReadFile(filepath.Join(local, name))
		got, err := os.ReadFile(filepath.Join(served, name))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s on the cluster: %v, %d bytes, equal %v", name, err, len(got), bytes.Equal(got, want))
		}
	}
	if _, err := os.Stat(partial); !os.IsNotExist(err) {
		t.Fatalf("partial file left behind: %v", err)
	}

	// Where the pass went on, and what it sent there.
	var on *node
	var resent int64
	for _, nd := range nodes {
		if d := nd.proxy.up.Load() - upBefore[nd]; nd != dead && d > 0 {
			if on != nil {
				t.Fatalf("the pass went on on two nodes (%d and %d)", on.port, nd.port)
			}
			on, resent = nd, d
		}
	}
	if on == nil {
		t.Fatal("no other node received anything after the kill")
	}
	if doc.Transport.Server != on.proxy.addr {
		t.Errorf("sync --json names server %q, want the node it went on on, %s", doc.Transport.Server, on.proxy.addr)
	}
	if held < limit/2 {
		t.Fatalf("the killed node's partial holds %d bytes of the %d it was sent", held, limit)
	}
	// What crossed after the kill: the rest of big.bin, small.txt (if
	// it had not gone), the SSH handshake and the protocol's framing.
	if max := size - held + 1<<20; resent > max {
		t.Fatalf("%d bytes sent to the node after the kill; the partial held %d of %d, so at most %d were due", resent, held, size, max)
	}
	conn, data := on.proxy.since(killed)
	if conn.IsZero() || data.IsZero() {
		t.Fatalf("no connection or no data on node %d after the kill", on.port)
	}
	t.Logf("failover timeline: node %s killed after %d bytes (partial held %d); connection to %s after %v; first MiB of data after %v; %d bytes sent there (the file's rest is %d); pass done in %v",
		dead.proxy.addr, limit, held, on.proxy.addr, conn.Sub(killed).Round(time.Millisecond), data.Sub(killed).Round(time.Millisecond),
		resent, size-held, time.Since(killed).Round(time.Millisecond))
	if !strings.Contains(r.stderr, "going on on another server") {
		t.Errorf("the log does not say the transfer went on on another server:\n%s", r.stderr)
	}
}

// TestEveryNodeDownNamesEachOne: with every server of the remote down,
// `ferry sync` fails saying, for each server it tried, that it could not
// connect.
func TestEveryNodeDownNamesEachOne(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	local := filepath.Join(dir, "local")
	if err := os.Mkdir(local, 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(local, "a.txt"), "a")
	identity := filepath.Join(dir, "id_ed25519")
	if err := demokit.WriteKeys(identity, filepath.Join(dir, "authorized_keys"), "ferry demo"); err != nil {
		t.Fatal(err)
	}
	var ports []int
	for range 3 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
		ln.Close()
	}
	cfg := clusterJobs(t, dir, local, identity, ports, "")
	code, out, stderr := runCLI(t, ctx, "sync", "--config", cfg, "j")
	if code == exitOK {
		t.Fatalf("sync with every server down succeeded:\n%s", out)
	}
	if !strings.Contains(stderr, "unable to connect to any of the 3 ferry servers") {
		t.Errorf("the error does not say no server answered:\n%s", stderr)
	}
	for _, p := range ports {
		if want := fmt.Sprintf("unable to connect to ferry server 127.0.0.1:%d", p); !strings.Contains(stderr, want) {
			t.Errorf("the error does not name 127.0.0.1:%d:\n%s", p, stderr)
		}
	}
}

// TestEveryNodePinnedUnderItsOwnName: each server of the remote is pinned
// in known_hosts under its own host:port the first time the agent
// connects to it, and a changed key on one of them is refused, as on a
// single server, never stepped around to another.
func TestEveryNodePinnedUnderItsOwnName(t *testing.T) {
	if testing.Short() {
		t.Skip("starts ferry serve processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	nodes, served, identity := startCluster(t, ctx, 2, newTripWire(0))
	root := filepath.Dir(served)
	authKeys := filepath.Join(filepath.Dir(root), "authorized_keys")
	dir := t.TempDir()
	local := filepath.Join(dir, "local")
	if err := os.Mkdir(local, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := clusterJobs(t, dir, local, identity, []int{nodes[0].proxy.port, nodes[1].proxy.port}, "")
	known := filepath.Join(dir, "state", "known_hosts")
	// Only one node up at a time: the agent reaches that one whichever it
	// tries first (the other's proxy hangs up).
	only := func(up int) {
		for i, nd := range nodes {
			nd.stop()
			if i == up {
				nd.start(t, ctx, root, authKeys)
			}
		}
	}
	for i := range nodes {
		only(i)
		write(t, filepath.Join(local, fmt.Sprintf("f%d.txt", i)), "x")
		code, out, stderr := runCLI(t, ctx, "sync", "--accept-new-host-key", "--config", cfg, "j")
		if code != exitOK {
			t.Fatalf("sync with node %d up: exit %d\n%s\n%s", i+1, code, out, stderr)
		}
		if want := fmt.Sprintf("server: %s (of 2)", nodes[i].proxy.addr); !strings.Contains(out, want) {
			t.Errorf("sync with node %d up does not say %q:\n%s", i+1, want, out)
		}
	}
	b, err := os.ReadFile(known)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	for _, nd := range nodes {
		name := fmt.Sprintf("[127.0.0.1]:%d ", nd.proxy.port)
		var line string
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, name) {
				line = l
			}
		}
		if line == "" {
			t.Fatalf("known_hosts does not pin %s:\n%s", name, b)
		}
		keys[strings.TrimPrefix(line, name)] = true
	}
	if len(keys) != 2 {
		t.Fatalf("the two nodes are pinned with one key:\n%s", b)
	}

	// The second node comes back with a new host key; the first is down,
	// so the agent gets to the second.
	nodes[1].stop()
	if err := os.Remove(filepath.Join(nodes[1].dir, "host_ed25519")); err != nil {
		t.Fatal(err)
	}
	only(1)
	code, out, stderr := runCLI(t, ctx, "sync", "--accept-new-host-key", "--config", cfg, "j")
	if code == exitOK {
		t.Fatalf("sync to a node whose host key changed succeeded:\n%s", out)
	}
	if want := fmt.Sprintf("THE HOST KEY OF [127.0.0.1]:%d HAS CHANGED", nodes[1].proxy.port); !strings.Contains(stderr, want) {
		t.Fatalf("the refusal does not say %q:\n%s", want, stderr)
	}
	if after, _ := os.ReadFile(known); string(after) != string(b) {
		t.Fatalf("known_hosts changed:\n%s", after)
	}
}

// TestRunSaysWhichNodeItIsOn: `ferry run` with a remote of two nodes says
// in status which node its job is on; when that node goes, the next pass
// runs on the other, and status follows.
func TestRunSaysWhichNodeItIsOn(t *testing.T) {
	if testing.Short() {
		t.Skip("starts ferry serve processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	nodes, served, identity := startCluster(t, ctx, 2, newTripWire(0))
	dir := t.TempDir()
	local := filepath.Join(dir, "local")
	if err := os.Mkdir(local, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := clusterJobs(t, dir, local, identity, []int{nodes[0].proxy.port, nodes[1].proxy.port},
		"    interval: 1h\n    retry: {attempts: 5, interval: 200ms}\n")
	// Both nodes pinned beforehand, each reached with the other down: the
	// agent does not accept new keys.
	root := filepath.Dir(served)
	authKeys := filepath.Join(filepath.Dir(root), "authorized_keys")
	for _, nd := range nodes {
		nd.stop()
		if code, out, stderr := runCLI(t, ctx, "sync", "--accept-new-host-key", "--config", cfg, "j"); code != exitOK {
			t.Fatalf("sync with node %d down: exit %d\n%s\n%s", nd.port, code, out, stderr)
		}
		nd.start(t, ctx, root, authKeys)
	}

	rj := startRun(t, ctx, cfg)
	j := rj.waitFor(t, ctx, "first pass", func(st agent.JobStatus) bool { return passAfter(time.Time{})(st) && st.Server != "" })
	var on, other *node
	for i, nd := range nodes {
		if j.Server == nd.proxy.addr {
			on, other = nd, nodes[1-i]
		}
	}
	if on == nil {
		t.Fatalf("status names server %q, not one of the nodes", j.Server)
	}
	on.kill(t)
	write(t, filepath.Join(local, "after.txt"), "after")
	if _, err := rj.c.SyncNow(ctx, "j"); err != nil {
		t.Fatal(err)
	}
	j = rj.waitFor(t, ctx, "a pass on the other node", func(st agent.JobStatus) bool {
		_, err := os.Stat(filepath.Join(served, "after.txt"))
		return passAfter(j.Last.Start)(st) && err == nil && st.Server == other.proxy.addr
	})
}

// TestKilledNodeMidUDPUploadFailsOverToAnotherNode: as
// TestKilledNodeMidUploadFailsOverToAnotherNode over UDP data sessions,
// which go to the node straight, past the proxies: the node is killed
// once its partial of the file holds 8 MiB, and the pass, going on on
// another node, sends less than the whole file again (the pass's bytes
// count what each node acknowledged).
func TestKilledNodeMidUDPUploadFailsOverToAnotherNode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three ferry serve processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const size, limit = 32 << 20, 8 << 20
	nodes, served, identity := startCluster(t, ctx, 3, newTripWire(0))
	dir := t.TempDir()
	local := filepath.Join(dir, "local")
	if err := os.Mkdir(local, 0o755); err != nil {
		t.Fatal(err)
	}
	writeBig(t, filepath.Join(local, "big.bin"), size)
	var ports []int
	for _, nd := range nodes {
		ports = append(ports, nd.proxy.port)
	}
	// A cap keeps the upload long enough to be caught half-way on a
	// loaded machine.
	cfg := clusterJobs(t, dir, local, identity, ports, "    bandwidth: {upload: 200Mbps}\n")
	write(t, cfg, strings.Replace(read(t, cfg), "transport: tcp", "transport: udp", 1))

	type result struct {
		code        int
		out, stderr string
	}
	done := make(chan result, 1)
	go func() {
		code, out, stderr := runCLI(t, ctx, "sync", "--json", "--accept-new-host-key", "--log-level", "info", "--config", cfg, "j")
		done <- result{code, out, stderr}
	}()
	// The barrier: the partial reaching limit bytes (polled; UDP does
	// not pass the proxies to be counted there).
	partial := filepath.Join(served, "big.bin.partial")
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for reached := false; !reached; {
		select {
		case r := <-done:
			t.Fatalf("the sync ended before the partial held %d bytes: exit %d\n%s\n%s", limit, r.code, r.out, r.stderr)
		case <-ctx.Done():
			t.Fatal("the partial never held the bytes to kill at")
		case <-tick.C:
			fi, err := os.Stat(partial)
			reached = err == nil && fi.Size() >= limit
		}
	}
	var dead *node
	for _, nd := range nodes {
		if conn, _ := nd.proxy.since(time.Time{}); !conn.IsZero() {
			dead = nd
		}
	}
	killed := time.Now()
	dead.kill(t)
	r := <-done
	if r.code != exitOK {
		t.Fatalf("sync after the kill: exit %d\n%s\n%s", r.code, r.out, r.stderr)
	}
	var doc struct {
		Pass struct {
			Created  int   `json:"created"`
			Problems int   `json:"problems"`
			Bytes    int64 `json:"bytes"`
		} `json:"pass"`
		Transport struct {
			UDP    bool   `json:"udp"`
			Server string `json:"server"`
		} `json:"transport"`
	}
	if err := json.Unmarshal([]byte(r.out), &doc); err != nil {
		t.Fatalf("sync --json: %v\n%s", err, r.out)
	}
	want, _ := os.ReadFile(filepath.Join(local, "big.bin"))
	got, err := os.ReadFile(filepath.Join(served, "big.bin"))
	if err != nil || !bytes.Equal(got, want) || doc.Pass.Created != 1 || doc.Pass.Problems != 0 || !doc.Transport.UDP {
		t.Fatalf("after the kill: %v, %d bytes, equal %v; pass %+v, transport %+v\n%s", err, len(got), bytes.Equal(got, want), doc.Pass, doc.Transport, r.stderr)
	}
	if doc.Transport.Server == "" || doc.Transport.Server == dead.proxy.addr {
		t.Fatalf("the pass ended on %q, want another node than the killed %s", doc.Transport.Server, dead.proxy.addr)
	}
	if doc.Pass.Bytes >= size+limit/2 {
		t.Fatalf("the pass sent %d bytes for a %d-byte file whose partial held at least %d when its node was killed: the rest was not resumed", doc.Pass.Bytes, size, limit)
	}
	var reconnect time.Duration
	for _, nd := range nodes {
		if conn, _ := nd.proxy.since(killed); nd.proxy.addr == doc.Transport.Server && !conn.IsZero() {
			reconnect = conn.Sub(killed).Round(time.Millisecond)
		}
	}
	t.Logf("failover timeline (UDP): node %s killed with %d bytes in the partial; connection to %s after %v; the pass ended %v after the kill, %d bytes sent in all for %d",
		dead.proxy.addr, limit, doc.Transport.Server, reconnect, time.Since(killed).Round(time.Millisecond), doc.Pass.Bytes, size)
}
