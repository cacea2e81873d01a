package adminclient

import (
	"context"
	"net/http"
	"net/url"

	"github.com/tenantkit/tenantkit/internal/adminapi"
	"github.com/tenantkit/tenantkit/internal/integration"
	"github.com/tenantkit/tenantkit/internal/registry"
)

func integrationPath(ref string, typ integration.Type) string {
	return "/api/v1/tenants/" + url.PathEscape(ref) + "/integrations/" + url.PathEscape(string(typ))
}

// ListIntegrations shows what serves a tenant for every type, masked.
func (c *Client) ListIntegrations(ctx context.Context, ref string) ([]registry.View, error) {
	var out struct {
		Integrations []registry.View `json:"integrations"`
	}
	return out.Integrations, c.do(ctx, http.MethodGet, "/api/v1/tenants/"+url.PathEscape(ref)+"/integrations", nil, &out)
}

// ShowIntegration shows what serves a tenant for typ, masked.
func (c *Client) ShowIntegration(ctx context.Context, ref string, typ integration.Type) (registry.View, error) {
	var v registry.View
	return v, c.do(ctx, http.MethodGet, integrationPath(ref, typ), nil, &v)
}

// SetIntegration gives a tenant its own account of p.Type.
func (c *Client) SetIntegration(ctx context.Context, ref string, p registry.SetParams) (registry.View, error) {
	body := struct {
		Provider    string            `json:"provider"`
		Credentials map[string]string `json:"credentials,omitempty"`
		Settings    map[string]string `json:"settings,omitempty"`
		Active      *bool             `json:"active,omitempty"`
	}{p.Provider, p.Credentials, p.Settings, p.Active}
	var v registry.View
	return v, c.do(ctx, http.MethodPut, integrationPath(ref, p.Type), body, &v)
}

// RemoveIntegration removes a tenant's own account of typ.
func (c *Client) RemoveIntegration(ctx context.Context, ref string, typ integration.Type) error {
	return c.do(ctx, http.MethodDelete, integrationPath(ref, typ), nil, nil)
}

// TestIntegration checks the credentials serving a tenant for typ.
func (c *Client) TestIntegration(ctx context.Context, ref string, typ integration.Type) (registry.View, error) {
	var out adminapi.TestResult
	return out.Integration, c.do(ctx, http.MethodPost, integrationPath(ref, typ)+"/test", nil, &out)
}

// Providers lists every provider's fields by type.
func (c *Client) Providers(ctx context.Context) (map[integration.Type][]integration.Spec, error) {
	out := map[integration.Type][]integration.Spec{}
	return out, c.do(ctx, http.MethodGet, "/api/v1/integrations/providers", nil, &out)
}
