package server

import (
	"log/slog"

	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/localfs"
	"github.com/ferry-sync/ferry/versions"
)

func openLocal(dir, partialSuffix string, cache Cache, store *versions.Store, log *slog.Logger) (endpoint.Endpoint, error) {
	opts := localfs.Options{Log: log, PartialSuffix: partialSuffix, Versions: store}
	if cache != nil {
		opts.Cache, opts.Chunks = cache, cache
	}
	return localfs.New(dir, opts)
}
