// Package seaweedtest runs a real SeaweedFS (`weed server -s3`: master,
// volume server, filer and S3 gateway in one process) on loopback for
// integration tests, with one S3 identity so that every request is signed.
//
// The weed binary comes from FERRY_WEED or, failing that, PATH
// (scripts/seaweedfs.sh builds it; .ci/run sets FERRY_WEED). Without it a
// test is skipped, saying so, unless FERRY_REQUIRE_SEAWEED is set (as CI
// does), when it fails.
//
// Caveats: every Cluster is a process with its own data directory; start
// one per package (Launch in TestMain) and give each test its own bucket
// (NewBucket) rather than one per test, since a start takes seconds.
package seaweedtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// BinaryEnv names the weed binary to run.
const BinaryEnv = "FERRY_WEED"

// RequireEnv, when set, turns a missing weed binary from a skip into a
// failure.
const RequireEnv = "FERRY_REQUIRE_SEAWEED"

// Region is the region the gateway answers for (SeaweedFS accepts any;
// minio-go signs with this one).
const Region = "us-east-1"

// startTimeout bounds the wait for a started weed to serve S3 requests. A
// cold start on a loaded 2-core machine takes several seconds: the master
// elects itself, the volume server registers and the filer connects.
const startTimeout = 120 * time.Second

// attempts bounds the port sets tried: free ports are picked, closed and
// handed to weed, and another process may take one in between.
const attempts = 3

// ErrNoBinary is returned by Binary when no weed binary is found.
var ErrNoBinary = errors.New("no weed binary: set " + BinaryEnv + " or put weed on PATH (scripts/seaweedfs.sh builds it)")

// Binary returns the weed binary to run: FERRY_WEED, else weed on PATH.
func Binary() (string, error) {
	if p := os.Getenv(BinaryEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("unable to use %s=%s: %w", BinaryEnv, p, err)
		}
		return p, nil
	}
	p, err := exec.LookPath("weed")
	if err != nil {
		return "", ErrNoBinary
	}
	return p, nil
}

// Cluster is a running SeaweedFS.
type Cluster struct {
	endpoint  string
	accessKey string
	secretKey string
	dir       string
	client    *minio.Client
	log       *logBuffer
	proc      *process
	buckets   atomic.Int64
	closeOnce sync.Once
}

// Endpoint is the S3 gateway's host:port (plain HTTP, loopback).
func (c *Cluster) Endpoint() string { return c.endpoint }

// AccessKey is the access key of the cluster's only identity (an admin).
func (c *Cluster) AccessKey() string { return c.accessKey }

// SecretKey is that identity's secret key.
func (c *Cluster) SecretKey() string { return c.secretKey }

// Dir is the cluster's data directory.
func (c *Cluster) Dir() string { return c.dir }

// Log is what weed has written so far.
func (c *Cluster) Log() string { return c.log.String() }

// Client is a minio-go client signed with the cluster's keys, path-style.
func (c *Cluster) Client() *minio.Client { return c.client }

// NewBucket creates an empty bucket of its own for t and returns its name.
func (c *Cluster) NewBucket(t testing.TB) string {
	t.Helper()
	name, err := c.CreateBucket(context.Background())
	if err != nil {
		t.Fatalf("seaweedtest: %v", err)
	}
	return name
}

// CreateBucket creates an empty bucket with a fresh name and returns it.
func (c *Cluster) CreateBucket(ctx context.Context) (string, error) {
	name := fmt.Sprintf("ferry-%d-%s", c.buckets.Add(1), randomHex(4))
	if err := c.client.MakeBucket(ctx, name, minio.MakeBucketOptions{Region: Region}); err != nil {
		return "", fmt.Errorf("unable to create bucket %s: %w", name, err)
	}
	return name, nil
}

// Start starts a SeaweedFS for t in t.TempDir() and stops it when t ends.
// Without a weed binary it skips t (fails it under FERRY_REQUIRE_SEAWEED).
func Start(t testing.TB) *Cluster {
	t.Helper()
	bin := need(t)
	c, err := Launch(bin, t.TempDir())
	if err != nil {
		t.Fatalf("seaweedtest: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Logf("seaweedtest: %v", err)
		}
	})
	return c
}

// need returns the weed binary or skips (fails) t.
func need(t testing.TB) string {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		if os.Getenv(RequireEnv) != "" {
			t.Fatalf("seaweedtest: %v, and %s is set", err, RequireEnv)
		}
		t.Skipf("seaweedtest: %v, so the SeaweedFS tests cannot run", err)
	}
	return bin
}

// Launch starts weed (the binary bin) with its data in dir and waits until
// its S3 gateway stores an object. Close stops it. For a cluster shared by
// a package's tests (TestMain); tests call Start.
func Launch(bin, dir string) (*Cluster, error) {
	var last error
	for range attempts {
		c, err := launch(bin, dir)
		if err == nil {
			return c, nil
		}
		last = err
		var exit *exitedError
		if !errors.As(err, &exit) {
			return nil, err
		}
	}
	return nil, fmt.Errorf("unable to start SeaweedFS in %d attempts: %w", attempts, last)
}

// exitedError says weed exited before it served: most likely a port was
// taken between picking it and weed binding it, so Launch tries again.
type exitedError struct {
	err error
	log string
}

func (e *exitedError) Error() string {
	return fmt.Sprintf("weed exited before serving (%v); its output ends:\n%s", e.err, e.log)
}

func launch(bin, dir string) (*Cluster, error) {
	ports, err := freePorts(8)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("unable to create a directory for weed: %w", err)
	}
	run, err := os.MkdirTemp(dir, "weed-")
	if err != nil {
		return nil, fmt.Errorf("unable to create a directory for weed: %w", err)
	}
	for _, d := range []string{"data", "meta", "conf"} {
		if err := os.Mkdir(filepath.Join(run, d), 0o700); err != nil {
			return nil, fmt.Errorf("unable to create a directory for weed: %w", err)
		}
	}
	// Unix sockets have a path limit of about 100 bytes, which a deep
	// t.TempDir() can exceed: they go in a short directory of their own.
	sock, err := os.MkdirTemp("", "weed")
	if err != nil {
		return nil, fmt.Errorf("unable to create a socket directory for weed: %w", err)
	}
	c := &Cluster{
		endpoint:  net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[6])),
		accessKey: "ferry" + randomHex(8),
		secretKey: randomHex(20),
		dir:       run,
		log:       &logBuffer{},
	}
	conf := filepath.Join(run, "conf", "s3.json")
	if err := writeIdentity(conf, c.accessKey, c.secretKey); err != nil {
		os.RemoveAll(sock)
		return nil, err
	}
	args := []string{
		// Log to stderr only, and read configuration (toml) only from
		// our own empty directory, never from the home or /etc.
		"-logtostderr=true", "-v=0", "-config_dir=" + filepath.Join(run, "conf"),
		"server",
		"-ip=127.0.0.1", "-ip.bind=127.0.0.1",
		"-dir=" + filepath.Join(run, "data"),
		"-master.dir=" + filepath.Join(run, "meta"),
		"-master.port=" + strconv.Itoa(ports[0]), "-master.port.grpc=" + strconv.Itoa(ports[1]),
		"-master.telemetry=false",
		"-master.peers=none",
		// Small volumes, as many as the disk holds: every bucket is a
		// collection with volumes of its own, and the default (8 volumes
		// of 30 GB) runs out after a few buckets.
		"-master.volumeSizeLimitMB=64", "-volume.max=0",
		"-volume.port=" + strconv.Itoa(ports[2]), "-volume.port.grpc=" + strconv.Itoa(ports[3]),
		"-volume.preStopSeconds=0",
		"-filer.port=" + strconv.Itoa(ports[4]), "-filer.port.grpc=" + strconv.Itoa(ports[5]),
		"-filer.localSocket=" + filepath.Join(sock, "filer.sock"),
		"-s3",
		"-s3.port=" + strconv.Itoa(ports[6]), "-s3.port.grpc=" + strconv.Itoa(ports[7]),
		"-s3.port.iceberg=0", "-s3.port.lance=0",
		"-s3.localSocket=" + filepath.Join(sock, "s3.sock"),
		"-s3.config=" + conf,
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = run
	cmd.Env = append(os.Environ(), "HOME="+run)
	cmd.Stdout, cmd.Stderr = c.log, c.log
	p, err := startProcess(cmd)
	if err != nil {
		os.RemoveAll(sock)
		return nil, fmt.Errorf("unable to start %s: %w", bin, err)
	}
	p.onExit(func() { os.RemoveAll(sock) })
	c.proc = p
	client, err := minio.New(c.endpoint, &minio.Options{
		Creds:        credentials.NewStaticV4(c.accessKey, c.secretKey, ""),
		Secure:       false,
		Region:       Region,
		BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("unable to create an S3 client for %s: %w", c.endpoint, err)
	}
	c.client = client
	if err := c.waitReady(); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// waitReady polls, 100 ms apart and for at most startTimeout, until a
// bucket can be created and an object stored in it (the volume server has
// registered with the master), or weed exits.
func (c *Cluster) waitReady() error {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	bucket := "ferry-ready"
	var last error
	for {
		last = c.tryReady(ctx, bucket)
		if last == nil {
			return nil
		}
		select {
		case <-c.proc.exited:
			return &exitedError{err: c.proc.err, log: tail(c.log.String(), 4000)}
		case <-ctx.Done():
			return fmt.Errorf("SeaweedFS did not serve S3 at %s within %v (last: %v); its output ends:\n%s", c.endpoint, startTimeout, last, tail(c.log.String(), 4000))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (c *Cluster) tryReady(ctx context.Context, bucket string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ok, err := c.client.BucketExists(ctx, bucket)
	if err != nil {
		return fmt.Errorf("unable to list bucket %s: %w", bucket, err)
	}
	if !ok {
		if err := c.client.MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: Region}); err != nil {
			return fmt.Errorf("unable to create bucket %s: %w", bucket, err)
		}
	}
	if _, err := c.client.PutObject(ctx, bucket, "ready", bytes.NewReader([]byte("ok")), 2, minio.PutObjectOptions{}); err != nil {
		return fmt.Errorf("unable to store an object: %w", err)
	}
	return nil
}

// Close stops weed (its whole process group) and waits for it to exit.
func (c *Cluster) Close() error {
	var err error
	c.closeOnce.Do(func() { err = c.proc.kill() })
	return err
}

func writeIdentity(path, access, secret string) error {
	type credential struct {
		AccessKey string `json:"accessKey"`
		SecretKey string `json:"secretKey"`
	}
	type identity struct {
		Name        string       `json:"name"`
		Credentials []credential `json:"credentials"`
		Actions     []string     `json:"actions"`
	}
	conf := struct {
		Identities []identity `json:"identities"`
	}{Identities: []identity{{
		Name:        "ferry",
		Credentials: []credential{{AccessKey: access, SecretKey: secret}},
		Actions:     []string{"Admin", "Read", "List", "Tagging", "Write"},
	}}}
	b, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		return fmt.Errorf("unable to encode the S3 identity: %w", err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return fmt.Errorf("unable to write the S3 identity: %w", err)
	}
	return nil
}

// freePorts picks n distinct free loopback TCP ports, holding all of them
// open until every one is picked so that none is picked twice.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("unable to find a free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := io.ReadFull(rand.Reader, b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[len(s)-n:]
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}

// logBuffer keeps weed's output, bounded to its last maxLog bytes.
type logBuffer struct {
	mu sync.Mutex
	b  []byte
}

const maxLog = 1 << 20

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.b = append(b.b, p...)
	if len(b.b) > maxLog {
		b.b = append(b.b[:0], b.b[len(b.b)-maxLog/2:]...)
	}
	return len(p), nil
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.b)
}
