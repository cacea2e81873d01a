package tlsserve

import (
	"errors"
	"strings"
)

var (
	// ErrNoServerName refuses a handshake that named no host: without SNI
	// there is nothing to decide on, and an IP address gets no certificate.
	ErrNoServerName = errors.New("tlsserve: client sent no server name")
	// ErrInvalidName refuses a server name that is not a host name a
	// certificate can be issued for.
	ErrInvalidName = errors.New("tlsserve: server name is not a valid host name")
	// ErrNotAllowed refuses a host that is not in the allow-list.
	ErrNotAllowed = errors.New("tlsserve: host is not allowed a certificate")
)

// maxHostLen is the longest host name DNS can carry in text form.
const maxHostLen = 253

// normalize lower-cases name and checks that it is a multi-label DNS host
// name that is no IP literal. It allocates only when name has upper case.
func normalize(name string) (string, error) {
	if name == "" {
		return "", ErrNoServerName
	}
	if len(name) > maxHostLen {
		return "", ErrInvalidName
	}
	if hasUpper(name) {
		name = strings.ToLower(name)
	}
	if !validHost(name) {
		return "", ErrInvalidName
	}
	return name, nil
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return true
		}
	}
	return false
}

// validHost reports whether name (lower case) is two or more LDH labels of
// 1–63 bytes, none starting or ending with a hyphen, the last not all
// digits: that last rule refuses IPv4 literals, and ':' refuses IPv6.
func validHost(name string) bool {
	labels, start, digits := 0, 0, true
	for i := 0; i <= len(name); i++ {
		if i == len(name) || name[i] == '.' {
			n := i - start
			if n == 0 || n > 63 || name[start] == '-' || name[i-1] == '-' {
				return false
			}
			labels++
			if i < len(name) {
				start, digits = i+1, true
			}
			continue
		}
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', c == '-':
			digits = false
		case '0' <= c && c <= '9':
		default:
			return false
		}
	}
	return labels >= 2 && !digits
}
