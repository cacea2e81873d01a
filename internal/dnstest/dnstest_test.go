package dnstest_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/tenantkit/tenantkit/internal/dnstest"
)

func setup(t *testing.T) *dnstest.Server {
	t.Helper()
	srv, err := dnstest.Start(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

func query(t *testing.T, srv *dnstest.Server, network, name string, qtype uint16) *dns.Msg {
	t.Helper()
	in, err := exchange(srv, network, name, qtype)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func exchange(srv *dnstest.Server, network, name string, qtype uint16) (*dns.Msg, error) {
	c := &dns.Client{Net: network, Timeout: 5 * time.Second}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	in, _, err := c.Exchange(m, srv.Addr())
	if err != nil {
		return nil, fmt.Errorf("%s %s %s: %w", network, name, dns.TypeToString[qtype], err)
	}
	return in, nil
}

func TestAnswersOverUDPAndTCP(t *testing.T) {
	t.Parallel()
	srv := setup(t)
	srv.SetA("shop.example.test", net.ParseIP("127.0.0.1"))
	srv.SetA("v6.example.test", net.ParseIP("::1"))
	srv.SetTXT("_acme-challenge.shop.example.test", "token-1", "token-2")

	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			in := query(t, srv, network, "SHOP.example.test", dns.TypeA)
			if in.Rcode != dns.RcodeSuccess || !in.Authoritative || len(in.Answer) != 1 {
				t.Fatalf("A: rcode %s aa %v answers %v", dns.RcodeToString[in.Rcode], in.Authoritative, in.Answer)
			}
			if a := in.Answer[0].(*dns.A); !a.A.Equal(net.ParseIP("127.0.0.1")) {
				t.Fatalf("A = %v", a.A)
			}
			in = query(t, srv, network, "v6.example.test", dns.TypeAAAA)
			if len(in.Answer) != 1 || !in.Answer[0].(*dns.AAAA).AAAA.Equal(net.ParseIP("::1")) {
				t.Fatalf("AAAA answers %v", in.Answer)
			}
			in = query(t, srv, network, "_acme-challenge.shop.example.test", dns.TypeTXT)
			var got []string
			for _, rr := range in.Answer {
				got = append(got, strings.Join(rr.(*dns.TXT).Txt, ""))
			}
			slices.Sort(got)
			if !slices.Equal(got, []string{"token-1", "token-2"}) {
				t.Fatalf("TXT = %q", got)
			}
		})
	}
}

func TestRcodes(t *testing.T) {
	t.Parallel()
	srv := setup(t)
	srv.SetA("a.b.example.test", net.ParseIP("127.0.0.1"))

	tests := []struct {
		name  string
		qtype uint16
		rcode int
		n     int
	}{
		{"a.b.example.test", dns.TypeA, dns.RcodeSuccess, 1},
		{"a.b.example.test", dns.TypeTXT, dns.RcodeSuccess, 0},  // NODATA
		{"a.b.example.test", dns.TypeAAAA, dns.RcodeSuccess, 0}, // NODATA
		{"b.example.test", dns.TypeA, dns.RcodeSuccess, 0},      // empty non-terminal
		{"unknown.example.test", dns.TypeA, dns.RcodeNameError, 0},
		{"x.a.b.example.test", dns.TypeA, dns.RcodeNameError, 0},
	}
	for _, tt := range tests {
		in := query(t, srv, "udp", tt.name, tt.qtype)
		if in.Rcode != tt.rcode || len(in.Answer) != tt.n {
			t.Errorf("%s %s: rcode %s, %d answers; want %s, %d", tt.name, dns.TypeToString[tt.qtype],
				dns.RcodeToString[in.Rcode], len(in.Answer), dns.RcodeToString[tt.rcode], tt.n)
		}
	}
}

func TestDeleteMakesNameUnknown(t *testing.T) {
	t.Parallel()
	srv := setup(t)
	srv.SetTXT("_acme-challenge.example.test", "v")
	srv.DeleteTXT("_acme-challenge.example.test")
	if in := query(t, srv, "tcp", "_acme-challenge.example.test", dns.TypeTXT); in.Rcode != dns.RcodeNameError {
		t.Fatalf("after DeleteTXT: rcode %s", dns.RcodeToString[in.Rcode])
	}
	srv.SetA("host.example.test", net.ParseIP("127.0.0.1"))
	srv.SetA("host.example.test", nil)
	if in := query(t, srv, "udp", "host.example.test", dns.TypeA); in.Rcode != dns.RcodeNameError {
		t.Fatalf("after SetA(nil): rcode %s", dns.RcodeToString[in.Rcode])
	}
}

func TestLongTXTIsSplitAndJoined(t *testing.T) {
	t.Parallel()
	srv := setup(t)
	long := strings.Repeat("x", 600)
	srv.SetTXT("long.example.test", long)
	in := query(t, srv, "tcp", "long.example.test", dns.TypeTXT)
	if len(in.Answer) != 1 {
		t.Fatalf("answers %v", in.Answer)
	}
	parts := in.Answer[0].(*dns.TXT).Txt
	if len(parts) != 3 || strings.Join(parts, "") != long {
		t.Fatalf("got %d parts, joined length %d", len(parts), len(strings.Join(parts, "")))
	}
}

// The standard library's resolver, pointed at the server, sees what was set:
// this is how code under test usually meets it.
func TestStdlibResolver(t *testing.T) {
	t.Parallel()
	srv := setup(t)
	srv.SetA("api.example.test", net.ParseIP("127.0.0.2"))
	srv.SetTXT("_verify.example.test", "tenantkit-verify=abc")
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, srv.Addr())
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	addrs, err := r.LookupHost(ctx, "api.example.test")
	if err != nil || !slices.Equal(addrs, []string{"127.0.0.2"}) {
		t.Fatalf("LookupHost = %v, %v", addrs, err)
	}
	txt, err := r.LookupTXT(ctx, "_verify.example.test")
	if err != nil || !slices.Equal(txt, []string{"tenantkit-verify=abc"}) {
		t.Fatalf("LookupTXT = %v, %v", txt, err)
	}
	_, err = r.LookupHost(ctx, "nope.example.test")
	var dnsErr *net.DNSError
	if !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
		t.Fatalf("LookupHost(unknown) err = %v, want not found", err)
	}
}

func TestConcurrentUpdatesAndQueries(t *testing.T) {
	t.Parallel()
	srv := setup(t)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 20 {
				name := fmt.Sprintf("h%d-%d.example.test", i, j)
				srv.SetA(name, net.ParseIP("127.0.0.1"))
				srv.SetTXT(name, "v")
				in, err := exchange(srv, []string{"udp", "tcp"}[j%2], name, dns.TypeA)
				if err != nil {
					t.Error(err)
					return
				}
				if len(in.Answer) != 1 {
					t.Errorf("%s: %d answers", name, len(in.Answer))
				}
				srv.DeleteTXT(name)
			}
		})
	}
	wg.Wait()
}

func TestCloseTwice(t *testing.T) {
	t.Parallel()
	srv, err := dnstest.Start(nil)
	if err != nil {
		t.Fatal(err)
	}
	srv.Close()
	srv.Close()
	c := &dns.Client{Net: "tcp", Timeout: time.Second}
	m := new(dns.Msg)
	m.SetQuestion("x.test.", dns.TypeA)
	if _, _, err := c.Exchange(m, srv.Addr()); err == nil {
		t.Fatal("a closed server answered over TCP")
	}
}

func Example() {
	srv, err := dnstest.Start(nil)
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	srv.SetA("shop.customer.test", net.ParseIP("127.0.0.1"))

	m := new(dns.Msg)
	m.SetQuestion("shop.customer.test.", dns.TypeA)
	in, err := dns.Exchange(m, srv.Addr())
	if err != nil {
		panic(err)
	}
	fmt.Println(in.Answer[0].(*dns.A).A)
	// Output: 127.0.0.1
}
