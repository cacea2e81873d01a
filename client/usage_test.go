package client_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tenantkit/tenantkit/client"
	"github.com/tenantkit/tenantkit/internal/catalog"
)

func TestUsage(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	var ids []uuid.UUID
	for _, slug := range []string{"acme", "globex"} {
		tn, err := b.c.CreateTenant(ctx, client.CreateTenantParams{Slug: slug, Name: slug})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, uuid.MustParse(tn.ID))
	}
	now := catalog.Period(time.Now())
	if _, err := b.store.WriteUsage(ctx, catalog.UsageBatch{ID: uuid.New(), At: time.Now(), Deltas: []catalog.UsageDelta{
		{Tenant: ids[0], Period: "2024-10", APICalls: 1234, ComputeMicros: 1500, DBMicros: 700, DBQueries: 4, BandwidthBytes: 900, Users: []uint64{1, 2}},
		{Tenant: ids[1], Period: "2024-10", APICalls: 7},
		{Tenant: ids[1], Period: now, APICalls: 3},
	}}); err != nil {
		t.Fatal(err)
	}

	u, err := b.c.Usage(ctx, "acme", "2024-10")
	if err != nil || u.TenantID != ids[0].String() || u.Slug != "acme" || u.Period != "2024-10" || u.APICalls != 1234 || u.ComputeMs != 1.5 ||
		u.DBMs != 0.7 || u.DBQueries != 4 || u.BandwidthBytes != 900 || u.ActiveUsers != 2 || u.UpdatedAt == nil {
		t.Fatalf("acme in 2024-10: %+v %v", u, err)
	}
	page, err := b.c.ExportUsage(ctx, client.UsageExportParams{Period: "2024-10"})
	if err != nil || page.Period != "2024-10" || len(page.Tenants) != 2 || page.Tenants[0].APICalls != 1234 ||
		page.Tenants[1].Slug != "globex" || page.Tenants[1].APICalls != 7 || page.Next != "" {
		t.Fatalf("every tenant in 2024-10: %+v %v", page, err)
	}
	page, err = b.c.ExportUsage(ctx, client.UsageExportParams{Period: "2024-10", Limit: 1})
	if err != nil || len(page.Tenants) != 1 || page.Next != "acme" {
		t.Fatalf("first page of one: %+v %v", page, err)
	}
	var slugs []string
	for u, err := range b.c.UsageReports(ctx, client.UsageExportParams{Period: "2024-10", Limit: 1}) {
		if err != nil {
			t.Fatal(err)
		}
		slugs = append(slugs, u.Slug)
	}
	if strings.Join(slugs, ",") != "acme,globex" {
		t.Fatalf("pages of one: %q", slugs)
	}
	// "" is the server's current month.
	u, err = b.c.Usage(ctx, "globex", "")
	if catalog.Period(time.Now()) != now {
		t.Skip("the month changed during the test")
	}
	if err != nil || u.Period != now || u.APICalls != 3 {
		t.Fatalf("globex this month: %+v %v", u, err)
	}
	if page, err = b.c.ExportUsage(ctx, client.UsageExportParams{}); err != nil || page.Period != now || len(page.Tenants) != 1 {
		t.Fatalf("every tenant this month: %+v %v", page, err)
	}

	_, err = b.c.Usage(ctx, "acme", "2024-13")
	if e := wantError(t, err, http.StatusUnprocessableEntity, "invalid-fields"); len(e.Errors) != 1 || e.Errors[0].Field != "period" ||
		!strings.Contains(err.Error(), "YYYY-MM") {
		t.Fatalf("bad period: %v", err)
	}
	_, err = b.c.ExportUsage(ctx, client.UsageExportParams{Period: "last month"})
	wantError(t, err, http.StatusUnprocessableEntity, "invalid-fields")
	_, err = b.c.ExportUsage(ctx, client.UsageExportParams{Limit: catalog.MaxUsagePage + 1})
	wantError(t, err, http.StatusUnprocessableEntity, "invalid-fields")
	_, err = b.c.Usage(ctx, "nosuch", "2024-10")
	wantError(t, err, http.StatusNotFound, "tenant-not-found")
}

// UsageReports follows the export's pages: 5,003 tenants come in two
// pages of at most 5,000, each once.
func TestUsageReportsFollowPages(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	const n = catalog.MaxUsagePage + 3
	if _, err := b.pool.Exec(ctx, `WITH t AS (
		INSERT INTO tenantkit.tenants (slug, name, plan) SELECT 'tenant-' || g, 'Tenant', 'free' FROM generate_series(1, $1::int) g RETURNING id)
		INSERT INTO tenantkit.usage_periods (tenant_id, period, api_calls) SELECT id, '2024-10', 1 FROM t`, n); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for u, err := range b.c.UsageReports(ctx, client.UsageExportParams{Period: "2024-10", Limit: catalog.MaxUsagePage}) {
		if err != nil {
			t.Fatal(err)
		}
		if seen[u.Slug] || u.APICalls != 1 || u.Period != "2024-10" {
			t.Fatalf("%s listed twice or with %d calls", u.Slug, u.APICalls)
		}
		seen[u.Slug] = true
	}
	if len(seen) != n {
		t.Fatalf("%d tenants listed, want %d", len(seen), n)
	}
}

func TestLoad(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	tn, err := b.c.CreateTenant(ctx, client.CreateTenantParams{Slug: "acme", Name: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.WriteUsage(ctx, catalog.UsageBatch{ID: uuid.New(), At: time.Now(), Deltas: []catalog.UsageDelta{
		{Tenant: uuid.MustParse(tn.ID), Period: catalog.Period(time.Now()), APICalls: 12, DBMicros: 3000},
	}}); err != nil {
		t.Fatal(err)
	}
	for window, secs := range map[time.Duration]float64{0: 60, 30 * time.Second: 30, 90 * time.Second: 90, time.Hour: 3600} {
		rep, err := b.c.Load(ctx, window)
		if err != nil || rep.WindowSeconds != secs || len(rep.Tenants) != 1 || rep.Tenants[0].Slug != "acme" || rep.Tenants[0].Requests != 12 ||
			rep.Tenants[0].TenantID != tn.ID || rep.Tenants[0].Usage.APICalls != 12 {
			t.Fatalf("load over %s: %+v %v", window, rep, err)
		}
	}
	for _, window := range []time.Duration{time.Second, 2 * time.Hour, -time.Minute} {
		_, err := b.c.Load(ctx, window)
		if e := wantError(t, err, http.StatusUnprocessableEntity, "invalid-fields"); len(e.Errors) != 1 || e.Errors[0].Field != "window" {
			t.Fatalf("window %s: %v", window, err)
		}
	}
}
