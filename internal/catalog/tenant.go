package catalog

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/tenantkit/tenantkit/internal/catalog/catalogdb"
)

// Tenant statuses.
const (
	StatusActive    = "active"
	StatusSuspended = "suspended"
	StatusDeleted   = "deleted"
)

// Tenant is a tenant's catalog record.
type Tenant struct {
	ID               uuid.UUID  `json:"id"`
	Slug             string     `json:"slug"`
	Name             string     `json:"name"`
	Status           string     `json:"status"`
	SuspensionReason string     `json:"suspension_reason,omitempty"`
	Plan             string     `json:"plan"`
	CreatedAt        time.Time  `json:"created_at"`
	UpdatedAt        time.Time  `json:"updated_at"`
	DeletedAt        *time.Time `json:"deleted_at,omitempty"`
}

// Branding is how a tenant's product looks to its users: the fields of
// internal/branding's Branding (validated and stored in canonical form,
// custom CSS sanitized) and who its mail comes from.
type Branding struct {
	DisplayName    string `json:"display_name,omitempty"`
	LogoURL        string `json:"logo_url,omitempty"`
	FaviconURL     string `json:"favicon_url,omitempty"`
	PrimaryColor   string `json:"primary_color,omitempty"`
	SecondaryColor string `json:"secondary_color,omitempty"`
	AccentColor    string `json:"accent_color,omitempty"`
	FontFamily     string `json:"font_family,omitempty"`
	CustomCSS      string `json:"custom_css,omitempty"`
	SupportEmail   string `json:"support_email,omitempty"`
	// FromName and FromEmail are who the tenant's mail comes from; the
	// address is used only on a verified domain of the tenant, or when it
	// is the platform's own sender.
	FromName   string `json:"from_name,omitempty"`
	FromEmail  string `json:"from_email,omitempty"`
	SupportURL string `json:"support_url,omitempty"`
	TermsURL   string `json:"terms_url,omitempty"`
	PrivacyURL string `json:"privacy_url,omitempty"`
	// Version counts the writes of the branding (1 after the first; 0
	// when never written): its ETag.
	Version int64 `json:"version,omitempty"`
}

// TenantContext is everything a request needs about its tenant, loaded in
// one catalog round trip and cached by the data plane.
type TenantContext struct {
	Tenant
	PlanDisplayName string           `json:"plan_display_name"`
	PlanRank        int              `json:"plan_rank"`
	Features        map[string]bool  `json:"features"`
	Limits          map[string]int64 `json:"limits"`
	Branding        Branding         `json:"branding"`
	// Placement is where the tenant's data lives; nil until it is placed.
	Placement *Placement `json:"placement,omitempty"`
	// StoredSettings are the tenant's settings as stored, without the
	// schema's defaults, and their version (0: never written).
	StoredSettings  json.RawMessage `json:"stored_settings,omitempty"`
	SettingsVersion int64           `json:"settings_version"`
	// PastDue is set while an invoice of the tenant's is unpaid: the
	// application may show a banner; past GraceUntil billing suspends it.
	PastDue *PastDue `json:"past_due,omitempty"`
	// Extra is attached by the data plane when it loads the context (the
	// settings with defaults, say). Defaults to nil.
	Extra any `json:"-"`
}

// Tiers of isolation.
const (
	TierShared    = "shared"
	TierSchema    = "schema"
	TierDedicated = "dedicated"
)

// Placement states.
const (
	PlacementProvisioning   = "provisioning"
	PlacementReady          = "ready"
	PlacementDeprovisioning = "deprovisioning"
)

// Placement is where a tenant's data lives: tier, cluster, database and
// schema, with an epoch bumped at every move.
type Placement struct {
	Tier     string `json:"tier"`
	Cluster  string `json:"cluster"`
	Database string `json:"database"`
	Schema   string `json:"schema"`
	Epoch    int64  `json:"epoch"`
	State    string `json:"state"`
	// Adopted marks a dedicated database the operator gave: tenantkit
	// never drops it.
	Adopted bool `json:"adopted,omitempty"`
}

// Feature reports whether feature is on for the tenant.
func (c *TenantContext) Feature(name string) bool { return c.Features[name] }

// Limit returns the tenant's limit called name and whether it is set.
func (c *TenantContext) Limit(name string) (int64, bool) {
	v, ok := c.Limits[name]
	return v, ok
}

func fromRow(r catalogdb.TenantkitTenant) Tenant {
	return Tenant{
		ID: r.ID, Slug: r.Slug, Name: r.Name, Status: r.Status, SuspensionReason: r.SuspensionReason,
		Plan: r.Plan, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, DeletedAt: r.DeletedAt,
	}
}

// PastDue is a tenant's unpaid invoice, from billing's dunning.
type PastDue struct {
	Since      time.Time `json:"past_due_since"`
	GraceUntil time.Time `json:"grace_until"`
}
