package cli

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tenantkit/tenantkit/internal/stripemock"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

// TestPlansPricesAreCheckedWithStripeWhenBillingIsOn: with
// TENANTKIT_STRIPE_SECRET_KEY set, tenantkit plans update asks Stripe
// (stripe-mock behind a recording proxy) for each price it is given: a
// price Stripe does not have is refused in one line, exit 1, the plan
// unchanged; one it has is stored. Without the key, prices are checked for
// form only and Stripe is not called.
func TestPlansPricesAreCheckedWithStripeWhenBillingIsOn(t *testing.T) {
	t.Parallel()
	db := tenantkittest.NewCatalog(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := stripemock.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	p, err := stripemock.NewProxy(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	p.Override(http.MethodGet, "/v1/prices/price_gone", http.StatusNotFound,
		`{"error":{"type":"invalid_request_error","code":"resource_missing","message":"No such price: 'price_gone'","param":"id"}}`)
	vars := map[string]string{"TENANTKIT_DATABASE_URL": db.OwnerDSN(),
		"TENANTKIT_STRIPE_SECRET_KEY": stripemock.TestKey, "TENANTKIT_STRIPE_API_BASE": p.URL()}

	r := runCLI(t, vars, "plans", "update", "pro", "--base-price", "price_pro", "--metered", "api_calls=price_gone@api_calls")
	if r.exit != exitError || r.stderr != "tenantkit: some fields are invalid: billing.metered.api_calls.price Stripe has no price price_gone\n" {
		t.Fatalf("a price Stripe does not have: exit %d\n%s%s", r.exit, r.stdout, r.stderr)
	}
	if r := runCLI(t, vars, "plans", "get", "pro"); !strings.Contains(r.stdout, "Billing:       -\n") {
		t.Fatalf("the refused prices were written:\n%s", r.stdout)
	}
	if n := len(p.CallsTo(http.MethodGet, "/v1/prices/")); n != 2 {
		t.Fatalf("%d price lookups, want 2", n)
	}

	r = runCLI(t, vars, "plans", "update", "pro", "--base-price", "price_pro", "--metered", "api_calls=price_api@api_calls")
	if r.exit != exitOK || !strings.Contains(r.stdout, "Billing:       base price_pro; api_calls price_api@api_calls\n") {
		t.Fatalf("prices Stripe has: exit %d\n%s%s", r.exit, r.stdout, r.stderr)
	}

	p.Reset()
	delete(vars, "TENANTKIT_STRIPE_SECRET_KEY")
	if r := runCLI(t, vars, "plans", "update", "pro", "--base-price", "price_gone"); r.exit != exitOK || len(p.Calls()) != 0 {
		t.Fatalf("billing off: exit %d, %d calls to Stripe\n%s", r.exit, len(p.Calls()), r.stderr)
	}
	vars["TENANTKIT_STRIPE_SECRET_KEY"] = "pk_test_123"
	if r := runCLI(t, vars, "plans", "list"); r.exit != exitUsage || !strings.Contains(r.stderr, "TENANTKIT_STRIPE_SECRET_KEY") {
		t.Fatalf("a publishable key: exit %d\n%s", r.exit, r.stderr)
	}
}
