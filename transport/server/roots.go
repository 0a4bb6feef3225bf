package server

import (
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/ferry-sync/ferry/localfs"
	"github.com/ferry-sync/ferry/snapshot"
	"github.com/ferry-sync/ferry/versions"
)

// Cache is the scan cache a served folder's endpoint reuses hashes from
// (localfs.Cache) and keeps the chunk lists of its large files in
// (localfs.ChunkStore), so a Chunks request is answered from the list the
// scan computed.
type Cache interface {
	localfs.Cache
	localfs.ChunkStore
}

var _ Cache = (*snapshot.Cache)(nil)

// roots shares one scan cache per served folder between the sessions that
// serve it: bbolt locks its file, so two sessions cannot each open it.
type roots struct {
	dir string

	mu sync.Mutex
	m  map[string]*rootState
}

// rootState is one served folder's shared state.
type rootState struct {
	dir string
	// s3: dir is an s3:// URL; the folder has no scan cache, version
	// store or watcher here (its endpoint keeps its own cache).
	s3    bool
	refs  int
	db    *snapshot.DB    // nil without a state dir
	cache *snapshot.Cache // nil without a state dir
	// scan holds one token: scans of one folder take turns, so that a
	// cache commit never mixes two scans.
	scan chan struct{}
	// store is the folder's version store, nil when its policy keeps
	// nothing; policy is the server owner's policy for it (that of the
	// account whose session opened the folder first).
	store  *versions.Store
	policy versions.Policy

	pruneMu   sync.Mutex // serialises prunes; guards lastPrune
	lastPrune time.Time
}

// pruneEvery spaces the prunes a scan triggers: a kept connection may
// run passes for days, and each one need not walk the whole store.
const pruneEvery = time.Hour

// prune removes what the root's policy drops, at most once per
// pruneEvery unless force.
func (st *rootState) prune(now time.Time, force bool, log *slog.Logger) {
	if st.store == nil {
		return
	}
	st.pruneMu.Lock()
	defer st.pruneMu.Unlock()
	if !force && !st.lastPrune.IsZero() && now.Sub(st.lastPrune) < pruneEvery {
		return
	}
	st.lastPrune = now
	removed, err := st.store.Prune(st.policy)
	if err != nil {
		log.Warn("unable to prune versions", "folder", st.dir, "err", err)
	}
	if len(removed) > 0 {
		log.Info("versions pruned", "folder", st.dir, "removed", len(removed), "keep", st.policy.Keep)
	}
}

func newRoots(stateDir string) *roots {
	return &roots{dir: stateDir, m: map[string]*rootState{}}
}

// acquire returns dir's shared state, opening its cache on first use. A
// cache that cannot be opened is logged and left out: scans still work,
// they only rehash.
//
// A version store that cannot be opened is an error: the server owner's
// policy says to keep versions, and a folder served without would lose
// what agents replace or delete.
func (r *roots) acquire(dir string, s3 bool, policy versions.Policy, now func() time.Time, log *slog.Logger) (*rootState, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if st, ok := r.m[dir]; ok {
		st.refs++
		return st, nil
	}
	st := &rootState{dir: dir, s3: s3, refs: 1, scan: make(chan struct{}, 1), policy: policy}
	st.scan <- struct{}{}
	if s3 {
		r.m[dir] = st
		return st, nil
	}
	if policy.Keeps() && versions.Supported {
		store, err := versions.Open(dir, versions.Options{Now: now})
		if err != nil {
			return nil, err
		}
		st.store = store
	}
	if r.dir != "" {
		sum := sha256.Sum256([]byte(dir))
		path := filepath.Join(r.dir, "roots", hex.EncodeToString(sum[:12])+".db")
		db, err := snapshot.Open(path)
		if err == nil {
			if msg := db.Recovered(); msg != "" {
				log.Warn("scan cache was damaged and has been recreated", "folder", dir, "detail", msg)
			}
			st.cache, err = db.Cache("server")
			if err != nil {
				db.Close()
			} else {
				st.db = db
			}
		}
		if err != nil {
			st.cache = nil
			log.Warn("scan cache unavailable; every scan will rehash", "folder", dir, "err", err)
		}
	}
	r.m[dir] = st
	return st, nil
}

func (r *roots) release(st *rootState, log *slog.Logger) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st.refs--
	if st.refs > 0 {
		return
	}
	delete(r.m, st.dir)
	if st.store != nil {
		if err := st.store.Close(); err != nil {
			log.Warn("unable to close version store", "folder", st.dir, "err", err)
		}
	}
	if st.cache != nil {
		// The hashes of the files the sessions wrote (and of any scan
		// not committed), so that the next scan does not read them.
		if err := st.cache.CommitLearned(); err != nil {
			log.Warn("unable to save scan cache", "folder", st.dir, "err", err)
		}
	}
	if st.db != nil {
		if err := st.db.Close(); err != nil {
			log.Warn("unable to close scan cache", "folder", st.dir, "err", err)
		}
	}
}
