package acmetest_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mholt/acmez/v3"
	"github.com/mholt/acmez/v3/acme"

	"github.com/tenantkit/tenantkit/internal/acmetest"
	"github.com/tenantkit/tenantkit/internal/dnstest"
)

// http01 serves the key authorization of the challenge presented last.
type http01 struct {
	chal   atomic.Pointer[acme.Challenge]
	served atomic.Int64
}

func (h *http01) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := h.chal.Load()
	if c == nil || r.URL.Path != c.HTTP01ResourcePath() {
		http.NotFound(w, r)
		return
	}
	h.served.Add(1)
	w.Write([]byte(c.KeyAuthorization))
}

func (h *http01) Present(_ context.Context, c acme.Challenge) error { h.chal.Store(&c); return nil }
func (h *http01) CleanUp(context.Context, acme.Challenge) error     { h.chal.Store(nil); return nil }

// dns01 publishes key authorizations as TXT records in a dnstest server.
type dns01 struct{ dns *dnstest.Server }

func (d dns01) Present(_ context.Context, c acme.Challenge) error {
	d.dns.SetTXT(c.DNS01TXTRecordName(), c.DNS01KeyAuthorization())
	return nil
}

func (d dns01) CleanUp(_ context.Context, c acme.Challenge) error {
	d.dns.DeleteTXT(c.DNS01TXTRecordName())
	return nil
}

type bundle struct {
	dns  *dnstest.Server
	ca   *acmetest.CA
	http *http01
}

func setup(t *testing.T, validity time.Duration) bundle {
	t.Helper()
	dns, err := dnstest.Start(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dns.Close)
	h := &http01{}
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	_, port, _ := net.SplitHostPort(hs.Listener.Addr().String())
	httpPort, _ := strconv.Atoi(port)
	ca, err := acmetest.Start(&acmetest.Config{Resolver: dns.Addr(), HTTPPort: httpPort, CertValidity: validity})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ca.Close)
	return bundle{dns: dns, ca: ca, http: h}
}

func obtain(t *testing.T, b bundle, solvers map[string]acmez.Solver, names ...string) *x509.Certificate {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	client := acmez.Client{
		Client: &acme.Client{
			Directory:  b.ca.DirectoryURL(),
			HTTPClient: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: b.ca.APIRoots()}}},
		},
		ChallengeSolvers: solvers,
	}
	accountKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	account, err := client.NewAccount(ctx, acme.Account{TermsOfServiceAgreed: true, PrivateKey: accountKey})
	if err != nil {
		t.Fatal(err)
	}
	certKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	certs, err := client.ObtainCertificateForSANs(ctx, account, certKey, names)
	if err != nil {
		t.Fatal(err)
	}
	var chain []*x509.Certificate
	for rest := certs[0].ChainPEM; ; {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			break
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		chain = append(chain, c)
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	if _, err := chain[0].Verify(x509.VerifyOptions{DNSName: names[0], Roots: b.ca.IssuerRoots(), Intermediates: inter}); err != nil {
		t.Fatalf("issued certificate does not chain to the CA's roots: %v", err)
	}
	return chain[0]
}

// HTTP-01 validation resolves the name through the dnstest server and dials
// the configured port on loopback.
func TestHTTP01IssuesThroughDNSTest(t *testing.T) {
	t.Parallel()
	b := setup(t, 0)
	b.dns.SetA("shop.customer-a.test", net.ParseIP("127.0.0.1"))
	leaf := obtain(t, b, map[string]acmez.Solver{acme.ChallengeTypeHTTP01: b.http}, "shop.customer-a.test")
	if b.http.served.Load() == 0 {
		t.Fatal("Pebble never fetched the HTTP-01 resource")
	}
	if got := b.ca.Orders(); got != 1 {
		t.Fatalf("Orders() = %d, want 1", got)
	}
	if life := leaf.NotAfter.Sub(leaf.NotBefore); life < 89*24*time.Hour {
		t.Fatalf("default lifetime %v, want Pebble's 90 days", life)
	}
}

func TestDNS01ReadsTXTFromDNSTest(t *testing.T) {
	t.Parallel()
	b := setup(t, time.Hour)
	leaf := obtain(t, b, map[string]acmez.Solver{acme.ChallengeTypeDNS01: dns01{b.dns}}, "api.customer-b.test")
	if life := leaf.NotAfter.Sub(leaf.NotBefore); life != time.Hour-time.Second {
		t.Fatalf("lifetime %v, want CertValidity (Pebble subtracts a second)", life)
	}
}

// An unresolvable name fails validation: Pebble asks the dnstest server,
// not the system resolver.
func TestUnknownNameFailsValidation(t *testing.T) {
	t.Parallel()
	b := setup(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	client := acmez.Client{
		Client: &acme.Client{
			Directory:  b.ca.DirectoryURL(),
			HTTPClient: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: b.ca.APIRoots()}}},
		},
		ChallengeSolvers: map[string]acmez.Solver{acme.ChallengeTypeHTTP01: b.http},
	}
	accountKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	account, err := client.NewAccount(ctx, acme.Account{TermsOfServiceAgreed: true, PrivateKey: accountKey})
	if err != nil {
		t.Fatal(err)
	}
	certKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if _, err := client.ObtainCertificateForSANs(ctx, account, certKey, []string{"nowhere.customer-c.test"}); err == nil {
		t.Fatal("obtained a certificate for a name the DNS server does not know")
	}
	if b.http.served.Load() != 0 {
		t.Fatal("the HTTP-01 resource was served for an unresolvable name")
	}
}

func TestConfigValidation(t *testing.T) {
	t.Parallel()
	for _, cfg := range []*acmetest.Config{
		nil,
		{},
		{Resolver: "no-port"},
		{Resolver: "127.0.0.1:53", HTTPPort: 70000},
		{Resolver: "127.0.0.1:53", CertValidity: 1500 * time.Millisecond},
	} {
		if ca, err := acmetest.Start(cfg); err == nil {
			ca.Close()
			t.Errorf("Start(%+v) succeeded", cfg)
		}
	}
}

func TestStartDev(t *testing.T) {
	t.Parallel()
	dev, err := acmetest.StartDev(&acmetest.Config{HTTPPort: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	if dev.DNS.Addr() == "" || dev.CA.DirectoryURL() == "" {
		t.Fatal("StartDev returned an incomplete Dev")
	}
	block, _ := pem.Decode(dev.CA.IssuerRootsPEM())
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatal("IssuerRootsPEM is not a PEM certificate")
	}
	if _, err := acmetest.StartDev(&acmetest.Config{Resolver: "127.0.0.1:53"}); err == nil {
		t.Fatal("StartDev accepted a Resolver")
	}
}
