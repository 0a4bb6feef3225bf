package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"path"
	"path/filepath"

	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/s3fs"
)

// S3Root is a user's root in S3-compatible object storage: server.yaml's
// s3://bucket/prefix with its s3: settings and the credentials read when
// the server starts.
type S3Root struct {
	Endpoint  string // host:port
	Secure    bool   // https
	Region    string
	PathStyle bool
	Bucket    string
	Prefix    string // "" or "a/b", no leading or trailing slash
	AccessKey string
	SecretKey string
}

// URL names the root as server.yaml does (without its credentials).
func (r S3Root) URL() string {
	if r.Prefix == "" {
		return "s3://" + r.Bucket
	}
	return "s3://" + r.Bucket + "/" + r.Prefix
}

// below is the root of folder p (a Hello path, already checked) inside r.
func (r S3Root) below(p string) S3Root {
	if p != "" {
		r.Prefix = path.Join(r.Prefix, p)
	}
	return r
}

// S3Opener opens the endpoint serving an S3 root's folder (root.Prefix is
// the folder's own prefix), keeping its node-local caches in cacheDir and
// naming in-flight files with partialSuffix. A node keeps nothing else:
// any number of servers may serve one bucket.
type S3Opener func(ctx context.Context, root S3Root, cacheDir, partialSuffix string, log *slog.Logger) (endpoint.Endpoint, error)

// openS3 is the default S3Opener: s3fs over minio-go.
func openS3(ctx context.Context, r S3Root, cacheDir, partialSuffix string, log *slog.Logger) (endpoint.Endpoint, error) {
	return s3fs.New(ctx, s3fs.Config{
		Endpoint: r.Endpoint, Secure: r.Secure, Region: r.Region, PathStyle: r.PathStyle,
		Bucket: r.Bucket, Prefix: r.Prefix, AccessKey: r.AccessKey, SecretKey: r.SecretKey,
		CacheDir: cacheDir, PartialSuffix: partialSuffix, Log: log,
	})
}

var _ S3Opener = openS3

// errS3NoVersions answers version requests on an S3 root: the version
// store keeps its files beside the root on a local disk.
var errS3NoVersions = errors.New("versions are not kept on s3:// roots: the server keeps no version store in object storage (use the bucket's own versioning)")

// s3CacheDir is the node-local cache directory of one S3 folder, or ""
// (a temporary one) without a state directory.
func s3CacheDir(stateDir, key string) string {
	if stateDir == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(key))
	return filepath.Join(stateDir, "s3", hex.EncodeToString(sum[:12]))
}

// errS3NoWatch answers Watch on an S3 root: object storage sends no
// change notifications, so the client polls.
var errS3NoWatch = errors.New("an s3:// root cannot be watched (object storage sends no change notifications)")
