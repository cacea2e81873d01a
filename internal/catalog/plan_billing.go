package catalog

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"

	"github.com/tenantkit/tenantkit/internal/catalog/catalogdb"
)

// PlanBilling is how a plan is billed on Stripe: the prices of its
// subscription items. Every field is optional; a plan without any is not
// billed.
type PlanBilling struct {
	// BasePrice is a flat recurring price, quantity one.
	BasePrice string `json:"base_price,omitempty"`
	// SeatPrice is a per-seat recurring price; its quantity is the
	// tenant's usage gauge SeatGauge.
	SeatPrice string `json:"seat_price,omitempty"`
	// SeatGauge names the usage gauge that counts seats. Defaults to
	// "users" when SeatPrice is set.
	SeatGauge string `json:"seat_gauge,omitempty"`
	// Metered binds usage metrics (MeteredMetrics) to metered prices.
	Metered map[string]MeteredPrice `json:"metered,omitempty"`
	// TrialDays is the trial of a new subscription on the plan.
	TrialDays int `json:"trial_days,omitempty"`
}

// MeteredPrice is a metered price and the Billing Meter it bills from:
// the tenant's usage of the metric is reported to the meter as meter
// events named Meter (the meter's event_name).
type MeteredPrice struct {
	Price string `json:"price"`
	Meter string `json:"meter"`
}

// MeteredMetrics are the usage metrics a plan may bill by meter: those the
// Kit collects per tenant and period.
var MeteredMetrics = []string{"api_calls", "db_ms", "bandwidth_bytes", "storage_bytes", "jobs", "job_ms"}

// Empty says the plan bills nothing.
func (b PlanBilling) Empty() bool {
	return b.BasePrice == "" && b.SeatPrice == "" && len(b.Metered) == 0
}

// Prices lists the plan's prices by the field that names each
// (billing.base_price, billing.metered.api_calls.price, …), for checks.
func (b PlanBilling) Prices() [][2]string {
	var out [][2]string
	if b.BasePrice != "" {
		out = append(out, [2]string{"billing.base_price", b.BasePrice})
	}
	if b.SeatPrice != "" {
		out = append(out, [2]string{"billing.seat_price", b.SeatPrice})
	}
	for _, m := range sortedKeys(b.Metered) {
		out = append(out, [2]string{"billing.metered." + m + ".price", b.Metered[m].Price})
	}
	return out
}

var (
	stripeID  = regexp.MustCompile(`^price_[A-Za-z0-9_]{1,250}$`)
	meterName = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,100}$`)
)

func validatePlanBilling(v *ValidationError, b PlanBilling) {
	for _, p := range b.Prices() {
		if !stripeID.MatchString(p[1]) {
			v.add(p[0], fmt.Sprintf("%q is not a Stripe price id (price_…)", p[1]))
		}
	}
	if b.SeatGauge != "" {
		if b.SeatPrice == "" {
			v.add("billing.seat_gauge", "needs billing.seat_price")
		} else if msg := ValidateLimitName(b.SeatGauge); msg != "" {
			v.add("billing.seat_gauge", msg)
		}
	}
	for _, m := range sortedKeys(b.Metered) {
		known := false
		for _, k := range MeteredMetrics {
			known = known || k == m
		}
		if !known {
			v.add("billing.metered."+m, fmt.Sprintf("is not a metered usage metric (one of %v)", MeteredMetrics))
			continue
		}
		if !meterName.MatchString(b.Metered[m].Meter) {
			v.add("billing.metered."+m+".meter", "must be the Billing Meter's event name: 1-100 letters, digits, '_', '.', ':' or '-'")
		}
	}
	if b.TrialDays < 0 || b.TrialDays > 730 {
		v.add("billing.trial_days", "must be between 0 and 730")
	}
}

// normalized is b with its defaults filled in.
func (b PlanBilling) normalized() PlanBilling {
	if b.SeatPrice != "" && b.SeatGauge == "" {
		b.SeatGauge = "users"
	}
	return b
}

func setPlanBilling(ctx context.Context, q *catalogdb.Queries, plan string, b *PlanBilling) error {
	if b == nil {
		return nil
	}
	if b.Empty() && b.TrialDays == 0 {
		return q.DeletePlanBilling(ctx, plan)
	}
	raw, err := json.Marshal(b.normalized())
	if err != nil {
		return err
	}
	return q.SetPlanBilling(ctx, catalogdb.SetPlanBillingParams{Plan: plan, Billing: raw})
}
