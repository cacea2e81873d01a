// Package domains proves that a tenant holds a custom domain: the tenant
// publishes a DNS TXT record, _tenantkit-challenge.HOST, holding the token
// tenantkit gave it when the domain was added, and Proof looks the record
// up through a configured resolver. It also holds the rules on which hosts
// a tenant may claim at all.
//
// Rules: a host is a fully qualified DNS name of at least two labels. The
// platform's base domain and every name under it belong to the platform
// and are refused, as are IP literals (a numeric last label, or anything
// with a colon) and wildcards ("*.shop.example": a tenant adds each name it
// serves). An apex ("acme.example") is claimed like any other name and
// covers itself only: "www.acme.example" is another domain with its own
// record, "_tenantkit-challenge.www.acme.example".
package domains

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// RecordPrefix is the label the proof record sits under.
const RecordPrefix = "_tenantkit-challenge."

// RecordName is the name of the TXT record that proves host.
func RecordName(host string) string { return RecordPrefix + host }

// Proof looks proof records up.
type Proof struct {
	// Resolver is the DNS server asked, host:port. Defaults to the first
	// nameserver of /etc/resolv.conf.
	Resolver string
	// Timeout bounds one lookup. Defaults to 5 seconds.
	Timeout time.Duration
}

// ProofError is a proof that does not hold: the record is absent, or
// holds other values.
type ProofError struct {
	Host string
	// Record is the name looked up.
	Record string
	// Want is the token the record must hold.
	Want string
	// Found is what the record holds; empty when there is none.
	Found []string
	// Rcode is the DNS answer's code (NOERROR, NXDOMAIN, …).
	Rcode string
}

func (e *ProofError) Error() string {
	if len(e.Found) == 0 {
		return fmt.Sprintf("no TXT record at %s (%s): create it holding %q", e.Record, e.Rcode, e.Want)
	}
	return fmt.Sprintf("the TXT record at %s holds %s, not %q", e.Record, quoteAll(e.Found), e.Want)
}

func quoteAll(vs []string) string {
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = fmt.Sprintf("%q", v)
	}
	return strings.Join(q, ", ")
}

// ErrLookup is wrapped by the errors of a lookup the resolver did not
// answer: the proof could not be checked either way.
var ErrLookup = errors.New("domains: DNS lookup failed")

// Check looks up host's proof record and returns nil when one of its
// values is token, a *ProofError when the record is absent or holds other
// values, and another error when the resolver could not be asked.
func (p Proof) Check(ctx context.Context, host, token string) error {
	values, rcode, err := p.lookupTXT(ctx, RecordName(host))
	if err != nil {
		return err
	}
	if slices.Contains(values, token) {
		return nil
	}
	return &ProofError{Host: host, Record: RecordName(host), Want: token, Found: values, Rcode: rcode}
}

func (p Proof) resolver() (string, error) {
	if p.Resolver != "" {
		return p.Resolver, nil
	}
	cc, err := dns.ClientConfigFromFile("/etc/resolv.conf")
	if err != nil {
		return "", fmt.Errorf("%w: no resolver configured and /etc/resolv.conf unreadable: %w", ErrLookup, err)
	}
	if len(cc.Servers) == 0 {
		return "", fmt.Errorf("%w: no resolver configured and none in /etc/resolv.conf", ErrLookup)
	}
	return net.JoinHostPort(cc.Servers[0], cc.Port), nil
}

// lookupTXT asks the resolver for name's TXT values, over UDP and again
// over TCP when the answer was truncated. Each record's strings are
// joined, as TXT values longer than 255 bytes are split.
func (p Proof) lookupTXT(ctx context.Context, name string) ([]string, string, error) {
	server, err := p.resolver()
	if err != nil {
		return nil, "", err
	}
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeTXT)
	m.RecursionDesired = true
	var in *dns.Msg
	for _, network := range []string{"udp", "tcp"} {
		c := &dns.Client{Net: network, Timeout: timeout}
		in, _, err = c.ExchangeContext(ctx, m, server)
		if err != nil {
			return nil, "", fmt.Errorf("%w: ask %s for %s: %w", ErrLookup, server, name, err)
		}
		if !in.Truncated {
			break
		}
	}
	rcode := dns.RcodeToString[in.Rcode]
	switch in.Rcode {
	case dns.RcodeSuccess, dns.RcodeNameError:
	default:
		return nil, rcode, fmt.Errorf("%w: %s answered %s for %s", ErrLookup, server, rcode, name)
	}
	var values []string
	for _, rr := range in.Answer {
		if txt, ok := rr.(*dns.TXT); ok && strings.EqualFold(txt.Hdr.Name, dns.Fqdn(name)) {
			values = append(values, strings.Join(txt.Txt, ""))
		}
	}
	return values, rcode, nil
}

// Claimable says why a tenant may not claim host (already normalized:
// lowercase, no trailing dot), or "" when it may. baseDomain is the
// platform's own domain; "" when it has none.
func Claimable(host, baseDomain string) string {
	base := strings.TrimSuffix(strings.ToLower(baseDomain), ".")
	labels := strings.Split(host, ".")
	last := labels[len(labels)-1]
	switch {
	case strings.ContainsAny(host, ":[]") || net.ParseIP(host) != nil || isNumeric(last):
		return "is an IP address, not a domain name"
	case strings.Contains(host, "*"):
		return "is a wildcard: add each name the tenant serves"
	case strings.HasPrefix(host, "_"):
		return "is not a host name"
	case base != "" && (host == base || strings.HasSuffix(host, "."+base)):
		return fmt.Sprintf("belongs to the platform's domain %s", base)
	}
	return ""
}

func isNumeric(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
