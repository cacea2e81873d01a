package resolve

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
)

// HeaderConfig configures a Header resolver.
type HeaderConfig struct {
	// Name is the request header that carries the tenant's id or slug.
	// Defaults to "X-Tenant-ID".
	Name string

	// TrustedProxies are the networks whose requests may set the header:
	// the proxies or gateways in front of the service, which must overwrite
	// (not append to) any value the client sent. Defaults to nothing: it is
	// required, so that the header is never honoured from everywhere.
	TrustedProxies []netip.Prefix
}

func (c *HeaderConfig) validate() error {
	if len(c.TrustedProxies) == 0 {
		return errors.New("resolve: HeaderConfig.TrustedProxies is required")
	}
	for _, p := range c.TrustedProxies {
		if !p.IsValid() {
			return fmt.Errorf("resolve: HeaderConfig.TrustedProxies holds an invalid prefix %q", p)
		}
	}
	return nil
}

// Header resolves a tenant from a request header set by a trusted proxy. A
// value that is a uuid names the tenant by id, anything else by slug.
//
// The header is honoured only when the request's RemoteAddr, the peer of
// the connection, is within HeaderConfig.TrustedProxies; from anywhere else
// it is ignored (ok=false), so clients cannot pick a tenant by sending it.
// Middleware that rewrites RemoteAddr from X-Forwarded-For must not run
// before it, or clients could spoof the peer as well.
type Header struct {
	name    string
	trusted []netip.Prefix
}

// NewHeader returns a Header resolver for cfg.
func NewHeader(cfg HeaderConfig) (*Header, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	name := cfg.Name
	if name == "" {
		name = "X-Tenant-ID"
	}
	h := &Header{name: http.CanonicalHeaderKey(name)}
	for _, p := range cfg.TrustedProxies {
		h.trusted = append(h.trusted, p.Masked())
	}
	return h, nil
}

// Resolve implements Resolver. It returns an error when a trusted peer sent
// the header more than once: a proxy that appends instead of overwriting
// would otherwise let the client's value through.
func (h *Header) Resolve(r *http.Request) (Ref, bool, error) {
	values := r.Header.Values(h.name)
	if len(values) == 0 || !h.fromTrusted(r.RemoteAddr) {
		return Ref{}, false, nil
	}
	if len(values) > 1 {
		return Ref{}, false, fmt.Errorf("resolve: header %s sent %d times", h.name, len(values))
	}
	if values[0] == "" {
		return Ref{}, false, nil
	}
	return refFromValue(values[0], "header"), true, nil
}

func (h *Header) fromTrusted(remoteAddr string) bool {
	addr, ok := peerAddr(remoteAddr)
	if !ok {
		return false
	}
	for _, p := range h.trusted {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// peerAddr parses a RemoteAddr ("ip:port", or a bare ip in some tests and
// adapters). IPv4-mapped IPv6 addresses are unmapped so that they match
// IPv4 prefixes, and zones are dropped.
func peerAddr(remoteAddr string) (netip.Addr, bool) {
	addr, err := netip.ParseAddr(remoteAddr)
	if err != nil {
		ap, err := netip.ParseAddrPort(remoteAddr)
		if err != nil {
			return netip.Addr{}, false
		}
		addr = ap.Addr()
	}
	return addr.Unmap().WithZone(""), true
}
