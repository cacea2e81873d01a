package acmetest

import (
	"errors"

	"github.com/tenantkit/tenantkit/internal/dnstest"
)

// Dev is a CA together with the DNS server its validation authority asks:
// what `tenantkit dev` needs to issue certificates for made-up names. Point
// a name at the dev server with DNS.SetA, serve HTTP-01 challenges on the
// port Config.HTTPPort named, and trust CA.IssuerRootsPEM in the browser.
type Dev struct {
	DNS *dnstest.Server
	CA  *CA
}

// StartDev starts a dnstest server on a free loopback port and a CA that
// resolves through it. cfg.Resolver must be empty: StartDev fills it.
func StartDev(cfg *Config) (*Dev, error) {
	c := Config{}
	if cfg != nil {
		c = *cfg
	}
	if c.Resolver != "" {
		return nil, errors.New("acmetest: StartDev sets Config.Resolver itself")
	}
	dns, err := dnstest.Start(&dnstest.Config{Logger: c.Logger})
	if err != nil {
		return nil, err
	}
	c.Resolver = dns.Addr()
	ca, err := Start(&c)
	if err != nil {
		dns.Close()
		return nil, err
	}
	return &Dev{DNS: dns, CA: ca}, nil
}

// Close stops the CA and the DNS server.
func (d *Dev) Close() {
	d.CA.Close()
	d.DNS.Close()
}
