package resolve

import (
	"net/netip"
	"strings"

	"github.com/google/uuid"
)

// The helpers below work on the bytes of a Host header without allocating:
// they run on every request, and most hosts are already lower-case.

// stripPort returns hostport without its port and without one trailing
// dot. ok is false for an empty host, a bracketed IPv6 literal (never a
// tenant's host) or a port that is not a decimal number.
func stripPort(hostport string) (host string, ok bool) {
	if hostport == "" || hostport[0] == '[' {
		return "", false
	}
	if i := strings.LastIndexByte(hostport, ':'); i >= 0 {
		if port := hostport[i+1:]; len(port) > 5 || !allDigits(port) {
			return "", false
		}
		hostport = hostport[:i]
	}
	host = strings.TrimSuffix(hostport, ".")
	return host, host != ""
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// checkLabel reports whether s is a DNS label: 1 to 63 letters, digits and
// hyphens, neither starting nor ending with a hyphen. upper says whether it
// holds an upper-case letter, so callers lower-case only when they must.
func checkLabel(s string) (upper, ok bool) {
	if len(s) == 0 || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false, false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-':
		case 'A' <= c && c <= 'Z':
			upper = true
		default:
			return false, false
		}
	}
	return upper, true
}

// checkHostname reports whether s is a host name made of DNS labels, at most
// 253 bytes long, without a trailing dot.
func checkHostname(s string) (upper, ok bool) {
	if len(s) == 0 || len(s) > 253 {
		return false, false
	}
	for {
		label, rest, more := strings.Cut(s, ".")
		u, ok := checkLabel(label)
		if !ok {
			return false, false
		}
		upper = upper || u
		if !more {
			return upper, true
		}
		s = rest
	}
}

// lastLabel returns the part of host after its last dot.
func lastLabel(host string) string {
	return host[strings.LastIndexByte(host, '.')+1:]
}

// ipLike reports whether host is, or could be read by a resolver as, an IP
// address: a dotted quad, or any name whose last label is all digits
// ("127.1", "2130706433"). No top-level domain is numeric.
func ipLike(host string) bool {
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	return allDigits(lastLabel(host))
}

// hasSuffixFoldASCII reports whether s ends with suffix, ignoring ASCII case
// only, as DNS does. Unlike strings.EqualFold it never folds a non-ASCII
// letter (KELVIN SIGN) into an ASCII one.
func hasSuffixFoldASCII(s, suffix string) bool {
	if len(s) < len(suffix) {
		return false
	}
	s = s[len(s)-len(suffix):]
	for i := 0; i < len(s); i++ {
		if lowerASCII(s[i]) != lowerASCII(suffix[i]) {
			return false
		}
	}
	return true
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// withinDomain reports whether host is domain or one of its subdomains.
// Both are lower-case.
func withinDomain(host, domain string) bool {
	if !strings.HasSuffix(host, domain) {
		return false
	}
	n := len(host) - len(domain)
	return n == 0 || host[n-1] == '.'
}

// normalizeHostname lower-cases name, drops one trailing dot and checks it
// is a host name. It is for configuration, not for requests.
func normalizeHostname(name string) (string, bool) {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	_, ok := checkHostname(name)
	return name, ok
}

// refFromValue turns a tenant value from a token or header into a Ref: a
// uuid in its canonical 36-character form names a tenant by id (so a
// 32-hex-digit slug is not taken for one), anything else by slug.
func refFromValue(value, source string) Ref {
	if len(value) == 36 {
		if id, err := uuid.Parse(value); err == nil {
			return Ref{Kind: ByID, Value: id.String(), Source: source}
		}
	}
	return Ref{Kind: BySlug, Value: strings.ToLower(value), Source: source}
}
