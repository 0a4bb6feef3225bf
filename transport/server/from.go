package server

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// fromList is an authorized_keys from= option: OpenSSH's comma-separated
// pattern list, matched as sshd does with UseDNS off (its default): every
// entry is tried both as an address or CIDR block and as a `*`/`?`
// wildcard pattern on the client address's text. Host names are never
// resolved, so a host-name pattern matches nothing.
type fromList struct {
	raw     string
	entries []fromEntry
}

type fromEntry struct {
	neg     bool
	pattern string // lower case, for the wildcard match on the address text
	// prefix is the entry read as an address or address/masklen; valid
	// only when isNet.
	prefix netip.Prefix
	isNet  bool
}

// parseFrom reads a from= value. The errors are the ones that make sshd
// refuse the key whatever the client's address: an empty entry, or a
// CIDR block whose mask is too long or leaves host bits set.
func parseFrom(v string) (fromList, error) {
	l := fromList{raw: v}
	for _, e := range strings.Split(v, ",") {
		var fe fromEntry
		if strings.HasPrefix(e, "!") {
			fe.neg, e = true, e[1:]
		}
		if e == "" {
			return fromList{}, fmt.Errorf("from=%q has an empty entry", v)
		}
		fe.pattern = strings.ToLower(e)
		p, ok, err := parseCIDR(e)
		if err != nil {
			return fromList{}, fmt.Errorf("from=%q: %w", v, err)
		}
		fe.prefix, fe.isNet = p, ok
		l.entries = append(l.entries, fe)
	}
	return l, nil
}

// parseCIDR reads "address" or "address/masklen" as OpenSSH's
// addr_pton_cidr does: ok is false for text that is not one (it is then
// only a wildcard pattern), err is set for an address whose mask is out of
// range or leaves host bits set.
func parseCIDR(s string) (p netip.Prefix, ok bool, err error) {
	a, mask, hasMask := strings.Cut(s, "/")
	addr, perr := netip.ParseAddr(a)
	if perr != nil {
		// sshd's getaddrinfo(AI_NUMERICHOST) also takes inet_aton's
		// IPv4 forms: "10.1" is 10.0.0.1 to it, and must be here too, or
		// a negation written so would refuse no one.
		var ok bool
		if addr, ok = parseInetAton(a); ok {
			perr = nil
		}
	}
	if perr != nil || addr.Zone() != "" {
		return netip.Prefix{}, false, nil
	}
	bits := addr.BitLen()
	if hasMask {
		if mask == "" || mask[0] < '0' || mask[0] > '9' {
			return netip.Prefix{}, false, nil
		}
		n, perr := strconv.ParseUint(mask, 10, 32)
		if perr != nil || n > 128 {
			return netip.Prefix{}, false, nil
		}
		if int(n) > bits {
			return netip.Prefix{}, false, fmt.Errorf("%q: mask length %d is longer than the address", s, n)
		}
		bits = int(n)
	}
	p = netip.PrefixFrom(addr, bits)
	if p.Masked() != p {
		return netip.Prefix{}, false, fmt.Errorf("%q has address bits set beyond its /%d mask (did you mean %s?)", s, bits, p.Masked())
	}
	return p, true, nil
}

// parseInetAton reads an IPv4 address as glibc's inet_aton_exact does:
// one to four parts separated by dots, each decimal, octal (leading 0) or
// hexadecimal (leading 0x), the last part filling the bytes left.
func parseInetAton(s string) (netip.Addr, bool) {
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	var vals []uint64
	for _, p := range parts {
		base, digits := uint64(10), p
		switch {
		case len(p) > 1 && (p[:2] == "0x" || p[:2] == "0X"):
			base, digits = 16, p[2:]
		case len(p) > 1 && p[0] == '0':
			base, digits = 8, p[1:]
		}
		if digits == "" || p == "" || p[0] < '0' || p[0] > '9' {
			return netip.Addr{}, false
		}
		v, err := strconv.ParseUint(digits, int(base), 32)
		if err != nil {
			return netip.Addr{}, false
		}
		vals = append(vals, v)
	}
	var n uint64
	for i, v := range vals[:len(vals)-1] {
		if v > 0xff {
			return netip.Addr{}, false
		}
		n |= v << (24 - 8*i)
	}
	last := vals[len(vals)-1]
	if last > uint64(0xffffffff)>>(8*(len(vals)-1)) {
		return netip.Addr{}, false
	}
	n |= last
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), true
}

// permits reports whether the list lets a client at ip in. A matching
// negated entry refuses, wherever it stands in the list; otherwise some
// entry must match.
func (l fromList) permits(ip netip.Addr) bool {
	ip = ip.Unmap().WithZone("")
	text := ip.String()
	positive := false
	for _, e := range l.entries {
		hit := matchPattern(text, e.pattern) || (e.isNet && e.prefix.Contains(ip))
		if !hit {
			continue
		}
		if e.neg {
			return false
		}
		positive = true
	}
	return positive
}

// hostNames returns the positive entries that can only be host names:
// neither an address nor a pattern that could match an address's text.
// They never match, since ferry does not resolve names.
func (l fromList) hostNames() []string {
	var names []string
	for _, e := range l.entries {
		if e.neg || e.isNet {
			continue
		}
		if strings.Trim(e.pattern, "0123456789abcdef.:*?") != "" {
			names = append(names, e.pattern)
		}
	}
	return names
}

// matchPattern is OpenSSH's match_pattern: `*` matches any run of
// characters, `?` any one character, everything else itself.
func matchPattern(s, pattern string) bool {
	// Greedy match with one backtrack point: enough for `*` and `?`, and
	// linear in practice (never exponential).
	si, pi := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		switch {
		case pi < len(pattern) && (pattern[pi] == '?' || pattern[pi] == s[si]):
			si++
			pi++
		case pi < len(pattern) && pattern[pi] == '*':
			star, mark = pi, si
			pi++
		case star >= 0:
			mark++
			si, pi = mark, star+1
		default:
			return false
		}
	}
	for pi < len(pattern) && pattern[pi] == '*' {
		pi++
	}
	return pi == len(pattern)
}
