package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"time"
)

// Flag is a feature flag with its per-tenant overrides.
type Flag struct {
	Key         string `json:"key"`
	Description string `json:"description"`
	// KillSwitch turns the flag off for every tenant without an override.
	KillSwitch bool `json:"kill_switch"`
	// Default is the value when no rule decides.
	Default bool `json:"default"`
	// Rollout is the share of tenants that get the flag, in basis points
	// (0.01 % steps, 0 to 10000).
	Rollout int `json:"rollout"`
	// MinPlan, when set, gates the flag to tenants on that plan's rank or
	// higher.
	MinPlan string `json:"min_plan,omitempty"`
	// Seed, when set, is hashed instead of the key, so flags sharing a
	// seed pick the same cohort.
	Seed string `json:"seed,omitempty"`
	// Overrides are the tenants' own values, by tenant id.
	Overrides map[string]bool `json:"overrides"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// FlagParams are the fields of a flag. Key names it; on update, nil fields
// stay as they are and an empty MinPlan removes the plan gate.
type FlagParams struct {
	Key         string  `json:"key"`
	Description *string `json:"description,omitempty"`
	KillSwitch  *bool   `json:"kill_switch,omitempty"`
	Default     *bool   `json:"default,omitempty"`
	Rollout     *int    `json:"rollout,omitempty"`
	MinPlan     *string `json:"min_plan,omitempty"`
	Seed        *string `json:"seed,omitempty"`
}

// AuditEntry is one change in the audit log.
type AuditEntry struct {
	ID     int64     `json:"id"`
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"`
	// Before and After are the changed thing as JSON; null when it did
	// not exist.
	Before json.RawMessage `json:"before"`
	After  json.RawMessage `json:"after"`
}

// Evaluation is a flag's value for a tenant and the reason, with the
// tenant's rollout bucket for the flag (0 to 9999: a rollout of n basis
// points reaches the buckets below n).
type Evaluation struct {
	Flag     string `json:"flag"`
	TenantID string `json:"tenant_id"`
	// Tenant is the tenant's slug.
	Tenant string `json:"tenant"`
	Plan   string `json:"plan"`
	Bucket int    `json:"bucket"`
	Value  bool   `json:"value"`
	// Reason names the rule that decided, override, kill_switch,
	// plan_gate, rollout or default.
	Reason string `json:"reason"`
}

// TenantFlags are every flag's evaluation for one tenant, by key.
type TenantFlags struct {
	TenantID string       `json:"tenant_id"`
	Tenant   string       `json:"tenant"`
	Plan     string       `json:"plan"`
	Flags    []Evaluation `json:"flags"`
}

// FlagEvaluations are one flag's evaluations for every tenant that is not
// deleted, by slug.
type FlagEvaluations struct {
	Flag        string       `json:"flag"`
	Evaluations []Evaluation `json:"evaluations"`
}

func flagPath(key string) string { return "/api/v1/flags/" + url.PathEscape(key) }

// ListFlags returns every flag with its overrides, by key.
func (c *Client) ListFlags(ctx context.Context) ([]Flag, error) {
	var out struct {
		Flags []Flag `json:"flags"`
	}
	return out.Flags, c.call(ctx, http.MethodGet, "/api/v1/flags", nil, nil, &out)
}

// GetFlag returns a flag by key.
func (c *Client) GetFlag(ctx context.Context, key string) (Flag, error) {
	var f Flag
	return f, c.call(ctx, http.MethodGet, flagPath(key), nil, nil, &f)
}

// CreateFlag creates a flag.
func (c *Client) CreateFlag(ctx context.Context, p FlagParams) (Flag, error) {
	var f Flag
	return f, c.call(ctx, http.MethodPost, "/api/v1/flags", nil, p, &f)
}

// UpdateFlag changes flag p.Key.
func (c *Client) UpdateFlag(ctx context.Context, p FlagParams) (Flag, error) {
	// The path names the flag; the body holds the rest.
	body := struct {
		Description *string `json:"description,omitempty"`
		KillSwitch  *bool   `json:"kill_switch,omitempty"`
		Default     *bool   `json:"default,omitempty"`
		Rollout     *int    `json:"rollout,omitempty"`
		MinPlan     *string `json:"min_plan,omitempty"`
		Seed        *string `json:"seed,omitempty"`
	}{p.Description, p.KillSwitch, p.Default, p.Rollout, p.MinPlan, p.Seed}
	var f Flag
	return f, c.call(ctx, http.MethodPatch, flagPath(p.Key), nil, body, &f)
}

// DeleteFlag deletes a flag and its overrides; its audit log stays.
func (c *Client) DeleteFlag(ctx context.Context, key string) error {
	return c.call(ctx, http.MethodDelete, flagPath(key), nil, nil, nil)
}

func overridePath(key, ref string) string { return flagPath(key) + "/overrides/" + url.PathEscape(ref) }

// SetFlagOverride gives a tenant its own value of a flag, whatever the
// flag's rules say.
func (c *Client) SetFlagOverride(ctx context.Context, key, ref string, value bool) (Flag, error) {
	body := struct {
		Value bool `json:"value"`
	}{value}
	var f Flag
	return f, c.call(ctx, http.MethodPut, overridePath(key, ref), nil, body, &f)
}

// ClearFlagOverride removes a tenant's own value of a flag: the flag's
// rules decide for it again.
func (c *Client) ClearFlagOverride(ctx context.Context, key, ref string) (Flag, error) {
	var f Flag
	return f, c.call(ctx, http.MethodDelete, overridePath(key, ref), nil, nil, &f)
}

// FlagAudit returns every change of a flag, oldest first; a deleted flag
// keeps its log.
func (c *Client) FlagAudit(ctx context.Context, key string) ([]AuditEntry, error) {
	var out struct {
		Audit []AuditEntry `json:"audit"`
	}
	return out.Audit, c.call(ctx, http.MethodGet, flagPath(key)+"/audit", nil, nil, &out)
}

// EvaluateFlag returns a flag's value for every tenant that is not
// deleted, and why, as the data plane would decide it now.
func (c *Client) EvaluateFlag(ctx context.Context, key string) (FlagEvaluations, error) {
	var out FlagEvaluations
	return out, c.call(ctx, http.MethodGet, flagPath(key)+"/evaluations", nil, nil, &out)
}

// EvaluateTenant returns every flag's value for a tenant, and why.
func (c *Client) EvaluateTenant(ctx context.Context, ref string) (TenantFlags, error) {
	var out TenantFlags
	return out, c.call(ctx, http.MethodGet, tenantPath(ref)+"/flags", nil, nil, &out)
}
