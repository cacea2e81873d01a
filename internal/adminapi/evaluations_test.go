package adminapi_test

import (
	"context"
	"net/http"
	"slices"
	"testing"

	"github.com/tenantkit/tenantkit/internal/adminapi"
	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/flags"
)

func TestFlagEvaluationsSayWhy(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	// 600 tenants on free, more than one page of the tenant list.
	if _, err := b.pool.Exec(ctx, `INSERT INTO tenantkit.tenants (slug, name, plan)
		SELECT 'bulk-' || lpad(i::text, 4, '0'), 'Bulk ' || i, 'free' FROM generate_series(1, 600) i`); err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct{ slug, plan string }{{"acme", "pro"}, {"globex", "enterprise"}, {"hooli", "pro"}, {"initech", "pro"}} {
		if _, err := b.store.CreateTenant(ctx, "t", catalog.CreateParams{Slug: p.slug, Name: p.slug, Plan: p.plan}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.store.DeleteTenant(ctx, "t", "hooli"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.SuspendTenant(ctx, "t", "initech", "unpaid"); err != nil {
		t.Fatal(err)
	}
	decode[catalog.Flag](t, b.do(t, "POST", "/api/v1/flags", `{"key":"new-checkout","rollout":3000,"min_plan":"pro"}`), http.StatusCreated)
	decode[catalog.Flag](t, b.do(t, "POST", "/api/v1/flags", `{"key":"dark-mode","rollout":5000,"seed":"ui","default":true}`), http.StatusCreated)
	decode[catalog.Flag](t, b.do(t, "POST", "/api/v1/flags", `{"key":"panic","kill_switch":true,"default":true}`), http.StatusCreated)
	decode[catalog.Flag](t, b.do(t, "PUT", "/api/v1/flags/new-checkout/overrides/bulk-0001", `{"value":true}`), http.StatusOK)
	decode[catalog.Flag](t, b.do(t, "PUT", "/api/v1/flags/panic/overrides/acme", `{"value":true}`), http.StatusOK)

	got := decode[adminapi.FlagEvaluations](t, b.do(t, "GET", "/api/v1/flags/new-checkout/evaluations", ""), http.StatusOK)
	if got.Flag != "new-checkout" || len(got.Evaluations) != 603 {
		t.Fatalf("%d evaluations of %q, want 603 (600 bulk, acme, globex, initech; not the deleted hooli)", len(got.Evaluations), got.Flag)
	}
	reasons := map[string]int{}
	for i, e := range got.Evaluations {
		if i > 0 && got.Evaluations[i-1].Tenant >= e.Tenant {
			t.Fatalf("not by slug: %s after %s", e.Tenant, got.Evaluations[i-1].Tenant)
		}
		if e.Bucket != flags.Bucket("new-checkout", e.TenantID) || e.Flag != "new-checkout" {
			t.Fatalf("%s: bucket %d, want flags.Bucket's %d", e.Tenant, e.Bucket, flags.Bucket("new-checkout", e.TenantID))
		}
		reasons[e.Reason]++
		switch {
		case e.Tenant == "bulk-0001":
			if !e.Value || e.Reason != "override" {
				t.Fatalf("overridden tenant %+v", e)
			}
		case e.Plan == "free":
			if e.Value || e.Reason != "plan_gate" {
				t.Fatalf("free tenant below min_plan pro: %+v", e)
			}
		case e.Bucket < 3000:
			if !e.Value || e.Reason != "rollout" {
				t.Fatalf("%s in the 30%% cohort: %+v", e.Tenant, e)
			}
		default:
			if e.Value || e.Reason != "default" {
				t.Fatalf("%s outside the cohort: %+v", e.Tenant, e)
			}
		}
	}
	if reasons["plan_gate"] != 599 || reasons["override"] != 1 {
		t.Fatalf("reasons %v", reasons)
	}
	wantProblem(t, b.do(t, "GET", "/api/v1/flags/nosuch/evaluations", ""), http.StatusNotFound, "flag-not-found")

	tf := decode[adminapi.TenantFlags](t, b.do(t, "GET", "/api/v1/tenants/acme/flags", ""), http.StatusOK)
	var keys []string
	for _, e := range tf.Flags {
		keys = append(keys, e.Flag)
	}
	if tf.Tenant != "acme" || tf.Plan != "pro" || !slices.Equal(keys, []string{"dark-mode", "new-checkout", "panic"}) {
		t.Fatalf("acme's flags %+v", tf)
	}
	dark, panicFlag := tf.Flags[0], tf.Flags[2]
	// dark-mode hashes its seed, not its key.
	if dark.Bucket != flags.Bucket("ui", tf.TenantID) || dark.Value != true || (dark.Reason != "rollout") != (dark.Bucket >= 5000) {
		t.Fatalf("dark-mode %+v", dark)
	}
	if !panicFlag.Value || panicFlag.Reason != "override" {
		t.Fatalf("panic for acme, overridden over the kill switch: %+v", panicFlag)
	}
	tf = decode[adminapi.TenantFlags](t, b.do(t, "GET", "/api/v1/tenants/globex/flags", ""), http.StatusOK)
	if p := tf.Flags[2]; p.Value || p.Reason != "kill_switch" {
		t.Fatalf("panic for globex: %+v", p)
	}
	wantProblem(t, b.do(t, "GET", "/api/v1/tenants/nosuch/flags", ""), http.StatusNotFound, "tenant-not-found")

	// With no flags, every tenant has an empty list, not null.
	for _, k := range keys {
		if w := b.do(t, "DELETE", "/api/v1/flags/"+k, ""); w.Code != http.StatusNoContent {
			t.Fatalf("delete %s: %d", k, w.Code)
		}
	}
	if tf := decode[adminapi.TenantFlags](t, b.do(t, "GET", "/api/v1/tenants/acme/flags", ""), http.StatusOK); tf.Flags == nil {
		t.Fatal("flags: null, want []")
	}
}
