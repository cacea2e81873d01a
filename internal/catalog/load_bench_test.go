package catalog_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

// loadedCatalog is a catalog of n tenants that all sent requests in the
// last minute, every third of them noisy, read through a store whose
// queries are counted.
func loadedCatalog(tb testing.TB, n int) (*catalog.Store, *tenantkittest.QueryCounter, time.Time) {
	tb.Helper()
	ctx := context.Background()
	db := tenantkittest.NewCatalog(tb)
	cfg, err := pgxpool.ParseConfig(db.OwnerDSN())
	if err != nil {
		tb.Fatal(err)
	}
	qc := &tenantkittest.QueryCounter{}
	cfg.ConnConfig.Tracer = qc
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pool.Close)
	store, err := catalog.NewStore(catalog.StoreConfig{Pool: pool})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO tenantkit.tenants (slug, name, plan) SELECT 'tenant-' || g, 'Tenant ' || g, 'free' FROM generate_series(1, $1::int) g`, n); err != nil {
		tb.Fatal(err)
	}
	rows, err := pool.Query(ctx, `SELECT id FROM tenantkit.tenants ORDER BY substr(slug, 8)::int`)
	if err != nil {
		tb.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Now()
	batch := catalog.UsageBatch{ID: uuid.New(), At: now}
	for i, id := range ids {
		batch.Deltas = append(batch.Deltas, catalog.UsageDelta{Tenant: id, Period: catalog.Period(now), APICalls: int64(i + 1), DBMicros: int64(100 * (i + 1))})
	}
	if _, err := store.WriteUsage(ctx, batch); err != nil {
		tb.Fatal(err)
	}
	for i := 0; i < len(ids); i += 3 {
		if err := store.RecordNoisy(ctx, catalog.NoisyEvent{Tenant: ids[i], Dimension: catalog.NoisyRequests, Share: 0.6, Since: now, Noisy: true,
			Recommendation: "throttle", Command: "tenantkit tenants limits x", DetectedBy: "bench"}); err != nil {
			tb.Fatal(err)
		}
	}
	return store, qc, now
}

// TestLoadQueriesDoNotGrowWithTenants: ranking 300 tenants sends as many
// queries as ranking 3: each tenant's name, placement and usage come in
// one query, not three per tenant.
func TestLoadQueriesDoNotGrowWithTenants(t *testing.T) {
	t.Parallel()
	queries := map[int]int64{}
	for _, n := range []int{3, 300} {
		store, qc, now := loadedCatalog(t, n)
		before := qc.N()
		rep, err := store.Load(context.Background(), now, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		queries[n] = qc.N() - before
		if len(rep.Tenants) != n {
			t.Fatalf("%d tenants ranked, want %d", len(rep.Tenants), n)
		}
		top := rep.Tenants[0]
		if top.Slug != "tenant-"+itoa(n) || top.Requests != int64(n) || top.Usage.APICalls != int64(n) || top.Plan != "free" {
			t.Fatalf("top of %d: %+v", n, top)
		}
		noisy := 0
		for _, tl := range rep.Tenants {
			noisy += len(tl.Noisy)
			if tl.Usage.Slug != tl.Slug || tl.Usage.TenantID != tl.TenantID || tl.Usage.UpdatedAt == nil {
				t.Fatalf("usage of %s: %+v", tl.Slug, tl.Usage)
			}
		}
		if want := (n + 2) / 3; noisy != want {
			t.Fatalf("%d noisy findings among %d tenants, want %d", noisy, n, want)
		}
	}
	if queries[3] != queries[300] {
		t.Fatalf("Load sent %d queries for 3 tenants and %d for 300", queries[3], queries[300])
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// BenchmarkLoad10000 ranks 10,000 tenants that all sent requests in the
// window: what one refresh of `tenantkit top` costs the catalog.
func BenchmarkLoad10000(b *testing.B) {
	store, qc, now := loadedCatalog(b, 10000)
	before := qc.N()
	for b.Loop() {
		if _, err := store.Load(context.Background(), now, time.Minute); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(qc.N()-before)/float64(b.N), "queries/op")
}
