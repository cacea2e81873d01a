package tenantcache_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantkit/tenantkit/internal/bus"
	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/resolve"
	"github.com/tenantkit/tenantkit/internal/tenantcache"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

func TestMain(m *testing.M) { tenantkittest.Main(m) }

// gatedSource is the real catalog store with a gate in front of
// LoadContext, so a test can hold a load in flight.
type gatedSource struct {
	*catalog.Store
	loads   atomic.Int64
	entered chan struct{}
	release chan struct{}
}

func (g *gatedSource) LoadContext(ctx context.Context, id uuid.UUID) (*catalog.TenantContext, error) {
	g.loads.Add(1)
	tc, err := g.Store.LoadContext(ctx, id)
	if g.entered != nil {
		g.entered <- struct{}{}
		<-g.release
	}
	return tc, err
}

func setup(t testing.TB) (*catalog.Store, *gatedSource) {
	t.Helper()
	db := tenantkittest.NewCatalog(t)
	pool, err := pgxpool.New(context.Background(), db.OwnerDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	store, err := catalog.NewStore(catalog.StoreConfig{Pool: pool})
	if err != nil {
		t.Fatal(err)
	}
	return store, &gatedSource{Store: store}
}

func TestInvalidationDuringALoadIsNotLost(t *testing.T) {
	t.Parallel()
	store, src := setup(t)
	ctx := context.Background()
	tn, err := store.CreateTenant(ctx, "t", catalog.CreateParams{Slug: "acme", Name: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := tenantcache.New(tenantcache.Config{Source: src})
	if err != nil {
		t.Fatal(err)
	}
	src.entered, src.release = make(chan struct{}), make(chan struct{})
	got := make(chan *catalog.TenantContext)
	go func() {
		tc, _ := c.ByID(ctx, tn.ID)
		got <- tc
	}()
	<-src.entered // the load has read the old row
	if _, err := store.SuspendTenant(ctx, "t", "acme", "late"); err != nil {
		t.Fatal(err)
	}
	c.Invalidate(bus.Message{Tenant: tn.ID.String()})
	close(src.release)
	if tc := <-got; tc.Status != catalog.StatusActive {
		t.Fatalf("the in-flight load returned %s; the test expects it to have read the old row", tc.Status)
	}
	src.entered = nil
	tc, err := c.ByID(ctx, tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	if tc.Status != catalog.StatusSuspended {
		t.Fatal("a load that raced an invalidation was cached: the suspension is lost until the TTL")
	}
}

func TestNegativeEntriesExpire(t *testing.T) {
	t.Parallel()
	store, src := setup(t)
	ctx := context.Background()
	c, err := tenantcache.New(tenantcache.Config{Source: src, NegativeTTL: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ref := resolve.Ref{Kind: resolve.BySlug, Value: "later", Source: "subdomain"}
	if _, err := c.Lookup(ctx, ref); !errors.Is(err, catalog.ErrTenantNotFound) {
		t.Fatalf("unknown slug: %v", err)
	}
	// Created without telling this cache: only the negative TTL saves it.
	if _, err := store.CreateTenant(ctx, "t", catalog.CreateParams{Slug: "later", Name: "Later"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Lookup(ctx, ref); !errors.Is(err, catalog.ErrTenantNotFound) {
		t.Fatalf("negative entry not cached: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := c.Lookup(ctx, ref); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("negative entry never expired")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestInvalidateDropsOnlyWhatItNames(t *testing.T) {
	t.Parallel()
	store, src := setup(t)
	ctx := context.Background()
	a, _ := store.CreateTenant(ctx, "t", catalog.CreateParams{Slug: "alpha", Name: "A"})
	b, _ := store.CreateTenant(ctx, "t", catalog.CreateParams{Slug: "bravo", Name: "B"})
	c, _ := tenantcache.New(tenantcache.Config{Source: src})
	for _, id := range []uuid.UUID{a.ID, b.ID} {
		if _, err := c.ByID(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	c.Invalidate(bus.Message{Tenant: a.ID.String()})
	before := src.loads.Load()
	_, _ = c.ByID(ctx, a.ID)
	_, _ = c.ByID(ctx, b.ID)
	if n := src.loads.Load() - before; n != 1 {
		t.Fatalf("%d loads after invalidating one of two tenants, want 1", n)
	}
	c.Invalidate(bus.Message{All: true})
	_, _ = c.ByID(ctx, a.ID)
	_, _ = c.ByID(ctx, b.ID)
	if n := src.loads.Load() - before; n != 3 {
		t.Fatalf("%d loads in all, want 3 after dropping everything", n)
	}
}

func TestConfigValidation(t *testing.T) {
	t.Parallel()
	if _, err := tenantcache.New(tenantcache.Config{}); err == nil {
		t.Fatal("no source accepted")
	}
	_, src := setup(t)
	if _, err := tenantcache.New(tenantcache.Config{Source: src, TTL: -1}); err == nil {
		t.Fatal("negative TTL accepted")
	}
}

// BenchmarkLookupHit is a warm lookup by slug: the middleware's hot path.
func BenchmarkLookupHit(b *testing.B) {
	store, src := setup(b)
	ctx := context.Background()
	if _, err := store.CreateTenant(ctx, "t", catalog.CreateParams{Slug: "acme", Name: "Acme"}); err != nil {
		b.Fatal(err)
	}
	c, _ := tenantcache.New(tenantcache.Config{Source: src})
	ref := resolve.Ref{Kind: resolve.BySlug, Value: "acme", Source: "subdomain"}
	if _, err := c.Lookup(ctx, ref); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.Lookup(ctx, ref); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMapLookup is the baseline: a Go map read under an RWMutex-free
// map of the same shape (slug → id → context).
func BenchmarkMapLookup(b *testing.B) {
	id := uuid.New()
	slugs := map[string]uuid.UUID{"acme": id}
	ctxs := map[uuid.UUID]*catalog.TenantContext{id: {}}
	b.ReportAllocs()
	for b.Loop() {
		if ctxs[slugs["acme"]] == nil {
			b.Fatal("miss")
		}
	}
}

func TestEvictionUnderPressureKeepsInvalidationExact(t *testing.T) {
	t.Parallel()
	store, src := setup(t)
	ctx := context.Background()
	var ids []uuid.UUID
	for _, s := range []string{"alpha", "bravo", "charlie", "delta", "echo", "foxtrot"} {
		tn, err := store.CreateTenant(ctx, "t", catalog.CreateParams{Slug: s, Name: s})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, tn.ID)
	}
	c, _ := tenantcache.New(tenantcache.Config{Source: src, MaximumSize: 2})
	for round := 0; round < 20; round++ {
		for i, s := range []string{"alpha", "bravo", "charlie", "delta", "echo", "foxtrot"} {
			tc, err := c.Lookup(ctx, resolve.Ref{Kind: resolve.BySlug, Value: s})
			if err != nil || tc.ID != ids[i] {
				t.Fatalf("round %d %s: %v %v", round, s, tc, err)
			}
		}
	}
	// A tenant reached by slug and then changed must be reloaded.
	if _, err := c.Lookup(ctx, resolve.Ref{Kind: resolve.BySlug, Value: "alpha"}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.SuspendTenant(ctx, "t", "alpha", "x"); err != nil {
		t.Fatal(err)
	}
	c.Invalidate(bus.Message{Tenant: ids[0].String()})
	tc, err := c.Lookup(ctx, resolve.Ref{Kind: resolve.BySlug, Value: "alpha"})
	if err != nil || tc.Status != catalog.StatusSuspended {
		t.Fatalf("after invalidation: %+v %v", tc, err)
	}
}

func TestInvalidationByTenantDropsItsSlugAndHostKeys(t *testing.T) {
	t.Parallel()
	store, src := setup(t)
	ctx := context.Background()
	tn, _ := store.CreateTenant(ctx, "t", catalog.CreateParams{Slug: "acme", Name: "Acme"})
	c, _ := tenantcache.New(tenantcache.Config{Source: src})
	ref := resolve.Ref{Kind: resolve.BySlug, Value: "acme"}
	if _, err := c.Lookup(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if err := store.SetBranding(ctx, "t", "acme", catalog.Branding{DisplayName: "ACME!"}); err != nil {
		t.Fatal(err)
	}
	// A branding change names only the tenant, not its slug.
	c.Invalidate(bus.Message{Tenant: tn.ID.String()})
	tc, err := c.Lookup(ctx, ref)
	if err != nil || tc.Branding.DisplayName != "ACME!" {
		t.Fatalf("slug key survived an invalidation of its tenant: %+v %v", tc, err)
	}
}
