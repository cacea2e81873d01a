package tenantkit

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"

	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/flags"
	"github.com/tenantkit/tenantkit/internal/meter"
	"github.com/tenantkit/tenantkit/internal/ratelimit"
	"github.com/tenantkit/tenantkit/internal/scope"
	"github.com/tenantkit/tenantkit/internal/settings"
)

// Settings are a tenant's settings with the platform schema's defaults
// filled in: read them with Lookup, String or Decode. They are shared
// between requests and never change: a write makes a new value.
type Settings = settings.Values

// FlagEvaluation is a flag's value for a tenant and why: the reason is
// override, kill_switch, plan_gate, rollout, default or flag_not_found.
type FlagEvaluation = flags.Evaluation

// FlagProvider is an OpenFeature provider of the Kit's flags (register
// it with openfeature.SetProviderAndWait). The evaluation context's
// targeting key is the tenant id; the plan is its "plan" attribute or
// else the tenant's, through the Kit's cache.
type FlagProvider = flags.Provider

// tenantExtra is what the Kit derives from a tenant context once, when it
// loads it, so that requests read it from memory.
type tenantExtra struct {
	settings *settings.Values
	// rateKey is the tenant id as text, the rate limiter's key.
	rateKey string
	// rate is the tenant's request rate, from its api_rps and api_burst
	// limits; limited is false when it has none.
	rate    ratelimit.Limit
	limited bool
	// entry is the tenant's usage counters (nil with observability off);
	// traceAttrs its attributes on spans.
	entry      *meter.Entry
	traceAttrs []attribute.KeyValue
	// lastSeries is the tenant's last request series.
	lastSeries atomic.Pointer[cachedSeries]
	// target is where the tenant's scoped work runs (zero without a
	// placement).
	target scope.Target
}

// source is the catalog as the Kit's cache sees it: each context loaded
// gets its extra.
type source struct {
	*catalog.Store
	k *Kit
}

func (s source) LoadContext(ctx context.Context, id uuid.UUID) (*catalog.TenantContext, error) {
	tc, err := s.Store.LoadContext(ctx, id)
	if err != nil {
		return nil, err
	}
	x, err := s.k.extraOf(tc)
	if err != nil {
		return nil, err
	}
	tc.Extra = x
	return tc, nil
}

func (k *Kit) extraOf(tc *catalog.TenantContext) (*tenantExtra, error) {
	stored := []byte(tc.StoredSettings)
	if len(stored) == 0 {
		stored = []byte("{}")
	}
	doc := stored
	if k.schema != nil {
		filled, err := k.schema.WithDefaults(stored)
		if err != nil {
			return nil, fmt.Errorf("tenantkit: settings of %s: %w", tc.Slug, err)
		}
		doc = filled
	}
	vals, err := settings.NewValues(doc)
	if err != nil {
		return nil, fmt.Errorf("tenantkit: settings of %s: %w", tc.Slug, err)
	}
	x := &tenantExtra{settings: vals, rateKey: tc.ID.String(), target: targetOf(tc)}
	k.observed(x, tc)
	if rps, ok := tc.Limits[catalog.LimitAPIRPS]; ok && rps > 0 {
		burst, ok := tc.Limits[catalog.LimitAPIBurst]
		if !ok || burst < 1 {
			burst = rps
		}
		x.rate, x.limited = ratelimit.Limit{Rate: float64(rps), Burst: int(burst)}, true
	}
	return x, nil
}

// extra returns what the Kit derived from t; contexts made by hand (tests,
// jobs) get theirs derived now.
func (k *Kit) extra(t *Tenant) *tenantExtra {
	if x, ok := t.Extra.(*tenantExtra); ok {
		return x
	}
	x, err := k.extraOf(t)
	if err != nil {
		vals, _ := settings.NewValues([]byte("{}"))
		x = &tenantExtra{settings: vals, rateKey: t.ID.String(), target: targetOf(t)}
		k.observed(x, t)
	}
	return x
}

// Settings returns the settings of the tenant of ctx, with the schema's
// defaults filled in, from its cached context: no query. A setting added
// to the schema reaches every tenant with its default, with no data
// migration.
func (k *Kit) Settings(ctx context.Context) (*Settings, error) {
	t, ok := FromContext(ctx)
	if !ok {
		return nil, ErrNoTenant
	}
	return k.extra(t).settings, nil
}

// Flag reports whether flag key is on for the tenant of ctx. It reads the
// in-process snapshot, which Start loads and keeps current through the
// invalidation bus: no query, no network call. Without a tenant, for an
// unknown flag, or before Start has loaded the flags, it is off.
func (k *Kit) Flag(ctx context.Context, key string) bool {
	t, ok := FromContext(ctx)
	if !ok {
		return false
	}
	return k.flags.Evaluate(key, t.ID, t.Plan).Value
}

// EvaluateFlag returns flag key's value for the tenant of ctx and the
// reason for it.
func (k *Kit) EvaluateFlag(ctx context.Context, key string) FlagEvaluation {
	t, ok := FromContext(ctx)
	if !ok {
		return FlagEvaluation{Key: key, Reason: flags.ReasonError}
	}
	return k.flags.Evaluate(key, t.ID, t.Plan)
}

// Flags returns every flag's value for the tenant of ctx, by key.
func (k *Kit) Flags(ctx context.Context) []FlagEvaluation {
	t, ok := FromContext(ctx)
	if !ok {
		return nil
	}
	return k.flags.Snapshot().EvaluateAll(t.ID, t.Plan)
}

// FlagProvider returns an OpenFeature provider evaluating the Kit's flags.
func (k *Kit) FlagProvider() *FlagProvider { return k.provider }

// loadFlags builds a flag snapshot from the catalog.
func (k *Kit) loadFlags(ctx context.Context) (*flags.Snapshot, error) {
	set, err := k.store.LoadFlags(ctx)
	if err != nil {
		return nil, err
	}
	return set.Snapshot()
}
