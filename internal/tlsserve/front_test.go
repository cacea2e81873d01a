package tlsserve_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/tenantkit/tenantkit/internal/acmetest"
	"github.com/tenantkit/tenantkit/internal/tlsserve"
)

func TestVerifiedHostGetsCertificateOnFirstHandshake(t *testing.T) {
	t.Parallel()
	shopFirst := uniq("shop.first.test")
	e := setup(t, nil)
	e.verify(shopFirst)
	f, addr := e.front(e.config())
	e.serveHTTP(f)

	leaf := e.mustHandshake(addr, shopFirst) // verified against Pebble's roots
	if err := leaf.VerifyHostname(shopFirst); err != nil {
		t.Fatal(err)
	}
	if got := e.ca.Orders(); got != 1 {
		t.Fatalf("ACME orders after first handshake = %d, want 1", got)
	}
	again := e.mustHandshake(addr, strings.ToUpper(shopFirst))
	if !bytes.Equal(again.Raw, leaf.Raw) {
		t.Fatal("second handshake served a different certificate")
	}
	if got := e.ca.Orders(); got != 1 {
		t.Fatalf("ACME orders after second handshake = %d, want still 1", got)
	}
	st, ok := f.Status(shopFirst)
	if !ok || !st.NotAfter.Equal(leaf.NotAfter) {
		t.Fatalf("Status = %+v, %v; want NotAfter %v", st, ok, leaf.NotAfter)
	}
	if s := f.Stats(); s.Orders != 1 || s.Refused != 0 {
		t.Fatalf("Stats = %+v", s)
	}
	if n := e.lists.Load() + e.lookups.Load(); n != 1 {
		t.Fatalf("catalog queries = %d, want the initial load only", n)
	}
}

// The allow-list guard and its negative answer: a flood of distinct unknown
// names is refused from memory, with no catalog query and no ACME order.
func TestUnknownNamesRefusedWithoutQueryOrOrder(t *testing.T) {
	t.Parallel()
	shopKnown := uniq("shop.known.test")
	e := setup(t, nil)
	e.verify(shopKnown)
	f, addr := e.front(e.config())
	e.serveHTTP(f)
	// Unknown names that even resolve to us: only the allow-list stops them.
	const flood = 30
	for i := range flood {
		name := uniq(fmt.Sprintf("random-%d.unknown.test", i))
		e.dns.SetA(name, []byte{127, 0, 0, 1})
		refused(t, addr, name)
		refused(t, addr, name) // and again: still no query
	}
	if got := e.ca.Orders(); got != 0 {
		t.Fatalf("ACME orders = %d, want 0", got)
	}
	if l, a := e.lists.Load(), e.lookups.Load(); l != 1 || a != 0 {
		t.Fatalf("ListFunc calls %d, AllowedFunc calls %d; want 1 (New) and 0", l, a)
	}
	if s := f.Stats(); s.Refused != 2*flood || s.Orders != 0 {
		t.Fatalf("Stats = %+v", s)
	}
}

// Names that no certificate can be issued for are refused before the
// allow-list, even when the catalog lists them.
func TestInvalidNamesAndIPLiteralsRefused(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	long := strings.Repeat("a", 62) + "." + strings.Repeat("b", 62) + "." + strings.Repeat("c", 62) + "." + strings.Repeat("d", 62) + ".test"
	if len(long) <= 253 {
		t.Fatalf("long name is %d bytes", len(long))
	}
	bad := []string{"127.0.0.1", "::1", "10.1.2.3", long, "under_score.test", "-lead.test", "trail-.test",
		"a..test", "*.wild.test", "localhost", "dot.test.", "sp ace.test", "x.123"}
	e.verify(bad...)
	f, addr := e.front(e.config())
	e.serveHTTP(f)

	// A Go client sends no SNI for an IP address: refused too.
	refused(t, addr, "127.0.0.1")
	for _, name := range bad {
		cert, err := f.TLSConfig().GetCertificate(&tls.ClientHelloInfo{ServerName: name})
		if cert != nil || err == nil {
			t.Errorf("GetCertificate(%q) = cert %v, error %v; want refused", name, cert != nil, err)
		}
		if !errors.Is(err, tlsserve.ErrInvalidName) && !errors.Is(err, tlsserve.ErrNoServerName) {
			t.Errorf("GetCertificate(%q) error %v, want ErrInvalidName", name, err)
		}
	}
	if got := e.ca.Orders(); got != 0 {
		t.Fatalf("ACME orders = %d, want 0", got)
	}
	if s := f.Stats(); s.Hosts != 0 {
		t.Fatalf("allow-list holds %d hosts, want the invalid ones skipped", s.Hosts)
	}
}

func TestSharedStorageOrdersOnce(t *testing.T) {
	t.Parallel()
	shopShared := uniq("shop.shared.test")
	apiShared := uniq("api.shared.test")
	e := setup(t, nil)
	e.verify(shopShared, apiShared)
	a, addrA := e.front(e.config())
	b, addrB := e.front(e.config())
	e.serveHTTP(a) // b's challenges are answered by a through the storage

	// One after the other: b finds a's certificate in the storage.
	leafA := e.mustHandshake(addrA, shopShared)
	leafB := e.mustHandshake(addrB, shopShared)
	if !bytes.Equal(leafA.Raw, leafB.Raw) {
		t.Fatal("the two Fronts serve different certificates")
	}
	if got := e.ca.Orders(); got != 1 {
		t.Fatalf("ACME orders = %d, want 1", got)
	}

	// At the same time, b first this time: still one order.
	var wg sync.WaitGroup
	leaves := make([]*x509.Certificate, 2)
	for i, addr := range []string{addrB, addrA} {
		wg.Go(func() {
			leaf, err := e.handshake(addr, apiShared)
			if err != nil {
				t.Error(err)
				return
			}
			leaves[i] = leaf
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if !bytes.Equal(leaves[0].Raw, leaves[1].Raw) {
		t.Fatal("concurrent first handshakes got different certificates")
	}
	if got := e.ca.Orders(); got != 2 {
		t.Fatalf("ACME orders = %d, want 2 (one per host)", got)
	}
	if sa, sb := a.Stats(), b.Stats(); sa.Orders+sb.Orders != 2 {
		t.Fatalf("orders placed by a %d, by b %d; want 2 in all", sa.Orders, sb.Orders)
	}
}

// With a renewal window as long as the lifetime, a fresh certificate is
// already due: the next handshake serves it and renews in the background.
func TestCertificateInRenewalWindowIsRenewed(t *testing.T) {
	t.Parallel()
	shopRenew := uniq("shop.renew.test")
	e := setup(t, &acmetest.Config{CertValidity: 24 * time.Hour})
	e.verify(shopRenew)
	cfg := e.config()
	cfg.RenewalWindowRatio = 1
	f, addr := e.front(cfg)
	e.serveHTTP(f)

	first := e.mustHandshake(addr, shopRenew)
	var renewed *x509.Certificate
	eventually(t, 60*time.Second, "the served certificate was not renewed", func() bool {
		leaf := e.mustHandshake(addr, shopRenew)
		if leaf.SerialNumber.Cmp(first.SerialNumber) != 0 {
			renewed = leaf
			return true
		}
		return false
	})
	if got := e.ca.Orders(); got < 2 {
		t.Fatalf("ACME orders = %d, want a second one for the renewal", got)
	}
	if renewed.NotAfter.Before(first.NotAfter) {
		t.Fatalf("renewed certificate expires %v, before the first %v", renewed.NotAfter, first.NotAfter)
	}
}

// The issuance rate limit: beyond the burst, a handshake for a new host
// fails without an ACME order.
func TestIssueRateLimitRefusesOrders(t *testing.T) {
	t.Parallel()
	oneRate := uniq("one.rate.test")
	twoRate := uniq("two.rate.test")
	threeRate := uniq("three.rate.test")
	e := setup(t, nil)
	e.verify(oneRate, twoRate, threeRate)
	cfg := e.config()
	cfg.IssueRate, cfg.IssueBurst = rate.Every(time.Hour), 1
	var logs logBuffer
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	f, addr := e.front(cfg)
	e.serveHTTP(f)

	e.mustHandshake(addr, oneRate)
	refused(t, addr, twoRate)
	refused(t, addr, threeRate)
	if got := e.ca.Orders(); got != 1 {
		t.Fatalf("ACME orders = %d, want 1 (the burst)", got)
	}
	if s := f.Stats(); s.RateLimited != 2 || s.Orders != 1 {
		t.Fatalf("Stats = %+v, want 2 rate-limited, 1 order", s)
	}
	e.mustHandshake(addr, oneRate) // a cached certificate needs no token

	out := logs.String()
	for _, want := range []string{
		"level=WARN msg=\"tlsserve: issuance refused: rate limit\" host=" + twoRate,
		"logger=certmagic.", // certmagic's own log reaches the slog.Logger
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q", want)
		}
	}
}

// A host whose issuance failed is not ordered again until the backoff ends
// or Invalidate clears it.
func TestFailedIssuanceBacksOff(t *testing.T) {
	t.Parallel()
	shopBroken := uniq("shop.broken.test")
	e := setup(t, nil)
	e.verify(shopBroken)
	e.dns.SetA(shopBroken, nil) // verified, but DNS not pointed at us yet
	f, addr := e.front(e.config())
	e.serveHTTP(f)

	refused(t, addr, shopBroken)
	if got := e.ca.Orders(); got != 1 {
		t.Fatalf("ACME orders = %d, want 1 failed order", got)
	}
	refused(t, addr, shopBroken)
	if got := e.ca.Orders(); got != 1 {
		t.Fatalf("ACME orders = %d after a retry within the backoff, want still 1", got)
	}
	if s := f.Stats(); s.BackedOff != 1 || s.OrdersFailed != 1 {
		t.Fatalf("Stats = %+v", s)
	}

	e.dns.SetA(shopBroken, []byte{127, 0, 0, 1})
	if err := f.Invalidate(context.Background(), shopBroken); err != nil {
		t.Fatal(err)
	}
	e.mustHandshake(addr, shopBroken)
	if got := e.ca.Orders(); got != 2 {
		t.Fatalf("ACME orders = %d, want 2", got)
	}
}

func TestInvalidateAdmitsAndRevokes(t *testing.T) {
	t.Parallel()
	shopLater := uniq("shop.later.test")
	e := setup(t, nil)
	f, addr := e.front(e.config())
	e.serveHTTP(f)

	refused(t, addr, shopLater)
	e.verify(shopLater)
	refused(t, addr, shopLater) // not yet told
	if err := f.Invalidate(context.Background(), shopLater); err != nil {
		t.Fatal(err)
	}
	e.mustHandshake(addr, shopLater)

	e.unverify(shopLater)
	if err := f.Invalidate(context.Background(), shopLater); err != nil {
		t.Fatal(err)
	}
	refused(t, addr, shopLater) // the cached certificate is no longer served
	if _, ok := f.Status(shopLater); ok {
		t.Fatal("the revoked host's certificate is still in memory")
	}
	if l, a := e.lists.Load(), e.lookups.Load(); l != 1 || a != 2 {
		t.Fatalf("ListFunc calls %d, AllowedFunc calls %d; want 1 and 2", l, a)
	}
}

// Without AllowedFunc, Invalidate reloads the list.
func TestInvalidateWithoutAllowedFuncReloads(t *testing.T) {
	t.Parallel()
	aReload := uniq("a.reload.test")
	bReload := uniq("b.reload.test")
	e := setup(t, nil)
	cfg := e.config()
	cfg.AllowedFunc = nil
	f, _ := e.front(cfg)
	e.verify(aReload, bReload)
	if err := f.Invalidate(context.Background(), aReload); err != nil {
		t.Fatal(err)
	}
	if s := f.Stats(); s.Hosts != 2 || s.Reloads != 2 {
		t.Fatalf("Stats = %+v, want 2 hosts after 2 loads", s)
	}
}

// An Invalidate made while a Reload's ListFunc runs is not undone by the
// older snapshot the Reload then installs.
func TestInvalidateDuringReloadIsNotLost(t *testing.T) {
	t.Parallel()
	shopRace := uniq("shop.race.test")
	e := setup(t, nil)
	entered, release := make(chan struct{}), make(chan struct{})
	var gate sync.Once
	cfg := e.config()
	loads := 0
	cfg.ListFunc = func(ctx context.Context) ([]string, error) {
		loads++
		hosts, err := e.list(ctx)
		if loads > 1 {
			gate.Do(func() { close(entered); <-release })
		}
		return hosts, err
	}
	f, addr := e.front(cfg)
	e.serveHTTP(f)

	reloaded := make(chan error, 1)
	go func() { reloaded <- f.Reload(context.Background()) }()
	select {
	case <-entered: // ListFunc has taken its snapshot: no hosts
	case <-time.After(10 * time.Second):
		t.Fatal("Reload did not call ListFunc")
	}
	e.verify(shopRace)
	if err := f.Invalidate(context.Background(), shopRace); err != nil {
		t.Fatal(err)
	}
	close(release)
	if err := <-reloaded; err != nil {
		t.Fatal(err)
	}
	e.mustHandshake(addr, shopRace)
}

func TestStaticCertificateForBaseDomain(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	cfg := e.config()
	cfg.BaseDomain = "platform.test"
	cfg.StaticCert = staticCert(t, "platform.test")
	f, addr := e.front(cfg)

	for _, name := range []string{"platform.test", "acme.platform.test", "Acme.Platform.test"} {
		cert, err := f.TLSConfig().GetCertificate(&tls.ClientHelloInfo{ServerName: name})
		if err != nil || cert != cfg.StaticCert && !bytes.Equal(cert.Certificate[0], cfg.StaticCert.Certificate[0]) {
			t.Fatalf("GetCertificate(%q) = %v, %v; want the static certificate", name, cert, err)
		}
	}
	refused(t, addr, "deep.acme.platform.test")
	refused(t, addr, "platform.test.evil.test")
	if got := e.ca.Orders(); got != 0 {
		t.Fatalf("ACME orders = %d, want 0", got)
	}

	pool := x509.NewCertPool()
	pool.AddCert(cfg.StaticCert.Leaf)
	conn, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "acme.platform.test", RootCAs: pool})
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
}

func TestHTTPHandler(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	cfg := e.config()
	cfg.HTTPSPort = 8443
	f, _ := e.front(cfg)
	cfg.HTTPSPort = 0
	f443, _ := e.front(cfg)

	tests := []struct {
		f       *tlsserve.Front
		method  string
		target  string
		wantLoc string
	}{
		{f, http.MethodGet, "http://shop.customer.test/a/b?c=d&e=f", "https://shop.customer.test:8443/a/b?c=d&e=f"},
		{f, http.MethodPost, "http://shop.customer.test:8080/form", "https://shop.customer.test:8443/form"},
		{f443, http.MethodGet, "http://shop.customer.test:80/x?y=1", "https://shop.customer.test/x?y=1"},
		{f443, http.MethodGet, "http://shop.customer.test/.well-known/acme-challenge/unknown-token", "https://shop.customer.test/.well-known/acme-challenge/unknown-token"},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		tt.f.HTTPHandler(nil).ServeHTTP(rec, httptest.NewRequest(tt.method, tt.target, nil))
		if rec.Code != http.StatusPermanentRedirect || rec.Header().Get("Location") != tt.wantLoc {
			t.Errorf("%s %s: %d Location %q; want 308 %q", tt.method, tt.target, rec.Code, rec.Header().Get("Location"), tt.wantLoc)
		}
	}

	next := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })
	rec := httptest.NewRecorder()
	f.HTTPHandler(next).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://shop.customer.test/", nil))
	if rec.Code != http.StatusTeapot {
		t.Fatalf("with next: %d, want next's 418", rec.Code)
	}
}

func TestConfigValidation(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	static := staticCert(t, "platform.test")
	tests := []struct {
		name string
		mod  func(*tlsserve.Config)
	}{
		{"no storage", func(c *tlsserve.Config) { c.Storage = nil }},
		{"no ListFunc", func(c *tlsserve.Config) { c.ListFunc = nil }},
		{"negative rate", func(c *tlsserve.Config) { c.IssueRate = -1 }},
		{"ratio above 1", func(c *tlsserve.Config) { c.RenewalWindowRatio = 1.5 }},
		{"base without cert", func(c *tlsserve.Config) { c.BaseDomain = "platform.test" }},
		{"cert without base", func(c *tlsserve.Config) { c.StaticCert = static }},
		{"cert for another base", func(c *tlsserve.Config) { c.BaseDomain, c.StaticCert = "other.test", static }},
		{"invalid base", func(c *tlsserve.Config) { c.BaseDomain, c.StaticCert = "10.0.0.1", static }},
		{"ListFunc fails", func(c *tlsserve.Config) {
			c.ListFunc = func(context.Context) ([]string, error) { return nil, errors.New("catalog down") }
		}},
	}
	if _, err := tlsserve.New(context.Background(), nil); err == nil {
		t.Error("New(nil) succeeded")
	}
	for _, tt := range tests {
		cfg := e.config()
		tt.mod(&cfg)
		if f, err := tlsserve.New(context.Background(), &cfg); err == nil {
			f.Close()
			t.Errorf("%s: New succeeded", tt.name)
		}
	}
}
