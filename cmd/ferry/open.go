package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/localfs"
	"github.com/ferry-sync/ferry/snapshot"
	"github.com/ferry-sync/ferry/syncer"
	"github.com/ferry-sync/ferry/transport/remote"
	"github.com/ferry-sync/ferry/tree"
	"github.com/ferry-sync/ferry/versions"
)

// defaultConfigPath is where commands look for the jobs file when --config
// is not given: $FERRY_CONFIG, else ~/.config/ferry/jobs.yaml.
func defaultConfigPath() string {
	if p := os.Getenv("FERRY_CONFIG"); p != "" {
		return p
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "jobs.yaml"
	}
	return filepath.Join(dir, "ferry", "jobs.yaml")
}

// loadJob loads the config file and finds one job in it.
func loadJob(path, name string) (*config.Config, *config.Job, error) {
	if path == "" {
		path = defaultConfigPath()
		if _, err := os.Stat(path); err != nil {
			return nil, nil, usageError{fmt.Sprintf("give --config FILE, set FERRY_CONFIG, or put the jobs file at %s", path)}
		}
	}
	cfg, err := config.Load(path)
	if err != nil {
		return nil, nil, err
	}
	if name == "" {
		return cfg, nil, nil
	}
	job, ok := cfg.Job(name)
	if !ok {
		names := make([]string, 0, len(cfg.Jobs))
		for _, j := range cfg.Jobs {
			names = append(names, j.Name)
		}
		return nil, nil, usageError{fmt.Sprintf("no job named %q in %s (jobs: %v)", name, path, names)}
	}
	return cfg, job, nil
}

// cachedFolder is a local folder whose scans reuse the hashes recorded in
// the job's snapshot database, and record this scan's for the next one.
// It embeds the folder by its type, so everything the folder can do
// beyond endpoint.Endpoint (build files from chunks its other files hold)
// stays visible to the engine.
type cachedFolder struct {
	*localfs.FS
	cache    *snapshot.Cache
	versions *versions.Store // nil when the job keeps none
}

// Close writes the hashes the pass's copies learned (files a first sync
// listed unhashed and hashed as it copied them, see
// endpoint.ScanOptions.HashLater), so that the next scan does not read
// them, and closes the folder and its version store.
func (c *cachedFolder) Close() error {
	err := c.cache.CommitLearned()
	if err != nil {
		err = fmt.Errorf("unable to save the scan cache: %w", err)
	}
	err = errors.Join(err, c.FS.Close())
	if c.versions != nil {
		err = errors.Join(err, c.versions.Close())
	}
	return err
}

var (
	_ endpoint.Endpoint    = (*cachedFolder)(nil)
	_ endpoint.ChunkFinder = (*cachedFolder)(nil)
	_ endpoint.ChunkKeeper = (*cachedFolder)(nil)
)

// Scan commits the cache after every complete scan, whoever runs the pass
// (a one-shot sync or the agent), so unchanged files are never hashed twice.
func (c *cachedFolder) Scan(ctx context.Context, opts endpoint.ScanOptions, visit func(tree.Entry) error) error {
	if err := c.FS.Scan(ctx, opts, visit); err != nil {
		return err
	}
	if err := c.cache.Commit(); err != nil {
		return fmt.Errorf("unable to save the scan cache: %w", err)
	}
	return nil
}

// openLocalFolder opens a folder on this machine as an endpoint whose scan
// cache lives in db under side; log (nil: localfs's default) hears what
// its scans clean up.
func openLocalFolder(root string, job *config.Job, db *snapshot.DB, side string, log *slog.Logger) (endpoint.Endpoint, error) {
	cache, err := db.Cache(side)
	if err != nil {
		return nil, fmt.Errorf("unable to load the %s scan cache: %w", side, err)
	}
	// The cache keeps the chunk lists of large files too, beside the
	// entries, in the same snapshot database.
	opts := localfs.Options{Cache: cache, Chunks: cache, PartialSuffix: job.PartialSuffix, Log: log}
	// A folder that cannot be opened is said once, before its version
	// store is looked for in it.
	if err := localfs.CheckRoot(root); err != nil {
		var re *localfs.RootError
		if errors.As(err, &re) {
			return nil, &folderError{side: side, job: job.Name, err: re}
		}
		return nil, fmt.Errorf("unable to open the %s folder %s: %w", side, root, err)
	}
	if config.VersionsPolicy(job.Versions).Keeps() && !versions.Supported && log != nil {
		log.Warn("this platform keeps no versions of what ferry replaces or deletes", "folder", root)
	}
	if config.VersionsPolicy(job.Versions).Keeps() && versions.Supported {
		// What a pass replaces or deletes here goes to the folder's
		// version store first; the agent prunes it after passes.
		if opts.Versions, err = versions.Open(root, versions.Options{}); err != nil {
			return nil, fmt.Errorf("unable to open the %s folder %s: %w", side, root, err)
		}
	}
	fs, err := localfs.New(root, opts)
	if err != nil {
		if opts.Versions != nil {
			opts.Versions.Close()
		}
		var re *localfs.RootError
		if errors.As(err, &re) {
			return nil, &folderError{side: side, job: job.Name, err: re}
		}
		return nil, fmt.Errorf("unable to open the %s folder %s: %w", side, root, err)
	}
	return &cachedFolder{FS: fs, cache: cache, versions: opts.Versions}, nil
}

// remoteOptions are the per-invocation choices about reaching a remote.
type remoteOptions struct {
	acceptNewHostKey bool
	// log receives the transport's warnings (a UDP to TCP fallback); nil
	// leaves the transport's default.
	log *slog.Logger
	// lazy opens a remote without connecting: the pass connects it while
	// the local folder is scanned (syncer.Connector) and fails with the
	// same error a dial up front would give.
	lazy bool
	// limits, when set, carries the job's caps as they change while the
	// remote is open (agent.Limits.Load); transfers in flight follow them.
	limits func() (config.Bandwidth, <-chan struct{})
	// onRemote, when set, is told of each ferry:// remote made for a job
	// (the agent's metrics read its traffic).
	onRemote func(job string, ep *remote.Endpoint)
}

// openedJob is both sides of a job.
type openedJob struct {
	local, remote endpoint.Endpoint
	// folders: both sides are plain folders on this machine (localfs,
	// not encrypted), which hash files as they copy them.
	folders bool
	// uploads: the remote is a ferry:// remote, not encrypted, whose
	// Upload hashes a file scanned unhashed as it sends it.
	uploads bool
}

func (o *openedJob) Close() error {
	return errors.Join(o.local.Close(), o.remote.Close())
}

// options returns the pass options for this job's endpoints.
func (o *openedJob) options(cfgPath string, job *config.Job, db *snapshot.DB) syncer.Options {
	// A first sync pushed to a ferry:// remote hashes the local files as
	// it sends them (remote.Endpoint.Upload), so its scan need not read
	// them before the first byte goes: only the local side sends.
	hashLater := o.folders || (o.uploads && job.Direction == config.LocalToRemote)
	return syncer.Options{Job: *job, Local: o.local, Remote: o.remote, DB: db, ConfigFile: cfgPath, HashWhileCopying: hashLater}
}

// openJob opens both sides of a job. The caller closes them.
func openJob(ctx context.Context, cfg *config.Config, job *config.Job, db *snapshot.DB, ro remoteOptions) (*openedJob, error) {
	local, err := openLocalFolder(job.Local, job, db, syncer.SideLocal, ro.log)
	if err != nil {
		return nil, err
	}
	o := &openedJob{local: local}
	if job.RemoteURL == nil {
		o.remote, err = openLocalFolder(job.Remote, job, db, syncer.SideRemote, ro.log)
	} else {
		o.remote, err = dialRemote(ctx, cfg, job, ro)
	}
	if err != nil {
		return nil, errors.Join(err, local.Close())
	}
	if enc, err := encryptRemote(job, db, o.remote); err != nil {
		return nil, errors.Join(err, local.Close(), o.remote.Close())
	} else {
		o.folders = hashesWhileCopying(*job)
		_, plain := enc.(*remote.Endpoint)
		o.uploads = plain
		o.remote = enc
	}
	return o, nil
}

// hashesWhileCopying says whether openJob gives job endpoints that hash
// files as they copy them: two plain folders on this machine (localfs,
// not encrypted).
func hashesWhileCopying(job config.Job) bool {
	return job.RemoteURL == nil && !job.Encryption.Enabled
}

// folderError is a job's folder on this machine that cannot be opened:
// the folder's problem said once, with the job and what to do.
type folderError struct {
	side, job string
	err       *localfs.RootError
}

func (e *folderError) Error() string {
	key := "local:"
	if e.side == syncer.SideRemote {
		key = "remote:"
	}
	root := e.err.Root
	switch {
	case errors.Is(e.err, fs.ErrNotExist):
		return fmt.Sprintf("job %s: %s folder %s does not exist; create it, or correct %s in the jobs file", e.job, e.side, root, key)
	case e.err.NotDir:
		return fmt.Sprintf("job %s: %s %s is a file, not a folder; correct %s in the jobs file", e.job, key, root, key)
	case errors.Is(e.err, fs.ErrPermission):
		return fmt.Sprintf("job %s: %s folder %s cannot be read (permission denied); give the user running ferry access to it", e.job, e.side, root)
	}
	return fmt.Sprintf("job %s: %s side: %v", e.job, e.side, e.err)
}

func (e *folderError) Unwrap() error { return e.err }
