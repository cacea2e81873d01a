package tenantkit_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tenantkit/tenantkit"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

var secret = []byte("0123456789abcdef0123456789abcdef-test-secret")

func token(t testing.TB, claims jwt.MapClaims) string {
	t.Helper()
	if _, ok := claims["exp"]; !ok {
		claims["exp"] = time.Now().Add(time.Hour).Unix()
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

func allResolvers() tenantkit.Config {
	return tenantkit.Config{Resolvers: tenantkit.ResolverConfig{
		JWT:           &tenantkit.JWTConfig{Secret: secret, Issuer: "https://id.example.test", Audience: "tenantkit-test"},
		CustomDomains: true,
		BaseDomain:    "example.test",
		Header:        &tenantkit.HeaderConfig{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}},
	}}
}

func TestResolverMatrix(t *testing.T) {
	t.Parallel()
	b := setup(t, allResolvers())
	ctx := context.Background()
	acme := b.tenant(t, "acme", "free")
	globex := b.tenant(t, "globex", "pro")
	if _, err := b.store.AddDomain(ctx, "test", "acme", "shop.acme.test", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.VerifyDomain(ctx, "test", "shop.acme.test", tenantkittest.Vouched); err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.AddDomain(ctx, "test", "globex", "unverified.globex.test", ""); err != nil {
		t.Fatal(err)
	}
	good := func(tenant string) string {
		return token(t, jwt.MapClaims{"tenant_id": tenant, "iss": "https://id.example.test", "aud": "tenantkit-test"})
	}
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." +
		base64.RawURLEncoding.EncodeToString([]byte(`{"tenant_id":"acme","exp":4102444800}`)) + "."
	cases := []struct {
		name    string
		host    string
		headers map[string]string
		status  int
		want    string // slug served, or problem kind
	}{
		{"subdomain", "acme.example.test", nil, 200, "acme"},
		{"subdomain with port and case", "GLOBEX.Example.Test:8443", nil, 200, "globex"},
		{"unknown subdomain", "nobody.example.test", nil, 404, "tenant-not-found"},
		{"reserved subdomain", "www.example.test", nil, 404, "tenant-not-found"},
		{"nested subdomain", "a.acme.example.test", nil, 404, "tenant-not-found"},
		{"base domain itself", "example.test", nil, 404, "tenant-not-found"},
		{"look-alike base domain", "acme.example.test.evil.test", nil, 404, "tenant-not-found"},
		{"verified custom domain", "shop.acme.test", nil, 200, "acme"},
		{"unverified custom domain never resolves", "unverified.globex.test", nil, 404, "tenant-not-found"},
		{"jwt slug", "api.platform.test", bearer(good("globex")), 200, "globex"},
		{"jwt id", "api.platform.test", bearer(good(acme.ID.String())), 200, "acme"},
		{"jwt agrees with host", "acme.example.test", bearer(good("acme")), 200, "acme"},
		{"jwt disagrees with subdomain", "acme.example.test", bearer(good("globex")), 403, "tenant-conflict"},
		{"jwt disagrees with custom domain", "shop.acme.test", bearer(good(globex.ID.String())), 403, "tenant-conflict"},
		{"jwt names unknown tenant on a tenant's host", "acme.example.test", bearer(good("nobody")), 403, "tenant-conflict"},
		{"jwt names unknown tenant", "api.platform.test", bearer(good("nobody")), 404, "tenant-not-found"},
		{"expired jwt", "acme.example.test", bearer(token(t, jwt.MapClaims{"tenant_id": "acme", "iss": "https://id.example.test", "aud": "tenantkit-test", "exp": time.Now().Add(-time.Hour).Unix()})), 401, "invalid-token"},
		{"jwt wrong issuer", "acme.example.test", bearer(token(t, jwt.MapClaims{"tenant_id": "acme", "iss": "https://evil.test", "aud": "tenantkit-test"})), 401, "invalid-token"},
		{"jwt wrong audience", "acme.example.test", bearer(token(t, jwt.MapClaims{"tenant_id": "acme", "iss": "https://id.example.test", "aud": "other"})), 401, "invalid-token"},
		{"malformed jwt", "acme.example.test", bearer("not.a.token"), 401, "invalid-token"},
		{"alg none", "acme.example.test", bearer(none), 401, "invalid-token"},
		{"trusted header", "api.platform.test", map[string]string{"X-Tenant-ID": "globex", "RemoteAddr": "10.1.2.3:5000"}, 200, "globex"},
		{"header from an untrusted peer is ignored", "acme.example.test", map[string]string{"X-Tenant-ID": "globex"}, 200, "acme"},
		{"trusted header disagrees with host", "acme.example.test", map[string]string{"X-Tenant-ID": "globex", "RemoteAddr": "10.1.2.3:5000"}, 403, "tenant-conflict"},
		{"no signal", "api.platform.test", nil, 404, "tenant-not-found"},
	}
	for _, c := range cases {
		res := b.do(t, c.host, c.headers)
		got := res.body
		if res.kind != "" {
			got = res.kind
		}
		if res.status != c.status || got != c.want {
			t.Errorf("%s: got %d %q, want %d %q", c.name, res.status, got, c.status, c.want)
		}
	}
}

func TestResolverOrderDecidesPrecedence(t *testing.T) {
	t.Parallel()
	// With the header first and the subdomain second, a trusted header for
	// a known tenant plus an unknown subdomain serves the header's tenant.
	cfg := allResolvers()
	cfg.Resolvers.Order = []string{"header", "subdomain"}
	b := setup(t, cfg)
	b.tenant(t, "globex", "pro")
	res := b.do(t, "nobody.example.test", map[string]string{"X-Tenant-ID": "globex", "RemoteAddr": "10.9.9.9:1"})
	if res.status != 200 || res.body != "globex" {
		t.Fatalf("got %d %q", res.status, res.body)
	}
	if _, err := tenantkit.New(tenantkit.Config{DatabaseURL: b.db.OwnerDSN(), Resolvers: tenantkit.ResolverConfig{BaseDomain: "x.test", Order: []string{"subdomain", "cookie"}}}); err == nil {
		t.Fatal("an unknown resolver name in Order was accepted")
	}
}

func TestGate(t *testing.T) {
	t.Parallel()
	b := setup(t, unlimited(tenantkit.Config{Resolvers: tenantkit.ResolverConfig{BaseDomain: "example.test"}}))
	b.startListening(t)
	ctx := context.Background()
	b.tenant(t, "acme", "free")
	b.tenant(t, "gone", "free")
	if _, err := b.store.SuspendTenant(ctx, "test", "acme", "unpaid invoice"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.DeleteTenant(ctx, "test", "gone"); err != nil {
		t.Fatal(err)
	}
	if res := b.do(t, "acme.example.test", nil); res.status != 403 || res.kind != "tenant-suspended" || res.reason != "unpaid invoice" {
		t.Fatalf("suspended: %+v", res)
	}
	if res := b.do(t, "gone.example.test", nil); res.status != 404 || res.kind != "tenant-not-found" {
		t.Fatalf("deleted: %+v", res)
	}
}

func TestWarmRequestRunsNoCatalogQuery(t *testing.T) {
	t.Parallel()
	b := setup(t, allResolvers())
	ctx := context.Background()
	acme := b.tenant(t, "acme", "free")
	if _, err := b.store.AddDomain(ctx, "test", "acme", "shop.acme.test", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.VerifyDomain(ctx, "test", "shop.acme.test", tenantkittest.Vouched); err != nil {
		t.Fatal(err)
	}
	requests := []struct {
		host    string
		headers map[string]string
	}{
		{"acme.example.test", nil},
		{"shop.acme.test", nil},
		{"api.platform.test", bearer(token(t, jwt.MapClaims{"tenant_id": acme.ID.String(), "iss": "https://id.example.test", "aud": "tenantkit-test"}))},
		{"nobody.example.test", nil}, // negative entries are cached too
	}
	for _, r := range requests {
		b.do(t, r.host, r.headers) // cold: loads
	}
	before := b.queries.N()
	if before == 0 {
		t.Fatal("cold requests ran no catalog query: the counter is not wired")
	}
	for i := 0; i < 20; i++ {
		for _, r := range requests {
			b.do(t, r.host, r.headers)
		}
	}
	if n := b.queries.N() - before; n != 0 {
		t.Fatalf("warm requests ran %d catalog queries, want 0", n)
	}
}

func TestColdLoadsOncePerKeyUnderConcurrency(t *testing.T) {
	t.Parallel()
	b := setup(t, unlimited(tenantkit.Config{Resolvers: tenantkit.ResolverConfig{BaseDomain: "example.test"}}))
	b.tenant(t, "acme", "free")
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if res := b.do(t, "acme.example.test", nil); res.status != 200 {
				t.Errorf("status %d", res.status)
			}
		}()
	}
	close(start)
	wg.Wait()
	// One slug lookup and one context load; a pool may add no queries of
	// its own since the test pool has no AfterConnect.
	if n := b.queries.N(); n != 2 {
		t.Fatalf("64 concurrent cold requests ran %d catalog queries, want 2", n)
	}
}

func TestInvalidationReachesTheKitWithinASecond(t *testing.T) {
	t.Parallel()
	b := setup(t, unlimited(tenantkit.Config{Resolvers: tenantkit.ResolverConfig{BaseDomain: "example.test"}}))
	b.startListening(t)
	ctx := context.Background()
	b.tenant(t, "acme", "free")
	if res := b.do(t, "acme.example.test", nil); res.status != 200 {
		t.Fatalf("warm-up: %+v", res)
	}
	if _, err := b.store.SuspendTenant(ctx, "test", "acme", "abuse"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Second, func() bool { return b.do(t, "acme.example.test", nil).status == http.StatusForbidden })
	// A new tenant whose slug was cached as unknown appears at once too.
	if res := b.do(t, "newco.example.test", nil); res.status != 404 {
		t.Fatalf("unknown tenant: %+v", res)
	}
	b.tenant(t, "newco", "free")
	waitFor(t, time.Second, func() bool { return b.do(t, "newco.example.test", nil).status == http.StatusOK })
}

// waitFor polls cond until it holds, failing the test after limit.
func waitFor(t testing.TB, limit time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("condition not met within %v", limit)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}
