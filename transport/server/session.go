package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/transport/control"
	"github.com/ferry-sync/ferry/transport/data"
	"github.com/ferry-sync/ferry/tree"
	"github.com/ferry-sync/ferry/versions"
)

// session is one authenticated SSH connection: the folder its Hello chose
// and the requests running on its channels.
type session struct {
	ctx    context.Context
	cancel context.CancelFunc
	srv    *Server
	acct   *account
	conn   *ssh.ServerConn
	log    *slog.Logger
	wg     sync.WaitGroup
	// slots holds one token per running request (Config.MaxRequests).
	slots chan struct{}
	// warned is set once a refusal has been logged; only the handle loop
	// touches it.
	warned bool

	// helloSeen is closed when the first Hello's channel arrives, helloed
	// when that Hello has been answered: requests a client sent right
	// behind it (or, its goroutines racing, just before it) wait for the
	// folder it opens.
	helloSeen chan struct{}
	seenOnce  sync.Once
	helloed   chan struct{}
	helloOnce sync.Once

	mu      sync.Mutex
	greeted bool // a Hello has been accepted or is being handled
	ep      endpoint.Endpoint
	root    *rootState
	partial string // the Hello's partial suffix
	// path and dirID are the Hello's folder and the directory ep opened
	// (nil for object storage): a connection an agent keeps between
	// passes outlives a folder moved away or restored on the server, so
	// each listing checks that it still serves the folder at path (see
	// current). stale holds the endpoints it replaced, closed with the
	// session: requests still running may use them.
	path  string
	dirID os.FileInfo
	stale []endpoint.Endpoint
	// parts joins the parts of files split across the connection's data
	// sessions (a client's lanes); lanes counts the data sessions
	// running.
	parts *data.Parts
	lanes int
}

// joinParts returns the connection's Parts, made on first use.
func (s *session) joinParts() *data.Parts {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.parts == nil {
		s.parts = data.NewParts(s.ctx)
	}
	return s.parts
}

// maxLanes bounds the data sessions one connection runs at once: a
// client's sessions of one transfer both ways (config.MaxSessions each).
const maxLanes = 2 * config.MaxSessions

// takeLane counts a data session in; false when the connection already
// runs maxLanes.
func (s *session) takeLane() (release func(), ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lanes >= maxLanes {
		return nil, false
	}
	s.lanes++
	return func() {
		s.mu.Lock()
		s.lanes--
		s.mu.Unlock()
	}, true
}

func newSession(ctx context.Context, srv *Server, acct *account, conn *ssh.ServerConn, log *slog.Logger) *session {
	ctx, cancel := context.WithCancel(ctx)
	return &session{ctx: ctx, cancel: cancel, srv: srv, acct: acct, conn: conn, log: log,
		slots: make(chan struct{}, srv.cfg.MaxRequests), helloSeen: make(chan struct{}), helloed: make(chan struct{})}
}

// acquire takes a request slot without waiting; false when the
// connection already runs MaxRequests requests.
func (s *session) acquire() bool {
	select {
	case s.slots <- struct{}{}:
		return true
	default:
		return false
	}
}

func (s *session) release() { <-s.slots }

// refused turns away a request over the connection's limit.
func (s *session) refused(nc ssh.NewChannel) {
	limit := cap(s.slots)
	if !s.warned {
		s.warned = true
		s.log.Warn("client exceeds the per-connection request limit; refusing the excess", "max_requests", limit)
	}
	nc.Reject(ssh.ResourceShortage, fmt.Sprintf("too many requests in flight on this connection (the server allows %d): wait for an answer before sending more", limit))
}

// start runs req on ch and gives its slot back when it is done.
func (s *session) start(ch ssh.Channel, req control.Msg) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.run(ch, req)
	}()
}

// run answers req on ch and gives its slot back.
func (s *session) run(ch ssh.Channel, req control.Msg) {
	defer ch.Close()
	// Deferred after Close so it runs first: a client that opens its next
	// request as soon as this one's channel closes finds the slot free.
	defer s.release()
	st := &stream{ch: ch}
	if err := s.dispatch(st, req); err != nil && !isDisconnect(err) {
		s.log.Warn("request failed", "request", fmt.Sprintf("%T", req), "err", err)
	}
}

func (s *session) close() {
	s.cancel()
	s.conn.Close()
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.parts != nil {
		s.parts.Close()
	}
	for _, ep := range s.stale {
		ep.Close()
	}
	s.stale = nil
	if s.ep != nil {
		s.ep.Close()
		// A session's end is a pass's end: prune what it may have kept.
		s.root.prune(s.srv.clock.Now(), true, s.log)
		s.srv.roots.release(s.root, s.log)
		s.ep, s.root = nil, nil
	}
}

// isDisconnect reports errors that only mean the client went away.
func isDisconnect(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, context.Canceled) ||
		errors.Is(err, net.ErrClosed)
}

// stream frames messages on one channel.
type stream struct {
	ch         ssh.Channel
	rbuf, wbuf []byte
}

func (st *stream) send(m control.Msg) error {
	var err error
	st.wbuf, err = control.WriteFrame(st.ch, st.wbuf, m)
	return err
}

func (st *stream) recv() (control.Msg, error) {
	m, buf, err := control.ReadFrame(st.ch, st.rbuf)
	st.rbuf = buf
	return m, err
}

// reply answers with err (as an Error message) or with ok.
func (st *stream) reply(err error, ok control.Msg) error {
	if err != nil {
		if serr := st.send(control.ErrorOf(err)); serr != nil {
			return serr
		}
		return err
	}
	return st.send(ok)
}

func protocolError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", control.ErrProtocol, fmt.Sprintf(format, args...))
}

// helloWait bounds how long a request waits for a Hello it did not see
// (a client whose goroutines opened a request just before its Hello). A
// Hello that has arrived is waited for however long it takes (opening a
// big folder's scan cache).
const helloWait = 2 * time.Second

// sawHello notes that a Hello's channel has arrived.
func (s *session) sawHello() { s.seenOnce.Do(func() { close(s.helloSeen) }) }

func (s *session) endpoint() (endpoint.Endpoint, *rootState, error) {
	expired := s.srv.cfg.helloTimer(s.srv.cfg.helloWait)
	seen := false
	select {
	case <-s.helloSeen:
		// Checked first: a Hello that has arrived is waited for even
		// when helloWait is over by now.
		seen = true
	default:
		select {
		case <-s.helloSeen:
			seen = true
		case <-s.ctx.Done():
		case <-expired:
		}
	}
	if seen {
		select {
		case <-s.helloed:
		case <-s.ctx.Done():
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ep == nil {
		return nil, nil, protocolError("no folder chosen: the client must send Hello first")
	}
	return s.ep, s.root, nil
}

// validPaths checks every path a request names before it reaches the
// endpoint, so that a hostile client gets a clear error even if the
// endpoint would also refuse.
func validPaths(paths ...string) error {
	for _, p := range paths {
		if err := tree.ValidPath(p); err != nil {
			return err
		}
		// The version store is the server owner's: no agent reads,
		// writes or deletes it through the protocol.
		if versions.IsStorePath(p) {
			return fmt.Errorf("%w %q: it is in ferry's version store %s, which the server keeps to itself", tree.ErrInvalidPath, p, versions.Dir)
		}
	}
	return nil
}

func (s *session) dispatch(st *stream, req control.Msg) error {
	if h, ok := req.(control.Hello); ok {
		return s.hello(st, h)
	}
	ep, root, err := s.endpoint()
	if err != nil {
		return st.reply(err, nil)
	}
	ctx := s.ctx
	switch m := req.(type) {
	case control.Scan:
		// Every pass starts with a listing: it is of the folder now
		// under the Hello's path.
		if ep, err = s.current(ep); err != nil {
			return st.reply(err, nil)
		}
		return s.scan(st, ep, root, m)
	case control.Stat:
		if err := validPaths(m.Path); err != nil {
			return st.reply(err, nil)
		}
		e, err := ep.Stat(ctx, m.Path)
		return st.reply(err, control.EntryMsg{Entry: e})
	case control.ChunksMany:
		return s.chunksMany(st, ep, m)
	case control.Digests:
		for _, e := range m.Files {
			if err := validPaths(e.Path); err != nil {
				return st.reply(err, nil)
			}
		}
		ds, err := ep.Digests(ctx, m.Files)
		return st.reply(err, control.DigestList{Digests: ds})
	case control.StatMany:
		if err := validPaths(m.Paths...); err != nil {
			return st.reply(err, nil)
		}
		out := make([]tree.Entry, len(m.Paths))
		for i, p := range m.Paths {
			e, err := ep.Stat(ctx, p)
			switch {
			case errors.Is(err, fs.ErrNotExist):
				e = tree.Entry{Path: p}
			case err != nil:
				e = tree.Entry{Path: p, Problem: err.Error()}
			}
			out[i] = e
		}
		return st.reply(nil, control.Entries{Entries: out})
	case control.Mkdir:
		if err := validPaths(m.Path); err != nil {
			return st.reply(err, nil)
		}
		return st.reply(ep.Mkdir(ctx, m.Path, m.Mode), control.OK{})
	case control.Symlink:
		if err := validPaths(m.Path); err != nil {
			return st.reply(err, nil)
		}
		if m.Target == "" || strings.IndexByte(m.Target, 0) >= 0 {
			return st.reply(fmt.Errorf("%w: symlink %s: empty target or NUL in target", tree.ErrInvalidPath, m.Path), nil)
		}
		return st.reply(ep.Symlink(ctx, m.Path, m.Target, m.Expect), control.OK{})
	case control.Remove:
		if err := validPaths(m.Path); err != nil {
			return st.reply(err, nil)
		}
		return st.reply(ep.Remove(ctx, m.Path, m.Expect), control.OK{})
	case control.Rename:
		if err := validPaths(m.From, m.To); err != nil {
			return st.reply(err, nil)
		}
		return st.reply(ep.Rename(ctx, m.From, m.To, m.Expect), control.OK{})
	case control.Copy:
		if err := validPaths(m.From, m.Meta.Path); err != nil {
			return st.reply(err, nil)
		}
		return st.reply(ep.CopyFile(ctx, m.From, m.FromExpect, m.Meta, m.Expect), control.OK{})
	case control.Chunks:
		if err := validPaths(m.Path); err != nil {
			return st.reply(err, nil)
		}
		l, err := ep.Chunks(ctx, m.Path, m.Expect)
		return st.reply(err, control.ChunkList{Path: m.Path, Hash: m.Expect.Hash, List: l})
	case control.SetMeta:
		if err := validPaths(m.Path); err != nil {
			return st.reply(err, nil)
		}
		return st.reply(ep.SetMeta(ctx, m.Path, m.Mode, m.Mtime), control.OK{})
	case control.FreeSpace:
		sp, err := ep.FreeSpace(ctx)
		return st.reply(err, control.Space{Free: sp.Free, Total: sp.Total})
	case control.Folding:
		f, err := ep.Folding(ctx)
		return st.reply(err, control.Folded{Case: f.Case, Normalization: f.Normalization})
	case control.Open:
		return s.openFile(st, ep, m)
	case control.Create:
		return s.create(st, ep, m)
	case control.Get:
		return s.get(st, ep, m)
	case control.DataSession:
		return s.dataSession(st, ep, m)
	case control.Watch:
		return s.watch(st, ep, root, m)
	case control.ListVersions:
		return s.listVersions(st, root, m)
	case control.RestoreVersion:
		return s.restoreVersion(st, root, m)
	}
	return st.reply(protocolError("%T is not a request", req), nil)
}

func (s *session) hello(st *stream, m control.Hello) error {
	defer s.helloOnce.Do(func() { close(s.helloed) })
	if m.Version != control.Version {
		return st.reply(protocolError("client speaks protocol version %d, this server speaks %d: install the same ferry release on both sides", m.Version, control.Version), nil)
	}
	s.mu.Lock()
	again := s.greeted
	s.greeted = true
	s.mu.Unlock()
	if again {
		return st.reply(protocolError("Hello sent twice on one connection"), nil)
	}
	dir, err := s.resolve(m.Path)
	if err == nil {
		err = validSuffix(m.PartialSuffix)
	}
	if err != nil {
		s.mu.Lock()
		s.greeted = false
		s.mu.Unlock()
		return st.reply(err, nil)
	}
	root, err := s.srv.roots.acquire(dir, s.acct.s3 != nil, s.acct.versions, s.srv.clock.Now, s.log)
	if err != nil {
		s.mu.Lock()
		s.greeted = false
		s.mu.Unlock()
		return st.reply(fmt.Errorf("unable to open folder %q: %w", m.Path, err), nil)
	}
	var cache Cache
	if root.cache != nil {
		cache = root.cache
	}
	var ep endpoint.Endpoint
	if s.acct.s3 != nil {
		ep, err = s.srv.cfg.OpenS3(s.ctx, s.acct.s3.below(m.Path), s3CacheDir(s.srv.cfg.StateDir, dir), m.PartialSuffix, s.log)
	} else {
		ep, err = s.srv.open(dir, m.PartialSuffix, cache, root.store, s.log)
	}
	if err == nil {
		// Re-check after opening: a symlink swapped in meanwhile would
		// have let the endpoint open a folder outside the root.
		if _, err = s.resolve(m.Path); err != nil {
			ep.Close()
		}
	}
	if err != nil {
		s.srv.roots.release(root, s.log)
		s.mu.Lock()
		s.greeted = false
		s.mu.Unlock()
		return st.reply(fmt.Errorf("unable to open folder %q: %w", m.Path, err), nil)
	}
	var dirID os.FileInfo
	if s.acct.s3 == nil {
		// Stat after opening: a folder replaced in between is found
		// replaced by the first listing.
		if dirID, err = os.Stat(dir); err != nil {
			dirID = nil
		}
	}
	s.mu.Lock()
	s.ep, s.root, s.partial, s.path, s.dirID = ep, root, m.PartialSuffix, m.Path, dirID
	s.mu.Unlock()
	s.log.Info("session opened", "folder", dir, "client", m.Client)
	return st.send(control.Welcome{
		Version: control.Version,
		User:    s.acct.name,
		RateCap: int64(minRate(s.acct.rateCap, s.srv.cfg.TotalRate)),
		UDPPort: uint32(s.srv.udpPortNow()),
	})
}

// resolve maps a Hello path below the account's root to a directory,
// refusing anything that is not a chain of real directories inside it.
func (s *session) resolve(p string) (string, error) {
	root := s.acct.root
	if s.acct.s3 != nil {
		// Folders in object storage are implied by their keys' prefixes:
		// any valid path names one, empty until something is written.
		if p == "" {
			return root, nil
		}
		if err := validPaths(p); err != nil {
			return "", fmt.Errorf("unable to open folder: %w", err)
		}
		return s.acct.s3.below(p).URL(), nil
	}
	if p == "" {
		fi, err := os.Stat(root)
		if err != nil {
			return "", fmt.Errorf("unable to open the served root: %w", err)
		}
		if !fi.IsDir() {
			return "", fmt.Errorf("the served root %s is not a directory", root)
		}
		return root, nil
	}
	if err := validPaths(p); err != nil {
		return "", fmt.Errorf("unable to open folder: %w", err)
	}
	r, err := os.OpenRoot(root)
	if err != nil {
		return "", fmt.Errorf("unable to open the served root: %w", err)
	}
	defer r.Close()
	elems := strings.Split(p, "/")
	for i := range elems {
		prefix := strings.Join(elems[:i+1], "/")
		fi, err := r.Lstat(prefix)
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("folder %q does not exist on the server (looked for %s): create it there, or fix the job's remote URL: %w", p, prefix, fs.ErrNotExist)
		}
		if err != nil {
			return "", fmt.Errorf("unable to open folder %q: %w", p, err)
		}
		if !fi.IsDir() {
			return "", fmt.Errorf("%w: folder %q: %s is a %s, not a directory", tree.ErrInvalidPath, p, prefix, kindOf(fi))
		}
	}
	return filepath.Join(root, filepath.FromSlash(p)), nil
}

// validSuffix accepts a partial suffix that cannot name another folder.
func validSuffix(s string) error {
	if s == "" {
		return nil
	}
	if len(s) > 64 || strings.ContainsAny(s, "/\\\x00") {
		return fmt.Errorf("%w: partial suffix %q: at most 64 bytes, no slash, backslash or NUL", tree.ErrInvalidPath, s)
	}
	return nil
}

func kindOf(fi fs.FileInfo) string {
	if fi.Mode()&fs.ModeSymlink != 0 {
		return "symlink"
	}
	return "file"
}

// minRate returns the smallest cap that is set (0 means uncapped).
func minRate(rs ...config.Rate) config.Rate {
	var m config.Rate
	for _, r := range rs {
		if r > 0 && (m == 0 || r < m) {
			m = r
		}
	}
	return m
}

// current returns the endpoint of the folder now at the session's Hello
// path: ep if that is still the directory it opened, else one opened on
// the directory there now (moved away and restored, or replaced), which
// later requests use too. A folder gone from its path is an error, not an
// empty listing of the one moved away.
func (s *session) current(ep endpoint.Endpoint) (endpoint.Endpoint, error) {
	s.mu.Lock()
	path, was, root, partial := s.path, s.dirID, s.root, s.partial
	s.mu.Unlock()
	if was == nil {
		return ep, nil
	}
	dir, err := s.resolve(path)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(dir); err == nil && os.SameFile(fi, was) {
		return ep, nil
	}
	var cache Cache
	if root.cache != nil {
		cache = root.cache
	}
	fresh, err := s.srv.open(dir, partial, cache, root.store, s.log)
	if err != nil {
		return nil, fmt.Errorf("unable to open folder %q: %w", path, err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		fresh.Close()
		return nil, fmt.Errorf("unable to open folder %q: %w", path, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ep != ep {
		// Another request replaced it first.
		fresh.Close()
		return s.ep, nil
	}
	s.stale = append(s.stale, s.ep)
	s.ep, s.dirID = fresh, fi
	s.log.Info("served folder was replaced since the connection opened it; serving the one there now", "folder", dir)
	return fresh, nil
}
