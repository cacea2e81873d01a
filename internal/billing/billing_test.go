package billing_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/tenantkit/tenantkit/internal/billing"
	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/stripemock"
)

// stripe starts stripe-mock behind a recording proxy, both stopped when
// the test ends, and a Billing pointed at the proxy.
func stripe(t *testing.T) (*billing.Billing, *stripemock.Proxy) {
	b, p, _ := stripeServer(t)
	return b, p
}

// stripeServer is stripe, with the stripe-mock server itself.
func stripeServer(t *testing.T) (*billing.Billing, *stripemock.Proxy, *stripemock.Server) {
	t.Helper()
	s, p := stripemock.ForTest(t)
	b, err := billing.New(billing.Config{SecretKey: stripemock.TestKey, APIBase: p.URL(), Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return b, p, s
}

// TestAPlansPricesAreCheckedWithStripe: every price of a plan is looked up
// in Stripe; one Stripe does not have is refused naming its field, one it
// has passes, and Stripe unreachable is an error of its own, not a
// verdict on the prices.
func TestAPlansPricesAreCheckedWithStripe(t *testing.T) {
	t.Parallel()
	b, p := stripe(t)
	ctx := context.Background()
	plan := catalog.PlanBilling{BasePrice: "price_team", SeatPrice: "price_seat",
		Metered: map[string]catalog.MeteredPrice{"api_calls": {Price: "price_missing", Meter: "api_calls"}}}
	p.Override(http.MethodGet, "/v1/prices/price_missing", http.StatusNotFound,
		`{"error":{"type":"invalid_request_error","code":"resource_missing","message":"No such price: 'price_missing'","param":"id"}}`)

	err := b.CheckPrices(ctx, plan)
	var ve *catalog.ValidationError
	if !errors.As(err, &ve) || len(ve.Fields) != 1 || ve.Fields[0].Field != "billing.metered.api_calls.price" ||
		ve.Fields[0].Message != "Stripe has no price price_missing" {
		t.Fatalf("a price Stripe does not have: %v", err)
	}
	var asked []string
	for _, c := range p.CallsTo(http.MethodGet, "/v1/prices/") {
		asked = append(asked, c.Path)
	}
	if len(asked) != 3 {
		t.Fatalf("asked Stripe for %v, want each of the 3 prices", asked)
	}

	plan.Metered["api_calls"] = catalog.MeteredPrice{Price: "price_api", Meter: "api_calls"}
	if err := b.CheckPrices(ctx, plan); err != nil {
		t.Fatalf("prices Stripe has: %v", err)
	}

	p.SetDown(true)
	err = b.CheckPrices(ctx, plan)
	if err == nil || errors.As(err, &ve) {
		t.Fatalf("Stripe down: %v, want an error that is not a verdict on the prices", err)
	}
}

// TestANonSecretKeyIsRefused: a publishable key cannot bill.
func TestANonSecretKeyIsRefused(t *testing.T) {
	if _, err := billing.New(billing.Config{SecretKey: "pk_test_123"}); err == nil {
		t.Fatal("a publishable key was taken")
	}
	if _, on := billing.FromEnv(func(string) string { return "" }); on {
		t.Fatal("billing on without a key")
	}
}
