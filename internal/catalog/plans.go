package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantkit/tenantkit/internal/bus"
	"github.com/tenantkit/tenantkit/internal/catalog/catalogdb"
)

// Well-known limits. Plans may carry any others; an absent limit means
// unlimited.
const (
	LimitMaxUsers        = "max_users"
	LimitStorageMB       = "storage_mb"
	LimitAPIRPS          = "api_rps"
	LimitAPIBurst        = "api_burst"
	LimitConcurrentTx    = "max_concurrent_tx"
	usagePrefixForLimits = "max_"
)

// Errors of plans.
var (
	ErrPlanNotFound = errors.New("catalog: plan not found")
	ErrPlanExists   = errors.New("catalog: plan already exists")
	ErrPlanInUse    = errors.New("catalog: plan has tenants")
)

// Plan is a plan with its features and limits.
type Plan struct {
	Name        string           `json:"name"`
	DisplayName string           `json:"display_name"`
	Description string           `json:"description,omitempty"`
	Rank        int              `json:"rank"`
	DefaultTier string           `json:"default_tier"`
	Features    []string         `json:"features"`
	Limits      map[string]int64 `json:"limits"`
	// Billing is the plan's Stripe prices; nil when it bills nothing.
	Billing   *PlanBilling `json:"billing,omitempty"`
	CreatedAt time.Time    `json:"created_at"`
	UpdatedAt time.Time    `json:"updated_at"`
}

// PlanParams are the fields of a plan. On update, nil leaves a field as
// it is; Features and Limits, when given, replace the plan's whole set.
type PlanParams struct {
	Name        string            `json:"name"`
	DisplayName *string           `json:"display_name,omitempty"`
	Description *string           `json:"description,omitempty"`
	Rank        *int              `json:"rank,omitempty"`
	DefaultTier *string           `json:"default_tier,omitempty"`
	Features    *[]string         `json:"features,omitempty"`
	Limits      *map[string]int64 `json:"limits,omitempty"`
	// Billing, when given, replaces the plan's prices; an empty one
	// removes them.
	Billing *PlanBilling `json:"billing,omitempty"`
}

// Violation is one limit a tenant's current usage exceeds.
type Violation struct {
	Limit   string `json:"limit"`
	Usage   string `json:"usage"`
	Current int64  `json:"current"`
	Allowed int64  `json:"allowed"`
}

func (v Violation) String() string {
	return fmt.Sprintf("%s is %d but %s allows %d", v.Usage, v.Current, v.Limit, v.Allowed)
}

// LimitExceededError refuses a change of plan or limits that the tenant's
// current usage violates. Force the change to apply it anyway.
type LimitExceededError struct {
	Tenant     string      `json:"tenant"`
	Plan       string      `json:"plan"`
	Violations []Violation `json:"violations"`
	// Overrides is set when the tenant's own limits changed, not its plan.
	Overrides bool `json:"overrides,omitempty"`
}

func (e *LimitExceededError) Error() string {
	return "catalog: " + e.Detail() + " (force to apply anyway)"
}

// Detail says which usage exceeds which limit, for people.
func (e *LimitExceededError) Detail() string {
	parts := make([]string, len(e.Violations))
	for i, v := range e.Violations {
		parts[i] = v.String()
	}
	what := "plan " + e.Plan
	if e.Overrides {
		what = "the new limits"
	}
	return fmt.Sprintf("%s's usage exceeds %s: %s", e.Tenant, what, strings.Join(parts, "; "))
}

// UsageOf names the usage a limit bounds: max_X bounds X, any other limit
// the usage of its own name.
func UsageOf(limit string) string {
	if u, ok := strings.CutPrefix(limit, usagePrefixForLimits); ok && u != "" {
		return u
	}
	return limit
}

var limitName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

// ValidateLimitName returns "" when name can name a limit or usage.
func ValidateLimitName(name string) string {
	if !limitName.MatchString(name) {
		return "must be 1-63 lowercase letters, digits or underscores, starting with a letter"
	}
	return ""
}

// ValidateFeatureName returns "" when name can name a feature.
func ValidateFeatureName(name string) string {
	if !flagKey.MatchString(name) {
		return "must be 1-100 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit"
	}
	return ""
}

// ListPlans returns every plan with its features and limits, by rank.
func (s *Store) ListPlans(ctx context.Context) ([]Plan, error) {
	return listPlans(ctx, s.q)
}

func listPlans(ctx context.Context, q *catalogdb.Queries) ([]Plan, error) {
	rows, err := q.ListPlans(ctx)
	if err != nil {
		return nil, fmt.Errorf("catalog: list plans: %w", err)
	}
	feats, err := q.PlanFeatures(ctx)
	if err != nil {
		return nil, err
	}
	lims, err := q.PlanLimits(ctx)
	if err != nil {
		return nil, err
	}
	plans := make([]Plan, len(rows))
	byName := map[string]*Plan{}
	for i, r := range rows {
		plans[i] = planFromRow(r)
		byName[r.Name] = &plans[i]
	}
	for _, f := range feats {
		if p := byName[f.Plan]; p != nil {
			p.Features = append(p.Features, f.Feature)
		}
	}
	for _, l := range lims {
		if p := byName[l.Plan]; p != nil {
			p.Limits[l.Name] = l.Value
		}
	}
	bills, err := q.PlanBillings(ctx)
	if err != nil {
		return nil, err
	}
	for _, b := range bills {
		if p := byName[b.Plan]; p != nil {
			p.Billing = &PlanBilling{}
			if err := json.Unmarshal(b.Billing, p.Billing); err != nil {
				return nil, fmt.Errorf("catalog: plan %s's billing: %w", b.Plan, err)
			}
		}
	}
	return plans, nil
}

func planFromRow(r catalogdb.TenantkitPlan) Plan {
	return Plan{
		Name: r.Name, DisplayName: r.DisplayName, Description: r.Description, Rank: int(r.Rank),
		DefaultTier: r.DefaultTier, Features: []string{}, Limits: map[string]int64{},
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}
}

// GetPlan returns one plan.
func (s *Store) GetPlan(ctx context.Context, name string) (Plan, error) {
	return getPlan(ctx, s.q, name)
}

func getPlan(ctx context.Context, q *catalogdb.Queries, name string) (Plan, error) {
	plans, err := listPlans(ctx, q)
	if err != nil {
		return Plan{}, err
	}
	for _, p := range plans {
		if p.Name == name {
			return p, nil
		}
	}
	return Plan{}, fmt.Errorf("%w: %q", ErrPlanNotFound, name)
}

var planName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

func validatePlanParams(v *ValidationError, p PlanParams, create bool) {
	if create && !planName.MatchString(p.Name) {
		v.add("name", "must be 1-63 lowercase letters, digits, '_' or '-', starting with a letter or digit")
	}
	if create && p.DisplayName == nil {
		v.add("display_name", "is required")
	}
	if p.DisplayName != nil {
		if n := len(strings.TrimSpace(*p.DisplayName)); n == 0 || n > 100 {
			v.add("display_name", "must be 1-100 characters")
		}
	}
	if p.Description != nil && len(*p.Description) > 500 {
		v.add("description", "must be at most 500 characters")
	}
	if p.Rank != nil && (*p.Rank < 0 || *p.Rank > 1_000_000) {
		v.add("rank", "must be between 0 and 1000000")
	}
	if p.DefaultTier != nil && !validTier(*p.DefaultTier) {
		v.add("default_tier", "must be shared, schema or dedicated")
	}
	if p.Features != nil {
		for _, f := range *p.Features {
			if msg := ValidateFeatureName(f); msg != "" {
				v.add("features", fmt.Sprintf("%q %s", f, msg))
			}
		}
	}
	if p.Limits != nil {
		validateLimits(v, "limits", *p.Limits)
	}
	if p.Billing != nil {
		validatePlanBilling(v, *p.Billing)
	}
}

// checkPlanParams validates p, and checks its prices with the store's
// PlanCheck (Stripe's answer) when it has one.
func (s *Store) checkPlanParams(ctx context.Context, p PlanParams, create bool) error {
	v := &ValidationError{}
	validatePlanParams(v, p, create)
	if err := v.orNil(); err != nil {
		return err
	}
	if p.Billing != nil && s.planCheck != nil && !p.Billing.Empty() {
		return s.planCheck(ctx, p.Billing.normalized())
	}
	return nil
}

func validateLimits(v *ValidationError, field string, limits map[string]int64) {
	for _, name := range sortedKeys(limits) {
		if msg := ValidateLimitName(name); msg != "" {
			v.add(field+"."+name, msg)
		}
		if limits[name] < 0 {
			v.add(field+"."+name, "must not be negative")
		}
	}
}

func validTier(t string) bool { return t == TierShared || t == TierSchema || t == TierDedicated }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// CreatePlan creates a plan.
func (s *Store) CreatePlan(ctx context.Context, actor string, p PlanParams) (Plan, error) {
	if err := s.checkPlanParams(ctx, p, true); err != nil {
		return Plan{}, err
	}
	var out Plan
	err := s.write(ctx, func(q *catalogdb.Queries) (bus.Message, error) {
		row, err := q.CreatePlan(ctx, catalogdb.CreatePlanParams{
			Name: p.Name, DisplayName: strings.TrimSpace(*p.DisplayName), DefaultTier: deref(p.DefaultTier, TierShared),
			Rank: int32(deref(p.Rank, 0)), Description: deref(p.Description, ""),
		})
		if isUnique(err) {
			return bus.Message{}, fmt.Errorf("%w: %q", ErrPlanExists, p.Name)
		}
		if err != nil {
			return bus.Message{}, err
		}
		if err := replacePlanSets(ctx, q, row.Name, p); err != nil {
			return bus.Message{}, err
		}
		if out, err = getPlan(ctx, q, row.Name); err != nil {
			return bus.Message{}, err
		}
		return bus.Message{All: true, Flags: true}, auditTarget(ctx, q, actor, "plan.create", "plan", p.Name, nil, out)
	})
	return out, err
}

// UpdatePlan changes a plan. Every tenant on it sees the change on its
// next request. It does not check tenants' usage against lowered limits.
func (s *Store) UpdatePlan(ctx context.Context, actor string, p PlanParams) (Plan, error) {
	if err := s.checkPlanParams(ctx, p, false); err != nil {
		return Plan{}, err
	}
	var out Plan
	err := s.write(ctx, func(q *catalogdb.Queries) (bus.Message, error) {
		row, err := q.GetPlanForUpdate(ctx, p.Name)
		if errors.Is(err, pgx.ErrNoRows) {
			return bus.Message{}, fmt.Errorf("%w: %q", ErrPlanNotFound, p.Name)
		}
		if err != nil {
			return bus.Message{}, err
		}
		before, err := getPlan(ctx, q, p.Name)
		if err != nil {
			return bus.Message{}, err
		}
		if _, err := q.UpdatePlan(ctx, catalogdb.UpdatePlanParams{
			Name: p.Name, DisplayName: strings.TrimSpace(deref(p.DisplayName, row.DisplayName)),
			DefaultTier: deref(p.DefaultTier, row.DefaultTier), Rank: int32(deref(p.Rank, int(row.Rank))),
			Description: deref(p.Description, row.Description),
		}); err != nil {
			return bus.Message{}, err
		}
		if err := replacePlanSets(ctx, q, p.Name, p); err != nil {
			return bus.Message{}, err
		}
		if out, err = getPlan(ctx, q, p.Name); err != nil {
			return bus.Message{}, err
		}
		return bus.Message{All: true, Flags: true}, auditTarget(ctx, q, actor, "plan.update", "plan", p.Name, before, out)
	})
	return out, err
}

func replacePlanSets(ctx context.Context, q *catalogdb.Queries, plan string, p PlanParams) error {
	if err := setPlanBilling(ctx, q, plan, p.Billing); err != nil {
		return err
	}
	if p.Features != nil {
		if err := q.DeletePlanFeatures(ctx, plan); err != nil {
			return err
		}
		for _, f := range *p.Features {
			if err := q.SetPlanFeature(ctx, catalogdb.SetPlanFeatureParams{Plan: plan, Feature: f}); err != nil {
				return err
			}
		}
	}
	if p.Limits != nil {
		if err := q.DeletePlanLimits(ctx, plan); err != nil {
			return err
		}
		for name, val := range *p.Limits {
			if err := q.SetPlanLimit(ctx, catalogdb.SetPlanLimitParams{Plan: plan, Name: name, Value: val}); err != nil {
				return err
			}
		}
	}
	return nil
}

func tenantsOn(n int64, plan string) string {
	if n == 1 {
		return fmt.Sprintf("1 tenant is on %q", plan)
	}
	return fmt.Sprintf("%d tenants are on %q", n, plan)
}

// DeletePlan deletes a plan no live tenant is on.
func (s *Store) DeletePlan(ctx context.Context, actor, name string) error {
	return s.write(ctx, func(q *catalogdb.Queries) (bus.Message, error) {
		before, err := getPlan(ctx, q, name)
		if err != nil {
			return bus.Message{}, err
		}
		if _, err := q.GetPlanForUpdate(ctx, name); err != nil {
			return bus.Message{}, err
		}
		n, err := q.PlanTenantCount(ctx, name)
		if err != nil {
			return bus.Message{}, err
		}
		if n > 0 {
			return bus.Message{}, fmt.Errorf("%w: %s", ErrPlanInUse, tenantsOn(n, name))
		}
		if err := q.DeletePlan(ctx, name); err != nil {
			if isForeignKey(err) {
				return bus.Message{}, fmt.Errorf("%w: deleted tenants or flags still name %q", ErrPlanInUse, name)
			}
			return bus.Message{}, err
		}
		return bus.Message{All: true, Flags: true}, auditTarget(ctx, q, actor, "plan.delete", "plan", name, before, nil)
	})
}

// SetPlanParams change a tenant's plan.
type SetPlanParams struct {
	Plan string `json:"plan"`
	// Force applies a change the tenant's usage violates.
	Force bool `json:"force,omitempty"`
}

// SetTenantPlan moves a tenant to another plan: its features and limits
// change with it in one transaction, and every cache drops the tenant. A
// change whose limits the tenant's current usage exceeds is refused with
// a *LimitExceededError unless forced.
func (s *Store) SetTenantPlan(ctx context.Context, actor, ref string, p SetPlanParams) (Tenant, error) {
	return s.setTenantPlan(ctx, actor, ref, p, true)
}

// setTenantPlan is SetTenantPlan; bill says the change goes to the billing
// outbox (not when it came from Stripe).
func (s *Store) setTenantPlan(ctx context.Context, actor, ref string, p SetPlanParams, bill bool) (Tenant, error) {
	var t Tenant
	err := s.write(ctx, func(q *catalogdb.Queries) (bus.Message, error) {
		before, err := s.getLive(ctx, q, ref)
		if err != nil {
			return bus.Message{}, err
		}
		v := &ValidationError{}
		if err := s.checkPlan(ctx, q, v, p.Plan); err != nil {
			return bus.Message{}, err
		}
		if err := v.orNil(); err != nil {
			return bus.Message{}, err
		}
		if before.Plan == p.Plan {
			t = before
			return bus.Message{}, nil
		}
		if !p.Force {
			if err := checkUsage(ctx, q, before, p.Plan); err != nil {
				return bus.Message{}, err
			}
		}
		row, err := q.UpdateTenant(ctx, catalogdb.UpdateTenantParams{ID: before.ID, Name: before.Name, Plan: p.Plan})
		if err != nil {
			return bus.Message{}, err
		}
		t = fromRow(row)
		if bill {
			if err := billPlanChanged(ctx, q, t, before.Plan); err != nil {
				return bus.Message{}, err
			}
		}
		return tenantMessage(t, ""), audit(ctx, q, actor, "tenant.set_plan", t.ID,
			map[string]any{"plan": before.Plan}, map[string]any{"plan": t.Plan, "forced": p.Force})
	})
	return t, err
}

// checkUsage refuses plan for t when t's current usage exceeds a limit
// it would have there (overrides included).
func checkUsage(ctx context.Context, q *catalogdb.Queries, t Tenant, plan string) error {
	limits, err := q.EffectiveLimits(ctx, catalogdb.EffectiveLimitsParams{Plan: plan, TenantID: t.ID})
	if err != nil {
		return err
	}
	usage, err := q.TenantUsage(ctx, t.ID)
	if err != nil {
		return err
	}
	current := map[string]int64{}
	for _, u := range usage {
		current[u.Name] = u.Value
	}
	e := &LimitExceededError{Tenant: t.Slug, Plan: plan}
	for _, l := range limits {
		u := UsageOf(l.Name)
		if c, ok := current[u]; ok && c > l.Value {
			e.Violations = append(e.Violations, Violation{Limit: l.Name, Usage: u, Current: c, Allowed: l.Value})
		}
	}
	if len(e.Violations) > 0 {
		return e
	}
	return nil
}

// Overrides are a tenant's own limits and features, over its plan's.
type Overrides struct {
	Limits   map[string]int64 `json:"limits"`
	Features map[string]bool  `json:"features"`
}

// TenantOverrides returns a tenant's overrides.
func (s *Store) TenantOverrides(ctx context.Context, ref string) (Overrides, error) {
	t, err := s.GetTenant(ctx, ref)
	if err != nil {
		return Overrides{}, err
	}
	o := Overrides{Limits: map[string]int64{}, Features: map[string]bool{}}
	ls, err := s.q.TenantLimitOverrides(ctx, t.ID)
	if err != nil {
		return o, err
	}
	for _, l := range ls {
		o.Limits[l.Name] = l.Value
	}
	fs, err := s.q.TenantFeatureOverrides(ctx, t.ID)
	if err != nil {
		return o, err
	}
	for _, f := range fs {
		o.Features[f.Feature] = f.Enabled
	}
	return o, nil
}

// OverridePatch changes a tenant's overrides: a nil value removes the
// override (the plan's value applies again).
type OverridePatch struct {
	Limits   map[string]*int64 `json:"limits,omitempty"`
	Features map[string]*bool  `json:"features,omitempty"`
	// Force applies limits the tenant's usage already exceeds.
	Force bool `json:"force,omitempty"`
}

// PatchTenantOverrides applies p to a tenant's overrides in one
// transaction. Lowering a limit below current usage is refused unless
// forced.
func (s *Store) PatchTenantOverrides(ctx context.Context, actor, ref string, p OverridePatch) (Overrides, error) {
	v := &ValidationError{}
	for _, name := range sortedKeys(p.Limits) {
		if msg := ValidateLimitName(name); msg != "" {
			v.add("limits."+name, msg)
		} else if val := p.Limits[name]; val != nil && *val < 0 {
			v.add("limits."+name, "must not be negative")
		}
	}
	for _, name := range sortedKeys(p.Features) {
		if msg := ValidateFeatureName(name); msg != "" {
			v.add("features."+name, msg)
		}
	}
	if err := v.orNil(); err != nil {
		return Overrides{}, err
	}
	var t Tenant
	err := s.write(ctx, func(q *catalogdb.Queries) (bus.Message, error) {
		var err error
		if t, err = s.getLive(ctx, q, ref); err != nil {
			return bus.Message{}, err
		}
		for name, val := range p.Limits {
			if val == nil {
				_, err = q.UnsetTenantLimit(ctx, catalogdb.UnsetTenantLimitParams{TenantID: t.ID, Name: name})
			} else {
				err = q.SetTenantLimit(ctx, catalogdb.SetTenantLimitParams{TenantID: t.ID, Name: name, Value: *val})
			}
			if err != nil {
				return bus.Message{}, err
			}
		}
		for name, val := range p.Features {
			if val == nil {
				_, err = q.UnsetTenantFeature(ctx, catalogdb.UnsetTenantFeatureParams{TenantID: t.ID, Feature: name})
			} else {
				err = q.SetTenantFeature(ctx, catalogdb.SetTenantFeatureParams{TenantID: t.ID, Feature: name, Enabled: *val})
			}
			if err != nil {
				return bus.Message{}, err
			}
		}
		if !p.Force && len(p.Limits) > 0 {
			if err := checkUsage(ctx, q, t, t.Plan); err != nil {
				var le *LimitExceededError
				if errors.As(err, &le) {
					le.Overrides = true
				}
				return bus.Message{}, err
			}
		}
		return tenantMessage(t, ""), audit(ctx, q, actor, "tenant.overrides", t.ID, nil, p)
	})
	if err != nil {
		return Overrides{}, err
	}
	return s.TenantOverrides(ctx, t.ID.String())
}

// Usage is a tenant's current usage of something a plan limits.
type Usage = catalogdb.TenantkitTenantUsage

// SetUsage records a tenant's current usage called name (users, say). It
// is what set-plan checks a downgrade against. It writes no audit record
// and drops no cache: usage is not part of the tenant context.
func (s *Store) SetUsage(ctx context.Context, ref, name string, value int64) error {
	v := &ValidationError{}
	if msg := ValidateLimitName(name); msg != "" {
		v.add("name", msg)
	}
	if value < 0 {
		v.add("value", "must not be negative")
	}
	if err := v.orNil(); err != nil {
		return err
	}
	t, err := s.GetTenant(ctx, ref)
	if err != nil {
		return err
	}
	// A change of the seat gauge of a billed plan is written to the
	// billing outbox in the same transaction; the same value again is not.
	return s.write(ctx, func(q *catalogdb.Queries) (bus.Message, error) {
		usage, err := q.TenantUsage(ctx, t.ID)
		if err != nil {
			return bus.Message{}, err
		}
		changed := true
		for _, u := range usage {
			if u.Name == name {
				changed = u.Value != value
			}
		}
		if err := q.SetUsage(ctx, catalogdb.SetUsageParams{TenantID: t.ID, Name: name, Value: value}); err != nil || !changed {
			return bus.Message{}, err
		}
		return bus.Message{}, billSeats(ctx, q, t, name, value)
	})
}

// TenantUsage lists a tenant's recorded usage.
func (s *Store) TenantUsage(ctx context.Context, ref string) ([]Usage, error) {
	t, err := s.GetTenant(ctx, ref)
	if err != nil {
		return nil, err
	}
	return s.q.TenantUsage(ctx, t.ID)
}

func deref[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}
