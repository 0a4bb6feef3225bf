package server

import (
	"log/slog"

	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/localfs"
)

func openLocal(dir, partialSuffix string, cache Cache, log *slog.Logger) (endpoint.Endpoint, error) {
	opts := localfs.Options{Log: log, PartialSuffix: partialSuffix}
	if cache != nil {
		opts.Cache, opts.Chunks = cache, cache
	}
	return localfs.New(dir, opts)
}
