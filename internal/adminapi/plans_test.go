package adminapi_test

import (
	"context"
	"net/http"
	"slices"
	"testing"

	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/problem"
)

func TestPlanRoutes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	list := decode[struct{ Plans []catalog.Plan }](t, b.do(t, "GET", "/api/v1/plans", ""), http.StatusOK)
	var names []string
	for _, p := range list.Plans {
		names = append(names, p.Name)
	}
	if !slices.Equal(names, []string{"free", "pro", "enterprise"}) {
		t.Fatalf("plans by rank: %v", names)
	}

	w := b.do(t, "POST", "/api/v1/plans", `{"name":"team","display_name":"Team","rank":5,"features":["orders","sso"],"limits":{"max_users":20,"api_rps":50}}`)
	p := decode[catalog.Plan](t, w, http.StatusCreated)
	if p.Rank != 5 || len(p.Features) != 2 || p.Limits["max_users"] != 20 || p.DefaultTier != "shared" {
		t.Fatalf("created %+v", p)
	}
	if loc := w.Header().Get("Location"); loc != "/api/v1/plans/team" {
		t.Fatalf("Location %q", loc)
	}
	b.writesNothing(t, "duplicate plan", func() {
		wantProblem(t, b.do(t, "POST", "/api/v1/plans", `{"name":"team","display_name":"Again"}`), http.StatusConflict, "plan-exists")
	})
	b.writesNothing(t, "invalid plan", func() {
		wantFields(t, b.do(t, "POST", "/api/v1/plans", `{"name":"Bad Name","rank":-1,"default_tier":"gold","limits":{"max_users":-1}}`),
			"name", "display_name", "rank", "default_tier", "limits.max_users")
	})

	if got := decode[catalog.Plan](t, b.do(t, "GET", "/api/v1/plans/team", ""), http.StatusOK); got.DisplayName != "Team" {
		t.Fatalf("get %+v", got)
	}
	wantProblem(t, b.do(t, "GET", "/api/v1/plans/gold", ""), http.StatusNotFound, "plan-not-found")

	// Limits given replace the set; features not given stay.
	p = decode[catalog.Plan](t, b.do(t, "PATCH", "/api/v1/plans/team", `{"limits":{"max_users":25},"description":"Small teams"}`), http.StatusOK)
	if len(p.Limits) != 1 || p.Limits["max_users"] != 25 || len(p.Features) != 2 || p.Description != "Small teams" {
		t.Fatalf("patched %+v", p)
	}
	b.writesNothing(t, "patch with a name", func() {
		wantProblem(t, b.do(t, "PATCH", "/api/v1/plans/team", `{"name":"other"}`), http.StatusBadRequest, "malformed-json")
	})
	b.writesNothing(t, "patch of an unknown plan", func() {
		wantProblem(t, b.do(t, "PATCH", "/api/v1/plans/gold", `{"rank":3}`), http.StatusNotFound, "plan-not-found")
	})

	decode[catalog.Tenant](t, b.do(t, "POST", "/api/v1/tenants", `{"slug":"acme","name":"Acme","plan":"team"}`), http.StatusCreated)
	b.writesNothing(t, "delete a plan in use", func() {
		wantProblem(t, b.do(t, "DELETE", "/api/v1/plans/team", ""), http.StatusConflict, "plan-in-use")
	})
	decode[catalog.Tenant](t, b.do(t, "POST", "/api/v1/tenants/acme/plan", `{"plan":"free"}`), http.StatusOK)
	if w := b.do(t, "DELETE", "/api/v1/plans/team", ""); w.Code != http.StatusNoContent || w.Body.Len() != 0 {
		t.Fatalf("delete: %d %s", w.Code, w.Body)
	}
	wantProblem(t, b.do(t, "DELETE", "/api/v1/plans/team", ""), http.StatusNotFound, "plan-not-found")
	w = b.do(t, "PUT", "/api/v1/plans/free", `{}`)
	wantProblem(t, w, http.StatusMethodNotAllowed, "method-not-allowed")
	if allow := w.Header().Get("Allow"); allow != "DELETE, GET, PATCH" {
		t.Fatalf("Allow %q", allow)
	}
}

func TestSetPlanRefusesUsageOverTheLimits(t *testing.T) {
	t.Parallel()
	b := setup(t)
	decode[catalog.Tenant](t, b.do(t, "POST", "/api/v1/tenants", `{"slug":"acme","name":"Acme","plan":"pro"}`), http.StatusCreated)
	decode[catalog.Usage](t, b.do(t, "PUT", "/api/v1/tenants/acme/usage-gauges/users", `{"value":12}`), http.StatusOK)

	var p problem.Problem
	b.writesNothing(t, "downgrade", func() {
		p = wantProblem(t, b.do(t, "POST", "/api/v1/tenants/acme/plan", `{"plan":"free"}`), http.StatusConflict, "limit-exceeded")
	})
	if p.Detail != "acme's usage exceeds plan free: users is 12 but max_users allows 5" {
		t.Fatalf("detail %q", p.Detail)
	}
	want := []problem.Violation{{Limit: "max_users", Usage: "users", Current: 12, Allowed: 5}}
	if !slices.Equal(p.Violations, want) {
		t.Fatalf("violations %+v", p.Violations)
	}
	// The same refusal through the generic update.
	b.writesNothing(t, "update to free", func() {
		wantProblem(t, b.do(t, "PATCH", "/api/v1/tenants/acme", `{"plan":"free"}`), http.StatusConflict, "limit-exceeded")
	})

	tn := decode[catalog.Tenant](t, b.do(t, "POST", "/api/v1/tenants/acme/plan", `{"plan":"free","force":true}`), http.StatusOK)
	if tn.Plan != "free" {
		t.Fatalf("forced: plan %s", tn.Plan)
	}
	tn = decode[catalog.Tenant](t, b.do(t, "POST", "/api/v1/tenants/acme/plan", `{"plan":"enterprise"}`), http.StatusOK)
	if tn.Plan != "enterprise" {
		t.Fatalf("upgrade: plan %s", tn.Plan)
	}
	b.writesNothing(t, "unknown plan", func() {
		wantFields(t, b.do(t, "POST", "/api/v1/tenants/acme/plan", `{"plan":"gold"}`), "plan")
	})
	wantProblem(t, b.do(t, "POST", "/api/v1/tenants/nosuch/plan", `{"plan":"pro"}`), http.StatusNotFound, "tenant-not-found")
	wantProblem(t, b.do(t, "POST", "/api/v1/tenants/acme/plan", `{"plan":"pro","when":"now"}`), http.StatusBadRequest, "malformed-json")
}

func TestOverrideRoutes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.create(t, "acme") // on free: max_users 5
	o := decode[catalog.Overrides](t, b.do(t, "GET", "/api/v1/tenants/acme/overrides", ""), http.StatusOK)
	if len(o.Limits) != 0 || len(o.Features) != 0 || o.Limits == nil || o.Features == nil {
		t.Fatalf("fresh overrides %+v", o)
	}
	o = decode[catalog.Overrides](t, b.do(t, "PATCH", "/api/v1/tenants/acme/overrides",
		`{"limits":{"max_users":20,"api_rps":50},"features":{"sso":true,"orders":false}}`), http.StatusOK)
	if o.Limits["max_users"] != 20 || o.Limits["api_rps"] != 50 || !o.Features["sso"] || o.Features["orders"] {
		t.Fatalf("patched %+v", o)
	}
	// null removes an override.
	o = decode[catalog.Overrides](t, b.do(t, "PATCH", "/api/v1/tenants/acme/overrides", `{"limits":{"api_rps":null},"features":{"orders":null}}`), http.StatusOK)
	if len(o.Limits) != 1 || len(o.Features) != 1 {
		t.Fatalf("after removing %+v", o)
	}

	decode[catalog.Usage](t, b.do(t, "PUT", "/api/v1/tenants/acme/usage-gauges/users", `{"value":12}`), http.StatusOK)
	var p problem.Problem
	b.writesNothing(t, "override below usage", func() {
		p = wantProblem(t, b.do(t, "PATCH", "/api/v1/tenants/acme/overrides", `{"limits":{"max_users":3}}`), http.StatusConflict, "limit-exceeded")
	})
	if len(p.Violations) != 1 || p.Violations[0].Allowed != 3 || p.Violations[0].Current != 12 {
		t.Fatalf("violations %+v", p.Violations)
	}
	o = decode[catalog.Overrides](t, b.do(t, "PATCH", "/api/v1/tenants/acme/overrides", `{"limits":{"max_users":3},"force":true}`), http.StatusOK)
	if o.Limits["max_users"] != 3 {
		t.Fatalf("forced %+v", o)
	}
	b.writesNothing(t, "invalid overrides", func() {
		wantFields(t, b.do(t, "PATCH", "/api/v1/tenants/acme/overrides", `{"limits":{"Max":1,"api_rps":-1},"features":{"Bad Feature":true}}`),
			"limits.Max", "limits.api_rps", "features.Bad Feature")
	})
	wantProblem(t, b.do(t, "GET", "/api/v1/tenants/nosuch/overrides", ""), http.StatusNotFound, "tenant-not-found")
	wantProblem(t, b.do(t, "PATCH", "/api/v1/tenants/nosuch/overrides", `{"limits":{"max_users":1}}`), http.StatusNotFound, "tenant-not-found")
	decode[catalog.Tenant](t, b.do(t, "DELETE", "/api/v1/tenants/acme", ""), http.StatusOK)
	b.writesNothing(t, "overrides of a deleted tenant", func() {
		wantProblem(t, b.do(t, "PATCH", "/api/v1/tenants/acme/overrides", `{"limits":{"max_users":100}}`), http.StatusConflict, "tenant-deleted")
	})
}

func TestUsageGaugeRoutes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tn := b.create(t, "acme")
	got := decode[struct{ Gauges []catalog.Usage }](t, b.do(t, "GET", "/api/v1/tenants/acme/usage-gauges", ""), http.StatusOK)
	if got.Gauges == nil || len(got.Gauges) != 0 {
		t.Fatalf("fresh gauges %+v", got)
	}
	u := decode[catalog.Usage](t, b.do(t, "PUT", "/api/v1/tenants/acme/usage-gauges/users", `{"value":12}`), http.StatusOK)
	if u.Name != "users" || u.Value != 12 || u.TenantID != tn.ID || u.MeasuredAt.IsZero() {
		t.Fatalf("put %+v", u)
	}
	decode[catalog.Usage](t, b.do(t, "PUT", "/api/v1/tenants/"+tn.ID.String()+"/usage-gauges/storage_mb", `{"value":300}`), http.StatusOK)
	decode[catalog.Usage](t, b.do(t, "PUT", "/api/v1/tenants/acme/usage-gauges/users", `{"value":13}`), http.StatusOK)
	got = decode[struct{ Gauges []catalog.Usage }](t, b.do(t, "GET", "/api/v1/tenants/acme/usage-gauges", ""), http.StatusOK)
	if len(got.Gauges) != 2 || got.Gauges[0].Name != "storage_mb" || got.Gauges[1].Value != 13 {
		t.Fatalf("gauges %+v", got.Gauges)
	}
	wantFields(t, b.do(t, "PUT", "/api/v1/tenants/acme/usage-gauges/users", `{}`), "value")
	wantFields(t, b.do(t, "PUT", "/api/v1/tenants/acme/usage-gauges/users", `{"value":-1}`), "value")
	wantFields(t, b.do(t, "PUT", "/api/v1/tenants/acme/usage-gauges/Users", `{"value":1}`), "name")
	wantFields(t, b.do(t, "PUT", "/api/v1/tenants/acme/usage-gauges/users", `{"value":1.5}`), "value")
	wantProblem(t, b.do(t, "PUT", "/api/v1/tenants/nosuch/usage-gauges/users", `{"value":1}`), http.StatusNotFound, "tenant-not-found")
	wantProblem(t, b.do(t, "GET", "/api/v1/tenants/nosuch/usage-gauges", ""), http.StatusNotFound, "tenant-not-found")
	// Usage is what set-plan checks.
	us, err := b.store.TenantUsage(context.Background(), "acme")
	if err != nil || len(us) != 2 {
		t.Fatalf("store sees %+v %v", us, err)
	}
}
