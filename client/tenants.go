package client

import (
	"context"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Tenant statuses.
const (
	StatusActive    = "active"
	StatusSuspended = "suspended"
	StatusDeleted   = "deleted"
)

// Tenant is a tenant's catalog record.
type Tenant struct {
	// ID is the tenant's uuid. It and the slug both name the tenant in
	// every method that takes a ref.
	ID   string `json:"id"`
	Slug string `json:"slug"`
	Name string `json:"name"`
	// Status is StatusActive, StatusSuspended or StatusDeleted.
	Status           string     `json:"status"`
	SuspensionReason string     `json:"suspension_reason,omitempty"`
	Plan             string     `json:"plan"`
	CreatedAt        time.Time  `json:"created_at"`
	UpdatedAt        time.Time  `json:"updated_at"`
	DeletedAt        *time.Time `json:"deleted_at,omitempty"`
}

// CreateTenantParams describe a new tenant.
type CreateTenantParams struct {
	// Slug names the tenant in URLs: a lowercase DNS label of 3 to 63
	// characters.
	Slug string `json:"slug"`
	Name string `json:"name"`
	// Plan defaults to the server's default plan, free.
	Plan string `json:"plan,omitempty"`
	// Tier and Cluster say where to place the tenant's data, on a server
	// that places data (started with the application's migrations): the
	// plan's default tier and the least loaded cluster when empty. A
	// server that places no data refuses them with 501 not-implemented.
	Tier    string `json:"tier,omitempty"`
	Cluster string `json:"cluster,omitempty"`
}

// CreatedTenant is a new tenant and, on a server that places data, where
// its data was placed.
type CreatedTenant struct {
	Tenant
	// Placement is nil when the server places no data.
	Placement *Placement `json:"placement,omitempty"`
}

// UpdateTenantParams change a tenant: nil fields stay as they are.
type UpdateTenantParams struct {
	Name *string `json:"name,omitempty"`
	Plan *string `json:"plan,omitempty"`
	// Force applies a plan the tenant's current usage exceeds, which is
	// otherwise refused with 409 limit-exceeded.
	Force bool `json:"force,omitempty"`
}

// TenantListParams select tenants, ordered by slug.
type TenantListParams struct {
	// After is the slug the page starts after: the Next of the page
	// before. Defaults to the first page.
	After string
	// Limit is the page size, 1 to 500. Defaults to the server's, 50.
	Limit int
	// Status keeps only tenants of that status. Defaults to every status.
	Status string
}

// TenantPage is one page of tenants.
type TenantPage struct {
	Tenants []Tenant `json:"tenants"`
	// Next is the After of the next page; empty on the last page.
	Next string `json:"next,omitempty"`
}

func tenantPath(ref string) string { return "/api/v1/tenants/" + url.PathEscape(ref) }

// CreateTenant creates an active tenant, and places its data when the
// server places data.
func (c *Client) CreateTenant(ctx context.Context, p CreateTenantParams) (CreatedTenant, error) {
	var t CreatedTenant
	return t, c.call(ctx, http.MethodPost, "/api/v1/tenants", nil, p, &t)
}

// ListTenants returns one page of tenants.
func (c *Client) ListTenants(ctx context.Context, p TenantListParams) (TenantPage, error) {
	q := query("after", p.After, "status", p.Status)
	if p.Limit != 0 {
		q.Set("limit", strconv.Itoa(p.Limit))
	}
	var page TenantPage
	return page, c.call(ctx, http.MethodGet, "/api/v1/tenants", q, nil, &page)
}

// Tenants iterates over every tenant p selects, from p.After on, asking
// for a page of p.Limit at a time. An error ends the iteration.
func (c *Client) Tenants(ctx context.Context, p TenantListParams) iter.Seq2[Tenant, error] {
	return pages(func(after string) ([]Tenant, string, error) {
		q := p
		q.After = after
		page, err := c.ListTenants(ctx, q)
		return page.Tenants, page.Next, err
	}, p.After)
}

// pages iterates over the items of keyset pages, from the page after
// first: list returns a page's items and the cursor of the next page (""
// after the last).
func pages[T any](list func(after string) ([]T, string, error), first string) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		for after := first; ; {
			items, next, err := list(after)
			if err != nil {
				var zero T
				yield(zero, err)
				return
			}
			for _, it := range items {
				if !yield(it, nil) {
					return
				}
			}
			if next == "" || next == after {
				return
			}
			after = next
		}
	}
}

// GetTenant returns a tenant by id or slug.
func (c *Client) GetTenant(ctx context.Context, ref string) (Tenant, error) {
	var t Tenant
	return t, c.call(ctx, http.MethodGet, tenantPath(ref), nil, nil, &t)
}

// UpdateTenant changes a tenant's name or plan.
func (c *Client) UpdateTenant(ctx context.Context, ref string, p UpdateTenantParams) (Tenant, error) {
	var t Tenant
	return t, c.call(ctx, http.MethodPatch, tenantPath(ref), nil, p, &t)
}

// SuspendTenant suspends a tenant: its requests are refused, with reason.
func (c *Client) SuspendTenant(ctx context.Context, ref, reason string) (Tenant, error) {
	body := struct {
		Reason string `json:"reason"`
	}{reason}
	var t Tenant
	return t, c.call(ctx, http.MethodPost, tenantPath(ref)+"/suspend", nil, body, &t)
}

// ResumeTenant resumes a suspended tenant.
func (c *Client) ResumeTenant(ctx context.Context, ref string) (Tenant, error) {
	var t Tenant
	return t, c.call(ctx, http.MethodPost, tenantPath(ref)+"/resume", nil, nil, &t)
}

// DeleteTenant soft-deletes a tenant: its record stays, with status
// deleted, and its data stays where it is.
func (c *Client) DeleteTenant(ctx context.Context, ref string) (Tenant, error) {
	var t Tenant
	return t, c.call(ctx, http.MethodDelete, tenantPath(ref), nil, nil, &t)
}

// PurgeTenant removes a tenant's data (its database, schema or rows),
// destroys its data keys, and soft-deletes it. It needs a server that
// places data.
func (c *Client) PurgeTenant(ctx context.Context, ref string) (Tenant, error) {
	var t Tenant
	return t, c.call(ctx, http.MethodDelete, tenantPath(ref), url.Values{"hard": {"true"}}, nil, &t)
}
