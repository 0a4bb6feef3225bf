package server

import (
	"fmt"
	"io/fs"

	"github.com/ferry-sync/ferry/transport/control"
	"github.com/ferry-sync/ferry/versions"
)

// versionBatch is how many versions one VersionList frame carries.
const versionBatch = 256

// versions is the folder's version store: the one its policy keeps
// versions in, or, when it keeps none now, one opened to read what was
// kept before. done releases it.
func (st *rootState) versions() (store *versions.Store, done func(), err error) {
	if st.store != nil {
		return st.store, func() {}, nil
	}
	if st.s3 {
		return nil, nil, errS3NoVersions
	}
	store, err = versions.Open(st.dir, versions.Options{})
	if err != nil {
		return nil, nil, err
	}
	return store, func() { store.Close() }, nil
}

// listVersions answers ListVersions from the served folder's version
// store, in batches, then OK.
func (s *session) listVersions(st *stream, root *rootState, m control.ListVersions) error {
	if m.Prefix != "" {
		if err := validPaths(m.Prefix); err != nil {
			return st.reply(err, nil)
		}
	}
	store, done, err := root.versions()
	if err != nil {
		return st.reply(err, nil)
	}
	defer done()
	vs, err := store.List(m.Prefix)
	if err != nil {
		return st.reply(err, nil)
	}
	for len(vs) > 0 {
		n := min(len(vs), versionBatch)
		batch := make([]control.VersionInfo, n)
		for i, v := range vs[:n] {
			batch[i] = control.VersionInfo{Path: v.Path, Time: v.Time.UnixNano(), ModTime: v.ModTime.UnixNano(),
				Reason: string(v.Reason), Size: v.Size, Mode: v.Mode.Perm(), Link: v.Mode&fs.ModeSymlink != 0}
		}
		if err := st.send(control.VersionList{Versions: batch}); err != nil {
			return err
		}
		vs = vs[n:]
	}
	return st.send(control.OK{})
}

// restoreVersion answers RestoreVersion: the version is looked up in the
// store by path, time and reason (never taken from the client), and put
// back at To, keeping what is there first.
func (s *session) restoreVersion(st *stream, root *rootState, m control.RestoreVersion) error {
	if err := validPaths(m.Path, m.To); err != nil {
		return st.reply(err, nil)
	}
	store, done, err := root.versions()
	if err != nil {
		return st.reply(err, nil)
	}
	defer done()
	vs, err := store.List(m.Path)
	if err != nil {
		return st.reply(err, nil)
	}
	for _, v := range vs {
		if v.Path == m.Path && v.Time.UnixNano() == m.Time && string(v.Reason) == m.Reason {
			err := store.Restore(v, m.To)
			if err == nil {
				s.log.Info("version restored", "path", m.Path, "kept", v.Time, "reason", v.Reason, "to", m.To)
			}
			return st.reply(err, control.OK{})
		}
	}
	return st.reply(fmt.Errorf("unable to restore %q: no version of it was kept at that time for that reason: %w", m.Path, fs.ErrNotExist), nil)
}
