package main

import (
	"context"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/syncer"
	"github.com/ferry-sync/ferry/transport/remote"
)

// dialRemote connects to the `ferry serve` behind a job's ferry:// remote.
func dialRemote(ctx context.Context, cfg *config.Config, job *config.Job, ro remoteOptions) (syncer.Endpoint, error) {
	opts, err := remote.OptionsFromJob(*job, cfg.File)
	if err != nil {
		return nil, err
	}
	opts.AcceptNewHostKey = ro.acceptNewHostKey
	if opts.KnownHostsFile == "" {
		opts.KnownHostsFile = cfg.KnownHostsPath()
	}
	return remote.Dial(ctx, opts)
}
