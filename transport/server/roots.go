package server

import (
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"path/filepath"
	"sync"

	"github.com/ferry-sync/ferry/localfs"
	"github.com/ferry-sync/ferry/snapshot"
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
	dir   string
	refs  int
	db    *snapshot.DB    // nil without a state dir
	cache *snapshot.Cache // nil without a state dir
	// scan holds one token: scans of one folder take turns, so that a
	// cache commit never mixes two scans.
	scan chan struct{}
}

func newRoots(stateDir string) *roots {
	return &roots{dir: stateDir, m: map[string]*rootState{}}
}

// acquire returns dir's shared state, opening its cache on first use. A
// cache that cannot be opened is logged and left out: scans still work,
// they only rehash.
func (r *roots) acquire(dir string, log *slog.Logger) *rootState {
	r.mu.Lock()
	defer r.mu.Unlock()
	if st, ok := r.m[dir]; ok {
		st.refs++
		return st
	}
	st := &rootState{dir: dir, refs: 1, scan: make(chan struct{}, 1)}
	st.scan <- struct{}{}
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
	return st
}

func (r *roots) release(st *rootState, log *slog.Logger) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st.refs--
	if st.refs > 0 {
		return
	}
	delete(r.m, st.dir)
	if st.db != nil {
		if err := st.db.Close(); err != nil {
			log.Warn("unable to close scan cache", "folder", st.dir, "err", err)
		}
	}
}
