package server

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// authorizedKey is one line of an authorized_keys file, with the options
// ferry honours. A line whose options ferry cannot honour is kept, with
// refused set, so that its key's holder can be told why it is refused.
type authorizedKey struct {
	key     ssh.PublicKey
	file    string
	line    int
	comment string
	keyOptions
	// refused says why the line never lets anyone in ("" if it may).
	refused string
}

// keyOptions are the options of an authorized_keys line that ferry
// honours.
type keyOptions struct {
	from    *fromList // nil: any address
	expires time.Time // zero: never
	// noTouch lets a security key sign without a touch (no-touch-required).
	noTouch bool
}

func (k *authorizedKey) where() string { return fmt.Sprintf("%s:%d", k.file, k.line) }

// denial says why k refuses a client at ip at now, or "" if it lets it in.
func (k *authorizedKey) denial(ip netip.Addr, now time.Time) string {
	switch {
	case k.refused != "":
		return k.refused
	case k.from != nil && (!ip.IsValid() || !k.from.permits(ip)):
		return fmt.Sprintf("from=%q does not allow %s", k.from.raw, ip)
	case !k.expires.IsZero() && now.After(k.expires):
		return "expired at " + k.expires.Format(time.RFC3339) + " (expiry-time=)"
	}
	return ""
}

// harmlessOptions only take away rights ferry never gives (a shell, a pty,
// forwarding): ferry accepts them as they are.
var harmlessOptions = map[string]bool{
	"restrict":            true,
	"no-pty":              true,
	"no-port-forwarding":  true,
	"no-agent-forwarding": true,
	"no-x11-forwarding":   true,
	"no-user-rc":          true,
}

// parseKeyOptions reads the options of an authorized_keys line (as
// ssh.ParseAuthorizedKey splits them). An option that grants something
// (a command, a pty, forwarding, principals, a certificate authority...),
// that demands something ferry cannot check (verify-required), or that
// sshd would reject is an error: the key is then refused, never served
// with less protection than its line asks for. Times without a trailing Z
// are in loc, as sshd reads them in the system's zone.
func parseKeyOptions(opts []string, loc *time.Location) (keyOptions, error) {
	var ko keyOptions
	for _, o := range opts {
		name, value, hasValue := strings.Cut(o, "=")
		name = strings.ToLower(name)
		if !hasValue {
			switch {
			case harmlessOptions[name]:
				continue
			// The SSH library always wants a security key's touch unless
			// told otherwise; as in sshd, the last of the two counts.
			case name == "touch-required":
				ko.noTouch = false
				continue
			case name == "no-touch-required":
				ko.noTouch = true
				continue
			}
			return keyOptions{}, fmt.Errorf("option %q is not supported by ferry (it accepts only from=, expiry-time= and options that take rights away, such as restrict and no-pty)", o)
		}
		v, err := dequote(value)
		if err != nil {
			return keyOptions{}, fmt.Errorf("option %s: %w", name, err)
		}
		switch name {
		case "from":
			if ko.from != nil {
				return keyOptions{}, fmt.Errorf("from= is given twice")
			}
			l, err := parseFrom(v)
			if err != nil {
				return keyOptions{}, err
			}
			ko.from = &l
		case "expiry-time":
			t, err := parseExpiry(v, loc)
			if err != nil {
				return keyOptions{}, err
			}
			// As sshd: of several, the earliest counts.
			if ko.expires.IsZero() || t.Before(ko.expires) {
				ko.expires = t
			}
		default:
			return keyOptions{}, fmt.Errorf("option %s= is not supported by ferry (it accepts only from=, expiry-time= and options that take rights away, such as restrict and no-pty)", name)
		}
	}
	return ko, nil
}

// dequote reads an option value: a double-quoted string in which \" is a
// quote.
func dequote(v string) (string, error) {
	if len(v) < 2 || v[0] != '"' {
		return "", fmt.Errorf("value %s is not in double quotes", v)
	}
	var b strings.Builder
	for i := 1; i < len(v); i++ {
		switch {
		case v[i] == '\\' && i+1 < len(v) && v[i+1] == '"':
			b.WriteByte('"')
			i++
		case v[i] == '"':
			if i != len(v)-1 {
				return "", fmt.Errorf("value %s has text after its closing quote", v)
			}
			return b.String(), nil
		default:
			b.WriteByte(v[i])
		}
	}
	return "", fmt.Errorf("value %s has no closing quote", v)
}

// parseExpiry reads an expiry-time= value, YYYYMMDD[HHMM[SS]] with an
// optional trailing Z for UTC, as sshd does.
func parseExpiry(v string, loc *time.Location) (time.Time, error) {
	s := v
	if strings.HasSuffix(s, "Z") {
		s, loc = s[:len(s)-1], time.UTC
	}
	layout := map[int]string{8: "20060102", 12: "200601021504", 14: "20060102150405"}[len(s)]
	if layout == "" || strings.Trim(s, "0123456789") != "" {
		return time.Time{}, fmt.Errorf("expiry-time=%q is not YYYYMMDD[HHMM[SS]][Z]", v)
	}
	t, err := time.ParseInLocation(layout, s, loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("expiry-time=%q is not a valid time: %w", v, err)
	}
	return t, nil
}

// parseAuthorizedKeys reads an OpenSSH authorized_keys file. Blank lines
// and comments are skipped; a line that is not a key is an error. Times
// in expiry-time= are read in loc.
// KeysError is an authorized_keys file the server cannot use: missing,
// unreadable, or with a line that is not a key. Like a bad config file, it
// is fixed by editing, not by starting again.
type KeysError struct {
	Path string
	Line int // 0: the file could not be read
	Err  error
}

func (e *KeysError) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("unable to read authorized keys %s: %v", e.Path, e.Err)
	}
	return fmt.Sprintf("unable to parse %s line %d: %v", e.Path, e.Line, e.Err)
}

func (e *KeysError) Unwrap() error { return e.Err }

func parseAuthorizedKeys(path string, loc *time.Location) ([]authorizedKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, &KeysError{Path: path, Err: err}
	}
	var keys []authorizedKey
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	line := 0
	for sc.Scan() {
		line++
		l := bytes.TrimSpace(sc.Bytes())
		if len(l) == 0 || l[0] == '#' {
			continue
		}
		k, comment, opts, _, err := ssh.ParseAuthorizedKey(l)
		if err != nil {
			return nil, &KeysError{Path: path, Line: line, Err: err}
		}
		ak := authorizedKey{key: k, file: path, line: line, comment: comment}
		ak.keyOptions, err = parseKeyOptions(opts, loc)
		if err != nil {
			ak.refused = err.Error()
		}
		keys = append(keys, ak)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("unable to read authorized keys %s: %w", path, err)
	}
	return keys, nil
}
