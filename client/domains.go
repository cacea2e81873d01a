package client

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// Domain is a custom domain of a tenant. Requests for it resolve to the
// tenant once its DNS proof has been checked (VerifyDomain).
type Domain struct {
	Host     string `json:"host"`
	TenantID string `json:"tenant_id"`
	// VerificationToken is what the tenant publishes, in TXTRecord, to
	// prove it holds the domain.
	VerificationToken string `json:"verification_token"`
	// Status is pending (never proven), verified, or lapsed (the proof
	// has gone since LapsedAt; the domain resolves until GraceUntil).
	Status     string     `json:"status"`
	VerifiedAt *time.Time `json:"verified_at"`
	// CheckedAt is when the proof was last looked up, CheckError what
	// was wrong with it then.
	CheckedAt  *time.Time `json:"checked_at"`
	CheckError string     `json:"check_error"`
	LapsedAt   *time.Time `json:"lapsed_at"`
	GraceUntil *time.Time `json:"grace_until"`
	// SSLStatus is the domain's certificate: pending, active (until
	// SSLExpiresAt), expired or failed (SSLError says why).
	SSLStatus    string     `json:"ssl_status"`
	SSLError     string     `json:"ssl_error"`
	SSLExpiresAt *time.Time `json:"ssl_expires_at"`
	CreatedAt    time.Time  `json:"created_at"`
	// TXTRecord is the DNS record that proves the domain.
	TXTRecord ProofRecord `json:"txt_record"`
	// Resolves says whether requests for the host reach its tenant now.
	Resolves bool `json:"resolves"`
}

// ProofRecord is a DNS record to create.
type ProofRecord struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Value string `json:"value"`
}

// AddDomain registers host for a tenant, unverified, and answers with
// the TXT record that proves it.
func (c *Client) AddDomain(ctx context.Context, ref, host string) (Domain, error) {
	body := struct {
		Host string `json:"host"`
	}{host}
	var d Domain
	return d, c.call(ctx, http.MethodPost, tenantPath(ref)+"/domains", nil, body, &d)
}

// ListDomains returns a tenant's custom domains, by host.
func (c *Client) ListDomains(ctx context.Context, ref string) ([]Domain, error) {
	var out struct {
		Domains []Domain `json:"domains"`
	}
	return out.Domains, c.call(ctx, http.MethodGet, tenantPath(ref)+"/domains", nil, nil, &out)
}

// GetDomain returns the custom domain host.
func (c *Client) GetDomain(ctx context.Context, host string) (Domain, error) {
	var d Domain
	return d, c.call(ctx, http.MethodGet, "/api/v1/domains/"+url.PathEscape(host), nil, nil, &d)
}

// RemoveDomain deletes the custom domain host: it stops resolving at once.
func (c *Client) RemoveDomain(ctx context.Context, host string) (Domain, error) {
	var d Domain
	return d, c.call(ctx, http.MethodDelete, "/api/v1/domains/"+url.PathEscape(host), nil, nil, &d)
}

// VerifyDomain has the server look host's TXT record up and verify the
// domain when the record holds its token: from then on it resolves to its
// tenant. A record that is absent or wrong is an *Error of kind
// domain-proof-missing (422) whose Record and Found say what was seen.
func (c *Client) VerifyDomain(ctx context.Context, host string) (Domain, error) {
	var d Domain
	return d, c.call(ctx, http.MethodPost, "/api/v1/domains/"+url.PathEscape(host)+"/verify", nil, nil, &d)
}
