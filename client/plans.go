package client

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// Plan is a plan: the features and limits of the tenants on it.
type Plan struct {
	Name        string `json:"name"`
	DisplayName string `json:"display_name"`
	Description string `json:"description,omitempty"`
	// Rank orders plans: a flag's MinPlan reaches the plans of its rank
	// and above.
	Rank int `json:"rank"`
	// DefaultTier is where new tenants on the plan are placed.
	DefaultTier string           `json:"default_tier"`
	Features    []string         `json:"features"`
	Limits      map[string]int64 `json:"limits"`
	// Billing is the plan's Stripe prices; nil when it bills nothing.
	Billing   *PlanBilling `json:"billing,omitempty"`
	CreatedAt time.Time    `json:"created_at"`
	UpdatedAt time.Time    `json:"updated_at"`
}

// PlanBilling is how a plan is billed on Stripe: the prices of its
// subscription items. Every field is optional.
type PlanBilling struct {
	// BasePrice is a flat recurring price, quantity one.
	BasePrice string `json:"base_price,omitempty"`
	// SeatPrice is a per-seat price; its quantity is the tenant's usage
	// gauge SeatGauge ("users" by default).
	SeatPrice string `json:"seat_price,omitempty"`
	SeatGauge string `json:"seat_gauge,omitempty"`
	// Metered binds usage metrics (api_calls, db_ms, bandwidth_bytes,
	// storage_bytes, jobs, job_ms) to metered prices.
	Metered map[string]MeteredPrice `json:"metered,omitempty"`
	// TrialDays is the trial of a new subscription on the plan.
	TrialDays int `json:"trial_days,omitempty"`
}

// MeteredPrice is a metered price and the event name of the Billing Meter
// it bills from.
type MeteredPrice struct {
	Price string `json:"price"`
	Meter string `json:"meter"`
}

// PlanParams are the fields of a plan. Name names it; on update, nil
// fields stay as they are, and Features and Limits replace the plan's
// whole sets.
type PlanParams struct {
	Name string `json:"name"`
	// DisplayName is required on create.
	DisplayName *string           `json:"display_name,omitempty"`
	Description *string           `json:"description,omitempty"`
	Rank        *int              `json:"rank,omitempty"`
	DefaultTier *string           `json:"default_tier,omitempty"`
	Features    *[]string         `json:"features,omitempty"`
	Limits      *map[string]int64 `json:"limits,omitempty"`
	// Billing, when given, replaces the plan's prices; an empty one
	// removes them. Each price is checked with Stripe when the server
	// bills (422 invalid-fields names an unknown one).
	Billing *PlanBilling `json:"billing,omitempty"`
}

// SetPlanParams move a tenant to another plan.
type SetPlanParams struct {
	Plan string `json:"plan"`
	// Force applies a plan the tenant's current usage exceeds, which is
	// otherwise refused with 409 limit-exceeded.
	Force bool `json:"force,omitempty"`
}

func planPath(name string) string { return "/api/v1/plans/" + url.PathEscape(name) }

// ListPlans returns every plan, by rank.
func (c *Client) ListPlans(ctx context.Context) ([]Plan, error) {
	var out struct {
		Plans []Plan `json:"plans"`
	}
	return out.Plans, c.call(ctx, http.MethodGet, "/api/v1/plans", nil, nil, &out)
}

// GetPlan returns a plan by name.
func (c *Client) GetPlan(ctx context.Context, name string) (Plan, error) {
	var p Plan
	return p, c.call(ctx, http.MethodGet, planPath(name), nil, nil, &p)
}

// CreatePlan creates a plan.
func (c *Client) CreatePlan(ctx context.Context, p PlanParams) (Plan, error) {
	var out Plan
	return out, c.call(ctx, http.MethodPost, "/api/v1/plans", nil, p, &out)
}

// UpdatePlan changes plan p.Name. A change the usage of a tenant on the
// plan exceeds is refused with 409 limit-exceeded.
func (c *Client) UpdatePlan(ctx context.Context, p PlanParams) (Plan, error) {
	// The path names the plan; the body holds the rest.
	body := struct {
		DisplayName *string           `json:"display_name,omitempty"`
		Description *string           `json:"description,omitempty"`
		Rank        *int              `json:"rank,omitempty"`
		DefaultTier *string           `json:"default_tier,omitempty"`
		Features    *[]string         `json:"features,omitempty"`
		Limits      *map[string]int64 `json:"limits,omitempty"`
		Billing     *PlanBilling      `json:"billing,omitempty"`
	}{p.DisplayName, p.Description, p.Rank, p.DefaultTier, p.Features, p.Limits, p.Billing}
	var out Plan
	return out, c.call(ctx, http.MethodPatch, planPath(p.Name), nil, body, &out)
}

// DeletePlan deletes a plan no tenant is on.
func (c *Client) DeletePlan(ctx context.Context, name string) error {
	return c.call(ctx, http.MethodDelete, planPath(name), nil, nil, nil)
}

// SetTenantPlan moves a tenant to another plan.
func (c *Client) SetTenantPlan(ctx context.Context, ref string, p SetPlanParams) (Tenant, error) {
	var t Tenant
	return t, c.call(ctx, http.MethodPost, tenantPath(ref)+"/plan", nil, p, &t)
}
