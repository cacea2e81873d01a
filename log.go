package tenantkit

import (
	"context"
	"log/slog"
)

// The attributes tenantkit's log lines name a request's tenant with.
const (
	logTenantID   = "tenant_id"
	logTenantSlug = "tenant_slug"
	logTenantTier = "tenant_tier"
)

// LogHandler wraps h so that every record logged with a context that
// carries a tenant (the request context behind Middleware, say) names the
// tenant's id, slug and tier: the application's own log lines then carry
// the tenant too. Records that name the tenant already are left alone.
func LogHandler(h slog.Handler) slog.Handler { return tenantLogHandler{h} }

type tenantLogHandler struct{ slog.Handler }

func (h tenantLogHandler) Handle(ctx context.Context, r slog.Record) error {
	if t, ok := FromContext(ctx); ok && !names(r, logTenantID) {
		r = r.Clone()
		r.AddAttrs(slog.String(logTenantID, t.ID.String()), slog.String(logTenantSlug, t.Slug),
			slog.String(logTenantTier, tierNames[tierOf(t)]))
	}
	return h.Handler.Handle(ctx, r)
}

func (h tenantLogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return tenantLogHandler{h.Handler.WithAttrs(as)}
}

func (h tenantLogHandler) WithGroup(name string) slog.Handler {
	return tenantLogHandler{h.Handler.WithGroup(name)}
}

// names reports whether r has an attribute called key.
func names(r slog.Record, key string) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		found = a.Key == key
		return !found
	})
	return found
}
