package adminclient_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantkit/tenantkit/internal/adminapi"
	"github.com/tenantkit/tenantkit/internal/adminclient"
	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/problem"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

// setupUsage gives the test a client of an admin API over its own catalog,
// and the catalog, to write usage into.
func setupUsage(t *testing.T) (*adminclient.Client, *catalog.Store) {
	t.Helper()
	c, store, _ := setupUsagePool(t)
	return c, store
}

// setupUsagePool is setupUsage with the catalog's pool.
func setupUsagePool(t *testing.T) (*adminclient.Client, *catalog.Store, *pgxpool.Pool) {
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
	api, err := adminapi.New(adminapi.Config{Store: store, Token: token, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(api.Handler())
	t.Cleanup(ts.Close)
	c, err := adminclient.New(ts.URL, token, "test")
	if err != nil {
		t.Fatal(err)
	}
	return c, store, pool
}

func TestUsageThroughTheClient(t *testing.T) {
	t.Parallel()
	c, store := setupUsage(t)
	ctx := context.Background()
	var ids []uuid.UUID
	for _, slug := range []string{"acme", "globex"} {
		tn, err := c.CreateTenant(ctx, catalog.CreateParams{Slug: slug, Name: slug})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, tn.ID)
	}
	now := catalog.Period(time.Now())
	if _, err := store.WriteUsage(ctx, catalog.UsageBatch{ID: uuid.New(), At: time.Now(), Deltas: []catalog.UsageDelta{
		{Tenant: ids[0], Period: "2024-10", APICalls: 1234, ComputeMicros: 1500, DBMicros: 700, DBQueries: 4, BandwidthBytes: 900, Users: []uint64{1, 2}},
		{Tenant: ids[1], Period: "2024-10", APICalls: 7},
		{Tenant: ids[1], Period: now, APICalls: 3},
	}}); err != nil {
		t.Fatal(err)
	}

	u, err := c.Usage(ctx, "acme", "2024-10")
	if err != nil || u.TenantID != ids[0] || u.Period != "2024-10" || u.APICalls != 1234 || u.ComputeMs != 1.5 || u.DBMs != 0.7 ||
		u.DBQueries != 4 || u.BandwidthBytes != 900 || u.ActiveUsers != 2 {
		t.Fatalf("acme in 2024-10: %+v %v", u, err)
	}
	all, err := c.UsageAll(ctx, "2024-10")
	if err != nil || all.Period != "2024-10" || len(all.Tenants) != 2 || all.Tenants[0].APICalls != 1234 || all.Tenants[1].Slug != "globex" || all.Tenants[1].APICalls != 7 {
		t.Fatalf("every tenant in 2024-10: %+v %v", all, err)
	}
	// "" is the server's current month.
	u, err = c.Usage(ctx, "globex", "")
	if catalog.Period(time.Now()) != now {
		t.Skip("the month changed during the test")
	}
	if err != nil || u.Period != now || u.APICalls != 3 {
		t.Fatalf("globex this month: %+v %v", u, err)
	}
	if all, err = c.UsageAll(ctx, ""); err != nil || all.Period != now || len(all.Tenants) != 1 {
		t.Fatalf("every tenant this month: %+v %v", all, err)
	}

	_, err = c.Usage(ctx, "acme", "2024-13")
	if p := wantKind(t, err, problem.InvalidFields); len(p.Errors) != 1 || p.Errors[0].Field != "period" || !strings.Contains(err.Error(), "YYYY-MM") {
		t.Fatalf("bad period: %v", err)
	}
	_, err = c.UsageAll(ctx, "last month")
	wantKind(t, err, problem.InvalidFields)
	_, err = c.Usage(ctx, "nosuch", "2024-10")
	wantKind(t, err, problem.TenantNotFound)
}

func TestLoadThroughTheClientForTop(t *testing.T) {
	t.Parallel()
	c, store := setupUsage(t)
	ctx := context.Background()
	tn, err := c.CreateTenant(ctx, catalog.CreateParams{Slug: "acme", Name: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.WriteUsage(ctx, catalog.UsageBatch{ID: uuid.New(), At: time.Now(), Deltas: []catalog.UsageDelta{
		{Tenant: tn.ID, Period: catalog.Period(time.Now()), APICalls: 12, DBMicros: 3000},
	}}); err != nil {
		t.Fatal(err)
	}
	for window, secs := range map[time.Duration]float64{0: 60, 30 * time.Second: 30, 90 * time.Second: 90, time.Hour: 3600} {
		rep, err := c.Load(ctx, window)
		if err != nil || rep.WindowSeconds != secs || len(rep.Tenants) != 1 || rep.Tenants[0].Slug != "acme" || rep.Tenants[0].Requests != 12 {
			t.Fatalf("load over %s: %+v %v", window, rep, err)
		}
	}
	for _, window := range []time.Duration{time.Second, 2 * time.Hour, -time.Minute} {
		_, err := c.Load(ctx, window)
		if p := wantKind(t, err, problem.InvalidFields); len(p.Errors) != 1 || p.Errors[0].Field != "window" {
			t.Fatalf("window %s: %v", window, err)
		}
	}
}

// UsageAll follows the export's pages: 5,003 tenants come in two pages of
// at most 5,000, each once.
func TestUsageAllFollowsPages(t *testing.T) {
	t.Parallel()
	c, _, pool := setupUsagePool(t)
	ctx := context.Background()
	const n = catalog.MaxUsagePage + 3
	if _, err := pool.Exec(ctx, `WITH t AS (
		INSERT INTO tenantkit.tenants (slug, name, plan) SELECT 'tenant-' || g, 'Tenant', 'free' FROM generate_series(1, $1::int) g RETURNING id)
		INSERT INTO tenantkit.usage_periods (tenant_id, period, api_calls) SELECT id, '2024-10', 1 FROM t`, n); err != nil {
		t.Fatal(err)
	}
	all, err := c.UsageAll(ctx, "2024-10")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, u := range all.Tenants {
		if seen[u.Slug] || u.APICalls != 1 {
			t.Fatalf("%s listed twice or with %d calls", u.Slug, u.APICalls)
		}
		seen[u.Slug] = true
	}
	if len(seen) != n || all.Next != "" {
		t.Fatalf("%d tenants listed, want %d (next %q)", len(seen), n, all.Next)
	}
}
