package client_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/tenantkit/tenantkit/client"
)

func TestFlags(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	acme, err := b.c.CreateTenant(ctx, client.CreateTenantParams{Slug: "acme", Name: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.c.CreateTenant(ctx, client.CreateTenantParams{Slug: "globex", Name: "Globex", Plan: "pro"}); err != nil {
		t.Fatal(err)
	}
	f, err := b.c.CreateFlag(ctx, client.FlagParams{Key: "new-checkout", Description: ptr("The new checkout"), MinPlan: ptr("pro")})
	if err != nil || f.Key != "new-checkout" || f.Description != "The new checkout" || f.MinPlan != "pro" || f.Default || len(f.Overrides) != 0 {
		t.Fatalf("create: %+v %v", f, err)
	}
	_, err = b.c.CreateFlag(ctx, client.FlagParams{Key: "new-checkout"})
	wantError(t, err, http.StatusConflict, "flag-exists")
	_, err = b.c.CreateFlag(ctx, client.FlagParams{Key: "Bad Key", Rollout: ptr(10001)})
	if e := wantError(t, err, http.StatusUnprocessableEntity, "invalid-fields"); len(e.Errors) != 2 {
		t.Fatalf("invalid flag: %+v", e.Errors)
	}
	if f, err = b.c.UpdateFlag(ctx, client.FlagParams{Key: "new-checkout", Default: ptr(true), MinPlan: ptr("")}); err != nil || !f.Default || f.MinPlan != "" {
		t.Fatalf("update: %+v %v", f, err)
	}
	if f, err = b.c.SetFlagOverride(ctx, "new-checkout", "acme", false); err != nil || len(f.Overrides) != 1 || f.Overrides[acme.ID] {
		t.Fatalf("override: %+v %v", f, err)
	}

	tf, err := b.c.EvaluateTenant(ctx, "acme")
	if err != nil || tf.Tenant != "acme" || tf.TenantID != acme.ID || len(tf.Flags) != 1 || tf.Flags[0].Value || tf.Flags[0].Reason != "override" {
		t.Fatalf("acme's flags: %+v %v", tf, err)
	}
	fe, err := b.c.EvaluateFlag(ctx, "new-checkout")
	if err != nil || fe.Flag != "new-checkout" || len(fe.Evaluations) != 2 || fe.Evaluations[1].Tenant != "globex" ||
		!fe.Evaluations[1].Value || fe.Evaluations[1].Reason != "default" || fe.Evaluations[1].Plan != "pro" {
		t.Fatalf("evaluations: %+v %v", fe, err)
	}
	if f, err = b.c.ClearFlagOverride(ctx, "new-checkout", acme.ID); err != nil || len(f.Overrides) != 0 {
		t.Fatalf("clear override: %+v %v", f, err)
	}
	if got, err := b.c.GetFlag(ctx, "new-checkout"); err != nil || got.Key != f.Key || !got.UpdatedAt.Equal(f.UpdatedAt) {
		t.Fatalf("get: %+v %v", got, err)
	}
	if fs, err := b.c.ListFlags(ctx); err != nil || len(fs) != 1 || fs[0].Key != "new-checkout" {
		t.Fatalf("list: %+v %v", fs, err)
	}
	if err := b.c.DeleteFlag(ctx, "new-checkout"); err != nil {
		t.Fatal(err)
	}
	wantError(t, b.c.DeleteFlag(ctx, "new-checkout"), http.StatusNotFound, "flag-not-found")
	_, err = b.c.EvaluateFlag(ctx, "new-checkout")
	wantError(t, err, http.StatusNotFound, "flag-not-found")

	// A deleted flag keeps its log, oldest first, under the client's actor.
	audit, err := b.c.FlagAudit(ctx, "new-checkout")
	if err != nil || len(audit) != 5 {
		t.Fatalf("audit: %+v %v", audit, err)
	}
	if a := audit[0]; a.Actor != "api:test" || string(a.Before) != "null" || len(a.After) < 2 || a.At.IsZero() {
		t.Fatalf("first entry: %+v", a)
	}
	if last := audit[4]; string(last.After) != "null" {
		t.Fatalf("last entry: %+v", last)
	}
	_, err = b.c.FlagAudit(ctx, "never")
	wantError(t, err, http.StatusNotFound, "flag-not-found")
}
