package resolve

import (
	"fmt"
	"net/http"
)

// DomainConfig configures a Domain resolver.
type DomainConfig struct {
	// Exclude lists the platform's own host names. Each entry excludes that
	// name and every name below it, so "example.com" keeps example.com and
	// acme.example.com (the Subdomain resolver's business) out. Case and one
	// trailing dot are ignored. "localhost", its subdomains and IP addresses
	// are excluded whatever the list says. Defaults to none.
	Exclude []string
}

func (c *DomainConfig) validate() error {
	for _, name := range c.Exclude {
		if _, ok := normalizeHostname(name); !ok {
			return fmt.Errorf("resolve: DomainConfig.Exclude entry %q is not a host name", name)
		}
	}
	return nil
}

// Domain resolves a tenant from a custom domain: the request's host, without
// port, lower-cased, as Ref{Kind: ByHost}. It cannot tell whether the host
// belongs to a tenant; the pipeline honours the reference only when the
// catalog holds it as a verified domain of a tenant, so an attacker who
// points a name at the platform gains nothing.
//
// The platform's own names (DomainConfig.Exclude, localhost), IP addresses,
// single-label names and anything that is not a valid host name give
// ok=false.
type Domain struct {
	exclude []string
}

// NewDomain returns a Domain resolver for cfg.
func NewDomain(cfg DomainConfig) (*Domain, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	d := &Domain{exclude: []string{"localhost"}}
	for _, name := range cfg.Exclude {
		name, _ = normalizeHostname(name)
		d.exclude = append(d.exclude, name)
	}
	return d, nil
}

// Resolve implements Resolver. It never returns an error.
func (d *Domain) Resolve(r *http.Request) (Ref, bool, error) {
	host, ok := d.host(r.Host)
	if !ok {
		return Ref{}, false, nil
	}
	return Ref{Kind: ByHost, Value: host, Source: "domain"}, true, nil
}

func (d *Domain) host(hostport string) (string, bool) {
	host, ok := stripPort(hostport)
	if !ok {
		return "", false
	}
	upper, ok := checkHostname(host)
	if !ok || lastLabel(host) == host || ipLike(host) {
		return "", false
	}
	if upper {
		host, _ = normalizeHostname(host)
	}
	for _, name := range d.exclude {
		if withinDomain(host, name) {
			return "", false
		}
	}
	return host, true
}
