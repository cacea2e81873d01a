package tenantkit_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantkit/tenantkit"
	"github.com/tenantkit/tenantkit/internal/branding"
	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/problem"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

type bundle struct {
	db      *tenantkittest.Database
	store   *catalog.Store
	kit     *tenantkit.Kit
	queries *tenantkittest.QueryCounter
	handler http.Handler
}

// setup gives a test a migrated catalog, a store to change it, and a Kit
// configured by cfg (its Pool counts queries) serving an echo handler.
func setup(t testing.TB, cfg tenantkit.Config) *bundle {
	t.Helper()
	ctx := context.Background()
	db := tenantkittest.NewCatalog(t)
	b := &bundle{db: db, queries: &tenantkittest.QueryCounter{}}
	storePool, err := pgxpool.New(ctx, db.OwnerDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(storePool.Close)
	if b.store, err = catalog.NewStore(catalog.StoreConfig{Pool: storePool, BrandingPolicy: branding.Policy{AssetHost: "assets.platform.test"}}); err != nil {
		t.Fatal(err)
	}
	pcfg, err := pgxpool.ParseConfig(db.OwnerDSN())
	if err != nil {
		t.Fatal(err)
	}
	pcfg.ConnConfig.Tracer = b.queries
	pcfg.ConnConfig.RuntimeParams["search_path"] = ""
	kitPool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kitPool.Close)
	cfg.Pool = kitPool
	cfg.DatabaseURL = db.OwnerDSN()
	if cfg.Observability.FlushInterval == 0 {
		// Usage flushes go through the Kit's pool: keep them out of the
		// tests that count its queries per request.
		cfg.Observability.FlushInterval = time.Hour
	}
	if b.kit, err = tenantkit.New(cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.kit.Close)
	b.handler = b.kit.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tn, ok := tenantkit.FromContext(r.Context())
		if !ok {
			t.Error("handler ran without a tenant")
			return
		}
		_, _ = w.Write([]byte(tn.Slug))
	}))
	return b
}

// startListening runs kit.Start until the test ends.
func (b *bundle) startListening(t testing.TB) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = b.kit.Start(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

func (b *bundle) tenant(t testing.TB, slug, plan string) catalog.Tenant {
	t.Helper()
	tn, err := b.store.CreateTenant(context.Background(), "test", catalog.CreateParams{Slug: slug, Name: slug, Plan: plan})
	if err != nil {
		t.Fatal(err)
	}
	return tn
}

type result struct {
	status int
	body   string
	kind   string // problem kind, when a problem
	reason string
}

func (b *bundle) do(t testing.TB, host string, headers map[string]string) result {
	t.Helper()
	return serve(t, b.handler, host, headers)
}

func serve(t testing.TB, h http.Handler, host string, headers map[string]string) result {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "http://"+host+"/x", nil)
	req.Host = host
	req.RemoteAddr = "203.0.113.7:4321"
	for k, v := range headers {
		if k == "RemoteAddr" {
			req.RemoteAddr = v
			continue
		}
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	res := result{status: rec.Code, body: rec.Body.String()}
	if rec.Header().Get("Content-Type") == problem.ContentType {
		var p problem.Problem
		if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
			t.Fatalf("problem body %q: %v", rec.Body.String(), err)
		}
		res.kind, res.reason = p.Kind(), p.Reason
	}
	return res
}

// unlimited turns rate limiting off in cfg, for tests that send more
// requests than the free plan's api_rps allows and are not about it.
func unlimited(cfg tenantkit.Config) tenantkit.Config {
	cfg.RateLimit.Disabled = true
	return cfg
}
