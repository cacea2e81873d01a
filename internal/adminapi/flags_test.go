package adminapi_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"github.com/tenantkit/tenantkit/internal/adminapi"
	"github.com/tenantkit/tenantkit/internal/catalog"
)

func TestFlagRoutes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	acme := b.create(t, "acme")
	got := decode[struct{ Flags []catalog.Flag }](t, b.do(t, "GET", "/api/v1/flags", ""), http.StatusOK)
	if got.Flags == nil || len(got.Flags) != 0 {
		t.Fatalf("no flags yet: %+v", got)
	}

	w := b.do(t, "POST", "/api/v1/flags", `{"key":"new-checkout","description":"The new checkout","rollout":3000,"min_plan":"pro"}`)
	f := decode[catalog.Flag](t, w, http.StatusCreated)
	if f.Rollout != 3000 || f.MinPlan != "pro" || f.KillSwitch || f.Default || f.Overrides == nil {
		t.Fatalf("created %+v", f)
	}
	if loc := w.Header().Get("Location"); loc != "/api/v1/flags/new-checkout" {
		t.Fatalf("Location %q", loc)
	}
	b.writesNothing(t, "duplicate flag", func() {
		wantProblem(t, b.do(t, "POST", "/api/v1/flags", `{"key":"new-checkout"}`), http.StatusConflict, "flag-exists")
	})
	b.writesNothing(t, "invalid flag", func() {
		wantFields(t, b.do(t, "POST", "/api/v1/flags", `{"key":"Bad Key","rollout":10001,"min_plan":"gold"}`), "key", "rollout", "plan")
	})

	// An empty min_plan removes the gate; fields not given stay.
	f = decode[catalog.Flag](t, b.do(t, "PATCH", "/api/v1/flags/new-checkout", `{"min_plan":"","kill_switch":true}`), http.StatusOK)
	if f.MinPlan != "" || !f.KillSwitch || f.Rollout != 3000 || f.Description != "The new checkout" {
		t.Fatalf("patched %+v", f)
	}
	b.writesNothing(t, "patch with a key", func() {
		wantProblem(t, b.do(t, "PATCH", "/api/v1/flags/new-checkout", `{"key":"other"}`), http.StatusBadRequest, "malformed-json")
	})
	wantProblem(t, b.do(t, "PATCH", "/api/v1/flags/nosuch", `{"rollout":1}`), http.StatusNotFound, "flag-not-found")
	wantProblem(t, b.do(t, "GET", "/api/v1/flags/nosuch", ""), http.StatusNotFound, "flag-not-found")

	f = decode[catalog.Flag](t, b.do(t, "PUT", "/api/v1/flags/new-checkout/overrides/acme", `{"value":true}`), http.StatusOK)
	if v, ok := f.Overrides[acme.ID]; !ok || !v {
		t.Fatalf("override by slug: %+v", f.Overrides)
	}
	f = decode[catalog.Flag](t, b.do(t, "PUT", "/api/v1/flags/new-checkout/overrides/"+acme.ID.String(), `{"value":false}`), http.StatusOK)
	if v, ok := f.Overrides[acme.ID]; !ok || v {
		t.Fatalf("override by id: %+v", f.Overrides)
	}
	if got := decode[catalog.Flag](t, b.do(t, "GET", "/api/v1/flags/new-checkout", ""), http.StatusOK); len(got.Overrides) != 1 {
		t.Fatalf("get shows overrides %+v", got.Overrides)
	}
	b.writesNothing(t, "override without a value", func() {
		wantFields(t, b.do(t, "PUT", "/api/v1/flags/new-checkout/overrides/acme", `{}`), "value")
	})
	wantProblem(t, b.do(t, "PUT", "/api/v1/flags/new-checkout/overrides/nosuch", `{"value":true}`), http.StatusNotFound, "tenant-not-found")
	wantProblem(t, b.do(t, "PUT", "/api/v1/flags/nosuch/overrides/acme", `{"value":true}`), http.StatusNotFound, "flag-not-found")
	f = decode[catalog.Flag](t, b.do(t, "DELETE", "/api/v1/flags/new-checkout/overrides/acme", ""), http.StatusOK)
	if len(f.Overrides) != 0 {
		t.Fatalf("cleared: %+v", f.Overrides)
	}

	if w := b.do(t, "DELETE", "/api/v1/flags/new-checkout", ""); w.Code != http.StatusNoContent {
		t.Fatalf("delete: %d %s", w.Code, w.Body)
	}
	wantProblem(t, b.do(t, "GET", "/api/v1/flags/new-checkout", ""), http.StatusNotFound, "flag-not-found")
	wantProblem(t, b.do(t, "DELETE", "/api/v1/flags/new-checkout", ""), http.StatusNotFound, "flag-not-found")

	// A deleted flag keeps its audit log, with before and after as JSON.
	audit := decode[struct{ Audit []adminapi.AuditEntry }](t, b.do(t, "GET", "/api/v1/flags/new-checkout/audit", "", "X-Tenantkit-Actor", "ops"), http.StatusOK)
	var actions []string
	for _, e := range audit.Audit {
		actions = append(actions, e.Action)
	}
	want := []string{"flag.create", "flag.update", "flag.override", "flag.override", "flag.override", "flag.delete"}
	if !slices.Equal(actions, want) {
		t.Fatalf("audit %v, want %v", actions, want)
	}
	var before map[string]any
	if err := json.Unmarshal(audit.Audit[1].Before, &before); err != nil || before["min_plan"] != "pro" || before["kill_switch"] != false {
		t.Fatalf("update's before %s: %v", audit.Audit[1].Before, err)
	}
	if string(audit.Audit[0].Before) != "null" || audit.Audit[0].Actor != "api" {
		t.Fatalf("create's record %+v", audit.Audit[0])
	}
	wantProblem(t, b.do(t, "GET", "/api/v1/flags/never-was/audit", ""), http.StatusNotFound, "flag-not-found")
}
