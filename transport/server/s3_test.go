package server

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/localfs"
	"github.com/ferry-sync/ferry/transport/control"
)

// TestS3RootOpensItsFolderPrefix: a user whose root is in object storage
// reaches it through Config.OpenS3, with the Hello path below the root's
// prefix and a cache directory of the folder's own under the state
// directory. The root keeps no versions (the server says so when it
// starts, and a version request says why) and cannot be watched.
func TestS3RootOpensItsFolderPrefix(t *testing.T) {
	var mu sync.Mutex
	var opened []S3Root
	var caches []string
	backing := t.TempDir()
	ts := startServer(t, func(c *Config) {
		ak := c.AuthorizedKeys
		c.Root, c.AuthorizedKeys = "", ""
		c.Users = []User{{Name: "tester", Root: "s3://bucket/users/tester", AuthorizedKeys: ak,
			S3: &S3Root{Endpoint: "127.0.0.1:1", Region: "us-east-1", PathStyle: true, Bucket: "bucket", Prefix: "users/tester", AccessKey: "AK", SecretKey: "SK"}}}
		c.OpenS3 = func(ctx context.Context, r S3Root, cacheDir, partialSuffix string, log *slog.Logger) (endpoint.Endpoint, error) {
			mu.Lock()
			opened, caches = append(opened, r), append(caches, cacheDir)
			mu.Unlock()
			return localfs.New(backing, localfs.Options{Log: log, PartialSuffix: partialSuffix})
		}
	})
	if !strings.Contains(ts.log.String(), "versions are not kept on s3:// roots") {
		t.Errorf("the server does not say that the S3 root keeps no versions:\n%s", ts.log.String())
	}
	c := ts.hello(t, "docs/2026")
	mu.Lock()
	if len(opened) != 1 || opened[0].Prefix != "users/tester/docs/2026" || opened[0].Bucket != "bucket" || opened[0].SecretKey != "SK" {
		t.Fatalf("OpenS3 got %+v, want the folder users/tester/docs/2026 of bucket with the user's keys", opened)
	}
	if !strings.HasPrefix(caches[0], filepath.Join(ts.dir, "state", "s3")+string(os.PathSeparator)) {
		t.Errorf("the folder's cache is %q, want one under the state directory's s3/", caches[0])
	}
	mu.Unlock()
	if _, err := rawCall(t, c, control.Watch{}); !errors.Is(err, control.ErrNoWatch) {
		t.Errorf("Watch on an S3 root: %v, want ErrNoWatch (the client polls)", err)
	}
	if _, err := rawCall(t, c, control.ListVersions{}); err == nil || !strings.Contains(err.Error(), "versions are not kept on s3:// roots") {
		t.Errorf("ListVersions on an S3 root: %v, want an error saying no versions are kept there", err)
	}
	if _, err := os.Stat(filepath.Join(backing, ".ferry-versions")); err == nil {
		t.Error("a version store was created for the S3 root")
	}
}

// TestS3RootRefusesBadFolder: a Hello path that is not a valid relative
// path is refused before anything is opened.
func TestS3RootRefusesBadFolder(t *testing.T) {
	ts := startServer(t, func(c *Config) {
		ak := c.AuthorizedKeys
		c.Root, c.AuthorizedKeys = "", ""
		c.Users = []User{{Name: "tester", Root: "s3://bucket", AuthorizedKeys: ak, S3: &S3Root{Endpoint: "127.0.0.1:1", Bucket: "bucket"}}}
		c.OpenS3 = func(context.Context, S3Root, string, string, *slog.Logger) (endpoint.Endpoint, error) {
			t.Error("OpenS3 called for a bad folder")
			return nil, errors.New("no")
		}
	})
	c, err := ts.sshClient(t, ts.signer)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"../other", "a//b", ".ferry-versions"} {
		if _, err := rawCall(t, c, control.Hello{Version: control.Version, Path: p}); err == nil {
			t.Errorf("Hello %q accepted", p)
		}
	}
}
