package client

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// Integration is what serves a tenant for one type of integration (email,
// storage, payment, sms), with its credentials masked: a secret is never
// shown again once set.
type Integration struct {
	// ID is set for a tenant's own account; empty for the platform's
	// default.
	ID       string `json:"id,omitempty"`
	Type     string `json:"type"`
	Provider string `json:"provider"`
	// Source says whose account it is: "tenant" for the tenant's own,
	// "platform" for the platform's default.
	Source   string            `json:"source"`
	Active   bool              `json:"active"`
	Settings map[string]string `json:"settings"`
	// Credentials are masked: "••••" and at most the last four
	// characters of a long secret.
	Credentials map[string]string `json:"credentials"`
	UpdatedAt   *time.Time        `json:"updated_at,omitempty"`
}

// IntegrationParams give a tenant its own account of an integration type.
type IntegrationParams struct {
	// Type is email, storage, payment or sms. Required.
	Type string `json:"-"`
	// Provider is one of the type's providers (see Providers). Required.
	Provider string `json:"provider"`
	// Credentials are the secrets the provider needs, stored encrypted.
	Credentials map[string]string `json:"credentials,omitempty"`
	Settings    map[string]string `json:"settings,omitempty"`
	// Active defaults to true.
	Active *bool `json:"active,omitempty"`
}

// Provider describes a provider of an integration type: the secret
// credentials it needs and the plain settings it takes.
type Provider struct {
	Type        string          `json:"type"`
	Provider    string          `json:"provider"`
	Description string          `json:"description"`
	Credentials []ProviderField `json:"credentials"`
	Settings    []ProviderField `json:"settings"`
}

// ProviderField is one named value a provider takes.
type ProviderField struct {
	Name        string `json:"name"`
	Required    bool   `json:"required"`
	Description string `json:"description"`
}

func integrationPath(ref, typ string) string {
	return tenantPath(ref) + "/integrations/" + url.PathEscape(typ)
}

// Providers returns every provider the server knows, by integration type.
// It, and every integration method, needs a server started with a
// key-encryption key; others answer 501 not-implemented.
func (c *Client) Providers(ctx context.Context) (map[string][]Provider, error) {
	out := map[string][]Provider{}
	return out, c.call(ctx, http.MethodGet, "/api/v1/integrations/providers", nil, nil, &out)
}

// ListIntegrations returns what serves a tenant for every type.
func (c *Client) ListIntegrations(ctx context.Context, ref string) ([]Integration, error) {
	var out struct {
		Integrations []Integration `json:"integrations"`
	}
	return out.Integrations, c.call(ctx, http.MethodGet, tenantPath(ref)+"/integrations", nil, nil, &out)
}

// GetIntegration returns what serves a tenant for typ: 404 no-integration
// when nothing does.
func (c *Client) GetIntegration(ctx context.Context, ref, typ string) (Integration, error) {
	var v Integration
	return v, c.call(ctx, http.MethodGet, integrationPath(ref, typ), nil, nil, &v)
}

// SetIntegration gives a tenant its own account of p.Type, replacing any
// it had. A provider the server does not know, or credentials it would
// refuse, are refused with 422 invalid-integration.
func (c *Client) SetIntegration(ctx context.Context, ref string, p IntegrationParams) (Integration, error) {
	var v Integration
	return v, c.call(ctx, http.MethodPut, integrationPath(ref, p.Type), nil, p, &v)
}

// RemoveIntegration removes a tenant's own account of typ: the platform's
// default serves it again, if there is one.
func (c *Client) RemoveIntegration(ctx context.Context, ref, typ string) error {
	return c.call(ctx, http.MethodDelete, integrationPath(ref, typ), nil, nil, nil)
}

// TestIntegration checks, with the provider, the credentials serving a
// tenant for typ. A failed check is an *Error of status 502 and kind
// integration-test-failed.
func (c *Client) TestIntegration(ctx context.Context, ref, typ string) (Integration, error) {
	var out struct {
		OK          bool        `json:"ok"`
		Integration Integration `json:"integration"`
	}
	return out.Integration, c.call(ctx, http.MethodPost, integrationPath(ref, typ)+"/test", nil, nil, &out)
}
