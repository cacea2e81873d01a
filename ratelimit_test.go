package tenantkit_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

// rateLimitedPlatform is a catalog with tenants acme (api_rps 1, burst 10)
// and globex (1000/s), and a Redis.
func rateLimitedPlatform(t *testing.T) (*tenantkittest.Database, *tenantkittest.Redis) {
	t.Helper()
	db := tenantkittest.NewCatalog(t)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, db.OwnerDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	store, err := catalog.NewStore(catalog.StoreConfig{Pool: pool})
	if err != nil {
		t.Fatal(err)
	}
	for _, slug := range []string{"acme", "globex"} {
		if _, err := store.CreateTenant(ctx, "test", catalog.CreateParams{Slug: slug, Name: slug}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := store.PatchTenantOverrides(ctx, "test", "acme", catalog.OverridePatch{
		Limits: map[string]*int64{catalog.LimitAPIRPS: ptr(int64(1)), catalog.LimitAPIBurst: ptr(int64(10))},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.PatchTenantOverrides(ctx, "test", "globex", catalog.OverridePatch{
		Limits: map[string]*int64{catalog.LimitAPIRPS: ptr(int64(1000)), catalog.LimitAPIBurst: ptr(int64(1000))},
	}); err != nil {
		t.Fatal(err)
	}
	return db, tenantkittest.StartRedis(t)
}

// TestRateLimitHoldsAcrossProcessesThroughRedis: two server processes
// share acme's limit through Redis, so together they allow its burst of
// 10 (plus what one request a second earns meanwhile), not 10 each; globex
// is served throughout.
func TestRateLimitHoldsAcrossProcessesThroughRedis(t *testing.T) {
	t.Parallel()
	db, redis := rateLimitedPlatform(t)
	addrs := []string{
		startKitProcess(t, db.OwnerDSN(), redis.URL(), "TK_RATE_LIMIT=fail-closed"),
		startKitProcess(t, db.OwnerDSN(), redis.URL(), "TK_RATE_LIMIT=fail-closed"),
	}
	for _, a := range addrs { // warm both caches: the clock starts now
		if code := get(t, a, "globex.example.test"); code != http.StatusOK {
			t.Fatalf("warm-up: %d", code)
		}
	}
	allowed, start := 0, time.Now()
	for i := range 40 {
		switch code := get(t, addrs[i%2], "acme.example.test"); code {
		case http.StatusOK:
			allowed++
		case http.StatusTooManyRequests:
		default:
			t.Fatalf("request %d: %d", i, code)
		}
		if code := get(t, addrs[i%2], "globex.example.test"); code != http.StatusOK {
			t.Fatalf("globex request %d: %d", i, code)
		}
	}
	if most := 10 + int(time.Since(start).Seconds()+1); allowed < 10 || allowed > most {
		t.Fatalf("two processes allowed acme %d of 40 requests, want its shared burst: 10 to %d", allowed, most)
	}
}

// TestRateLimitWhenRedisIsDown: with Redis stopped, a fail-closed process
// answers 503 with Retry-After and a fail-open one serves; both count the
// failures in their metrics.
func TestRateLimitWhenRedisIsDown(t *testing.T) {
	t.Parallel()
	db, redis := rateLimitedPlatform(t)
	closed := startKitProcess(t, db.OwnerDSN(), redis.URL(), "TK_RATE_LIMIT=fail-closed")
	open := startKitProcess(t, db.OwnerDSN(), redis.URL(), "TK_RATE_LIMIT=fail-open")
	for _, a := range []string{closed, open} {
		if code := get(t, a, "globex.example.test"); code != http.StatusOK {
			t.Fatalf("warm-up: %d", code)
		}
	}
	redis.Stop()
	req, _ := http.NewRequest(http.MethodGet, "http://"+closed+"/", nil)
	req.Host = "globex.example.test"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("fail-closed with Redis down: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if code := get(t, open, "globex.example.test"); code != http.StatusOK {
		t.Fatalf("fail-open with Redis down: %d", code)
	}
	for addr, mode := range map[string]string{closed: "fail_closed", open: "fail_open"} {
		if m := metrics(t, addr); !strings.Contains(m, `tenantkit_ratelimit_backend_errors_total{mode="`+mode+`"} `) ||
			strings.Contains(m, `tenantkit_ratelimit_backend_errors_total{mode="`+mode+`"} 0`) {
			t.Fatalf("%s: no backend error counted:\n%s", mode, m)
		}
	}
}

func metrics(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
