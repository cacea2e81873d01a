package client_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/tenantkit/tenantkit/client"
)

// TestPlanPricesAndATenantsBillingBacklog: a plan's Stripe prices round
// trip through the API; a tenant created on the plan, and its seat count
// changed, has two changes waiting for Stripe (nothing drains them here),
// in order, with no account yet.
func TestPlanPricesAndATenantsBillingBacklog(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	prices := &client.PlanBilling{BasePrice: "price_pro", SeatPrice: "price_seat", TrialDays: 14,
		Metered: map[string]client.MeteredPrice{"api_calls": {Price: "price_api", Meter: "api_calls"}}}
	p, err := b.c.UpdatePlan(ctx, client.PlanParams{Name: "pro", Billing: prices})
	if err != nil || p.Billing == nil || p.Billing.SeatGauge != "users" || p.Billing.Metered["api_calls"].Meter != "api_calls" {
		t.Fatalf("pro's prices: %+v, %v", p.Billing, err)
	}
	_, err = b.c.UpdatePlan(ctx, client.PlanParams{Name: "pro", Billing: &client.PlanBilling{BasePrice: "nope"}})
	wantError(t, err, http.StatusUnprocessableEntity, "invalid-fields")

	if _, err := b.c.CreateTenant(ctx, client.CreateTenantParams{Slug: "acme", Name: "Acme", Plan: "pro"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.c.SetUsageGauge(ctx, "acme", "users", 4); err != nil {
		t.Fatal(err)
	}
	st, err := b.c.TenantBilling(ctx, "acme")
	if err != nil || st.Tenant.Slug != "acme" || st.Account.SubscriptionID != "" || len(st.Recent) != 0 || len(st.Backlog) != 2 ||
		st.Backlog[0].Op != client.BillingSubscribe || st.Backlog[0].Change.Billing.BasePrice != "price_pro" ||
		st.Backlog[1].Op != client.BillingSeats || st.Backlog[1].Change.Seats != 4 {
		t.Fatalf("acme's billing: %+v, %v", st, err)
	}
	_, err = b.c.TenantBilling(ctx, "nosuch")
	wantError(t, err, http.StatusNotFound, "tenant-not-found")
	// This test server has no Stripe key: the billing routes answer 501.
	_, err = b.c.BillingPortal(ctx, "acme", "https://app.example/")
	wantError(t, err, http.StatusNotImplemented, "not-implemented")
	_, err = b.c.BillingCheckout(ctx, "acme", "pro", "https://app.example/ok", "https://app.example/no")
	wantError(t, err, http.StatusNotImplemented, "not-implemented")
	_, err = b.c.BillingReport(ctx, client.BillingReportParams{Tenant: "acme"})
	wantError(t, err, http.StatusNotImplemented, "not-implemented")
}
