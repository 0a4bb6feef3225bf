package config

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/ferry-sync/ferry/versions"
)

// Server defaults.
const (
	DefaultListen         = ":33001"
	DefaultMaxConnections = 64
)

// ServerConfig is `ferry serve --config server.yaml`: where to listen and
// which users may reach which folder.
type ServerConfig struct {
	// File is the path it was loaded from.
	File string
	// Listen is the SSH control address, default ":33001".
	Listen string
	// UDPPort is announced for data sessions; default the Listen port, 0
	// turns the UDP data path off (data then flows over SSH).
	UDPPort int
	// StateDir holds per-root scan caches and, by default, the host key.
	// Default ~/.local/state/ferry.
	StateDir string
	// HostKey is the ed25519 host key; default STATE_DIR/host_key.
	HostKey string
	// UDPPortFromListen and HostKeyFromStateDir say that the file left
	// udp_port or host_key out, so that the value is derived: a command
	// line that overrides listen or state_dir must derive it again.
	// StateDirFromDefault says that it left state_dir out: the default
	// is the home of whoever reads the file, which a system service
	// replaces with its own state directory.
	UDPPortFromListen   bool
	HostKeyFromStateDir bool
	StateDirFromDefault bool
	// MaxConnections bounds concurrent SSH connections; default 64.
	MaxConnections int
	// TotalRate caps all users together; 0 is uncapped.
	TotalRate Rate
	// Versions is the policy of every user's root that sets none of its
	// own; default versions.DefaultPolicy. It is the server owner's: an
	// agent cannot change it.
	Versions versions.Policy
	Users    []User
}

// IsS3 reports whether root is in object storage (s3://bucket/prefix).
func IsS3(root string) bool { return strings.HasPrefix(root, S3Scheme) }

// User is one account of a ferry server.
type User struct {
	Name string
	// Root is the only folder the user's keys reach: an absolute path,
	// or s3://bucket/prefix in object storage (then S3 says where).
	Root string
	// S3 is the store of an s3:// Root (the user's s3: block over the
	// top-level one), nil for a folder on disk.
	S3 *S3
	// AuthorizedKeys is an OpenSSH authorized_keys file.
	AuthorizedKeys string
	// Rate caps this user; 0 is uncapped.
	Rate Rate
	// Versions is what the server keeps of the files agents replace or
	// delete in Root: the top-level versions: with this user's own
	// versions: fields over it.
	Versions versions.Policy
}

// LoadServer reads and validates a server configuration file.
func LoadServer(path string) (*ServerConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, readError(path, "server configuration", err)
	}
	return ParseServer(path, data)
}

// ParseServer decodes and validates a server configuration, with the same
// strictness and error form as Parse.
func ParseServer(file string, data []byte) (*ServerConfig, error) {
	d := newDecoder(file)
	s := &ServerConfig{File: file, Listen: DefaultListen, UDPPort: -1, MaxConnections: DefaultMaxConnections}
	var top versionsSpec
	var own []versionsSpec
	var topS3 s3Spec
	var ownS3 []s3Spec
	var s3Written []bool
	root := d.document(data)
	if root != nil && !isNull(root) {
		d.object(root, "", map[string]handler{
			"listen":          d.str(&s.Listen),
			"udp_port":        d.int(&s.UDPPort),
			"state_dir":       d.path(&s.StateDir),
			"host_key":        d.path(&s.HostKey),
			"max_connections": d.int(&s.MaxConnections),
			"total_rate":      d.rate(&s.TotalRate),
			"versions":        d.versions(&top),
			"s3":              d.s3(&topS3),
			"users": func(n *yaml.Node, field string) {
				d.list(n, field, func(v *yaml.Node, f string, _ int) {
					var u User
					var spec versionsSpec
					var s3 s3Spec
					written := false
					d.object(v, f, map[string]handler{
						"name":            d.str(&u.Name),
						"root":            d.path(&u.Root),
						"authorized_keys": d.path(&u.AuthorizedKeys),
						"rate":            d.rate(&u.Rate),
						"versions":        d.versions(&spec),
						"s3": func(v *yaml.Node, f string) {
							written = true
							d.s3(&s3)(v, f)
						},
					})
					s.Users = append(s.Users, u)
					own = append(own, spec)
					ownS3 = append(ownS3, s3)
					s3Written = append(s3Written, written)
				})
			},
		})
	}
	s.Versions = top.apply(versions.DefaultPolicy())
	for i := range s.Users {
		s.Users[i].Versions = own[i].apply(s.Versions)
		if bucket, prefix, ok := parseS3Root(s.Users[i].Root); ok {
			s.Users[i].S3 = ownS3[i].over(topS3).apply(bucket, prefix)
		} else if s3Written[i] {
			d.fail(d.lineOf(fmt.Sprintf("users[%d].s3", i), 0), fmt.Sprintf("users[%d].s3", i), "is set, but root %q is not an s3:// root; remove it, or write root: s3://bucket/prefix", s.Users[i].Root)
		}
	}
	if s.StateDir == "" && !d.failed["state_dir"] {
		s.StateDir, _ = expandHome(DefaultStateDir)
		if s.StateDir == "" {
			s.StateDir = DefaultStateDir
		}
		s.StateDirFromDefault = true
	}
	if s.HostKey == "" {
		s.HostKey = filepath.Join(s.StateDir, "host_key")
		s.HostKeyFromStateDir = true
	}
	if s.UDPPort == -1 && !d.failed["udp_port"] {
		s.UDPPort = 0
		if _, p, err := net.SplitHostPort(s.Listen); err == nil {
			s.UDPPort, _ = strconv.Atoi(p)
		}
		s.UDPPortFromListen = true
	}
	if d.complete() {
		d.report(s.problems(), 0)
	}
	if err := d.err(); err != nil {
		return nil, err
	}
	return s, nil
}

// EnsureValid checks a server configuration built or changed in code.
func (s *ServerConfig) EnsureValid() error { return asErrors(s.File, s.problems()) }

// User returns the user called name.
func (s *ServerConfig) User(name string) (*User, bool) {
	for i := range s.Users {
		if s.Users[i].Name == name {
			return &s.Users[i], true
		}
	}
	return nil, false
}

func (s *ServerConfig) problems() []problem {
	var ps []problem
	add := func(field, format string, args ...any) {
		ps = append(ps, problem{field: field, msg: fmt.Sprintf(format, args...)})
	}
	if _, p, err := net.SplitHostPort(s.Listen); err != nil {
		add("listen", "%q is not an address like :33001 or 0.0.0.0:33001", s.Listen)
	} else if n, err := strconv.Atoi(p); err != nil || n < 0 || n > 65535 {
		add("listen", "%q does not end in a port between 0 and 65535", s.Listen)
	}
	if s.UDPPort < 0 || s.UDPPort > 65535 {
		add("udp_port", "must be between 0 (UDP off) and 65535, not %d", s.UDPPort)
	}
	if !filepath.IsAbs(s.StateDir) {
		add("state_dir", "%q is not an absolute path", s.StateDir)
	}
	if !filepath.IsAbs(s.HostKey) {
		add("host_key", "%q is not an absolute path", s.HostKey)
	}
	if s.MaxConnections < 1 {
		add("max_connections", "must be at least 1, not %d", s.MaxConnections)
	}
	if s.TotalRate < 0 {
		add("total_rate", "must not be negative (0 means uncapped)")
	}
	ps = append(ps, versionsProblems("versions", s.Versions)...)
	if len(s.Users) == 0 {
		add("users", "at least one user is required")
	}
	first := map[string]int{}
	for i, u := range s.Users {
		f := fmt.Sprintf("users[%d]", i)
		switch {
		case u.Name == "":
			add(f+".name", "is required")
		case !validName.MatchString(u.Name):
			add(f+".name", "%q may contain only letters, digits, '.', '_' and '-'", u.Name)
		default:
			if k, dup := first[u.Name]; dup {
				add(f+".name", "%q is already the name of users[%d]", u.Name, k)
			} else {
				first[u.Name] = i
			}
		}
		switch {
		case u.Root == "":
			add(f+".root", "is required")
		case u.S3 != nil:
			ps = append(ps, s3Problems(f, u.Root, u.S3)...)
		case IsS3(u.Root):
			add(f+".root", "%q is an s3:// root without its s3: settings", u.Root)
		case !filepath.IsAbs(u.Root):
			add(f+".root", "%q is not an absolute path (or s3://bucket/prefix)", u.Root)
		}
		switch {
		case u.AuthorizedKeys == "":
			add(f+".authorized_keys", "is required")
		case !filepath.IsAbs(u.AuthorizedKeys):
			add(f+".authorized_keys", "%q is not an absolute path", u.AuthorizedKeys)
		}
		if u.Rate < 0 {
			add(f+".rate", "must not be negative (0 means uncapped)")
		}
		ps = append(ps, versionsProblems(f+".versions", u.Versions)...)
	}
	return ps
}
