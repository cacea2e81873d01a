package client

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// Domain is a custom domain of a tenant. Requests for it resolve to the
// tenant once it is verified.
type Domain struct {
	Host     string `json:"host"`
	TenantID string `json:"tenant_id"`
	// VerificationToken is what the tenant publishes to prove it holds
	// the domain.
	VerificationToken string     `json:"verification_token"`
	VerifiedAt        *time.Time `json:"verified_at"`
	CreatedAt         time.Time  `json:"created_at"`
}

// AddDomain registers host for a tenant, unverified, with a fresh
// verification token.
func (c *Client) AddDomain(ctx context.Context, ref, host string) (Domain, error) {
	body := struct {
		Host string `json:"host"`
	}{host}
	var d Domain
	return d, c.call(ctx, http.MethodPost, tenantPath(ref)+"/domains", nil, body, &d)
}

// VerifyDomain marks host verified: from then on it resolves to its
// tenant. Checking the proof is the caller's job.
func (c *Client) VerifyDomain(ctx context.Context, host string) (Domain, error) {
	var d Domain
	return d, c.call(ctx, http.MethodPost, "/api/v1/domains/"+url.PathEscape(host)+"/verify", nil, nil, &d)
}
