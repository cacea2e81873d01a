package adminclient_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantkit/tenantkit/internal/adminapi"
	"github.com/tenantkit/tenantkit/internal/adminclient"
	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/problem"
	"github.com/tenantkit/tenantkit/internal/settings"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

func TestMain(m *testing.M) { tenantkittest.Main(m) }

const token = "adminclient-test-token-0123456789"

// setup gives the test a client of an admin API, with the restaurant
// settings schema, over its own catalog.
func setup(t *testing.T) *adminclient.Client {
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
	schema, err := settings.Compile(settings.RestaurantSchema())
	if err != nil {
		t.Fatal(err)
	}
	api, err := adminapi.New(adminapi.Config{Store: store, Token: token, SettingsSchema: schema, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(api.Handler())
	t.Cleanup(ts.Close)
	c, err := adminclient.New(ts.URL, token, "test")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func wantKind(t *testing.T, err error, kind string) *problem.Problem {
	t.Helper()
	var p *problem.Problem
	if !errors.As(err, &p) || p.Kind() != kind {
		t.Fatalf("error %v, want a %s problem", err, kind)
	}
	return p
}

func TestSettingsRoundTripWithIfMatch(t *testing.T) {
	t.Parallel()
	c := setup(t)
	ctx := context.Background()
	if _, err := c.CreateTenant(ctx, catalog.CreateParams{Slug: "acme", Name: "Acme"}); err != nil {
		t.Fatal(err)
	}
	s, err := c.GetSettings(ctx, "acme")
	if err != nil || s.Version != 0 {
		t.Fatalf("get: %+v %v", s, err)
	}
	v := s.Version
	if s, err = c.PatchSettings(ctx, "acme", &v, []byte(`{"tax_rate":0.2}`)); err != nil || s.Version != 1 {
		t.Fatalf("patch at v0: %+v %v", s, err)
	}
	_, err = c.PatchSettings(ctx, "acme", &v, []byte(`{"tax_rate":0.3}`))
	wantKind(t, err, problem.PreconditionFailed)
	_, err = c.PatchSettings(ctx, "acme", nil, []byte(`{"tax_rate":"high","colour":"red"}`))
	p := wantKind(t, err, problem.InvalidSettings)
	if len(p.Errors) != 2 || p.Errors[0].Pointer != "/colour" || p.Errors[1].Pointer != "/tax_rate" || p.Errors[1].Detail == "" {
		t.Fatalf("errors %+v", p.Errors)
	}
}

func TestPlansAndLimitExceeded(t *testing.T) {
	t.Parallel()
	c := setup(t)
	ctx := context.Background()
	name := "Team"
	if _, err := c.CreatePlan(ctx, catalog.PlanParams{Name: "team", DisplayName: &name, Limits: &map[string]int64{"max_users": 3}}); err != nil {
		t.Fatal(err)
	}
	rank := 4
	if p, err := c.UpdatePlan(ctx, catalog.PlanParams{Name: "team", Rank: &rank}); err != nil || p.Rank != 4 || p.Limits["max_users"] != 3 {
		t.Fatalf("update: %+v %v", p, err)
	}
	if _, err := c.CreateTenant(ctx, catalog.CreateParams{Slug: "acme", Name: "Acme", Plan: "pro"}); err != nil {
		t.Fatal(err)
	}
	if err := c.SetUsage(ctx, "acme", "users", 12); err != nil {
		t.Fatal(err)
	}
	_, err := c.SetTenantPlan(ctx, "acme", catalog.SetPlanParams{Plan: "team"})
	p := wantKind(t, err, problem.LimitExceeded)
	if len(p.Violations) != 1 || p.Violations[0] != (problem.Violation{Limit: "max_users", Usage: "users", Current: 12, Allowed: 3}) {
		t.Fatalf("violations %+v", p.Violations)
	}
	if err := c.DeletePlan(ctx, "team"); err != nil {
		t.Fatalf("delete (204): %v", err)
	}
	wantKind(t, c.DeletePlan(ctx, "team"), problem.PlanNotFound)
}
