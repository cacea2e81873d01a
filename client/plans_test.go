package client_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/tenantkit/tenantkit/client"
)

func TestPlansAndLimitExceeded(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	p, err := b.c.CreatePlan(ctx, client.PlanParams{Name: "team", DisplayName: ptr("Team"), Limits: &map[string]int64{"max_users": 3}})
	if err != nil || p.Name != "team" || p.DisplayName != "Team" || p.Limits["max_users"] != 3 || p.DefaultTier != client.TierShared {
		t.Fatalf("create: %+v %v", p, err)
	}
	if p, err = b.c.UpdatePlan(ctx, client.PlanParams{Name: "team", Rank: ptr(4)}); err != nil || p.Rank != 4 || p.Limits["max_users"] != 3 {
		t.Fatalf("update: %+v %v", p, err)
	}
	if got, err := b.c.GetPlan(ctx, "team"); err != nil || got.Rank != 4 {
		t.Fatalf("get: %+v %v", got, err)
	}
	ps, err := b.c.ListPlans(ctx)
	if err != nil || len(ps) < 2 {
		t.Fatalf("list: %+v %v", ps, err)
	}
	_, err = b.c.CreatePlan(ctx, client.PlanParams{Name: "team", DisplayName: ptr("Team")})
	wantError(t, err, http.StatusConflict, "plan-exists")

	if _, err := b.c.CreateTenant(ctx, client.CreateTenantParams{Slug: "acme", Name: "Acme", Plan: "pro"}); err != nil {
		t.Fatal(err)
	}
	g, err := b.c.SetUsageGauge(ctx, "acme", "users", 12)
	if err != nil || g.Name != "users" || g.Value != 12 || g.MeasuredAt.IsZero() {
		t.Fatalf("gauge: %+v %v", g, err)
	}
	if gs, err := b.c.ListUsageGauges(ctx, "acme"); err != nil || len(gs) != 1 || gs[0] != g {
		t.Fatalf("gauges: %+v %v, want %+v", gs, err, g)
	}
	_, err = b.c.SetTenantPlan(ctx, "acme", client.SetPlanParams{Plan: "team"})
	e := wantError(t, err, http.StatusConflict, "limit-exceeded")
	if len(e.Violations) != 1 || e.Violations[0] != (client.Violation{Limit: "max_users", Usage: "users", Current: 12, Allowed: 3}) {
		t.Fatalf("violations %+v", e.Violations)
	}
	_, err = b.c.UpdateTenant(ctx, "acme", client.UpdateTenantParams{Plan: ptr("team")})
	wantError(t, err, http.StatusConflict, "limit-exceeded")
	if tn, err := b.c.SetTenantPlan(ctx, "acme", client.SetPlanParams{Plan: "team", Force: true}); err != nil || tn.Plan != "team" {
		t.Fatalf("forced: %+v %v", tn, err)
	}
	wantError(t, b.c.DeletePlan(ctx, "team"), http.StatusConflict, "plan-in-use")
	if _, err := b.c.SetTenantPlan(ctx, "acme", client.SetPlanParams{Plan: "pro"}); err != nil {
		t.Fatal(err)
	}
	if err := b.c.DeletePlan(ctx, "team"); err != nil {
		t.Fatalf("delete (204): %v", err)
	}
	wantError(t, b.c.DeletePlan(ctx, "team"), http.StatusNotFound, "plan-not-found")
}

func TestOverrides(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	if _, err := b.c.CreateTenant(ctx, client.CreateTenantParams{Slug: "acme", Name: "Acme"}); err != nil {
		t.Fatal(err)
	}
	o, err := b.c.TenantOverrides(ctx, "acme")
	if err != nil || len(o.Limits) != 0 || len(o.Features) != 0 {
		t.Fatalf("none yet: %+v %v", o, err)
	}
	o, err = b.c.PatchTenantOverrides(ctx, "acme", client.OverridePatch{
		Limits: map[string]*int64{"max_users": ptr[int64](50)}, Features: map[string]*bool{"sso": ptr(true), "audit": ptr(false)},
	})
	if err != nil || o.Limits["max_users"] != 50 || !o.Features["sso"] || o.Features["audit"] || len(o.Features) != 2 {
		t.Fatalf("set: %+v %v", o, err)
	}
	// nil removes an override; what the patch does not name stays.
	o, err = b.c.PatchTenantOverrides(ctx, "acme", client.OverridePatch{Features: map[string]*bool{"audit": nil}})
	if err != nil || o.Limits["max_users"] != 50 || len(o.Features) != 1 || !o.Features["sso"] {
		t.Fatalf("remove: %+v %v", o, err)
	}
	if _, err := b.c.SetUsageGauge(ctx, "acme", "users", 20); err != nil {
		t.Fatal(err)
	}
	_, err = b.c.PatchTenantOverrides(ctx, "acme", client.OverridePatch{Limits: map[string]*int64{"max_users": ptr[int64](10)}})
	wantError(t, err, http.StatusConflict, "limit-exceeded")
	_, err = b.c.PatchTenantOverrides(ctx, "acme", client.OverridePatch{Limits: map[string]*int64{"max_users": ptr[int64](-1)}})
	if e := wantError(t, err, http.StatusUnprocessableEntity, "invalid-fields"); len(e.Errors) != 1 || e.Errors[0].Field != "limits.max_users" {
		t.Fatalf("negative limit: %+v", e.Errors)
	}
	_, err = b.c.TenantOverrides(ctx, "nosuch")
	wantError(t, err, http.StatusNotFound, "tenant-not-found")
}
