// Command democluster runs ferry as a cluster on loopback: a real
// SeaweedFS (weed server -s3), several `ferry serve` nodes over one bucket
// and several agents syncing into it at once, each agent's remote listing
// every node. `make demo-cluster` shows it on sample folders; `make
// bench-cluster` (-bench) measures one node against three on the standard
// workloads, beside SeaweedFS's own ceiling with plain minio-go uploads.
//
// It needs a built ferry (-ferry, default bin/ferry) and weed (FERRY_WEED,
// or weed on PATH; scripts/seaweedfs.sh builds it).
package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"golang.org/x/crypto/ssh"
	"golang.org/x/sync/errgroup"

	"github.com/ferry-sync/ferry/internal/gentree"
	"github.com/ferry-sync/ferry/internal/seaweedtest"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "democluster:", err)
		os.Exit(1)
	}
}

type options struct {
	ferry     string
	nodes     []int
	agents    int
	bench     bool
	workloads []string
	keep      bool
	scale     float64
}

func run() error {
	var o options
	var nodes, workloads string
	flag.StringVar(&o.ferry, "ferry", "bin/ferry", "the ferry binary the nodes and agents run")
	flag.StringVar(&nodes, "nodes", "", "node counts to run, comma-separated (default 3; with -bench 1,3)")
	flag.IntVar(&o.agents, "agents", 3, "agents syncing at once")
	flag.BoolVar(&o.bench, "bench", false, "measure: each agent uploads each workload; print goodput and CPU per GB per node")
	flag.StringVar(&workloads, "workloads", "small,tree", "with -bench: the workloads (../shared/BENCH.md)")
	flag.BoolVar(&o.keep, "keep", false, "keep the working directory")
	flag.Float64Var(&o.scale, "scale", 1, "with -bench: scale the workloads' file counts and big-file size (0.25: a quarter)")
	flag.Parse()
	if nodes == "" {
		nodes = "3"
		if o.bench {
			nodes = "1,3"
		}
	}
	for _, s := range strings.Split(nodes, ",") {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return fmt.Errorf("-nodes %q: want counts like 1,3", nodes)
		}
		o.nodes = append(o.nodes, n)
	}
	o.workloads = strings.Split(workloads, ",")
	if _, err := os.Stat(o.ferry); err != nil {
		return fmt.Errorf("no ferry binary at %s (make build): %w", o.ferry, err)
	}
	var err error
	if o.ferry, err = filepath.Abs(o.ferry); err != nil {
		return err
	}
	weed, err := seaweedtest.Binary()
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "ferry-cluster-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Println("working directory:", work)
	} else {
		defer os.RemoveAll(work)
	}
	fmt.Printf("$ weed server -s3 (SeaweedFS %s, loopback)\n", weed)
	start := time.Now()
	sw, err := seaweedtest.Launch(weed, filepath.Join(work, "seaweedfs"))
	if err != nil {
		return err
	}
	defer sw.Close()
	fmt.Printf("  S3 gateway on %s, ready in %v\n", sw.Endpoint(), time.Since(start).Round(time.Millisecond))
	ctx := context.Background()
	if o.bench {
		return bench(ctx, o, sw, work)
	}
	return demo(ctx, o, sw, work, o.nodes[0])
}

// cluster is one bucket served by several ferry serve nodes.
type cluster struct {
	sw       *seaweedtest.Cluster
	bucket   string
	dir      string
	identity string
	nodes    []*node
}

type node struct {
	addr string
	cmd  *exec.Cmd
	done chan error
}

func startCluster(ctx context.Context, o options, sw *seaweedtest.Cluster, dir string, n int) (*cluster, error) {
	bucket, err := sw.CreateBucket(ctx)
	if err != nil {
		return nil, err
	}
	c := &cluster{sw: sw, bucket: bucket, dir: dir, identity: filepath.Join(dir, "id_ed25519")}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	creds := filepath.Join(dir, "aws-credentials")
	if err := os.WriteFile(creds, []byte("[default]\naws_access_key_id = "+sw.AccessKey()+"\naws_secret_access_key = "+sw.SecretKey()+"\n"), 0o600); err != nil {
		return nil, err
	}
	authKeys := filepath.Join(dir, "authorized_keys")
	if err := writeKeys(c.identity, authKeys); err != nil {
		return nil, err
	}
	server := filepath.Join(dir, "server.yaml")
	yaml := "s3:\n  endpoint: " + sw.Endpoint() + "\n  secure: false\n  credentials_file: " + creds + "\n" +
		"users:\n  - name: alice\n    root: s3://" + bucket + "/alice\n    authorized_keys: " + authKeys + "\n"
	if err := os.WriteFile(server, []byte(yaml), 0o644); err != nil {
		return nil, err
	}
	fmt.Printf("server.yaml (every node):\n%s", indent(yaml))
	for i := range n {
		nd, err := startNode(ctx, o.ferry, filepath.Join(dir, fmt.Sprintf("node%d", i+1)), server)
		if err != nil {
			c.stop()
			return nil, err
		}
		fmt.Printf("$ ferry serve --config server.yaml --listen %s   (node %d)\n", nd.addr, i+1)
		c.nodes = append(c.nodes, nd)
	}
	return c, nil
}

func startNode(ctx context.Context, ferry, dir, server string) (*node, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	logf, err := os.Create(filepath.Join(dir, "serve.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(ferry, "serve", "--config", server, "--listen", addr,
		"--host-key", filepath.Join(dir, "host_ed25519"), "--state-dir", filepath.Join(dir, "state"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	nd := &node{addr: addr, cmd: cmd, done: make(chan error, 1)}
	go func() { nd.done <- cmd.Wait(); logf.Close() }()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return nd, nil
		}
		select {
		case err := <-nd.done:
			b, _ := os.ReadFile(filepath.Join(dir, "serve.log"))
			return nil, fmt.Errorf("ferry serve exited (%v):\n%s", err, b)
		case <-ctx.Done():
			nd.stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	nd.stop()
	return nil, fmt.Errorf("ferry serve did not listen on %s within 30 s", addr)
}

func (nd *node) stop() {
	nd.cmd.Process.Signal(os.Interrupt)
	select {
	case <-nd.done:
	case <-time.After(10 * time.Second):
		nd.cmd.Process.Kill()
		<-nd.done
	}
}

func (c *cluster) stop() {
	for _, nd := range c.nodes {
		nd.stop()
	}
}

// remote is the ferry:// URL of folder on every node.
func (c *cluster) remote(folder string) string {
	var hosts []string
	for _, nd := range c.nodes {
		hosts = append(hosts, nd.addr)
	}
	return "ferry://alice@" + strings.Join(hosts, ",") + "/" + folder
}

// sync runs one agent's `ferry sync` of local with folder, two-way.
func (c *cluster) sync(ctx context.Context, ferry, dir, local, folder string) (time.Duration, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	jobs := filepath.Join(dir, "jobs.yaml")
	yaml := fmt.Sprintf("state_dir: %s\njobs:\n  - name: j\n    local: %s\n    remote: %s\n    identity: %s\n    direction: two-way\n",
		filepath.Join(dir, "state"), local, c.remote(folder), c.identity)
	if err := os.WriteFile(jobs, []byte(yaml), 0o644); err != nil {
		return 0, err
	}
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, ferry, "sync", "--accept-new-host-key", "--config", jobs, "j")
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("ferry sync of %s: %w\n%s", local, err, out.String())
	}
	return time.Since(start), nil
}

func demo(ctx context.Context, o options, sw *seaweedtest.Cluster, work string, n int) error {
	c, err := startCluster(ctx, o, sw, filepath.Join(work, "cluster"), n)
	if err != nil {
		return err
	}
	defer c.stop()
	folders := []string{"", "docs", "docs/team"}
	samples := []map[string]string{
		{"README.txt": "the whole root\n", "docs/overview.txt": "written by agent 1\n"},
		{"minutes.txt": "agent 2's minutes\n", "team/roster.txt": "agent 2's roster\n"},
		{"plan.txt": "agent 3's plan\n", "drafts/idea.txt": "agent 3's idea\n"},
	}
	for round := 1; round <= 2; round++ {
		fmt.Printf("round %d: %d agents sync at once, each listing every node\n", round, o.agents)
		g, gctx := errgroup.WithContext(ctx)
		for i := range o.agents {
			dir := filepath.Join(work, fmt.Sprintf("agent%d", i+1))
			local := filepath.Join(dir, "local")
			folder := folders[i%len(folders)]
			if round == 1 {
				for p, content := range samples[i%len(samples)] {
					f := filepath.Join(local, filepath.FromSlash(p))
					if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
						return err
					}
					if err := os.WriteFile(f, []byte(content), 0o644); err != nil {
						return err
					}
				}
			}
			g.Go(func() error {
				d, err := c.sync(gctx, o.ferry, dir, local, folder)
				var exit *exec.ExitError
				switch {
				case err == nil:
					fmt.Printf("  agent %d  /%-10s done in %v\n", i+1, folder, d.Round(time.Millisecond))
				case errors.As(err, &exit) && exit.ExitCode() == 1 && round == 1:
					// Another agent changed a path between this one's scan
					// and its write: the next round reconciles it.
					fmt.Printf("  agent %d  /%-10s left paths another agent changed for the next round\n", i+1, folder)
					err = nil
				}
				return err
			})
		}
		if err := g.Wait(); err != nil {
			return err
		}
	}
	fmt.Printf("bucket %s now holds:\n", c.bucket)
	for o := range sw.Client().ListObjects(ctx, c.bucket, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			return o.Err
		}
		fmt.Printf("  %-40s %6d bytes\n", o.Key, o.Size)
	}
	return nil
}

func bench(ctx context.Context, o options, sw *seaweedtest.Cluster, work string) error {
	type row struct {
		what     string
		bytes    int64
		took     time.Duration
		cpuPerGB []time.Duration
	}
	var rows []row
	for _, wl := range o.workloads {
		spec, err := gentree.Workload(wl)
		if err != nil {
			return err
		}
		if o.scale > 0 && o.scale != 1 {
			spec.Files = max(1, int(float64(spec.Files)*o.scale))
			spec.Dirs = max(1, int(float64(spec.Dirs)*o.scale))
			spec.BigSize = int64(float64(spec.BigSize) * o.scale)
		}
		// Each agent its own tree (different seeds), generated once.
		var trees []string
		var total int64
		for i := range o.agents {
			dir := filepath.Join(work, "data", wl, strconv.Itoa(i))
			_, b, err := gentree.Generate(dir, spec, uint64(i+1))
			if err != nil {
				return err
			}
			trees = append(trees, dir)
			total += b
		}
		// SeaweedFS's ceiling: the same files as plain PutObject calls,
		// one uploader per agent, 8 files at a time each.
		took, err := plainUpload(ctx, sw, trees)
		if err != nil {
			return err
		}
		rows = append(rows, row{what: wl + ": minio-go PutObject", bytes: total, took: took})
		for _, n := range o.nodes {
			c, err := startCluster(ctx, o, sw, filepath.Join(work, fmt.Sprintf("cluster-%s-%d", wl, n)), n)
			if err != nil {
				return err
			}
			before := make([]time.Duration, n)
			for i, nd := range c.nodes {
				before[i] = cpuOf(nd.cmd.Process.Pid)
			}
			g, gctx := errgroup.WithContext(ctx)
			start := time.Now()
			for i, tree := range trees {
				g.Go(func() error {
					dir := filepath.Join(c.dir, fmt.Sprintf("agent%d", i+1))
					_, err := c.sync(gctx, o.ferry, dir, tree, fmt.Sprintf("agent%d", i+1))
					return err
				})
			}
			err = g.Wait()
			took := time.Since(start)
			r := row{what: fmt.Sprintf("%s: ferry, %d node(s)", wl, n), bytes: total, took: took}
			for i, nd := range c.nodes {
				used := cpuOf(nd.cmd.Process.Pid) - before[i]
				r.cpuPerGB = append(r.cpuPerGB, time.Duration(float64(used)*1e9/float64(total)))
			}
			c.stop()
			if err != nil {
				return err
			}
			rows = append(rows, r)
		}
	}
	fmt.Printf("\n%d agents uploading at once, loopback, SeaweedFS on the same 2 cores\n\n", o.agents)
	fmt.Println("| run | data | time | aggregate goodput | CPU per GB of the data, each node |")
	fmt.Println("|---|---|---|---|---|")
	for _, r := range rows {
		var cpu []string
		for _, c := range r.cpuPerGB {
			cpu = append(cpu, fmt.Sprintf("%.2f s", c.Seconds()))
		}
		cell := strings.Join(cpu, ", ")
		if cell == "" {
			cell = "-"
		}
		fmt.Printf("| %s | %.0f MB | %.1f s | %.0f Mbit/s | %s |\n", r.what, float64(r.bytes)/1e6, r.took.Seconds(),
			float64(r.bytes)*8/r.took.Seconds()/1e6, cell)
	}
	return nil
}

// plainUpload puts every file of trees into a fresh bucket with minio-go,
// one uploader per tree, 8 files at a time each.
func plainUpload(ctx context.Context, sw *seaweedtest.Cluster, trees []string) (time.Duration, error) {
	bucket, err := sw.CreateBucket(ctx)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	for i, tree := range trees {
		g.Go(func() error {
			var files []string
			err := filepath.WalkDir(tree, func(p string, d fs.DirEntry, err error) error {
				if err == nil && d.Type().IsRegular() {
					files = append(files, p)
				}
				return err
			})
			if err != nil {
				return err
			}
			fg, fctx := errgroup.WithContext(gctx)
			fg.SetLimit(8)
			for _, p := range files {
				fg.Go(func() error {
					rel, _ := filepath.Rel(tree, p)
					_, err := sw.Client().FPutObject(fctx, bucket, fmt.Sprintf("plain%d/%s", i, filepath.ToSlash(rel)), p, minio.PutObjectOptions{})
					return err
				})
			}
			return fg.Wait()
		})
	}
	err = g.Wait()
	return time.Since(start), err
}

// cpuOf is the CPU time process pid has used (Linux: /proc/pid/stat,
// user plus system, at 100 ticks a second); 0 where it cannot be read.
func cpuOf(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces: fields count from
	// the closing parenthesis.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+s) * 10 * time.Millisecond
}

func writeKeys(identity, authKeys string) error {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	block, err := ssh.MarshalPrivateKey(priv, "ferry cluster demo")
	if err != nil {
		return err
	}
	if err := os.WriteFile(identity, pem.EncodeToMemory(block), 0o600); err != nil {
		return err
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		return err
	}
	return os.WriteFile(authKeys, ssh.MarshalAuthorizedKey(sp), 0o600)
}

// freePort finds a port free for TCP and UDP on 127.0.0.1.
func freePort() (int, error) {
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		u, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		u.Close()
		return port, nil
	}
	return 0, errors.New("unable to find a free port on 127.0.0.1")
}

func indent(s string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(s, "\n") {
		if l != "" {
			b.WriteString("  " + l)
		}
	}
	return b.String()
}
