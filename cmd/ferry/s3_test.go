package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/ferry-sync/ferry/internal/seaweedtest"
)

// s3Serve starts a real SeaweedFS and a `ferry serve --config` whose user
// alice has the root s3://BUCKET/alice on it, with credentials in a
// shared credentials file; it returns the cluster, the bucket, the serve
// address, alice's identity and the serve log.
func s3Serve(t *testing.T, dir string) (*seaweedtest.Cluster, string, string, string, *serveLog) {
	t.Helper()
	c := seaweedtest.Start(t)
	bucket := c.NewBucket(t)
	creds := filepath.Join(dir, "aws-credentials")
	write(t, creds, "[default]\naws_access_key_id = "+c.AccessKey()+"\naws_secret_access_key = "+c.SecretKey()+"\n")
	id := filepath.Join(dir, "alice_key")
	line, _ := newKey(t, id)
	write(t, filepath.Join(dir, "alice.keys"), line+"\n")
	server := filepath.Join(dir, "server.yaml")
	write(t, server, "listen: 127.0.0.1:0\nstate_dir: "+filepath.Join(dir, "serve-state")+"\n"+
		"s3:\n  endpoint: "+c.Endpoint()+"\n  secure: false\n  credentials_file: "+creds+"\n"+
		"users:\n  - name: alice\n    root: s3://"+bucket+"/alice\n    authorized_keys: "+filepath.Join(dir, "alice.keys")+"\n")
	addr, log := startServe(t, "--config", server)
	return c, bucket, addr, id, log
}

// bucketTree is every object under prefix, key (without the prefix) to
// content; a directory marker ("dir/") maps to "".
func bucketTree(t *testing.T, c *seaweedtest.Cluster, bucket, prefix string) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	for o := range c.Client().ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		r, err := c.Client().GetObject(ctx, bucket, o.Key, minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			t.Fatalf("unable to read %s: %v", o.Key, err)
		}
		if strings.HasSuffix(o.Key, "/") {
			// A directory marker: what its body holds (ferry's directory
			// metadata) is the S3 root's business.
			b = nil
		}
		out[strings.TrimPrefix(o.Key, prefix)] = string(b)
	}
	return out
}

// localTree is every file below dir, slash path to content, and every
// empty directory as "path/" with "".
func localTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel == "." {
				return nil
			}
			ents, err := os.ReadDir(p)
			if err == nil && len(ents) == 0 {
				out[rel+"/"] = ""
			}
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out[rel] = string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// withDirs is files plus a marker ("dir/", empty) for every directory
// that holds one of them: how an S3 root stores the directories an agent
// creates.
func withDirs(files map[string]string) map[string]string {
	out := map[string]string{}
	for p, c := range files {
		out[p] = c
		for d := path.Dir(p); d != "."; d = path.Dir(d) {
			out[d+"/"] = ""
		}
	}
	return out
}

func sameBucketTree(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	var keys []string
	for k := range got {
		keys = append(keys, k)
	}
	for k := range want {
		if _, ok := got[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var diffs []string
	for _, k := range slices.Compact(keys) {
		g, gok := got[k]
		w, wok := want[k]
		switch {
		case !gok:
			diffs = append(diffs, fmt.Sprintf("missing %s", k))
		case !wok:
			diffs = append(diffs, fmt.Sprintf("unexpected %s (%d bytes)", k, len(g)))
		case g != w:
			diffs = append(diffs, fmt.Sprintf("%s has %d bytes %.20q, want %d bytes %.20q", k, len(g), g, len(w), w))
		}
	}
	if len(diffs) > 0 {
		t.Fatalf("%s differs:\n  %s", what, strings.Join(diffs, "\n  "))
	}
}

// TestServeS3RootSyncsTwoWays: `ferry serve --config server.yaml` with an
// s3:// root on a real SeaweedFS, and an agent's two-way `ferry sync`
// through it with real keys. After the first pass the bucket holds
// exactly the local tree; an object written into the bucket by another
// hand and an edit on the agent's side both cross on the second pass.
func TestServeS3RootSyncsTwoWays(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	c, bucket, addr, id, log := s3Serve(t, dir)
	local := filepath.Join(dir, "local")
	big := strings.Repeat("0123456789abcdef", 12<<20/16) // 12 MiB: a multipart upload
	files := map[string]string{
		"a.txt":          "alpha",
		"sub/b.txt":      "bravo",
		"sub/deep/c.bin": big,
		"empty.txt":      "",
	}
	for p, content := range files {
		write(t, filepath.Join(local, filepath.FromSlash(p)), content)
	}
	jobs := filepath.Join(dir, "jobs.yaml")
	write(t, jobs, "state_dir: "+filepath.Join(dir, "agent-state")+"\njobs:\n  - name: j\n    local: "+local+
		"\n    remote: ferry://alice@"+addr+"/docs\n    identity: "+id+"\n    direction: two-way\n")

	if code, _, stderr := runCLI(t, ctx, "sync", "--accept-new-host-key", "--config", jobs, "j"); code != exitOK {
		t.Fatalf("first sync: exit %d:\n%s\nserve log:\n%s", code, stderr, log.String())
	}
	sameBucketTree(t, "the bucket after the first sync", bucketTree(t, c, bucket, "alice/docs/"), withDirs(files))

	// Another hand writes into the bucket; the agent edits a file.
	if _, err := c.Client().PutObject(ctx, bucket, "alice/docs/sub/from-bucket.txt", strings.NewReader("written in the bucket"), -1, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(local, "a.txt"), "alpha, edited")
	files["a.txt"] = "alpha, edited"
	files["sub/from-bucket.txt"] = "written in the bucket"
	if code, _, stderr := runCLI(t, ctx, "sync", "--config", jobs, "j"); code != exitOK {
		t.Fatalf("second sync: exit %d:\n%s\nserve log:\n%s", code, stderr, log.String())
	}
	sameBucketTree(t, "the bucket after the second sync", bucketTree(t, c, bucket, "alice/docs/"), withDirs(files))
	sameBucketTree(t, "the local folder after the second sync", localTree(t, local), files)
	if !strings.Contains(log.String(), "versions are not kept on s3:// roots") {
		t.Errorf("serve does not say that the S3 root keeps no versions:\n%s", log.String())
	}
}
