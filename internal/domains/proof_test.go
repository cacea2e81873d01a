package domains_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tenantkit/tenantkit/internal/dnstest"
	"github.com/tenantkit/tenantkit/internal/domains"
)

// Check against a real DNS server: no record is a ProofError naming the
// record and the token to put in it; a record of other values is one that
// says what it found; the token among the values proves the domain; a
// resolver that does not answer is ErrLookup, not a missing proof.
func TestCheckAgainstARealDNSServer(t *testing.T) {
	t.Parallel()
	dns, err := dnstest.Start(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dns.Close()
	p := domains.Proof{Resolver: dns.Addr(), Timeout: 2 * time.Second}
	ctx := context.Background()

	var pe *domains.ProofError
	if err := p.Check(ctx, "shop.acme.test", "tok-1"); !errors.As(err, &pe) || len(pe.Found) != 0 ||
		pe.Record != "_tenantkit-challenge.shop.acme.test" || !strings.Contains(err.Error(), `holding "tok-1"`) {
		t.Fatalf("no record: %v", err)
	}
	dns.SetTXT("_tenantkit-challenge.shop.acme.test", "someone-else", "v=spf1 -all")
	if err := p.Check(ctx, "shop.acme.test", "tok-1"); !errors.As(err, &pe) || len(pe.Found) != 2 ||
		!strings.Contains(err.Error(), `"someone-else"`) {
		t.Fatalf("a record of other values: %v", err)
	}
	// A record under the host itself, not the challenge label, proves
	// nothing.
	dns.SetTXT("shop.acme.test", "tok-1")
	if err := p.Check(ctx, "shop.acme.test", "tok-1"); !errors.As(err, &pe) {
		t.Fatalf("the token at the host's own name: %v", err)
	}
	long := strings.Repeat("x", 300) // split into strings of 255 bytes
	dns.SetTXT("_tenantkit-challenge.shop.acme.test", "someone-else", long)
	if err := p.Check(ctx, "shop.acme.test", long); err != nil {
		t.Fatalf("a long token: %v", err)
	}
	dns.SetTXT("_tenantkit-challenge.shop.acme.test", "tok-1")
	if err := p.Check(ctx, "shop.acme.test", "tok-1"); err != nil {
		t.Fatalf("the token: %v", err)
	}
	if err := p.Check(ctx, "SHOP.acme.test", "tok-2"); !errors.As(err, &pe) || pe.Found[0] != "tok-1" {
		t.Fatalf("another token: %v", err)
	}

	// A port nobody answers on.
	l, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	silent := domains.Proof{Resolver: l.LocalAddr().String(), Timeout: 300 * time.Millisecond}
	if err := silent.Check(ctx, "shop.acme.test", "tok-1"); !errors.Is(err, domains.ErrLookup) || errors.As(err, &pe) {
		t.Fatalf("a resolver that does not answer: %v", err)
	}
	l.Close()
}

func TestClaimable(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ host, base, want string }{
		{"shop.acme.test", "platform.test", ""},
		{"acme.test", "platform.test", ""},
		{"platform.test", "platform.test", "belongs to the platform's domain platform.test"},
		{"acme.platform.test", "platform.test", "belongs to the platform's domain platform.test"},
		{"a.b.platform.test", "platform.test.", "belongs to the platform's domain platform.test"},
		{"notplatform.test", "platform.test", ""},
		{"10.0.0.1", "", "is an IP address, not a domain name"},
		{"1.2.3.4.5", "", "is an IP address, not a domain name"},
		{"::1", "", "is an IP address, not a domain name"},
		{"[::1]", "", "is an IP address, not a domain name"},
		{"*.acme.test", "", "is a wildcard: add each name the tenant serves"},
		{"_tenantkit-challenge.acme.test", "", "is not a host name"},
	} {
		if got := domains.Claimable(c.host, c.base); got != c.want {
			t.Errorf("Claimable(%q, %q) = %q, want %q", c.host, c.base, got, c.want)
		}
	}
}
