package adminclient

import (
	"context"
	"net/http"
	"net/url"

	"github.com/tenantkit/tenantkit/internal/adminapi"
	"github.com/tenantkit/tenantkit/internal/catalog"
)

// ListFlags returns every flag with its overrides, by key.
func (c *Client) ListFlags(ctx context.Context) ([]catalog.Flag, error) {
	var out struct {
		Flags []catalog.Flag `json:"flags"`
	}
	return out.Flags, c.do(ctx, http.MethodGet, "/api/v1/flags", nil, &out)
}

// GetFlag returns one flag with its overrides.
func (c *Client) GetFlag(ctx context.Context, key string) (catalog.Flag, error) {
	var f catalog.Flag
	return f, c.do(ctx, http.MethodGet, flagPath(key), nil, &f)
}

// CreateFlag creates a flag.
func (c *Client) CreateFlag(ctx context.Context, p catalog.FlagParams) (catalog.Flag, error) {
	var f catalog.Flag
	return f, c.do(ctx, http.MethodPost, "/api/v1/flags", p, &f)
}

// UpdateFlag changes flag p.Key: nil fields stay as they are, an empty
// MinPlan removes the plan gate.
func (c *Client) UpdateFlag(ctx context.Context, p catalog.FlagParams) (catalog.Flag, error) {
	// The path names the flag; the body holds the rest.
	body := struct {
		Description *string `json:"description,omitempty"`
		KillSwitch  *bool   `json:"kill_switch,omitempty"`
		Default     *bool   `json:"default,omitempty"`
		Rollout     *int    `json:"rollout,omitempty"`
		MinPlan     *string `json:"min_plan,omitempty"`
		Seed        *string `json:"seed,omitempty"`
	}{p.Description, p.KillSwitch, p.Default, p.Rollout, p.MinPlan, p.Seed}
	var f catalog.Flag
	return f, c.do(ctx, http.MethodPatch, flagPath(p.Key), body, &f)
}

// DeleteFlag deletes a flag and its overrides.
func (c *Client) DeleteFlag(ctx context.Context, key string) error {
	return c.do(ctx, http.MethodDelete, flagPath(key), nil, nil)
}

// SetFlagOverride gives tenant ref its own value of a flag; nil removes
// the override.
func (c *Client) SetFlagOverride(ctx context.Context, key, ref string, value *bool) (catalog.Flag, error) {
	path := flagPath(key) + "/overrides/" + url.PathEscape(ref)
	var f catalog.Flag
	if value == nil {
		return f, c.do(ctx, http.MethodDelete, path, nil, &f)
	}
	return f, c.do(ctx, http.MethodPut, path, map[string]bool{"value": *value}, &f)
}

// FlagAudit returns the audit log of a flag, oldest first.
func (c *Client) FlagAudit(ctx context.Context, key string) ([]adminapi.AuditEntry, error) {
	var out struct {
		Audit []adminapi.AuditEntry `json:"audit"`
	}
	return out.Audit, c.do(ctx, http.MethodGet, flagPath(key)+"/audit", nil, &out)
}

func flagPath(key string) string { return "/api/v1/flags/" + url.PathEscape(key) }

// EvaluateTenant returns every flag's value for a tenant and why.
func (c *Client) EvaluateTenant(ctx context.Context, ref string) (adminapi.TenantFlags, error) {
	var out adminapi.TenantFlags
	return out, c.do(ctx, http.MethodGet, tenantPath(ref)+"/flags", nil, &out)
}

// EvaluateFlag returns a flag's value for every live tenant and why.
func (c *Client) EvaluateFlag(ctx context.Context, key string) (adminapi.FlagEvaluations, error) {
	var out adminapi.FlagEvaluations
	return out, c.do(ctx, http.MethodGet, flagPath(key)+"/evaluations", nil, &out)
}
