package client

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// Overrides are a tenant's own limits and features, over its plan's.
type Overrides struct {
	Limits   map[string]int64 `json:"limits"`
	Features map[string]bool  `json:"features"`
}

// OverridePatch changes a tenant's overrides: a nil value removes one, so
// the plan's value applies again; names it does not hold stay as they are.
type OverridePatch struct {
	Limits   map[string]*int64 `json:"limits,omitempty"`
	Features map[string]*bool  `json:"features,omitempty"`
	// Force applies limits the tenant's usage exceeds already, which are
	// otherwise refused with 409 limit-exceeded.
	Force bool `json:"force,omitempty"`
}

// UsageGauge is a tenant's recorded current usage of something its limits
// are checked against, such as users.
type UsageGauge struct {
	TenantID   string    `json:"tenant_id"`
	Name       string    `json:"name"`
	Value      int64     `json:"value"`
	MeasuredAt time.Time `json:"measured_at"`
}

// TenantOverrides returns a tenant's own limits and features.
func (c *Client) TenantOverrides(ctx context.Context, ref string) (Overrides, error) {
	var o Overrides
	return o, c.call(ctx, http.MethodGet, tenantPath(ref)+"/overrides", nil, nil, &o)
}

// PatchTenantOverrides sets and removes a tenant's overrides, all at once
// or none.
func (c *Client) PatchTenantOverrides(ctx context.Context, ref string, p OverridePatch) (Overrides, error) {
	var o Overrides
	return o, c.call(ctx, http.MethodPatch, tenantPath(ref)+"/overrides", nil, p, &o)
}

// ListUsageGauges returns a tenant's recorded usage gauges.
func (c *Client) ListUsageGauges(ctx context.Context, ref string) ([]UsageGauge, error) {
	var out struct {
		Gauges []UsageGauge `json:"gauges"`
	}
	return out.Gauges, c.call(ctx, http.MethodGet, tenantPath(ref)+"/usage-gauges", nil, nil, &out)
}

// SetUsageGauge records a tenant's current usage called name.
func (c *Client) SetUsageGauge(ctx context.Context, ref, name string, value int64) (UsageGauge, error) {
	body := struct {
		Value int64 `json:"value"`
	}{value}
	var g UsageGauge
	return g, c.call(ctx, http.MethodPut, tenantPath(ref)+"/usage-gauges/"+url.PathEscape(name), nil, body, &g)
}
