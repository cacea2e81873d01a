package challtestsrv_test

import (
	"context"
	"errors"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/tenantkit/tenantkit/internal/challtestsrv"
	"github.com/tenantkit/tenantkit/internal/domains"
)

// startServer runs a pebble-challtestsrv for the test. The first run on a
// machine builds it, so the bound is generous; later starts take well
// under a second.
func startServer(t *testing.T) *challtestsrv.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	s, err := challtestsrv.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("pebble-challtestsrv log:\n%s", s.Log())
		}
	})
	return s
}

func callCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// query asks addr over network for name's records of type qtype.
func query(t *testing.T, network, addr, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	c := &dns.Client{Net: network, Timeout: 2 * time.Second}
	in, _, err := c.ExchangeContext(callCtx(t), m, addr)
	if err != nil {
		t.Fatalf("%s query %s %s: %v", network, dns.TypeToString[qtype], name, err)
	}
	return in
}

func txt(t *testing.T, network, addr, name string) []string {
	t.Helper()
	var vals []string
	for _, rr := range query(t, network, addr, name, dns.TypeTXT).Answer {
		if r, ok := rr.(*dns.TXT); ok {
			vals = append(vals, strings.Join(r.Txt, ""))
		}
	}
	return vals
}

// A TXT record set through the management API is answered over UDP and
// TCP, whatever the case of the name asked; setting it again replaces its
// value; clearing it removes it.
func TestSetResolveClearTXT(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	ctx := callCtx(t)
	const name = "_tenantkit-challenge.shop.acme.test"
	if err := s.SetTXT(ctx, "_tenantkit-challenge.Shop.Acme.test.", "token-1"); err != nil {
		t.Fatal(err)
	}
	for _, network := range []string{"udp", "tcp"} {
		if got := txt(t, network, s.DNSAddr(), name); !slices.Equal(got, []string{"token-1"}) {
			t.Fatalf("TXT %s over %s: %q, want token-1", name, network, got)
		}
	}
	if err := s.SetTXT(ctx, name, "token-2"); err != nil {
		t.Fatal(err)
	}
	if got := txt(t, "udp", s.DNSAddr(), name); !slices.Equal(got, []string{"token-2"}) {
		t.Fatalf("TXT %s after setting it again: %q, want token-2 alone", name, got)
	}
	if err := s.ClearTXT(ctx, name); err != nil {
		t.Fatal(err)
	}
	for _, network := range []string{"udp", "tcp"} {
		if got := txt(t, network, s.DNSAddr(), name); len(got) != 0 {
			t.Fatalf("TXT %s over %s after ClearTXT: %q", name, network, got)
		}
	}
	if err := s.ClearTXT(ctx, "never-set.acme.test"); err != nil {
		t.Fatalf("clearing a name without records: %v", err)
	}
}

// A custom domain's proof, as serve checks it, holds once the record is
// set: the server stands in for the tenant's DNS.
func TestProofOfACustomDomain(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	ctx := callCtx(t)
	p := domains.Proof{Resolver: s.DNSAddr(), Timeout: 2 * time.Second}
	var pe *domains.ProofError
	if err := p.Check(ctx, "shop.acme.test", "tok"); !errors.As(err, &pe) {
		t.Fatalf("proof before the record: %v, want a ProofError", err)
	}
	if err := s.SetTXT(ctx, domains.RecordName("shop.acme.test"), "tok"); err != nil {
		t.Fatal(err)
	}
	if err := p.Check(ctx, "shop.acme.test", "tok"); err != nil {
		t.Fatalf("proof after the record: %v", err)
	}
}

// Every name resolves to 127.0.0.1, so Pebble's HTTP-01 validation of a
// made-up name reaches the local server; no AAAA is answered, so it never
// tries ::1. Only DNS and the management API listen.
func TestAddressesAndListeners(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	for _, network := range []string{"udp", "tcp"} {
		in := query(t, network, s.DNSAddr(), "anything.example.test", dns.TypeA)
		if len(in.Answer) != 1 || !in.Answer[0].(*dns.A).A.Equal(net.IPv4(127, 0, 0, 1)) {
			t.Fatalf("A over %s: %v, want 127.0.0.1", network, in.Answer)
		}
		if in := query(t, network, s.DNSAddr(), "anything.example.test", dns.TypeAAAA); len(in.Answer) != 0 {
			t.Fatalf("AAAA over %s: %v, want none", network, in.Answer)
		}
	}
	if !strings.HasPrefix(s.DNSAddr(), "127.0.0.1:") || !strings.HasPrefix(s.ManagementURL(), "http://127.0.0.1:") {
		t.Fatalf("not on loopback: DNS %s, management %s", s.DNSAddr(), s.ManagementURL())
	}
	for _, off := range []string{"HTTP-01", "DoH", "TLS-ALPN-01"} {
		if strings.Contains(s.Log(), off) {
			t.Errorf("a %s listener was created:\n%s", off, s.Log())
		}
	}
}

// Stop ends the server: its DNS port stops answering.
func TestStop(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	addr := s.DNSAddr()
	s.Stop()
	s.Stop() // a second Stop is harmless
	c := &dns.Client{Net: "tcp", Timeout: time.Second}
	m := new(dns.Msg)
	m.SetQuestion("x.test.", dns.TypeA)
	if _, _, err := c.Exchange(m, addr); err == nil {
		t.Fatalf("DNS on %s still answers after Stop", addr)
	}
	if err := s.SetTXT(callCtx(t), "x.test", "v"); err == nil {
		t.Fatal("the management API still answers after Stop")
	}
}

func TestClientErrors(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://127.0.0.1:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	c := &challtestsrv.Client{ManagementURL: dead}
	ctx := callCtx(t)
	if err := c.SetTXT(ctx, "a.test", "v"); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("SetTXT to a dead server: %v", err)
	}
	if err := c.SetTXT(ctx, "a.test", ""); err == nil {
		t.Error("SetTXT with an empty value succeeded")
	}
	for _, name := range []string{"", ".", "a..test", strings.Repeat("x", 64) + ".test"} {
		if err := c.ClearTXT(ctx, name); err == nil || !strings.Contains(err.Error(), "not a DNS name") {
			t.Errorf("ClearTXT(%q): %v", name, err)
		}
	}
}
