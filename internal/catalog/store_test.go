package catalog_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantkit/tenantkit/internal/bus"
	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

func TestMain(m *testing.M) { tenantkittest.Main(m) }

type bundle struct {
	db    *tenantkittest.Database
	pool  *pgxpool.Pool
	store *catalog.Store
	sent  chan bus.Message
}

func setup(t *testing.T) *bundle {
	t.Helper()
	db := tenantkittest.NewCatalog(t)
	cfg, err := pgxpool.ParseConfig(db.OwnerDSN())
	if err != nil {
		t.Fatal(err)
	}
	// Queries that forget their schema fail loudly.
	cfg.ConnConfig.RuntimeParams["search_path"] = ""
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	b := &bundle{db: db, pool: pool, sent: make(chan bus.Message, 100)}
	b.store, err = catalog.NewStore(catalog.StoreConfig{Pool: pool, AfterCommitFunc: func(_ context.Context, m bus.Message) { b.sent <- m }})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (b *bundle) count(t *testing.T, sql string) int {
	t.Helper()
	var n int
	if err := b.pool.QueryRow(context.Background(), sql).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestMigrateIsIdempotentAndReportsStatus(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	applied, err := catalog.Migrate(ctx, b.db.OwnerDSN())
	if err != nil || len(applied) != 0 {
		t.Fatalf("second migrate applied %v, err %v; want nothing", applied, err)
	}
	st, err := catalog.Status(ctx, b.db.OwnerDSN())
	if err != nil || len(st) == 0 {
		t.Fatalf("status %v, %v", st, err)
	}
	for _, s := range st {
		if !s.Applied {
			t.Fatalf("migration %d not applied", s.Version)
		}
	}
}

func TestCreateTenantValidatesEveryField(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	cases := []struct {
		p      catalog.CreateParams
		fields []string
	}{
		{catalog.CreateParams{Slug: "Acme", Name: "x"}, []string{"slug"}},
		{catalog.CreateParams{Slug: "ab", Name: "x"}, []string{"slug"}},
		{catalog.CreateParams{Slug: strings.Repeat("a", 64), Name: "x"}, []string{"slug"}},
		{catalog.CreateParams{Slug: "-acme", Name: "x"}, []string{"slug"}},
		{catalog.CreateParams{Slug: "ac_me", Name: "x"}, []string{"slug"}},
		{catalog.CreateParams{Slug: "www", Name: "x"}, []string{"slug"}},
		{catalog.CreateParams{Slug: "admin", Name: "x"}, []string{"slug"}},
		{catalog.CreateParams{Slug: "acme", Name: "  "}, []string{"name"}},
		{catalog.CreateParams{Slug: "acme", Name: "Acme", Plan: "gold"}, []string{"plan"}},
		{catalog.CreateParams{Slug: "API", Name: "", Plan: "gold"}, []string{"slug", "name", "plan"}},
	}
	for _, c := range cases {
		_, err := b.store.CreateTenant(ctx, "test", c.p)
		var v *catalog.ValidationError
		if !errors.As(err, &v) {
			t.Fatalf("%+v: err %v, want a ValidationError", c.p, err)
		}
		var got []string
		for _, f := range v.Fields {
			got = append(got, f.Field)
		}
		if strings.Join(got, ",") != strings.Join(c.fields, ",") {
			t.Fatalf("%+v: fields %v, want %v", c.p, got, c.fields)
		}
	}
	if n := b.count(t, "SELECT count(*) FROM tenantkit.tenants"); n != 0 {
		t.Fatalf("%d tenants written by invalid requests", n)
	}
	if n := b.count(t, "SELECT count(*) FROM tenantkit.audit_log"); n != 0 {
		t.Fatalf("%d audit rows written by invalid requests", n)
	}
}

func TestSlugTakenWritesNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	if _, err := b.store.CreateTenant(ctx, "test", catalog.CreateParams{Slug: "acme", Name: "Acme"}); err != nil {
		t.Fatal(err)
	}
	_, err := b.store.CreateTenant(ctx, "test", catalog.CreateParams{Slug: "acme", Name: "Other"})
	if !errors.Is(err, catalog.ErrSlugTaken) {
		t.Fatalf("err %v, want ErrSlugTaken", err)
	}
	if n := b.count(t, "SELECT count(*) FROM tenantkit.audit_log"); n != 1 {
		t.Fatalf("%d audit rows, want 1 (the first create only)", n)
	}
}

func TestLifecycleIsAuditedAndAnnounced(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	tn, err := b.store.CreateTenant(ctx, "alice", catalog.CreateParams{Slug: "acme", Name: "Acme", Plan: "pro"})
	if err != nil {
		t.Fatal(err)
	}
	if tn.Status != catalog.StatusActive || tn.Plan != "pro" {
		t.Fatalf("created %+v", tn)
	}
	name := "Acme Inc"
	if _, err := b.store.UpdateTenant(ctx, "alice", "acme", catalog.UpdateParams{Name: &name}); err != nil {
		t.Fatal(err)
	}
	s, err := b.store.SuspendTenant(ctx, "bob", tn.ID.String(), "unpaid invoice")
	if err != nil || s.Status != catalog.StatusSuspended || s.SuspensionReason != "unpaid invoice" {
		t.Fatalf("suspend: %+v %v", s, err)
	}
	if _, err := b.store.ResumeTenant(ctx, "bob", "acme"); err != nil {
		t.Fatal(err)
	}
	d, err := b.store.DeleteTenant(ctx, "carol", "acme")
	if err != nil || d.Status != catalog.StatusDeleted || d.DeletedAt == nil {
		t.Fatalf("delete: %+v %v", d, err)
	}
	if _, err := b.store.ResumeTenant(ctx, "bob", "acme"); !errors.Is(err, catalog.ErrTenantDeleted) {
		t.Fatalf("resume of a deleted tenant: %v, want ErrTenantDeleted", err)
	}
	entries, err := b.store.Audit(ctx, tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range entries {
		actions = append(actions, e.Actor+":"+e.Action)
	}
	want := "alice:tenant.create alice:tenant.update bob:tenant.suspend bob:tenant.resume carol:tenant.delete"
	if strings.Join(actions, " ") != want {
		t.Fatalf("audit %v, want %s", actions, want)
	}
	if !strings.Contains(string(entries[1].Before), `"name": "Acme"`) || !strings.Contains(string(entries[1].After), `"name": "Acme Inc"`) {
		t.Fatalf("update audit before/after: %s / %s", entries[1].Before, entries[1].After)
	}
	for i := 0; i < 5; i++ {
		select {
		case m := <-b.sent:
			if m.Tenant != tn.ID.String() {
				t.Fatalf("message %+v for another tenant", m)
			}
		default:
			t.Fatalf("only %d messages after 5 writes", i)
		}
	}
}

func TestGetUnknownTenant(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, ref := range []string{"nobody", "5f0c7d7e-3a8e-4c67-9a43-4d1b7a3c0f11"} {
		if _, err := b.store.GetTenant(context.Background(), ref); !errors.Is(err, catalog.ErrTenantNotFound) {
			t.Fatalf("%s: %v, want ErrTenantNotFound", ref, err)
		}
	}
}

func TestListTenantsPaginates(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	for _, s := range []string{"delta", "alpha", "echo", "charlie", "bravo"} {
		if _, err := b.store.CreateTenant(ctx, "t", catalog.CreateParams{Slug: s, Name: s}); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	after := ""
	for pages := 0; pages < 10; pages++ {
		p, err := b.store.ListTenants(ctx, catalog.ListParams{After: after, Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		for _, tn := range p.Tenants {
			got = append(got, tn.Slug)
		}
		if p.Next == "" {
			break
		}
		after = p.Next
	}
	if strings.Join(got, ",") != "alpha,bravo,charlie,delta,echo" {
		t.Fatalf("pages gave %v", got)
	}
	if _, err := b.store.ListTenants(ctx, catalog.ListParams{Limit: 501}); err == nil {
		t.Fatal("limit 501 accepted")
	}
}

func TestLoadContextMergesPlanAndOverrides(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	tn, err := b.store.CreateTenant(ctx, "t", catalog.CreateParams{Slug: "acme", Name: "Acme", Plan: "pro"})
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(b.store.SetPlanFeature(ctx, "t", "pro", "sso"))
	must(b.store.SetPlanFeature(ctx, "t", "pro", "audit_export"))
	must(b.store.SetPlanLimit(ctx, "t", "pro", "seats", 25))
	must(b.store.SetTenantFeature(ctx, "t", "acme", "audit_export", false))
	must(b.store.SetTenantFeature(ctx, "t", "acme", "beta_ui", true))
	must(b.store.SetBranding(ctx, "t", "acme", catalog.Branding{DisplayName: "ACME", PrimaryColor: "#ff0000"}))
	tc, err := b.store.LoadContext(ctx, tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !tc.Feature("sso") || tc.Feature("audit_export") || !tc.Feature("beta_ui") {
		t.Fatalf("features %v", tc.Features)
	}
	if v, ok := tc.Limit("seats"); !ok || v != 25 {
		t.Fatalf("limits %v", tc.Limits)
	}
	if tc.Branding.DisplayName != "ACME" || tc.Branding.PrimaryColor != "#ff0000" || tc.PlanDisplayName != "Pro" {
		t.Fatalf("context %+v", tc)
	}
}

func TestCatalogWritesNotifyListeners(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, b.db.OwnerDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "LISTEN "+bus.Channel); err != nil {
		t.Fatal(err)
	}
	tn, err := b.store.CreateTenant(ctx, "t", catalog.CreateParams{Slug: "acme", Name: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.AddDomain(ctx, "t", "acme", "Shop.Acme.Example.", ""); err != nil {
		t.Fatal(err)
	}
	wait, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var msgs []bus.Message
	for len(msgs) < 2 {
		n, err := conn.WaitForNotification(wait)
		if err != nil {
			t.Fatalf("after %d messages: %v", len(msgs), err)
		}
		m, err := bus.Decode(n.Payload)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	if msgs[0].Tenant != tn.ID.String() || len(msgs[0].Slugs) != 1 || msgs[0].Slugs[0] != "acme" {
		t.Fatalf("tenant insert message %+v", msgs[0])
	}
	if msgs[1].Tenant != tn.ID.String() || len(msgs[1].Hosts) != 1 || msgs[1].Hosts[0] != "shop.acme.example" {
		t.Fatalf("domain insert message %+v", msgs[1])
	}
}

func TestUnverifiedDomainDoesNotResolve(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	tn, err := b.store.CreateTenant(ctx, "t", catalog.CreateParams{Slug: "acme", Name: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.AddDomain(ctx, "t", "acme", "shop.acme.example", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.TenantIDByVerifiedHost(ctx, "shop.acme.example"); !errors.Is(err, catalog.ErrTenantNotFound) {
		t.Fatalf("unverified host resolved: %v", err)
	}
	if _, err := b.store.VerifyDomain(ctx, "t", "shop.acme.example", tenantkittest.Vouched); err != nil {
		t.Fatal(err)
	}
	id, err := b.store.TenantIDByVerifiedHost(ctx, "shop.acme.example")
	if err != nil || id != tn.ID {
		t.Fatalf("verified host: %v %v", id, err)
	}
	if _, err := b.store.AddDomain(ctx, "t", "acme", "shop.acme.example", ""); !errors.Is(err, catalog.ErrDomainTaken) {
		t.Fatalf("second add: %v", err)
	}
}

func TestStoreTrimsAndSkipsNoOps(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	tn, err := b.store.CreateTenant(ctx, "t", catalog.CreateParams{Slug: "acme", Name: "  Acme  "})
	if err != nil || tn.Name != "Acme" {
		t.Fatalf("created %q, %v; want the name trimmed", tn.Name, err)
	}
	long := strings.Repeat("n", 200) + "   "
	if _, err := b.store.CreateTenant(ctx, "t", catalog.CreateParams{Slug: "long", Name: long}); err != nil {
		t.Fatalf("a 200-character name with trailing spaces: %v", err)
	}
	same := "Acme"
	auditBefore := b.count(t, "SELECT count(*) FROM tenantkit.audit_log")
	u, err := b.store.UpdateTenant(ctx, "t", "acme", catalog.UpdateParams{Name: &same})
	if err != nil || !u.UpdatedAt.Equal(tn.UpdatedAt) {
		t.Fatalf("no-op update changed the tenant: %+v %v", u, err)
	}
	if n := b.count(t, "SELECT count(*) FROM tenantkit.audit_log"); n != auditBefore {
		t.Fatal("a no-op update wrote an audit record")
	}
	var v *catalog.ValidationError
	if _, err := b.store.SuspendTenant(ctx, "t", "acme", "   "); !errors.As(err, &v) {
		t.Fatalf("blank reason: %v", err)
	}
}

func TestDeletedTenantsGetNoDomains(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	if _, err := b.store.CreateTenant(ctx, "t", catalog.CreateParams{Slug: "acme", Name: "Acme"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.AddDomain(ctx, "t", "acme", "shop.acme.test", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.DeleteTenant(ctx, "t", "acme"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.AddDomain(ctx, "t", "acme", "other.acme.test", ""); !errors.Is(err, catalog.ErrTenantDeleted) {
		t.Fatalf("add domain to a deleted tenant: %v", err)
	}
	if _, err := b.store.VerifyDomain(ctx, "t", "shop.acme.test", tenantkittest.Vouched); !errors.Is(err, catalog.ErrTenantDeleted) {
		t.Fatalf("verify a deleted tenant's domain: %v", err)
	}
}
