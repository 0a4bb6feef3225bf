package config

import (
	"time"

	"github.com/ferry-sync/ferry/versions"
)

// Direction says which way changes flow.
type Direction string

const (
	TwoWay        Direction = "two-way"
	RemoteToLocal Direction = "remote-to-local" // the default: the remote is primary
	LocalToRemote Direction = "local-to-remote"
)

// Mode says when passes run.
type Mode string

const (
	Interval   Mode = "interval" // the default
	Continuous Mode = "continuous"
	Schedule   Mode = "schedule"
)

// ConflictPolicy says what happens to the local copy in a conflict.
type ConflictPolicy string

const (
	Rename ConflictPolicy = "rename" // the default
	Manual ConflictPolicy = "manual"
)

// Policy is the transport's rate policy.
type Policy string

const (
	Fixed Policy = "fixed"
	High  Policy = "high"
	Fair  Policy = "fair" // the default
	Low   Policy = "low"
)

// TransportMode chooses the data path to a ferry:// remote.
type TransportMode string

const (
	UDP  TransportMode = "udp"
	TCP  TransportMode = "tcp"
	Auto TransportMode = "auto" // the default: UDP, falling back to TCP
)

// Rate is a bit rate in bits per second. Zero means uncapped. YAML accepts
// "20Mbps", "500Kbps", "1Gbps", "0" (see ParseRate; "20MBps", bytes, is
// refused).
type Rate int64

// Limit is max_delete or max_change: either a share of the ancestor's
// entries (max_change: files) ("50%") or an absolute count ("200"). Percent is used when IsPercent. The zero Limit
// means "not set" (the engine applies its default); an explicit count of
// zero, "no deletions at all", has Set.
type Limit struct {
	IsPercent bool
	Percent   float64 // 0..100
	Count     int
	// Set marks a limit that was given, so that a count of 0 is told apart
	// from no limit written at all. ParseLimit always sets it.
	Set bool
}

// IsZero reports whether l is the unset Limit: no percentage, no count and
// not marked Set. Limit{Count: 0, Set: true} is an explicit zero.
func (l Limit) IsZero() bool { return !l.Set && !l.IsPercent && l.Count == 0 }

// Retry says how a failed transfer is retried.
type Retry struct {
	Attempts int           `yaml:"attempts"` // default 3
	Interval time.Duration `yaml:"interval"` // default 30s
}

// BandwidthRule changes the caps from the moment its cron fires (issue 4).
// A nil field leaves that cap as it was; a zero Rate means uncapped.
type BandwidthRule struct {
	Cron     string `yaml:"cron" json:"cron"`
	Upload   *Rate  `yaml:"upload" json:"upload,omitempty"`
	Download *Rate  `yaml:"download" json:"download,omitempty"`
}

// Bandwidth holds a job's transport rate settings. Its JSON (the control
// API's "bandwidth", docs/json.md) has the names of the YAML, rates in
// bits per second.
type Bandwidth struct {
	Upload     Rate            `yaml:"upload" json:"upload"`
	Download   Rate            `yaml:"download" json:"download"`
	Policy     Policy          `yaml:"policy" json:"policy"`
	TargetRate Rate            `yaml:"target_rate" json:"target_rate"`
	MinRate    Rate            `yaml:"min_rate" json:"min_rate"`
	Schedule   []BandwidthRule `yaml:"schedule" json:"schedule,omitempty"`
}

// RemoteURL is a parsed ferry://user@host[:port][,host[:port]...]/path
// remote.
type RemoteURL struct {
	User string
	// Host and Port are the first (or only) server of the URL.
	Host string
	Port int // default 33001
	Path string
	// Hosts lists every server of a URL that names several (nodes serving
	// one namespace), Host and Port first; nil when it names one.
	Hosts []HostPort
}

// HostPort is one server of a remote URL.
type HostPort struct {
	Host string // a name or an IP address (IPv6 without brackets)
	Port int
}

// Job pairs a local folder with a remote folder.
type Job struct {
	Name string `yaml:"name"`
	// Local is an absolute path (after ~ expansion).
	Local string `yaml:"local"`
	// Remote is an absolute local path, or a ferry:// URL (then RemoteURL
	// is set).
	Remote    string     `yaml:"remote"`
	RemoteURL *RemoteURL `yaml:"-"`

	Direction Direction     `yaml:"direction"`
	Mode      Mode          `yaml:"mode"`
	Interval  time.Duration `yaml:"interval"` // default 30s
	Schedule  string        `yaml:"schedule"` // cron; only with mode: schedule

	LocalSignature  string `yaml:"local_signature"`
	RemoteSignature string `yaml:"remote_signature"`

	Conflicts ConflictPolicy `yaml:"conflicts"`
	Exclude   []string       `yaml:"exclude"`
	MaxDelete Limit          `yaml:"max_delete"` // default 50%
	// MaxChange caps how many files one pass may overwrite on one side;
	// the zero Limit (the default) means no cap.
	MaxChange Limit `yaml:"max_change"`

	PartialSuffix    string  `yaml:"partial_suffix"`     // default .partial
	DiskSpaceWarning float64 `yaml:"disk_space_warning"` // a fraction, "5%" -> 0.05; default 0.05

	Cooloff        time.Duration `yaml:"cooloff"`         // default 1s
	RescanInterval time.Duration `yaml:"rescan_interval"` // continuous safety rescan, default 10m

	// Identity and KnownHosts are only read for ferry:// remotes.
	Identity   string `yaml:"identity"`    // default ~/.ssh/id_ed25519
	KnownHosts string `yaml:"known_hosts"` // default STATE_DIR/known_hosts

	Bandwidth Bandwidth     `yaml:"bandwidth"`
	Transport TransportMode `yaml:"transport"`
	Retry     Retry         `yaml:"retry"`

	// Proxy carries the SSH connection of a ferry:// remote: a proxy URL
	// (see ParseProxy), ProxyNone to connect directly whatever the
	// environment says, or "" to follow HTTPS_PROXY, ALL_PROXY and
	// NO_PROXY.
	Proxy string `yaml:"proxy"`

	// Versions is what this side keeps of the files ferry replaces or
	// deletes in Local (see package versions). The zero value is the
	// default policy (VersionsPolicy).
	Versions versions.Policy `yaml:"versions"`
	// Sessions is how many UDP data sessions a pass spreads its files
	// over (1 to MaxSessions; default 1), each with its own socket and
	// pacer, sharing the job's caps. MultiSessionThreshold is the size
	// from which one file is split into byte ranges across them (0: never
	// split; default 1 GiB).
	Sessions              int  `yaml:"sessions"`
	MultiSessionThreshold Size `yaml:"multi_session_threshold"`
}

// Config is a whole jobs file.
type Config struct {
	// File is the path it was loaded from.
	File string `yaml:"-"`
	// StateDir holds snapshot databases, logs and the control socket.
	// Default ~/.local/state/ferry.
	StateDir string `yaml:"state_dir"`
	// MaxConcurrentTransfers caps transfers across all jobs; default 3.
	MaxConcurrentTransfers int   `yaml:"max_concurrent_transfers"`
	Jobs                   []Job `yaml:"jobs"`
}
