package adminclient

import (
	"context"
	"net/http"
	"net/url"

	"github.com/tenantkit/tenantkit/internal/catalog"
)

// ListPlans returns every plan, by rank.
func (c *Client) ListPlans(ctx context.Context) ([]catalog.Plan, error) {
	var out struct {
		Plans []catalog.Plan `json:"plans"`
	}
	return out.Plans, c.do(ctx, http.MethodGet, "/api/v1/plans", nil, &out)
}

// GetPlan returns one plan.
func (c *Client) GetPlan(ctx context.Context, name string) (catalog.Plan, error) {
	var p catalog.Plan
	return p, c.do(ctx, http.MethodGet, planPath(name), nil, &p)
}

// CreatePlan creates a plan.
func (c *Client) CreatePlan(ctx context.Context, p catalog.PlanParams) (catalog.Plan, error) {
	var out catalog.Plan
	return out, c.do(ctx, http.MethodPost, "/api/v1/plans", p, &out)
}

// UpdatePlan changes plan p.Name: nil fields stay as they are.
func (c *Client) UpdatePlan(ctx context.Context, p catalog.PlanParams) (catalog.Plan, error) {
	// The path names the plan; the body holds the rest.
	body := struct {
		DisplayName *string           `json:"display_name,omitempty"`
		Description *string           `json:"description,omitempty"`
		Rank        *int              `json:"rank,omitempty"`
		DefaultTier *string           `json:"default_tier,omitempty"`
		Features    *[]string         `json:"features,omitempty"`
		Limits      *map[string]int64 `json:"limits,omitempty"`
	}{p.DisplayName, p.Description, p.Rank, p.DefaultTier, p.Features, p.Limits}
	var out catalog.Plan
	return out, c.do(ctx, http.MethodPatch, planPath(p.Name), body, &out)
}

// DeletePlan deletes a plan no tenant is on.
func (c *Client) DeletePlan(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, planPath(name), nil, nil)
}

// SetTenantPlan moves a tenant to another plan. A plan its usage exceeds
// is refused with a limit-exceeded problem unless p.Force.
func (c *Client) SetTenantPlan(ctx context.Context, ref string, p catalog.SetPlanParams) (catalog.Tenant, error) {
	var t catalog.Tenant
	return t, c.do(ctx, http.MethodPost, tenantPath(ref)+"/plan", p, &t)
}

// TenantOverrides returns a tenant's own limits and features.
func (c *Client) TenantOverrides(ctx context.Context, ref string) (catalog.Overrides, error) {
	var o catalog.Overrides
	return o, c.do(ctx, http.MethodGet, tenantPath(ref)+"/overrides", nil, &o)
}

// PatchTenantOverrides sets and removes (nil) a tenant's overrides.
func (c *Client) PatchTenantOverrides(ctx context.Context, ref string, p catalog.OverridePatch) (catalog.Overrides, error) {
	var o catalog.Overrides
	return o, c.do(ctx, http.MethodPatch, tenantPath(ref)+"/overrides", p, &o)
}

// TenantUsage lists a tenant's recorded usage gauges.
func (c *Client) TenantUsage(ctx context.Context, ref string) ([]catalog.Usage, error) {
	var out struct {
		Gauges []catalog.Usage `json:"gauges"`
	}
	return out.Gauges, c.do(ctx, http.MethodGet, tenantPath(ref)+"/usage-gauges", nil, &out)
}

// SetUsage records a tenant's current usage called name.
func (c *Client) SetUsage(ctx context.Context, ref, name string, value int64) error {
	return c.do(ctx, http.MethodPut, tenantPath(ref)+"/usage-gauges/"+url.PathEscape(name), map[string]int64{"value": value}, nil)
}

func planPath(name string) string { return "/api/v1/plans/" + url.PathEscape(name) }
