package catalog_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/tenantkit/tenantkit/internal/catalog"
)

// TestAPlanCarriesItsStripePrices: a plan's prices are stored, read back
// with the plan (the seat gauge defaulting to users), replaced whole when
// given again, kept when not given, and removed by an empty billing.
// Malformed ones are refused naming each field, and nothing is written.
func TestAPlanCarriesItsStripePrices(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	want := catalog.PlanBilling{BasePrice: "price_team", SeatPrice: "price_seat", TrialDays: 14,
		Metered: map[string]catalog.MeteredPrice{"api_calls": {Price: "price_api", Meter: "api_calls"}}}
	p, err := b.store.CreatePlan(ctx, "t", catalog.PlanParams{Name: "team", DisplayName: ptr("Team"), Billing: &want})
	if err != nil {
		t.Fatal(err)
	}
	if p.Billing == nil || p.Billing.SeatGauge != "users" || p.Billing.BasePrice != "price_team" || p.Billing.Metered["api_calls"].Price != "price_api" || p.Billing.TrialDays != 14 {
		t.Fatalf("created %+v", p.Billing)
	}
	p, err = b.store.UpdatePlan(ctx, "t", catalog.PlanParams{Name: "team", Rank: ptr(7)})
	if err != nil || p.Billing == nil || p.Billing.BasePrice != "price_team" {
		t.Fatalf("an update without billing lost the prices: %+v, %v", p.Billing, err)
	}

	bad := catalog.PlanBilling{BasePrice: "prod_team", SeatGauge: "Users", TrialDays: -1,
		Metered: map[string]catalog.MeteredPrice{"page_views": {Price: "price_x", Meter: "pv"}, "jobs": {Price: "price_jobs", Meter: "no spaces"}}}
	_, err = b.store.UpdatePlan(ctx, "t", catalog.PlanParams{Name: "team", Rank: ptr(9), Billing: &bad})
	var ve *catalog.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("malformed prices: %v, want a validation error", err)
	}
	var fields []string
	for _, f := range ve.Fields {
		fields = append(fields, f.Field)
	}
	for _, f := range []string{"billing.base_price", "billing.seat_gauge", "billing.metered.page_views", "billing.metered.jobs.meter", "billing.trial_days"} {
		if !slices.Contains(fields, f) {
			t.Errorf("no error for %s in %v", f, ve.Fields)
		}
	}
	if p, _ := b.store.GetPlan(ctx, "team"); p.Rank != 7 || p.Billing.BasePrice != "price_team" {
		t.Fatalf("a refused update wrote: rank %d, billing %+v", p.Rank, p.Billing)
	}

	p, err = b.store.UpdatePlan(ctx, "t", catalog.PlanParams{Name: "team", Billing: &catalog.PlanBilling{BasePrice: "price_team2"}})
	if err != nil || p.Billing.BasePrice != "price_team2" || p.Billing.SeatPrice != "" || len(p.Billing.Metered) != 0 {
		t.Fatalf("replaced: %+v, %v", p.Billing, err)
	}
	p, err = b.store.UpdatePlan(ctx, "t", catalog.PlanParams{Name: "team", Billing: &catalog.PlanBilling{}})
	if err != nil || p.Billing != nil {
		t.Fatalf("cleared: %+v, %v", p.Billing, err)
	}
}

// TestAPlansPricesAreCheckedBeforeAnythingIsWritten: the store's
// PlanCheck (billing asks Stripe) sees every price of a change, and its
// refusal leaves the plan as it was.
func TestAPlansPricesAreCheckedBeforeAnythingIsWritten(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	var seen []string
	store, err := catalog.NewStore(catalog.StoreConfig{Pool: b.pool, PlanCheck: func(_ context.Context, pb catalog.PlanBilling) error {
		var bad []catalog.FieldError
		for _, p := range pb.Prices() {
			seen = append(seen, p[1])
			if p[1] == "price_missing" {
				bad = append(bad, catalog.FieldError{Field: p[0], Message: "no such Stripe price"})
			}
		}
		return catalog.Invalid(bad...)
	}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = store.UpdatePlan(ctx, "t", catalog.PlanParams{Name: "pro", Rank: ptr(11), Billing: &catalog.PlanBilling{BasePrice: "price_pro",
		Metered: map[string]catalog.MeteredPrice{"db_ms": {Price: "price_missing", Meter: "db_ms"}}}})
	var ve *catalog.ValidationError
	if !errors.As(err, &ve) || len(ve.Fields) != 1 || ve.Fields[0].Field != "billing.metered.db_ms.price" {
		t.Fatalf("an unknown price: %v", err)
	}
	if !slices.Equal(seen, []string{"price_pro", "price_missing"}) {
		t.Fatalf("checked %v", seen)
	}
	if p, _ := store.GetPlan(ctx, "pro"); p.Rank == 11 || p.Billing != nil {
		t.Fatalf("a refused change wrote: rank %d, billing %+v", p.Rank, p.Billing)
	}
}
