package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/time/rate"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/internal/watch"
	"github.com/ferry-sync/ferry/transport/coalesce"
	"github.com/ferry-sync/ferry/transport/control"
	"github.com/ferry-sync/ferry/transport/data"

	"github.com/ferry-sync/ferry/versions"
)

// Defaults for Config fields left zero.
const (
	DefaultMaxConnections = 64
	DefaultMaxRequests    = 512
	DefaultPreAuthTimeout = 10 * time.Second
	DefaultPort           = 33001
)

// User is one account in server.yaml mode: a name, the folder its keys may
// reach, its authorized keys file and its rate cap (0: uncapped).
type User struct {
	Name           string
	Root           string
	AuthorizedKeys string
	Rate           config.Rate
	// Versions is what the server keeps of the files agents replace or
	// delete in Root (the zero value: versions.DefaultPolicy). It is the
	// server owner's; nothing an agent sends changes it.
	Versions versions.Policy
	// S3, when set, puts the root in object storage (Root is then its
	// s3:// URL, for messages). Such a root keeps no versions.
	S3 *S3Root
}

// Opener opens the endpoint that serves one folder, naming in-flight files
// with partialSuffix. The default is localfs.New with the per-root scan
// cache and version store (nil when the root keeps none), which the
// endpoint must not close.
type Opener func(dir, partialSuffix string, cache Cache, store *versions.Store, log *slog.Logger) (endpoint.Endpoint, error)

// Config says what a Server serves and to whom. Either Root and
// AuthorizedKeys (single-root mode: every listed key reaches Root, whatever
// the SSH user name) or Users (the SSH user names the account) is set.
type Config struct {
	Root           string
	AuthorizedKeys string
	// Versions is Root's version policy in single-root mode (the zero
	// value: versions.DefaultPolicy).
	Versions versions.Policy
	// HostKeyPath is the ed25519 host key, created (0600) if missing.
	HostKeyPath string
	Users       []User
	// MaxConnections bounds concurrent SSH connections (default 64).
	MaxConnections int
	// MaxRequests bounds the requests one connection has running at once
	// (default 512); a channel opened beyond it is refused with
	// ssh.ResourceShortage, which the ferry client answers by waiting for
	// one of its own requests to finish.
	MaxRequests int
	// PreAuthTimeout bounds the SSH handshake and authentication
	// (default 10 s).
	PreAuthTimeout time.Duration
	// TotalRate caps all users together, bits/s (0: uncapped).
	TotalRate config.Rate
	// helloWait bounds how long a request waits for a Hello it has not
	// seen (default 2 s); helloTimer starts that wait (default
	// time.After; tests expire it by hand).
	helloWait  time.Duration
	helloTimer func(time.Duration) <-chan time.Time
	// UDPPort is where data sessions are served (on the TCP listener's
	// address); 0 turns the UDP data path off and clients stream over SSH.
	UDPPort int
	// UDPConn, if set, is used for data sessions instead of listening on
	// UDPPort; Serve closes it when it returns.
	UDPConn net.PacketConn
	// StateDir holds the per-root scan caches; empty keeps none (every
	// scan rehashes every file).
	StateDir string
	Log      *slog.Logger
	// Open overrides how a folder is opened (tests); nil uses localfs.
	Open Opener
	// OpenS3 opens the folders of S3 roots (User.S3); nil uses s3fs.
	OpenS3 S3Opener
	// Watcher makes the watcher of a Watch request (tests inject one that
	// fails); nil uses fsnotify.
	Watcher func() (watch.Watcher, error)
	// Clock tells the time that authorized keys' expiry-time= options are
	// checked against (nil: the system clock).
	Clock Clock
	// Location is the zone of expiry-time= values without a trailing Z
	// (nil: the system's, as sshd).
	Location *time.Location
}

// Clock tells the time.
type Clock interface{ Now() time.Time }

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// EnsureValid checks that Config describes a server that can start.
func (c *Config) EnsureValid() error {
	if c.HostKeyPath == "" {
		return errors.New("no host key path: pass --host-key FILE")
	}
	single := c.Root != "" || c.AuthorizedKeys != ""
	switch {
	case single && len(c.Users) > 0:
		return errors.New("both a single root and users are configured: use --root/--authorized-keys or a server config with users, not both")
	case single && (c.Root == "" || c.AuthorizedKeys == ""):
		return errors.New("single-root mode needs both --root DIR and --authorized-keys FILE")
	case !single && len(c.Users) == 0:
		return errors.New("nothing to serve: pass --root DIR --authorized-keys FILE, or a server config with users")
	}
	seen := map[string]bool{}
	for _, u := range c.Users {
		if u.Name == "" || u.Root == "" || u.AuthorizedKeys == "" {
			return fmt.Errorf("user %q needs a name, a root and an authorized_keys file", u.Name)
		}
		if seen[u.Name] {
			return fmt.Errorf("user %q is listed twice", u.Name)
		}
		seen[u.Name] = true
		if u.Rate < 0 {
			return fmt.Errorf("user %q has a negative rate", u.Name)
		}
	}
	if c.MaxConnections < 0 || c.MaxRequests < 0 || c.PreAuthTimeout < 0 || c.TotalRate < 0 {
		return errors.New("max connections, max requests, pre-auth timeout and total rate must not be negative")
	}
	if c.UDPPort < 0 || c.UDPPort > 65535 {
		return fmt.Errorf("UDP port %d is out of range", c.UDPPort)
	}
	return nil
}

// RootError is a served folder that is missing or not a folder when the
// server starts: a mistyped path, or a disk not mounted yet.
type RootError struct {
	User string // "" in single-root mode
	Path string
	Err  error
}

func (e *RootError) Error() string {
	what := "--root " + e.Path
	if e.User != "" {
		what = fmt.Sprintf("root %s of user %q", e.Path, e.User)
	}
	why := e.Err.Error()
	if errors.Is(e.Err, fs.ErrNotExist) {
		why = "the folder does not exist"
	}
	return fmt.Sprintf("unable to serve %s: %s; create the folder (or mount its disk) first", what, why)
}

func (e *RootError) Unwrap() error { return e.Err }

var errNotDir = errors.New("it is not a folder")

func checkRoot(user, dir string) error {
	fi, err := os.Stat(dir)
	if err == nil && !fi.IsDir() {
		err = errNotDir
	}
	if err != nil {
		return &RootError{User: user, Path: dir, Err: err}
	}
	return nil
}

// account is what an authenticated key reaches.
type account struct {
	name     string
	root     string
	s3       *S3Root // nil: root is a folder on disk
	rateCap  config.Rate
	limiter  *rate.Limiter // nil: uncapped
	versions versions.Policy
}

// grant is one authorized_keys line of one account.
type grant struct {
	acct *account
	key  *authorizedKey
}

// Server is a running `ferry serve`.
type Server struct {
	cfg      Config
	log      *slog.Logger
	ssh      *ssh.ServerConfig
	accounts map[string]*account
	byKey    map[string][]grant
	// single: one root for every key, whatever the SSH user name.
	single  bool
	clock   Clock
	total   *rate.Limiter
	shares  *shares // the caps divided among data sessions
	open    Opener
	roots   *roots
	hostKey ssh.PublicKey

	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	mux     *udpMux // nil without a UDP data path
	udpPort int
}

func (s *Server) udp() (*udpMux, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mux, s.udpPort
}

func (s *Server) udpPortNow() int {
	_, p := s.udp()
	return p
}

// New loads the host key and authorized keys and prepares a server.
func New(cfg Config) (*Server, error) {
	if err := cfg.EnsureValid(); err != nil {
		return nil, fmt.Errorf("unable to configure server: %w", err)
	}
	if cfg.MaxConnections == 0 {
		cfg.MaxConnections = DefaultMaxConnections
	}
	if cfg.MaxRequests == 0 {
		cfg.MaxRequests = DefaultMaxRequests
	}
	if cfg.PreAuthTimeout == 0 {
		cfg.PreAuthTimeout = DefaultPreAuthTimeout
	}
	if cfg.helloWait == 0 {
		cfg.helloWait = helloWait
	}
	if cfg.helloTimer == nil {
		cfg.helloTimer = time.After
	}
	if cfg.Watcher == nil {
		cfg.Watcher = watch.NewFS
	}
	if cfg.OpenS3 == nil {
		cfg.OpenS3 = openS3
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Server{
		cfg:      cfg,
		log:      log,
		accounts: map[string]*account{},
		byKey:    map[string][]grant{},
		single:   cfg.Root != "",
		clock:    cfg.Clock,
		total:    newLimiter(cfg.TotalRate),
		shares:   newShares(cfg.TotalRate),
		open:     cfg.Open,
		roots:    newRoots(cfg.StateDir),
		conns:    map[net.Conn]struct{}{},
	}
	if s.open == nil {
		s.open = openLocal
	}
	if s.clock == nil {
		s.clock = systemClock{}
	}
	loc := cfg.Location
	if loc == nil {
		loc = time.Local
	}
	users := cfg.Users
	if cfg.Root != "" {
		users = []User{{Name: "", Root: cfg.Root, AuthorizedKeys: cfg.AuthorizedKeys, Versions: cfg.Versions}}
	}
	for _, u := range users {
		policy := config.VersionsPolicy(u.Versions)
		if err := policy.EnsureValid(); err != nil {
			return nil, fmt.Errorf("unable to serve root %s: versions: %w", u.Root, err)
		}
		var a *account
		if u.S3 != nil {
			if policy.Keeps() {
				log.Info("versions are not kept on s3:// roots: files agents replace or delete there are gone unless the bucket keeps versions itself", "user", u.Name, "root", u.S3.URL(), "policy", policy.Keep)
				policy = versions.Policy{Keep: versions.KeepNone}
			}
			s3 := *u.S3
			a = &account{name: u.Name, root: s3.URL(), s3: &s3, rateCap: u.Rate, limiter: newLimiter(u.Rate), versions: policy}
		} else {
			root, err := filepath.Abs(u.Root)
			if err != nil {
				return nil, fmt.Errorf("unable to resolve root %s: %w", u.Root, err)
			}
			if err := checkRoot(u.Name, root); err != nil {
				return nil, err
			}
			a = &account{name: u.Name, root: filepath.Clean(root), rateCap: u.Rate, limiter: newLimiter(u.Rate), versions: policy}
		}
		keys, err := parseAuthorizedKeys(u.AuthorizedKeys, loc)
		if err != nil {
			return nil, err
		}
		if len(keys) == 0 {
			log.Warn("authorized keys file lists no keys; nobody can log in", "file", u.AuthorizedKeys, "user", u.Name)
		}
		s.accounts[u.Name] = a
		for i := range keys {
			k := &keys[i]
			s.noteKey(u.Name, k)
			id := string(k.key.Marshal())
			s.byKey[id] = append(s.byKey[id], grant{acct: a, key: k})
		}
	}
	signer, err := LoadOrCreateHostKey(cfg.HostKeyPath)
	if err != nil {
		return nil, err
	}
	s.ssh = &ssh.ServerConfig{
		PublicKeyCallback:         s.checkKey,
		VerifiedPublicKeyCallback: s.verifiedKey,
		ServerVersion:             "SSH-2.0-ferry",
		MaxAuthTries:              6,
	}
	s.ssh.AddHostKey(signer)
	s.hostKey = signer.PublicKey()
	log.Info("host key", "fingerprint", ssh.FingerprintSHA256(signer.PublicKey()), "file", cfg.HostKeyPath)
	return s, nil
}

// HostKey returns the server's public host key (for tests and for
// printing the fingerprint users should expect).
func (s *Server) HostKey() ssh.PublicKey { return s.hostKey }

// Extensions of the Permissions an accepted key gets.
const (
	extUser = "ferry-user"
	// extRefused holds why a key the server knows is refused; the client
	// is told once it has proved it holds the key.
	extRefused = "ferry-refused"
	// extNoTouch is the SSH library's own: a security key may sign
	// without a touch.
	extNoTouch = "no-touch-required"
)

// noteKey logs, once at load, a key line that will refuse every login,
// and why.
func (s *Server) noteKey(user string, k *authorizedKey) {
	attrs := []any{"line", k.where(), "key", k.key.Type() + " " + ssh.FingerprintSHA256(k.key), "comment", k.comment}
	if !s.single {
		attrs = append(attrs, "user", user)
	}
	switch {
	case k.refused != "":
		s.log.Warn("authorized key refused: its options ask for what ferry cannot honour", append(attrs, "reason", k.refused)...)
	case !k.expires.IsZero() && s.clock.Now().After(k.expires):
		s.log.Warn("authorized key refused: it has expired", append(attrs, "expired", k.expires.Format(time.RFC3339))...)
	case k.from != nil && len(k.from.hostNames()) > 0:
		s.log.Warn("authorized key's from= names hosts; ferry matches client addresses only and resolves no names",
			append(attrs, "from", k.from.raw, "names", strings.Join(k.from.hostNames(), ","))...)
	}
}

// checkKey decides what a key offered by meta.User() reaches. The SSH
// user names the account (ignored in single-root mode), and one of that
// account's lines for the key must let this client in. A key the server
// does not know is refused at once. A known key that is refused all the
// same passes here with extRefused set, and verifiedKey refuses it with
// the reason once the client has proved it holds the key: so the reason
// (which names accounts) reaches only the key's holder.
func (s *Server) checkKey(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
	fp := ssh.FingerprintSHA256(key)
	remote := meta.RemoteAddr().String()
	grants := s.byKey[string(key.Marshal())]
	if len(grants) == 0 {
		s.log.Warn("rejected unknown key", "remote", remote, "user", meta.User(), "key", key.Type()+" "+fp)
		return nil, fmt.Errorf("key %s is not authorized", fp)
	}
	ip := remoteIP(meta.RemoteAddr())
	now := s.clock.Now()
	var denials, holders []string
	for _, g := range grants {
		if !s.single && g.acct.name != meta.User() {
			if !slices.Contains(holders, g.acct.name) {
				holders = append(holders, g.acct.name)
			}
			continue
		}
		if why := g.key.denial(ip, now); why != "" {
			denials = append(denials, g.key.where()+": "+why)
			continue
		}
		perms := &ssh.Permissions{Extensions: map[string]string{
			extUser:         g.acct.name,
			"ferry-key":     fp,
			"ferry-keytype": key.Type(),
		}}
		if g.key.noTouch {
			perms.Extensions[extNoTouch] = ""
		}
		return perms, nil
	}
	var msg string
	switch {
	case len(denials) > 0:
		s.log.Warn("rejected key: its authorized_keys options refuse this client", "remote", remote, "user", meta.User(),
			"key", key.Type()+" "+fp, "reasons", strings.Join(denials, "; "))
		msg = fmt.Sprintf("ferry server refuses key %s for user %q: the key's authorized_keys line does not allow this client (from=, expiry-time= or an option ferry cannot honour); the server's log says which", fp, meta.User())
	case s.accounts[meta.User()] == nil:
		s.log.Warn("rejected key: no such user", "remote", remote, "user", meta.User(), "key", key.Type()+" "+fp, "key_users", strings.Join(holders, ","))
		msg = fmt.Sprintf("ferry server has no user %q; key %s belongs to user %s: connect as that user (ferry://%s@host/path)", meta.User(), fp, quoteAll(holders), holders[0])
	default:
		s.log.Warn("rejected key: it belongs to another user", "remote", remote, "user", meta.User(), "key", key.Type()+" "+fp, "key_users", strings.Join(holders, ","))
		msg = fmt.Sprintf("ferry server refuses key %s for user %q: the key belongs to user %s, not %q; connect as that user or add the key to %q's authorized keys", fp, meta.User(), quoteAll(holders), meta.User(), meta.User())
	}
	return &ssh.Permissions{Extensions: map[string]string{extRefused: msg}}, nil
}

// verifiedKey refuses, with its reason, a key checkKey let through only so
// that its holder can be told why.
func (s *Server) verifiedKey(_ ssh.ConnMetadata, _ ssh.PublicKey, perms *ssh.Permissions, _ string) (*ssh.Permissions, error) {
	if msg, refused := perms.Extensions[extRefused]; refused {
		return nil, &ssh.BannerError{Err: errors.New(msg), Message: msg + "\n"}
	}
	return perms, nil
}

func quoteAll(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	return strings.Join(q, " or ")
}

// remoteIP is the client's address, or the zero Addr if addr has none.
func remoteIP(addr net.Addr) netip.Addr {
	if ta, ok := addr.(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(ta.IP); ok {
			return ip.Unmap()
		}
	}
	if ap, err := netip.ParseAddrPort(addr.String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// Serve accepts connections on ln until ctx is done, then closes ln and
// every connection and returns nil once all handlers have finished.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	defer wg.Wait()
	go func() {
		<-ctx.Done()
		ln.Close()
		s.closeAll()
	}()
	if err := s.startUDP(ln.Addr()); err != nil {
		return err
	}
	defer s.stopUDP()
	slots := make(chan struct{}, s.cfg.MaxConnections)
	s.log.Info("serving", "listen", ln.Addr().String(), "udp_port", s.udpPortNow())
	backoff := 5 * time.Millisecond
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				// Out of file descriptors and the like: wait, bounded.
				time.Sleep(backoff)
				backoff = min(2*backoff, time.Second)
				continue
			}
			cancel(err)
			return fmt.Errorf("unable to accept connections on %s: %w", ln.Addr(), err)
		}
		backoff = 5 * time.Millisecond
		select {
		case slots <- struct{}{}:
		default:
			s.log.Warn("connection limit reached; refusing connection", "remote", conn.RemoteAddr().String(), "max", s.cfg.MaxConnections)
			conn.Close()
			continue
		}
		if !s.track(conn) {
			conn.Close()
			<-slots
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			defer s.untrack(conn)
			s.handle(ctx, conn)
		}()
	}
}

func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conns == nil {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
	c.Close()
}

// closeAll drops every connection at once, as a crash would: handlers see
// their channels fail and abort their writers, keeping partial files.
func (s *Server) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.Close()
	}
	s.conns = nil
}

func (s *Server) handle(ctx context.Context, conn net.Conn) {
	remote := conn.RemoteAddr().String()
	if err := conn.SetDeadline(time.Now().Add(s.cfg.PreAuthTimeout)); err != nil {
		return
	}
	// Answers to a wave of requests leave in a few segments, not one per
	// SSH message; Close sends what is queued (an auth failure, say).
	bc := coalesce.Wrap(conn)
	defer bc.Close()
	sconn, chans, reqs, err := ssh.NewServerConn(bc, s.ssh)
	if err != nil {
		if errors.Is(err, io.EOF) {
			// Closed before a word: a client's raced connection that
			// lost (see remote's raceDial), or a port scan.
			s.log.Debug("connection closed before the SSH handshake", "remote", remote)
			return
		}
		s.log.Info("handshake failed", "remote", remote, "err", err)
		return
	}
	defer sconn.Close()
	if err := conn.SetDeadline(time.Time{}); err != nil {
		return
	}
	go ssh.DiscardRequests(reqs)
	acct, ok := s.accounts[sconn.Permissions.Extensions[extUser]]
	if _, refused := sconn.Permissions.Extensions[extRefused]; refused || !ok {
		// verifiedKey refuses these; never serve one if that changes.
		s.log.Error("connection authenticated without an account; closed", "remote", remote)
		return
	}
	log := s.log.With("remote", remote, "user", acct.name, "key", sconn.Permissions.Extensions["ferry-key"])
	log.Info("client connected", "client", string(sconn.ClientVersion()))
	sess := newSession(ctx, s, acct, sconn, log)
	defer sess.close()
	for nc := range chans {
		if nc.ChannelType() != control.ChannelType {
			nc.Reject(ssh.UnknownChannelType, "ferry serves only "+control.ChannelType+" channels")
			continue
		}
		req, n, err := control.Parse(nc.ExtraData())
		if err == nil && n != len(nc.ExtraData()) {
			err = fmt.Errorf("%w: bytes after the request", control.ErrMalformed)
		}
		if err != nil {
			log.Warn("malformed request", "err", err)
			nc.Reject(ssh.Prohibited, "malformed request: "+err.Error())
			continue
		}
		// Refused rather than queued: holding the open back would stall
		// this connection's whole SSH read loop, including the data of the
		// requests that hold the slots.
		if !sess.acquire() {
			sess.refused(nc)
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			sess.release()
			continue
		}
		go ssh.DiscardRequests(creqs)
		if _, ok := req.(control.Hello); ok {
			// Requests a client sends right behind its Hello wait for it.
			sess.sawHello()
		}
		sess.start(ch, req)
	}
	log.Info("client disconnected")
}

// startUDP opens the data sessions' socket: the injected one, or UDPPort
// on the TCP listener's IP.
func (s *Server) startUDP(tcp net.Addr) error {
	conn := s.cfg.UDPConn
	if conn == nil && s.cfg.UDPPort == 0 {
		return nil
	}
	if conn == nil {
		host := ""
		if ta, ok := tcp.(*net.TCPAddr); ok && !ta.IP.IsUnspecified() {
			host = ta.IP.String()
		}
		c, err := data.Listen("udp", net.JoinHostPort(host, strconv.Itoa(s.cfg.UDPPort)), s.log)
		if err != nil {
			return fmt.Errorf("unable to open the UDP data port (or start with UDP off): %w", err)
		}
		conn = c
	}
	port := 0
	if ua, ok := conn.LocalAddr().(*net.UDPAddr); ok {
		port = ua.Port
	}
	m := newMux(conn, s.log)
	go m.serve()
	s.mu.Lock()
	s.mux, s.udpPort = m, port
	s.mu.Unlock()
	return nil
}

func (s *Server) stopUDP() {
	s.mu.Lock()
	m := s.mux
	s.mux, s.udpPort = nil, 0
	s.mu.Unlock()
	if m != nil {
		m.conn.Close()
	}
}

func newLimiter(r config.Rate) *rate.Limiter {
	if r <= 0 {
		return nil
	}
	bytesPerSec := float64(r) / 8
	burst := max(int(bytesPerSec/10), control.MaxData)
	return rate.NewLimiter(rate.Limit(bytesPerSec), burst)
}

// waitN takes n bytes from each limiter, in slices no larger than a burst.
func waitN(ctx context.Context, n int, lims ...*rate.Limiter) error {
	for _, l := range lims {
		if l == nil {
			continue
		}
		for left := n; left > 0; {
			k := min(left, l.Burst())
			if err := l.WaitN(ctx, k); err != nil {
				return err
			}
			left -= k
		}
	}
	return nil
}
