package resolve

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// DefaultReserved are the labels below the base domain that name the
// platform's own services rather than tenants. SubdomainConfig.Reserved
// defaults to them.
var DefaultReserved = []string{"www", "api", "admin", "app", "mail", "static"}

// SubdomainConfig configures a Subdomain resolver.
type SubdomainConfig struct {
	// BaseDomain is the platform's domain; tenants live one label below it
	// ("example.com" serves acme.example.com). It may be a single label such
	// as "localhost" for development (acme.localhost:8080). Case and one
	// trailing dot are ignored. Defaults to nothing: it is required.
	BaseDomain string

	// Reserved lists labels that are never tenants (www.example.com). Case
	// is ignored. A non-nil empty slice reserves nothing. Defaults to
	// DefaultReserved.
	Reserved []string
}

func (c *SubdomainConfig) validate() error {
	if c.BaseDomain == "" {
		return errors.New("resolve: SubdomainConfig.BaseDomain is required")
	}
	base, ok := normalizeHostname(c.BaseDomain)
	if !ok || ipLike(base) {
		return fmt.Errorf("resolve: SubdomainConfig.BaseDomain %q is not a host name", c.BaseDomain)
	}
	return nil
}

// Subdomain resolves a tenant from the label just below the base domain:
// acme.example.com names the tenant with slug "acme". Deeper names
// (a.b.example.com), the base domain itself, reserved labels and anything
// that is not a DNS label give ok=false.
//
// Resolve does not allocate for a lower-case host: it runs on every request.
type Subdomain struct {
	suffix   string // "." + base domain, lower-case
	reserved map[string]struct{}
}

// NewSubdomain returns a Subdomain resolver for cfg.
func NewSubdomain(cfg SubdomainConfig) (*Subdomain, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	base, _ := normalizeHostname(cfg.BaseDomain)
	reserved := cfg.Reserved
	if reserved == nil {
		reserved = DefaultReserved
	}
	s := &Subdomain{suffix: "." + base, reserved: make(map[string]struct{}, len(reserved))}
	for _, label := range reserved {
		s.reserved[strings.ToLower(label)] = struct{}{}
	}
	return s, nil
}

// Resolve implements Resolver. It never returns an error.
func (s *Subdomain) Resolve(r *http.Request) (Ref, bool, error) {
	label, ok := s.label(r.Host)
	if !ok {
		return Ref{}, false, nil
	}
	return Ref{Kind: BySlug, Value: label, Source: "subdomain"}, true, nil
}

// label returns the lower-case tenant label of hostport. It compares the
// base domain without regard to ASCII case instead of lower-casing the whole
// host, so only a label that holds upper-case letters costs an allocation.
func (s *Subdomain) label(hostport string) (string, bool) {
	host, ok := stripPort(hostport)
	if !ok || len(host) <= len(s.suffix) || !hasSuffixFoldASCII(host, s.suffix) {
		return "", false
	}
	label := host[:len(host)-len(s.suffix)]
	upper, ok := checkLabel(label) // a dot in label, as in a.b.example.com, fails here
	if !ok {
		return "", false
	}
	if upper {
		label = strings.ToLower(label)
	}
	if _, reserved := s.reserved[label]; reserved {
		return "", false
	}
	return label, true
}
