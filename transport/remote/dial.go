package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"golang.org/x/crypto/ssh"
	"golang.org/x/time/rate"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/transport/coalesce"
	"github.com/ferry-sync/ferry/transport/control"
	"github.com/ferry-sync/ferry/transport/data"
	"github.com/ferry-sync/ferry/transport/proxy"
	"github.com/ferry-sync/ferry/tree"
)

// DefaultPort is ferry serve's port.
const DefaultPort = 33001

// ErrDisconnected is wrapped by errors caused by losing the connection to
// the server. They are worth retrying: the next call dials again.
var ErrDisconnected = errors.New("connection to ferry server lost")

// Options say where a remote folder is and how to reach it.
type Options struct {
	User string
	Host string
	Port int // default 33001
	// Hosts, when set, lists every server of one namespace (a URL with
	// several, config.RemoteURL.Hosts) in place of Host and Port. The
	// endpoint starts at one picked at random (Rand), so that agents
	// spread, goes on to the next when a dial cannot reach one, and
	// starts at the one after it when a connection is lost: the server it
	// was on is tried last. A transfer cut off by a lost connection goes
	// on on the next server (Upload, Download).
	Hosts []config.HostPort
	// LookupHost resolves host names (default net.DefaultResolver's): a
	// name with several addresses of one family is one server per
	// address, each pinned in known_hosts under the name.
	LookupHost func(ctx context.Context, host string) ([]string, error)
	// Path is the folder below the user's root on the server; "" or "/"
	// is the root itself.
	Path string
	// IdentityFile is the client's private key (default ~/.ssh/id_ed25519).
	IdentityFile string
	// KnownHostsFile pins server keys (default
	// ~/.local/state/ferry/known_hosts).
	KnownHostsFile   string
	AcceptNewHostKey bool
	// Transport picks the data path: "tcp" streams over SSH, "udp" needs
	// the UDP data path, "auto" (default) prefers UDP and falls back.
	Transport config.TransportMode
	Bandwidth config.Bandwidth
	// Direction, when set, is the job's direction: transfers both ways run
	// at Bandwidth.ForDirection(Direction), so a two-way job runs at the
	// lowest non-zero of its caps. Empty applies the caps as given.
	Direction config.Direction
	// Limits, when set, gives the caps in force and a channel closed when
	// they change (agent.Limits.Load). The endpoint starts from them in
	// place of Bandwidth and applies every change to the transfers in
	// flight, as SetBandwidth does, until it is closed.
	Limits func() (config.Bandwidth, <-chan struct{})
	// Proxy is the job's proxy key: a proxy URL (config.ParseProxy) that
	// carries the SSH connection, config.ProxyNone to connect directly,
	// or "" to take the proxy from the environment (HTTPS_PROXY,
	// ALL_PROXY and NO_PROXY, see proxy.FromEnvironment). With a proxy,
	// transport auto sends data over the SSH connection: UDP cannot pass
	// a proxy.
	Proxy string
	// Getenv reads the proxy environment variables (default os.Getenv).
	Getenv func(string) string
	// Job and ConfigFile only appear in error messages (the command that
	// trusts a new host key).
	Job, ConfigFile string
	// UDPPort overrides the UDP port the server announces (a port
	// forward, or tests); 0 uses the announced one.
	UDPPort int
	// NoUDPTimeout is how long a data session waits to hear anything over
	// UDP before deciding it is blocked (0: the data package's default).
	NoUDPTimeout time.Duration
	// PartialSuffix names in-flight files on the server (the job's
	// partial_suffix; default tree.DefaultPartialSuffix).
	PartialSuffix string
	// Sessions is how many UDP data sessions a batch spreads its files
	// over (default 1), sharing the caps evenly; files of at least
	// MultiSessionThreshold bytes are split into byte ranges across them
	// (0: never split). See config.Job.
	Sessions              int
	MultiSessionThreshold int64
	// Parallel is how many files Upload and Download move at once over the
	// SSH stream (default 4).
	Parallel int
	// DialTimeout bounds connecting and authenticating (default 30 s).
	DialTimeout time.Duration
	// KeepAlive is the interval of SSH keepalives that detect a dead
	// server (default 15 s; negative turns them off).
	KeepAlive time.Duration
	// RedialMin and RedialMax bound the wait before a dial that follows a
	// failed one (defaults 500 ms and 30 s): it doubles with each failure,
	// with jitter, so a server that is down is not hammered by a job
	// that keeps its connection.
	RedialMin, RedialMax time.Duration
	// Clock and Rand, when set, replace the wall clock and math/rand in
	// the redial backoff (tests).
	Clock Clock
	Rand  func() float64
	Log   *slog.Logger
}

// OptionsFromJob fills Options from a job's ferry:// remote.
func OptionsFromJob(job config.Job, configFile string) (Options, error) {
	u := job.RemoteURL
	if u == nil {
		return Options{}, fmt.Errorf("job %s: remote %q is not a ferry:// URL", job.Name, job.Remote)
	}
	return Options{
		User: u.User, Host: u.Host, Port: u.Port, Hosts: u.Hosts, Path: u.Path,
		IdentityFile: job.Identity, KnownHostsFile: job.KnownHosts,
		Transport: job.Transport, Bandwidth: job.Bandwidth, Direction: job.Direction,
		PartialSuffix: job.PartialSuffix, Job: job.Name, ConfigFile: configFile,
		Proxy: job.Proxy, Sessions: job.Sessions, MultiSessionThreshold: int64(job.MultiSessionThreshold),
	}, nil
}

func (o *Options) setDefaults() error {
	if len(o.Hosts) > 0 {
		o.Host, o.Port = o.Hosts[0].Host, o.Hosts[0].Port
	}
	if o.Port == 0 {
		o.Port = DefaultPort
	}
	if o.Host == "" {
		return errors.New("no server host")
	}
	if len(o.Hosts) == 0 {
		o.Hosts = []config.HostPort{{Host: o.Host, Port: o.Port}}
	}
	for i := range o.Hosts {
		if o.Hosts[i].Host == "" {
			return fmt.Errorf("server %d of %d has no host", i+1, len(o.Hosts))
		}
		if o.Hosts[i].Port == 0 {
			o.Hosts[i].Port = DefaultPort
		}
	}
	if o.LookupHost == nil {
		o.LookupHost = net.DefaultResolver.LookupHost
	}
	if o.User == "" {
		o.User = os.Getenv("USER")
	}
	home, _ := os.UserHomeDir()
	if o.IdentityFile == "" {
		o.IdentityFile = filepath.Join(home, ".ssh", "id_ed25519")
	}
	if o.KnownHostsFile == "" {
		o.KnownHostsFile = filepath.Join(home, ".local", "state", "ferry", "known_hosts")
	}
	switch o.Transport {
	case "":
		o.Transport = config.Auto
	case config.Auto, config.TCP, config.UDP:
	default:
		return fmt.Errorf("unknown transport %q: use udp, tcp or auto", o.Transport)
	}
	if o.Parallel <= 0 {
		o.Parallel = 4
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = 30 * time.Second
	}
	if o.KeepAlive == 0 {
		o.KeepAlive = 15 * time.Second
	}
	if o.RedialMin <= 0 {
		o.RedialMin = 500 * time.Millisecond
	}
	if o.RedialMax < o.RedialMin {
		o.RedialMax = max(30*time.Second, o.RedialMin)
	}
	if o.Clock == nil {
		o.Clock = wallClock{}
	}
	if o.Rand == nil {
		o.Rand = defaultRand
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	p := strings.Trim(o.Path, "/")
	if p != "" {
		if err := tree.ValidPath(p); err != nil {
			return fmt.Errorf("remote folder: %w", err)
		}
	}
	o.Path = p
	return nil
}

// conn is one SSH connection and what the server said in its Welcome.
// Requests may follow the Hello without waiting for the Welcome: the
// server answers a Hello before it looks at the next channel.
type conn struct {
	t      target // the server it is connected to
	client *ssh.Client
	bc     *coalesce.Conn // the TCP connection under client
	// greeted is closed once the Hello is answered; welcome and helloErr
	// are set before.
	greeted  chan struct{}
	welcome  control.Welcome
	helloErr error
	dead     chan struct{} // closed when the connection ends
	killed   atomic.Bool   // set at once when we give up on it
}

// refusedHello is the Hello's error if it has been answered and failed,
// without waiting.
func (c *conn) refusedHello() error {
	select {
	case <-c.greeted:
		return c.helloErr
	default:
		return nil
	}
}

// ready waits for the answer to the Hello and returns its error.
func (c *conn) ready(ctx context.Context) error {
	select {
	case <-c.greeted:
		return c.helloErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

// kill gives up on the connection: the next call dials again. What is
// queued for a peer presumed dead is dropped, not flushed.
func (c *conn) kill() {
	c.killed.Store(true)
	c.bc.Abort()
	c.client.Close()
}

func (c *conn) alive() bool {
	if c.killed.Load() {
		return false
	}
	select {
	case <-c.dead:
		return false
	default:
		return true
	}
}

// Endpoint is a folder behind `ferry serve`.
type Endpoint struct {
	opts Options
	addr string // the first server's host:port
	id   identity
	log  *slog.Logger
	up   *rate.Limiter // client-side caps; nil when uncapped
	down *rate.Limiter

	// proxy is the proxy the SSH connection goes through, nil when it
	// connects directly; proxyFrom says where it was set (the job's
	// proxy key, or an environment variable). dialer opens the TCP
	// connection, through the proxy or not.
	proxy     *config.Proxy
	proxyFrom string
	dialer    proxy.Dialer

	// noWithin: a server refused a scan request carrying Within (it is
	// older than the field), so scans no longer send it.
	noWithin atomic.Bool

	mu  sync.Mutex
	cur *conn
	// next is where the next dial starts in the list of servers
	// (targets): at random at first, then after the last one connected.
	next int
	// ntargets is how many servers the last dial had to choose from.
	ntargets        int
	dialing         *dialAttempt // the dial in progress, if any
	redial          backoff
	closed          bool
	udpBlockedUntil time.Time
	sessions        map[int]session
	prepared        map[bool]*prepared // by download
	nextSession     int
	lastStats       data.Stats
	haveStats       bool
	// ended is the UDP traffic of data sessions that have ended.
	ended data.Stats
	// tcp counts the bytes of every SSH connection made, through a
	// proxy or not.
	tcp tcpCount
	// stop ends the goroutine that follows Options.Limits.
	stop chan struct{}
	// folding is the server folder's answer to Folding, once known.
	folding     endpoint.Folding
	haveFolding bool
}

// dialAttempt is one dial that concurrent callers wait for.
type dialAttempt struct {
	done chan struct{}
	// c and err are its outcome, set before done closes.
	c   *conn
	err error
}

// Dial connects, authenticates, pins the host key and opens the folder.
func Dial(ctx context.Context, opts Options) (*Endpoint, error) {
	e, err := New(opts)
	if err != nil {
		return nil, err
	}
	if err := e.Connect(ctx); err != nil {
		// A dial that ctx gave up on goes on in the background; Close
		// ends it.
		e.Close()
		return nil, err
	}
	return e, nil
}

// New checks opts and loads the identity without touching the network:
// the first call that needs the server connects (or Connect, called early
// so the connection is made while other work runs). A connection that
// cannot be made fails that call with the same error Dial gives.
func New(opts Options) (*Endpoint, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, fmt.Errorf("unable to connect to ferry server: %w", err)
	}
	home, _ := os.UserHomeDir()
	id, err := loadIdentity(opts.IdentityFile, filepath.Join(home, ".ssh", "id_ed25519"), opts.Getenv("SSH_AUTH_SOCK"))
	if err != nil {
		return nil, err
	}
	logAs := opts.Host
	if len(opts.Hosts) > 1 {
		// The log's "server" says which of them a line is about.
		var hs []string
		for _, h := range opts.Hosts {
			hs = append(hs, h.Addr())
		}
		logAs = strings.Join(hs, ",")
	}
	e := &Endpoint{
		opts: opts, id: id, log: opts.Log.With("remote", logAs),
		addr:     net.JoinHostPort(opts.Host, strconv.Itoa(opts.Port)),
		next:     int(opts.Rand() * float64(len(opts.Hosts))),
		sessions: map[int]session{}, prepared: map[bool]*prepared{},
		stop:   make(chan struct{}),
		redial: backoff{min: opts.RedialMin, max: opts.RedialMax, rand: opts.Rand},
		dialer: &net.Dialer{},
	}
	if err := e.useProxy(); err != nil {
		return nil, fmt.Errorf("unable to connect to ferry server %s: %w", e.addr, err)
	}
	bw := opts.Bandwidth
	var changed <-chan struct{}
	if opts.Limits != nil {
		// The first value is taken here, so no transfer starts on caps
		// the caller has already replaced.
		bw, changed = opts.Limits()
	}
	e.applyBandwidth(bw)
	if changed != nil {
		go e.followLimits(changed)
	}
	return e, nil
}

// followLimits applies each change of Options.Limits until Close.
func (e *Endpoint) followLimits(changed <-chan struct{}) {
	for {
		select {
		case <-changed:
		case <-e.stop:
			return
		}
		var bw config.Bandwidth
		bw, changed = e.opts.Limits()
		e.SetBandwidth(bw)
	}
}

// Connect connects, authenticates, pins the host key and opens the folder
// unless a live connection exists.
func (e *Endpoint) Connect(ctx context.Context) error {
	c, err := e.conn(ctx)
	if err != nil {
		return err
	}
	return c.ready(ctx)
}

// errClosed is returned by calls on a closed endpoint.
var errClosed = errors.New("remote endpoint is closed")

// conn returns the live connection, dialing a new one if the last one
// ended. Concurrent callers share one dial, and the lock is not held
// during it, so rate changes and the like do not wait for the network.
// The dial belongs to the endpoint, not to the caller that started it: a
// caller whose context ends stops waiting, but the dial goes on (until
// DialTimeout or Close) and the next call finds its connection, instead
// of a pass that fails half-way through a dial making the next one dial
// again.
func (e *Endpoint) conn(ctx context.Context) (*conn, error) {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil, errClosed
	}
	if e.cur != nil && e.cur.alive() {
		c := e.cur
		e.mu.Unlock()
		return c, nil
	}
	d := e.dialing
	if d == nil {
		d = &dialAttempt{done: make(chan struct{})}
		e.dialing = d
		again := e.cur != nil
		wait := e.redial.wait(e.opts.Clock.Now())
		if again {
			e.log.Info("reconnecting to ferry server", "after", wait)
		}
		go e.dialFor(d, wait)
	}
	e.mu.Unlock()
	select {
	case <-d.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return d.c, d.err
}

// dialFor makes the dial d stands for and records its outcome.
func (e *Endpoint) dialFor(d *dialAttempt, wait time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-e.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	c, err := e.dialAfter(ctx, wait)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.dialing = nil
	if err == nil && e.closed {
		c.client.Close()
		err = errClosed
	}
	switch {
	case err == nil:
		e.cur = c
		e.redial.succeeded()
	case e.closed:
		err = errClosed
	default:
		e.redial.failed(e.opts.Clock.Now())
	}
	d.c, d.err = c, err
	close(d.done)
}

// dialAfter dials once wait has passed (the redial backoff).
func (e *Endpoint) dialAfter(ctx context.Context, wait time.Duration) (*conn, error) {
	if wait > 0 {
		select {
		case <-e.opts.Clock.After(wait):
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-e.stop:
			return nil, errClosed
		}
	}
	return e.dialAny(ctx)
}

func (e *Endpoint) dial(ctx context.Context, t target) (*conn, error) {
	ctx, cancel := context.WithTimeout(ctx, e.opts.DialTimeout)
	defer cancel()
	if e.proxy != nil && e.opts.Transport == config.UDP {
		return nil, fmt.Errorf("unable to connect to ferry server %s: %w", t.addr, &ProxyUDPError{Proxy: *e.proxy, From: e.proxyFrom})
	}
	// The keys first: an agent that cannot be reached is no lost
	// connection. Its connection is needed only until the handshake ends.
	keys, closeAgent, err := e.id.signers()
	if err != nil {
		return nil, fmt.Errorf("unable to connect to ferry server %s: %w", t, err)
	}
	if closeAgent != nil {
		defer closeAgent()
	}
	var nc net.Conn
	if host, _, _ := net.SplitHostPort(t.dial); e.proxy == nil && racesDial(host) {
		nc, err = raceDial(ctx, e.dialer, t.dial, e.opts.Clock, raceStagger, raceAttempts)
	} else {
		nc, err = e.dialer.DialContext(ctx, "tcp", t.dial)
	}
	if err != nil {
		if e.proxy != nil {
			return nil, fmt.Errorf("unable to connect to ferry server %s through proxy %s (%s): %w", t, e.proxy, e.proxyFrom, proxyFailed{err})
		}
		return nil, &connectError{addr: t.String(), err: err}
	}
	dl, _ := ctx.Deadline()
	nc.SetDeadline(dl)
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	// The server says why it refuses a key it knows (another user's key,
	// or options that refuse this client) in a banner before the failure.
	var banner strings.Builder
	cfg := &ssh.ClientConfig{
		User:            e.opts.User,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(keys...)},
		HostKeyCallback: hostKeyCallback(e.opts.KnownHostsFile, e.opts.AcceptNewHostKey, e.opts.Job, e.opts.ConfigFile, e.log),
		BannerCallback: func(msg string) error {
			if banner.Len() < maxBanner {
				banner.WriteString(msg)
			}
			return nil
		},
		ClientVersion: "SSH-2.0-ferry",
		Timeout:       e.opts.DialTimeout,
	}
	// SSH writes each message on its own; a wave of requests must leave in
	// a few segments, not one each, or it outgrows the congestion window.
	bc := coalesce.Wrap(countedConn{Conn: nc, n: &e.tcp})
	sc, chans, reqs, err := ssh.NewClientConn(bc, t.addr, cfg)
	stopped := stop()
	if err != nil {
		bc.Close()
		var hk *HostKeyError
		if errors.As(err, &hk) {
			return nil, hk
		}
		if strings.Contains(err.Error(), "unable to authenticate") {
			if why := printable(banner.String(), maxBanner); why != "" {
				return nil, fmt.Errorf("%s (server %s): %w", why, t, err)
			}
			return nil, fmt.Errorf("ferry server %s refused %s for user %q: add the public key to its authorized keys: %w",
				t, describe(keys), e.opts.User, err)
		}
		if !stopped {
			return nil, fmt.Errorf("unable to connect to ferry server %s: %w: %w", t, ErrDisconnected, ctx.Err())
		}
		return nil, &connectError{addr: t.String(), handshake: true, err: err}
	}
	nc.SetDeadline(time.Time{})
	c := &conn{t: t, client: ssh.NewClient(sc, chans, reqs), bc: bc, greeted: make(chan struct{}), dead: make(chan struct{})}
	go func() {
		c.client.Wait()
		close(c.dead)
	}()
	if e.opts.KeepAlive > 0 {
		go keepAlive(c, e.opts.KeepAlive)
	}
	// The Hello is answered in the background so that the first requests
	// leave right behind it instead of a round trip later.
	go e.greet(c)
	return c, nil
}

// maxBanner bounds how much of a server's banner is kept.
const maxBanner = 2048

// printable is the server's text s, trimmed, cut to max bytes, on one
// line, with every control or format character escaped: a server must not
// be able to move the cursor or reorder what the user reads.
func printable(s string, max int) string {
	s = strings.TrimSpace(s)
	if len(s) > max {
		s = strings.ToValidUTF8(s[:max], "") + "…"
	}
	var b strings.Builder
	for _, r := range s {
		if r == '\n' || r == '\t' {
			b.WriteByte(' ')
			continue
		}
		if !unicode.IsPrint(r) && r != ' ' {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// greet sends the Hello on c and records the answer; a refused Hello ends
// the connection, so that the next call dials again.
func (e *Endpoint) greet(c *conn) {
	ctx, cancel := context.WithTimeout(context.Background(), e.opts.DialTimeout)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { c.client.Close() })
	defer stop()
	m, err := call(ctx, c, control.Hello{Version: control.Version, Path: e.opts.Path, Client: "ferry", PartialSuffix: e.opts.PartialSuffix})
	if err == nil {
		w, ok := m.(control.Welcome)
		if !ok {
			err = fmt.Errorf("%w: server answered Hello with %T", control.ErrProtocol, m)
		}
		c.welcome = w
	}
	if err != nil {
		c.helloErr = fmt.Errorf("unable to open remote folder %q on %s: %w", "/"+e.opts.Path, c.t, err)
		// Closed first: the requests that fail because of the kill find
		// the reason.
		close(c.greeted)
		c.kill()
		return
	}
	e.log.Debug("connected", "server", c.t.String(), "user", c.welcome.User, "rate_cap", c.welcome.RateCap, "udp_port", c.welcome.UDPPort)
	close(c.greeted)
}

// keepAlive closes a connection whose server stops answering, so that
// calls fail (and the next one redials) instead of hanging.
func keepAlive(c *conn, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-c.dead:
			return
		case <-t.C:
		}
		answered := make(chan error, 1)
		go func() {
			_, _, err := c.client.SendRequest("keepalive@openssh.com", true, nil)
			answered <- err
		}()
		select {
		case err := <-answered:
			if err != nil {
				c.kill()
				return
			}
		case <-time.After(2 * every):
			c.kill()
			return
		case <-c.dead:
			return
		}
	}
}

// EndPass drops what a pass left on the endpoint (data sessions prepared
// but not taken, the last session's figures, the folder's folding, which
// may change while the connection stays) and keeps the connection, so
// that the next pass starts as on a fresh endpoint without the handshake.
func (e *Endpoint) EndPass() {
	e.releasePrepared()
	e.mu.Lock()
	defer e.mu.Unlock()
	e.lastStats, e.haveStats = data.Stats{}, false
	e.folding, e.haveFolding = endpoint.Folding{}, false
}

// Close ends the connection and any data session prepared but not used.
func (e *Endpoint) Close() error {
	e.releasePrepared()
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.closed {
		close(e.stop)
	}
	e.closed = true
	if e.cur != nil {
		e.cur.client.Close()
		e.cur = nil
	}
	return nil
}

// RateCap is the server's cap on this session's data rate in bits/s (0:
// none), as announced on the current connection.
func (e *Endpoint) RateCap() config.Rate {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cur == nil {
		return 0
	}
	select {
	case <-e.cur.greeted:
		return config.Rate(e.cur.welcome.RateCap)
	default:
		return 0
	}
}

// SetBandwidth changes the client-side caps of transfers in flight and to
// come (folded by Options.Direction).
func (e *Endpoint) SetBandwidth(bw config.Bandwidth) {
	bw = e.caps(bw)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.opts.Bandwidth = bw
	setLimit(e.up, bw.Upload)
	setLimit(e.down, bw.Download)
	for _, s := range e.sessions {
		limit := bw.Upload
		if s.download {
			limit = bw.Download
		}
		s.set(shareOf(ratesFor(bw, limit, s.serverCap), s.lanes))
	}
}

// Bandwidth returns the caps the endpoint's transfers run at now: the
// last caps given (Options.Bandwidth, Options.Limits or SetBandwidth),
// folded by Options.Direction.
func (e *Endpoint) Bandwidth() config.Bandwidth {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.opts.Bandwidth
}

// caps is what a job's caps mean for its transfers: with a direction,
// both ways run at the job's effective cap.
func (e *Endpoint) caps(bw config.Bandwidth) config.Bandwidth {
	if e.opts.Direction == "" {
		return bw
	}
	return bw.ForDirection(e.opts.Direction)
}

func (e *Endpoint) applyBandwidth(bw config.Bandwidth) {
	bw = e.caps(bw)
	e.opts.Bandwidth = bw
	// Limiters always exist so that SetBandwidth can cap a job that
	// started uncapped; rate.Inf means no cap.
	e.up = rate.NewLimiter(rate.Inf, control.MaxData)
	e.down = rate.NewLimiter(rate.Inf, control.MaxData)
	setLimit(e.up, bw.Upload)
	setLimit(e.down, bw.Download)
}

func setLimit(l *rate.Limiter, r config.Rate) {
	if r <= 0 {
		l.SetLimit(rate.Inf)
		return
	}
	bps := float64(r) / 8
	l.SetBurst(max(int(bps/10), control.MaxData))
	l.SetLimit(rate.Limit(bps))
}

// waitN takes n bytes from l in burst-sized slices.
func waitN(ctx context.Context, l *rate.Limiter, n int) error {
	for n > 0 {
		k := min(n, l.Burst())
		if err := l.WaitN(ctx, k); err != nil {
			return err
		}
		n -= k
	}
	return nil
}
