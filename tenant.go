package tenantkit

import (
	"context"

	"github.com/tenantkit/tenantkit/internal/catalog"
)

// Tenant is the tenant context of a request: the tenant's record (ID, Slug,
// Name, Status, Plan, …) with its plan's display name, its features and
// limits (plan defaults merged with the tenant's overrides) and branding.
// It is shared between requests: treat it as read-only.
type Tenant = catalog.TenantContext

// TenantRecord is a tenant's catalog record, embedded in Tenant.
type TenantRecord = catalog.Tenant

// Branding is how a tenant's product looks to its users.
type Branding = catalog.Branding

// Tenant statuses.
const (
	StatusActive    = catalog.StatusActive
	StatusSuspended = catalog.StatusSuspended
	StatusDeleted   = catalog.StatusDeleted
)

type ctxKey struct{}

// FromContext returns the tenant of a request, set by Kit.Middleware (or by
// WithTenant in jobs and tests).
func FromContext(ctx context.Context) (*Tenant, bool) {
	t, ok := ctx.Value(ctxKey{}).(*Tenant)
	return t, ok && t != nil
}

// WithTenant returns a context carrying t, for work outside an HTTP request
// such as background jobs.
func WithTenant(ctx context.Context, t *Tenant) context.Context {
	return context.WithValue(ctx, ctxKey{}, t)
}
