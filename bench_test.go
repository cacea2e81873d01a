package tenantkit_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/tenantkit/tenantkit"
	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/settings"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

// discard is a ResponseWriter that keeps nothing, so a benchmark measures
// the handler and not the recorder.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}

var sink string

func app(w http.ResponseWriter, r *http.Request) {
	if t, ok := tenantkit.FromContext(r.Context()); ok {
		sink = t.Slug
	}
	w.WriteHeader(http.StatusOK)
}

func benchHandler(b *testing.B, h http.Handler) {
	req := httptest.NewRequest(http.MethodGet, "http://acme.example.test/api/orders", nil)
	w := &discard{h: http.Header{}}
	h.ServeHTTP(w, req) // warm
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		h.ServeHTTP(w, req)
	}
}

// BenchmarkBareHandler is the baseline: the application handler alone.
func BenchmarkBareHandler(b *testing.B) {
	benchHandler(b, http.HandlerFunc(app))
}

// unobserved turns metrics and usage metering off in cfg.
func unobserved(cfg tenantkit.Config) tenantkit.Config {
	cfg.Observability.Disabled = true
	return cfg
}

// BenchmarkMiddlewareWarm is the whole pipeline — resolve by subdomain,
// cached tenant context, gate — in front of the same handler, without
// metrics and usage metering.
func BenchmarkMiddlewareWarm(b *testing.B) {
	bn := setup(b, unobserved(unlimited(tenantkit.Config{Resolvers: tenantkit.ResolverConfig{BaseDomain: "example.test"}})))
	bn.tenant(b, "acme", "free")
	benchHandler(b, bn.kit.Middleware(http.HandlerFunc(app)))
}

// BenchmarkMiddlewareObserved is MiddlewareWarm with metrics and usage
// metering on, as by default: request count and duration by route,
// method, status, tier, plan and top-K tenant, and the tenant's api
// calls, compute and bandwidth counted in memory.
func BenchmarkMiddlewareObserved(b *testing.B) {
	bn := setup(b, unlimited(tenantkit.Config{Resolvers: tenantkit.ResolverConfig{BaseDomain: "example.test"}, Registerer: prometheus.NewRegistry()}))
	bn.tenant(b, "acme", "free")
	benchHandler(b, bn.kit.Middleware(http.HandlerFunc(app)))
}

// BenchmarkMiddlewareArticleUsage is the anchor: MiddlewareWarm with usage
// counted the article's way, two HINCRBY round trips to Redis per request
// (api calls and compute time in a hash per tenant and period).
func BenchmarkMiddlewareArticleUsage(b *testing.B) {
	bn := setup(b, unobserved(unlimited(tenantkit.Config{Resolvers: tenantkit.ResolverConfig{BaseDomain: "example.test"}})))
	bn.tenant(b, "acme", "free")
	srv := tenantkittest.StartRedis(b)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	b.Cleanup(func() { _ = rdb.Close() })
	counted := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		app(w, r)
		t, _ := tenantkit.FromContext(r.Context())
		key := "usage:" + t.ID.String() + ":" + start.UTC().Format("2006-01")
		if err := rdb.HIncrBy(r.Context(), key, "apiCalls", 1).Err(); err != nil {
			b.Fatal(err)
		}
		if err := rdb.HIncrBy(r.Context(), key, "computeMs", time.Since(start).Milliseconds()).Err(); err != nil {
			b.Fatal(err)
		}
	})
	benchHandler(b, bn.kit.Middleware(counted))
}

// BenchmarkMiddlewareRateLimited is MiddlewareWarm with the tenant's rate
// limit checked in-process on every request (a rate so high it always
// allows): what the rate limit adds to the pipeline.
func BenchmarkMiddlewareRateLimited(b *testing.B) {
	bn := setup(b, unobserved(tenantkit.Config{Resolvers: tenantkit.ResolverConfig{BaseDomain: "example.test"}}))
	bn.tenant(b, "acme", "free")
	huge := int64(1_000_000)
	if _, err := bn.store.PatchTenantOverrides(context.Background(), "bench", "acme", catalog.OverridePatch{
		Limits: map[string]*int64{catalog.LimitAPIRPS: &huge, catalog.LimitAPIBurst: &huge},
	}); err != nil {
		b.Fatal(err)
	}
	benchHandler(b, bn.kit.Middleware(http.HandlerFunc(app)))
}

// BenchmarkSettingsInHandler is what a handler pays to read a setting:
// kit.Settings from the request's tenant context, then one value. It
// reports the catalog queries it sent per read, which must be 0.
func BenchmarkSettingsInHandler(b *testing.B) {
	bn := setup(b, tenantkit.Config{SettingsSchema: settings.RestaurantSchema()})
	bn.tenant(b, "acme", "free")
	t, err := bn.kit.Lookup(context.Background(), "acme")
	if err != nil {
		b.Fatal(err)
	}
	ctx := tenantkit.WithTenant(context.Background(), t)
	before := bn.queries.N()
	b.ReportAllocs()
	for b.Loop() {
		s, err := bn.kit.Settings(ctx)
		if err != nil || s.String("/notifications/email_digest") != "weekly" {
			b.Fatal("wrong setting", err)
		}
	}
	b.ReportMetric(float64(bn.queries.N()-before)/float64(b.N), "queries/op")
}
