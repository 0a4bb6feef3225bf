package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/ferry-sync/ferry/internal/demokit"
	"github.com/ferry-sync/ferry/internal/seaweedtest"
)

// s3Cluster is n `ferry serve` processes over one SeaweedFS bucket: every
// node serves user alice with the root s3://BUCKET/alice, each with its
// own host key and state, each behind a tripProxy sharing trip.
type s3Cluster struct {
	weed     *seaweedtest.Cluster
	bucket   string
	nodes    []*node
	identity string // alice's key
}

func startS3Cluster(t *testing.T, ctx context.Context, n int, trip *tripWire) *s3Cluster {
	t.Helper()
	c := &s3Cluster{weed: seaweedtest.Start(t)}
	c.bucket = c.weed.NewBucket(t)
	dir := t.TempDir()
	creds := filepath.Join(dir, "aws-credentials")
	write(t, creds, "[default]\naws_access_key_id = "+c.weed.AccessKey()+"\naws_secret_access_key = "+c.weed.SecretKey()+"\n")
	c.identity = filepath.Join(dir, "id_ed25519")
	authKeys := filepath.Join(dir, "authorized_keys")
	if err := demokit.WriteKeys(c.identity, authKeys, "ferry demo"); err != nil {
		t.Fatal(err)
	}
	server := filepath.Join(dir, "server.yaml")
	write(t, server, "s3:\n  endpoint: "+c.weed.Endpoint()+"\n  secure: false\n  credentials_file: "+creds+"\n"+
		"users:\n  - name: alice\n    root: s3://"+c.bucket+"/alice\n    authorized_keys: "+authKeys+"\n")
	for i := range n {
		nd := &node{dir: filepath.Join(dir, fmt.Sprintf("node%d", i+1))}
		if err := os.Mkdir(nd.dir, 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		if nd.port, err = demokit.FreePort(); err != nil {
			t.Fatal(err)
		}
		nd.srv, err = startConfigServer(ctx, nd.dir, server, nd.port)
		if err != nil {
			t.Fatal(err)
		}
		nd.once = new(sync.Once)
		t.Cleanup(nd.stop)
		nd.proxy = startTripProxy(t, fmt.Sprintf("127.0.0.1:%d", nd.port), trip)
		c.nodes = append(c.nodes, nd)
	}
	return c
}

// startConfigServer runs this binary as `ferry serve --config server` on
// 127.0.0.1:port with its host key, state and log in dir, and waits (at
// most 30 s) until it accepts connections.
func startConfigServer(ctx context.Context, dir, server string, port int) (*demoServer, error) {
	return startServeProcess(ctx, dir, fmt.Sprintf("127.0.0.1:%d", port), 30*time.Second, "--config", server)
}

// agentJobs writes a two-way jobs file for one agent: job "j" from local
// to folder of alice's root on the given nodes (through their proxies),
// transport tcp so that every byte passes a proxy.
func agentJobs(t *testing.T, dir, local, folder, identity string, nodes []*node) string {
	t.Helper()
	var hosts []string
	for _, nd := range nodes {
		hosts = append(hosts, nd.proxy.addr)
	}
	p := filepath.Join(dir, "jobs.yaml")
	write(t, p, fmt.Sprintf("state_dir: %s\njobs:\n  - name: j\n    local: %s\n    remote: ferry://alice@%s/%s\n    identity: %s\n    direction: two-way\n    transport: tcp\n",
		filepath.Join(dir, "state"), local, strings.Join(hosts, ","), folder, identity))
	return p
}

type clusterAgent struct {
	name   string
	folder string // below alice's root
	local  string
	jobs   string
}

type syncResult struct {
	code        int
	out, stderr string
}

func (a *clusterAgent) sync(t *testing.T, ctx context.Context) syncResult {
	code, out, stderr := runCLI(t, ctx, "sync", "--accept-new-host-key", "--log-level", "info", "--config", a.jobs, "j")
	return syncResult{code, out, stderr}
}

// uploadedParts waits, at most 20 s, until the unfinished multipart
// uploads under prefix hold at least want bytes of parts, and returns
// what they hold.
func uploadedParts(t *testing.T, ctx context.Context, cl *s3Cluster, prefix string, want int64) int64 {
	t.Helper()
	core := &minio.Core{Client: cl.weed.Client()}
	deadline := time.Now().Add(20 * time.Second)
	for {
		var held int64
		ups, err := core.ListMultipartUploads(ctx, cl.bucket, prefix, "", "", "", 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range ups.Uploads {
			parts, err := core.ListObjectParts(ctx, cl.bucket, u.Key, u.UploadID, 0, 1000)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range parts.ObjectParts {
				held += p.Size
			}
		}
		if held >= want || time.Now().After(deadline) {
			if held < want {
				t.Fatalf("the node stored %d bytes of parts before the kill, want at least %d", held, want)
			}
			return held
		}
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// files2tree is every agent's files at their place in alice's root.
func files2tree(agents []*clusterAgent, files map[string]map[string]string) map[string]string {
	out := map[string]string{}
	for _, a := range agents {
		for p, content := range files[a.name] {
			out[strings.TrimPrefix(a.folder+"/", "/")+p] = content
		}
	}
	return out
}

// dropDirMarkers removes from tree the directory markers ("dir/", empty)
// of directories that dirs has too: an S3 root may or may not keep a
// marker for a directory that holds files (one an agent created has one;
// one only implied by another agent's keys has none). Any other marker
// stays, to be reported.
func dropDirMarkers(tree, dirs map[string]string) map[string]string {
	out := map[string]string{}
	for p, c := range tree {
		if _, ok := dirs[p]; ok && strings.HasSuffix(p, "/") && c == "" {
			continue
		}
		out[p] = c
	}
	return out
}

// completed says that a pass ended normally: exit 0, or exit 1 only
// because another writer changed a path between its scan and its write
// (the store refused the write: the next pass reconciles it).
func completed(r syncResult) bool {
	if r.code == exitOK {
		return true
	}
	return r.code == exitError && strings.Contains(r.stderr, "the pass left planned paths undone") &&
		strings.Contains(r.stderr, "changed during the pass") && !strings.Contains(r.stderr, "unable to connect")
}

// contentsLike is every content of the files in tree whose name is base
// or a conflict copy of it (base.conflict-mine*.ext), sorted.
func contentsLike(tree map[string]string, dir, base string) []string {
	ext := filepath.Ext(base)
	stem := strings.TrimSuffix(base, ext)
	var out []string
	for p, c := range tree {
		d, name := filepath.Split(p)
		if d != dir {
			continue
		}
		if name == base || strings.HasPrefix(name, stem+".conflict-mine") && strings.HasSuffix(name, ext) {
			out = append(out, c)
		}
	}
	sort.Strings(out)
	return out
}

// TestS3ClusterKillsANodeMidTransfer: three `ferry serve` nodes over one
// SeaweedFS bucket, three agents syncing two-way into overlapping folders
// of one user (the whole root, docs, docs/team), each listing all three
// nodes. The node that first carries 8 MiB of an upload is killed
// (SIGKILL) there; every agent's sync completes on another node. After
// every agent has synced twice more, the bucket holds exactly the union
// of the three trees, every agent holds its part, and the file two agents
// both wrote survives in both versions, as the file and a conflict copy.
func TestS3ClusterKillsANodeMidTransfer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts SeaweedFS and three ferry serve processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const limit, size = 20 << 20, 40 << 20
	wire := newTripWire(limit)
	cl := startS3Cluster(t, ctx, 3, wire)
	dir := t.TempDir()
	big := strings.Repeat("ferry cluster big file\n", size/23+1)[:size]
	agents := []*clusterAgent{
		{name: "a", folder: ""},
		{name: "b", folder: "docs"},
		{name: "c", folder: "docs/team"},
	}
	files := map[string]map[string]string{ // agent -> path in its folder -> content
		"a": {"top.txt": "a's top", "docs/from-a.txt": "a's doc", "docs/same.txt": "written by a", "media/big.bin": big},
		"b": {"from-b.txt": "b's doc", "same.txt": "written by b", "team/plan.txt": "b's plan"},
		"c": {"notes.txt": "c's notes", "sub/deep.txt": "c's deep file"},
	}
	for _, a := range agents {
		a.local = filepath.Join(dir, a.name, "local")
		for p, content := range files[a.name] {
			write(t, filepath.Join(a.local, filepath.FromSlash(p)), content)
		}
		a.jobs = agentJobs(t, filepath.Join(dir, a.name), a.local, a.folder, cl.identity, cl.nodes)
	}

	// All three at once; the trip wire kills the first node to carry
	// 8 MiB (a's big file is the only upload that large).
	results := make([]chan syncResult, len(agents))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, a := range agents {
		results[i] = make(chan syncResult, 1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i] <- a.sync(t, ctx)
		}()
	}
	close(start)
	var dead *node
	select {
	case p := <-wire.tripped:
		for _, nd := range cl.nodes {
			if nd.proxy == p {
				dead = nd
			}
		}
	case <-ctx.Done():
		t.Fatal("no node received 8 MiB")
	}
	// The parts of big.bin the node stored before it died: an upload
	// stores each 8 MiB part as the data arrives, so wait (bounded) for
	// the first two of the 20 MiB it was sent.
	held := uploadedParts(t, ctx, cl, "alice/media/", 16<<20)
	dead.kill(t)
	killed := time.Now()
	upBefore := map[*node]int64{}
	for _, nd := range cl.nodes {
		upBefore[nd] = nd.proxy.up.Load()
	}
	wg.Wait()
	for i, a := range agents {
		r := <-results[i]
		if !completed(r) {
			t.Fatalf("agent %s's sync during the kill: exit %d\n%s\n%s", a.name, r.code, r.out, r.stderr)
		}
		// Agent a's big file is what tripped the wire: its pass went on
		// on another node.
		if a.name == "a" && !strings.Contains(r.stderr, "going on on another server") {
			t.Errorf("agent a's log does not say its transfer went on on another server:\n%s", r.stderr)
		}
	}
	// Only what the store did not hold went again: the rest of big.bin
	// plus the small files, handshakes and framing (under 2 MiB).
	var resent int64
	for _, nd := range cl.nodes {
		if nd != dead {
			resent += nd.proxy.up.Load() - upBefore[nd]
		}
	}
	if max := int64(size) - held + 2<<20; resent > max {
		t.Errorf("%d bytes sent to the other nodes after the kill; the store held %d of big.bin's %d, so at most %d were due", resent, held, size, max)
	}
	t.Logf("failover timeline: node %s killed after %d bytes reached it (%d bytes of parts stored); every agent's first sync done %v after; %d bytes sent after the kill (big.bin's rest: %d)",
		dead.proxy.addr, limit, held, time.Since(killed).Round(time.Millisecond), resent, int64(size)-held)

	// Two more rounds bring every agent's edits to every other one.
	for round := range 2 {
		for _, a := range agents {
			if r := a.sync(t, ctx); r.code != exitOK {
				t.Fatalf("round %d, agent %s: exit %d\n%s\n%s", round+2, a.name, r.code, r.out, r.stderr)
			}
		}
	}

	// The bucket holds the union, with docs/same.txt and a conflict copy
	// holding a's and b's versions.
	got := bucketTree(t, cl.weed, cl.bucket, "alice/")
	want := map[string]string{}
	for _, a := range agents {
		for p, content := range files[a.name] {
			want[strings.TrimPrefix(a.folder+"/"+p, "/")] = content
		}
	}
	versions := contentsLike(got, "docs/", "same.txt")
	if strings.Join(versions, "|") != "written by a|written by b" {
		t.Fatalf("docs/same.txt and its conflict copies hold %q, want both agents' versions", versions)
	}
	for p := range got {
		if strings.HasPrefix(p, "docs/same") {
			delete(got, p)
		}
	}
	delete(want, "docs/same.txt")
	sameBucketTree(t, "the bucket", dropDirMarkers(got, withDirs(files2tree(agents, files))), want)

	// Every agent holds its part of it.
	all := dropDirMarkers(bucketTree(t, cl.weed, cl.bucket, "alice/"), withDirs(files2tree(agents, files)))
	for _, a := range agents {
		part := map[string]string{}
		prefix := strings.TrimPrefix(a.folder+"/", "/")
		for p, content := range all {
			if strings.HasPrefix(p, prefix) {
				part[strings.TrimPrefix(p, prefix)] = content
			}
		}
		sameBucketTree(t, "agent "+a.name+"'s folder", localTree(t, a.local), part)
	}
}

// TestS3ClusterConcurrentWritersKeepBoth: two agents write the same new
// path through different nodes at once. The store orders the two
// creates (If-None-Match: *): one wins, and the other agent's next pass
// keeps its edit as a conflict copy; neither is overwritten.
func TestS3ClusterConcurrentWritersKeepBoth(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cl := startS3Cluster(t, ctx, 2, newTripWire(0))
	dir := t.TempDir()
	var agents []*clusterAgent
	for i, name := range []string{"a", "b"} {
		a := &clusterAgent{name: name, folder: "shared", local: filepath.Join(dir, name, "local")}
		write(t, filepath.Join(a.local, "report.txt"), "the report as "+name+" wrote it")
		a.jobs = agentJobs(t, filepath.Join(dir, name), a.local, a.folder, cl.identity, cl.nodes[i:i+1])
		agents = append(agents, a)
	}
	results := make(chan syncResult, 2)
	start := make(chan struct{})
	for _, a := range agents {
		go func() {
			<-start
			results <- a.sync(t, ctx)
		}()
	}
	close(start)
	lost := 0
	for range agents {
		r := <-results
		if !completed(r) {
			t.Fatalf("concurrent sync: exit %d\n%s\n%s", r.code, r.out, r.stderr)
		}
		if r.code != exitOK {
			lost++
		}
	}
	t.Logf("%d of the two concurrent creates lost the race and were left for the next pass", lost)
	for round := range 2 {
		for _, a := range agents {
			if r := a.sync(t, ctx); r.code != exitOK {
				t.Fatalf("round %d, agent %s: exit %d\n%s\n%s", round+2, a.name, r.code, r.out, r.stderr)
			}
		}
	}
	got := dropDirMarkers(bucketTree(t, cl.weed, cl.bucket, "alice/shared/"), nil)
	versions := contentsLike(got, "", "report.txt")
	if strings.Join(versions, "|") != "the report as a wrote it|the report as b wrote it" || len(got) != 2 {
		t.Fatalf("the bucket holds %q, want report.txt and one conflict copy holding both agents' versions", got)
	}
	for _, a := range agents {
		sameBucketTree(t, "agent "+a.name+"'s folder", localTree(t, a.local), got)
	}
}
