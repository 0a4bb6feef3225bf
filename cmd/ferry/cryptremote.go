package main

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/ferry-sync/ferry/agent"
	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/cryptfs"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/snapshot"
	"github.com/ferry-sync/ferry/transport/remote"
	"github.com/ferry-sync/ferry/tree"
)

// cryptOptions are the options of a job's encrypted remote: its
// passphrase, and its cache and temporary files beside the job's
// snapshot.
func cryptOptions(job *config.Job, db *snapshot.DB) (cryptfs.Options, error) {
	pass, err := job.Encryption.Passphrase()
	if err != nil {
		return cryptfs.Options{}, fmt.Errorf("job %s: %w", job.Name, err)
	}
	return cryptfs.Options{
		Passphrase: pass,
		PlainNames: job.Encryption.Names == config.NamesPlain,
		StateFile:  db.Path() + ".crypt",
		TempDir:    filepath.Dir(db.Path()),
	}, nil
}

// encryptRemote wraps a job's remote side in its encryption, when the
// job has an encryption block. A ferry:// remote keeps its batches and
// its lazy connection.
func encryptRemote(job *config.Job, db *snapshot.DB, ep endpoint.Endpoint) (endpoint.Endpoint, error) {
	if !job.Encryption.Enabled {
		return ep, nil
	}
	opts, err := cryptOptions(job, db)
	if err != nil {
		return nil, err
	}
	// The concrete type, as transportSummary does: it is what has
	// batches and connects lazily.
	if r, ok := ep.(*remote.Endpoint); ok {
		opts.Connect = r.Connect
		return cryptfs.NewBatch(r, r, opts)
	}
	return cryptfs.New(ep, opts)
}

// plainRemote is the endpoint under an encrypted remote (for its
// transport figures), or ep itself.
func plainRemote(ep endpoint.Endpoint) endpoint.Endpoint {
	switch c := ep.(type) {
	case *cryptRemote:
		return c.inner
	case *cryptfs.BatchFS:
		return c.Inner()
	case *cryptfs.FS:
		return c.Inner()
	}
	return ep
}

// cryptRemote is an encrypted ferry:// remote kept open between a
// running job's passes.
type cryptRemote struct {
	*cryptfs.BatchFS
	inner *remote.Endpoint
}

var _ agent.Remote = (*cryptRemote)(nil)

func (c *cryptRemote) EndPass() { c.inner.EndPass() }

func (c *cryptRemote) Link(download bool) (endpoint.Link, bool) { return c.inner.Link(download) }

// Server is the node the remote is connected to (a remote may list
// several).
func (c *cryptRemote) Server() string { return c.inner.Server() }

// Watch watches the whole remote folder (exclude patterns name
// plaintext paths, which the server cannot match) and tells of the
// changed paths by their plaintext names; a name that does not decrypt
// (a partial file) is left out: the pass's scan says what it is. The
// states the server tells are translated to plaintext
// (cryptfs.FS.PlainNotice), so that the agent tells its own writes from
// others' as for a plain remote.
func (c *cryptRemote) Watch(ctx context.Context, exclude []string, notify func(paths []string, states []tree.Entry, rescan bool)) error {
	return c.inner.Watch(ctx, nil, func(paths []string, states []tree.Entry, rescan bool) {
		plain, plainStates := c.PlainNotice(ctx, paths, states)
		if len(plain) == 0 && !rescan && len(paths) > 0 {
			rescan = true
		}
		notify(plain, plainStates, rescan)
	})
}

// keepEncrypted wraps a kept remote in its job's encryption.
func keepEncrypted(job *config.Job, db *snapshot.DB, r *remote.Endpoint) (agent.Remote, error) {
	opts, err := cryptOptions(job, db)
	if err != nil {
		return nil, err
	}
	opts.Connect = r.Connect
	b, err := cryptfs.NewBatch(r, r, opts)
	if err != nil {
		return nil, err
	}
	return &cryptRemote{BatchFS: b, inner: r}, nil
}
