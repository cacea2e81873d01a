// Package adminclient is a Go client of the admin API. Every error the
// server answers with comes back as a *problem.Problem.
package adminclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/problem"
)

// Client calls the admin API.
type Client struct {
	base  *url.URL
	token string
	http  *http.Client
	actor string
}

// New returns a client of the server at base, authenticating with token
// and naming actor in the audit log.
func New(base, token, actor string) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(base, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("server URL %q must be http(s)://host[:port]", base)
	}
	return &Client{base: u, token: token, actor: actor, http: &http.Client{Timeout: 30 * time.Second}}, nil
}

// CreateTenant creates a tenant.
func (c *Client) CreateTenant(ctx context.Context, p catalog.CreateParams) (catalog.Tenant, error) {
	var t catalog.Tenant
	return t, c.do(ctx, http.MethodPost, "/api/v1/tenants", p, &t)
}

// ListTenants returns a page of tenants.
func (c *Client) ListTenants(ctx context.Context, p catalog.ListParams) (catalog.Page, error) {
	q := url.Values{}
	if p.After != "" {
		q.Set("after", p.After)
	}
	if p.Limit != 0 {
		q.Set("limit", strconv.Itoa(p.Limit))
	}
	if p.Status != "" {
		q.Set("status", p.Status)
	}
	path := "/api/v1/tenants"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var page catalog.Page
	return page, c.do(ctx, http.MethodGet, path, nil, &page)
}

// GetTenant returns a tenant by id or slug.
func (c *Client) GetTenant(ctx context.Context, ref string) (catalog.Tenant, error) {
	var t catalog.Tenant
	return t, c.do(ctx, http.MethodGet, tenantPath(ref), nil, &t)
}

// UpdateTenant changes a tenant's name or plan.
func (c *Client) UpdateTenant(ctx context.Context, ref string, p catalog.UpdateParams) (catalog.Tenant, error) {
	var t catalog.Tenant
	return t, c.do(ctx, http.MethodPatch, tenantPath(ref), p, &t)
}

// SuspendTenant suspends a tenant with a reason.
func (c *Client) SuspendTenant(ctx context.Context, ref, reason string) (catalog.Tenant, error) {
	var t catalog.Tenant
	return t, c.do(ctx, http.MethodPost, tenantPath(ref)+"/suspend", map[string]string{"reason": reason}, &t)
}

// ResumeTenant resumes a suspended tenant.
func (c *Client) ResumeTenant(ctx context.Context, ref string) (catalog.Tenant, error) {
	var t catalog.Tenant
	return t, c.do(ctx, http.MethodPost, tenantPath(ref)+"/resume", nil, &t)
}

// DeleteTenant soft-deletes a tenant.
func (c *Client) DeleteTenant(ctx context.Context, ref string) (catalog.Tenant, error) {
	var t catalog.Tenant
	return t, c.do(ctx, http.MethodDelete, tenantPath(ref), nil, &t)
}

// PlaceTenant places a tenant's data, or finishes placing it.
func (c *Client) PlaceTenant(ctx context.Context, ref string, pp catalog.PlaceParams) (catalog.Placement, error) {
	var pl catalog.Placement
	return pl, c.do(ctx, http.MethodPost, tenantPath(ref)+"/placement", pp, &pl)
}

// PurgeTenant removes a tenant's data and soft-deletes it.
func (c *Client) PurgeTenant(ctx context.Context, ref string) (catalog.Tenant, error) {
	var t catalog.Tenant
	return t, c.do(ctx, http.MethodDelete, tenantPath(ref)+"?hard=true", nil, &t)
}

func tenantPath(ref string) string { return "/api/v1/tenants/" + url.PathEscape(ref) }

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var (
		b   []byte
		hdr = http.Header{}
	)
	if body != nil {
		var err error
		if b, err = json.Marshal(body); err != nil {
			return err
		}
		hdr.Set("Content-Type", "application/json")
	}
	return c.send(ctx, method, path, b, hdr, out)
}

// send makes one request with body (nil: none) and the headers in hdr,
// decodes a success into out (nil: ignored). A failure is the server's
// *problem.Problem.
func (c *Client) send(ctx context.Context, method, path string, body []byte, hdr http.Header, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base.String()+path, rd)
	if err != nil {
		return err
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if c.actor != "" {
		req.Header.Set("X-Tenantkit-Actor", c.actor)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("server unreachable: %w", errors.Unwrap(err))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		p := &problem.Problem{}
		if json.Unmarshal(b, p) != nil || p.Status == 0 {
			return problem.New(resp.StatusCode, problem.Internal, "server answered "+resp.Status)
		}
		return p
	}
	if out == nil {
		return nil // 204, or an answer the caller does not need
	}
	return json.Unmarshal(b, out)
}

// CreateTenantOn creates a tenant and has the server place its data on tier
// and cluster (each empty for the server's default). The placement is nil
// when the server places no data.
func (c *Client) CreateTenantOn(ctx context.Context, p catalog.CreateParams, tier, cluster string) (catalog.Tenant, *catalog.Placement, error) {
	var out struct {
		catalog.Tenant
		Placement *catalog.Placement `json:"placement"`
	}
	body := map[string]string{"slug": p.Slug, "name": p.Name, "plan": p.Plan, "tier": tier, "cluster": cluster}
	err := c.do(ctx, http.MethodPost, "/api/v1/tenants", body, &out)
	return out.Tenant, out.Placement, err
}
