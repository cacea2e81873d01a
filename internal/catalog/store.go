package catalog

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantkit/tenantkit/internal/branding"
	"github.com/tenantkit/tenantkit/internal/bus"
	"github.com/tenantkit/tenantkit/internal/catalog/catalogdb"
)

// DefaultPlan is the plan of a tenant created without one.
const DefaultPlan = "free"

// StoreConfig configures a Store.
type StoreConfig struct {
	// Pool connects to the catalog database. Required.
	Pool *pgxpool.Pool
	// AfterCommitFunc is called with the invalidation message of every
	// committed write, for buses other than LISTEN/NOTIFY (the catalog's
	// triggers notify PostgreSQL listeners themselves). Defaults to nil.
	AfterCommitFunc func(context.Context, bus.Message)
	// PlanCheck, when set, checks the prices of a plan being created or
	// changed before anything is written (billing checks each with
	// Stripe); its error is returned as is, a *ValidationError naming the
	// fields for prices Stripe does not know. Defaults to nil: prices are
	// checked for form only.
	PlanCheck func(context.Context, PlanBilling) error
	// BrandingPolicy is what tenants' branding may hold: the platform's
	// asset host, where logos, favicons and url() in custom CSS must be.
	// Defaults to the zero Policy: no asset URL at all.
	BrandingPolicy branding.Policy
}

// Store reads and writes the catalog. Every write runs in one transaction
// together with its audit record: on any error nothing is written.
type Store struct {
	pool        *pgxpool.Pool
	q           *catalogdb.Queries
	afterCommit func(context.Context, bus.Message)
	planCheck   func(context.Context, PlanBilling) error
	brandPolicy branding.Policy
}

// NewStore returns a Store.
func NewStore(cfg StoreConfig) (*Store, error) {
	if cfg.Pool == nil {
		return nil, errors.New("catalog: StoreConfig.Pool is required")
	}
	return &Store{pool: cfg.Pool, q: catalogdb.New(cfg.Pool), afterCommit: cfg.AfterCommitFunc, planCheck: cfg.PlanCheck, brandPolicy: cfg.BrandingPolicy}, nil
}

// CreateParams are the fields of a new tenant.
type CreateParams struct {
	Slug string `json:"slug"`
	Name string `json:"name"`
	Plan string `json:"plan"`
}

// UpdateParams are the fields of a tenant that can change. Nil leaves a
// field as it is.
type UpdateParams struct {
	Name *string `json:"name"`
	Plan *string `json:"plan"`
	// Force applies a plan the tenant's current usage exceeds.
	Force bool `json:"force,omitempty"`
}

// ListParams selects a page of tenants ordered by slug.
type ListParams struct {
	// After is the slug the page starts after (the previous page's Next).
	After string
	// Limit is the page size, 1 to 500. Defaults to 50.
	Limit int
	// Status filters by status when not empty.
	Status string
}

// Page is one page of tenants. Next is empty on the last page.
type Page struct {
	Tenants []Tenant `json:"tenants"`
	Next    string   `json:"next,omitempty"`
}

// CreateTenant validates p and creates an active tenant.
func (s *Store) CreateTenant(ctx context.Context, actor string, p CreateParams) (Tenant, error) {
	if p.Plan == "" {
		p.Plan = DefaultPlan
	}
	p.Name = strings.TrimSpace(p.Name)
	v := &ValidationError{}
	if msg := ValidateSlug(p.Slug); msg != "" {
		v.add("slug", msg)
	}
	validateName(v, p.Name)
	var t Tenant
	err := s.write(ctx, func(q *catalogdb.Queries) (bus.Message, error) {
		if err := s.checkPlan(ctx, q, v, p.Plan); err != nil {
			return bus.Message{}, err
		}
		if err := v.orNil(); err != nil {
			return bus.Message{}, err
		}
		row, err := q.CreateTenant(ctx, catalogdb.CreateTenantParams{Slug: p.Slug, Name: p.Name, Plan: p.Plan})
		if isUnique(err) {
			return bus.Message{}, fmt.Errorf("%w: %q", ErrSlugTaken, p.Slug)
		}
		if err != nil {
			return bus.Message{}, err
		}
		t = fromRow(row)
		if err := billCreated(ctx, q, t); err != nil {
			return bus.Message{}, err
		}
		return tenantMessage(t, ""), audit(ctx, q, actor, "tenant.create", t.ID, nil, t)
	})
	return t, err
}

func (s *Store) checkPlan(ctx context.Context, q *catalogdb.Queries, v *ValidationError, plan string) error {
	ok, err := q.PlanExists(ctx, plan)
	if err != nil {
		return err
	}
	if !ok {
		v.add("plan", fmt.Sprintf("must be a known plan, not %q", plan))
	}
	return nil
}

// GetTenant returns the tenant named by ref, a uuid or a slug.
func (s *Store) GetTenant(ctx context.Context, ref string) (Tenant, error) {
	return s.get(ctx, s.q, ref, false)
}

func (s *Store) get(ctx context.Context, q *catalogdb.Queries, ref string, forUpdate bool) (Tenant, error) {
	var (
		row catalogdb.TenantkitTenant
		err error
	)
	id, parseErr := uuid.Parse(ref)
	switch {
	case parseErr != nil:
		row, err = q.GetTenantBySlug(ctx, ref)
		if err == nil && forUpdate {
			row, err = q.GetTenantByIDForUpdate(ctx, row.ID)
		}
	case forUpdate:
		row, err = q.GetTenantByIDForUpdate(ctx, id)
	default:
		row, err = q.GetTenantByID(ctx, id)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return Tenant{}, fmt.Errorf("%w: %q", ErrTenantNotFound, ref)
	}
	if err != nil {
		return Tenant{}, fmt.Errorf("catalog: get tenant %q: %w", ref, err)
	}
	return fromRow(row), nil
}

// getLive locks a tenant that is not deleted.
func (s *Store) getLive(ctx context.Context, q *catalogdb.Queries, ref string) (Tenant, error) {
	t, err := s.get(ctx, q, ref, true)
	if err == nil && t.Status == StatusDeleted {
		return t, fmt.Errorf("%w: %q", ErrTenantDeleted, ref)
	}
	return t, err
}

// ListTenants returns a page of tenants ordered by slug.
func (s *Store) ListTenants(ctx context.Context, p ListParams) (Page, error) {
	if p.Limit == 0 {
		p.Limit = 50
	}
	v := &ValidationError{}
	if p.Limit < 1 || p.Limit > 500 {
		v.add("limit", "must be a whole number between 1 and 500")
	}
	if p.Status != "" && p.Status != StatusActive && p.Status != StatusSuspended && p.Status != StatusDeleted {
		v.add("status", "must be active, suspended or deleted")
	}
	if err := v.orNil(); err != nil {
		return Page{}, err
	}
	rows, err := s.q.ListTenants(ctx, catalogdb.ListTenantsParams{After: p.After, Status: p.Status, Max: int32(p.Limit + 1)})
	if err != nil {
		return Page{}, fmt.Errorf("catalog: list tenants: %w", err)
	}
	page := Page{Tenants: make([]Tenant, 0, len(rows))}
	for i, r := range rows {
		if i == p.Limit {
			page.Next = page.Tenants[i-1].Slug
			break
		}
		page.Tenants = append(page.Tenants, fromRow(r))
	}
	return page, nil
}

// UpdateTenant changes a tenant's name or plan.
func (s *Store) UpdateTenant(ctx context.Context, actor, ref string, p UpdateParams) (Tenant, error) {
	var t Tenant
	err := s.write(ctx, func(q *catalogdb.Queries) (bus.Message, error) {
		before, err := s.get(ctx, q, ref, true)
		if err != nil {
			return bus.Message{}, err
		}
		if before.Status == StatusDeleted {
			return bus.Message{}, fmt.Errorf("%w: %q", ErrTenantDeleted, ref)
		}
		name, plan := before.Name, before.Plan
		v := &ValidationError{}
		if p.Name != nil {
			name = strings.TrimSpace(*p.Name)
			validateName(v, name)
		}
		if p.Plan != nil {
			plan = *p.Plan
			if err := s.checkPlan(ctx, q, v, plan); err != nil {
				return bus.Message{}, err
			}
		}
		if err := v.orNil(); err != nil {
			return bus.Message{}, err
		}
		if name == before.Name && plan == before.Plan {
			t = before // nothing changes: no write, no audit record
			return bus.Message{}, nil
		}
		if plan != before.Plan && !p.Force {
			if err := checkUsage(ctx, q, before, plan); err != nil {
				return bus.Message{}, err
			}
		}
		row, err := q.UpdateTenant(ctx, catalogdb.UpdateTenantParams{ID: before.ID, Name: name, Plan: plan})
		if err != nil {
			return bus.Message{}, err
		}
		t = fromRow(row)
		if plan != before.Plan {
			if err := billPlanChanged(ctx, q, t, before.Plan); err != nil {
				return bus.Message{}, err
			}
		}
		return tenantMessage(t, ""), audit(ctx, q, actor, "tenant.update", t.ID, before, t)
	})
	return t, err
}

// SuspendTenant suspends a tenant: its requests get 403 with reason.
func (s *Store) SuspendTenant(ctx context.Context, actor, ref, reason string) (Tenant, error) {
	reason = strings.TrimSpace(reason)
	v := &ValidationError{}
	switch n := utf8.RuneCountInString(reason); {
	case n == 0:
		v.add("reason", "is required")
	case n > 500:
		v.add("reason", "must be at most 500 characters")
	}
	if err := v.orNil(); err != nil {
		return Tenant{}, err
	}
	return s.setStatus(ctx, actor, ref, "tenant.suspend", StatusSuspended, reason)
}

// ResumeTenant makes a suspended tenant active again.
func (s *Store) ResumeTenant(ctx context.Context, actor, ref string) (Tenant, error) {
	return s.setStatus(ctx, actor, ref, "tenant.resume", StatusActive, "")
}

// DeleteTenant soft-deletes a tenant: it stays in the catalog, its requests
// get 404, and its slug stays taken.
func (s *Store) DeleteTenant(ctx context.Context, actor, ref string) (Tenant, error) {
	return s.setStatus(ctx, actor, ref, "tenant.delete", StatusDeleted, "")
}

func (s *Store) setStatus(ctx context.Context, actor, ref, action, status, reason string) (Tenant, error) {
	var t Tenant
	err := s.write(ctx, func(q *catalogdb.Queries) (bus.Message, error) {
		before, err := s.get(ctx, q, ref, true)
		if err != nil {
			return bus.Message{}, err
		}
		if before.Status == StatusDeleted {
			if status == StatusDeleted {
				t = before // deleting twice changes nothing
				return bus.Message{}, nil
			}
			return bus.Message{}, fmt.Errorf("%w: %q", ErrTenantDeleted, ref)
		}
		if before.Status == status && before.SuspensionReason == reason {
			t = before
			return bus.Message{}, nil
		}
		row, err := q.SetTenantStatus(ctx, catalogdb.SetTenantStatusParams{ID: before.ID, Status: status, SuspensionReason: reason})
		if err != nil {
			return bus.Message{}, err
		}
		t = fromRow(row)
		if status == StatusDeleted {
			if err := billDeleted(ctx, q, t); err != nil {
				return bus.Message{}, err
			}
		}
		return tenantMessage(t, ""), audit(ctx, q, actor, action, t.ID, before, t)
	})
	return t, err
}

// LoadContext loads the tenant context of tenant id in one round trip.
func (s *Store) LoadContext(ctx context.Context, id uuid.UUID) (*TenantContext, error) {
	row, err := s.q.LoadContextByID(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrTenantNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("catalog: load tenant context %s: %w", id, err)
	}
	tc := &TenantContext{
		Tenant: fromRow(row.TenantkitTenant), PlanDisplayName: row.PlanDisplayName, PlanRank: int(row.PlanRank),
		StoredSettings: row.Settings, SettingsVersion: row.SettingsVersion,
	}
	if err := json.Unmarshal(row.Features, &tc.Features); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(row.Limits, &tc.Limits); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(row.Branding, &tc.Branding); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(row.Placement, &tc.Placement); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(row.PastDue, &tc.PastDue); err != nil {
		return nil, err
	}
	return tc, nil
}

// TenantIDBySlug maps a slug to its tenant id.
func (s *Store) TenantIDBySlug(ctx context.Context, slug string) (uuid.UUID, error) {
	id, err := s.q.TenantIDBySlug(ctx, slug)
	if errors.Is(err, pgx.ErrNoRows) {
		return uuid.Nil, ErrTenantNotFound
	}
	return id, err
}

// TenantIDByVerifiedHost maps a verified custom domain to its tenant id.
// An unverified or unknown host gives ErrTenantNotFound.
func (s *Store) TenantIDByVerifiedHost(ctx context.Context, host string) (uuid.UUID, error) {
	id, err := s.q.TenantIDByVerifiedHost(ctx, host)
	if errors.Is(err, pgx.ErrNoRows) {
		return uuid.Nil, ErrTenantNotFound
	}
	return id, err
}

// SetBranding replaces a tenant's branding, whatever its version.
func (s *Store) SetBranding(ctx context.Context, actor, ref string, b Branding) error {
	_, err := s.ReplaceBranding(ctx, actor, ref, b, nil)
	return err
}

// SetTenantFeature turns a feature on or off for one tenant, overriding
// its plan.
func (s *Store) SetTenantFeature(ctx context.Context, actor, ref, feature string, enabled bool) error {
	return s.write(ctx, func(q *catalogdb.Queries) (bus.Message, error) {
		t, err := s.get(ctx, q, ref, true)
		if err != nil {
			return bus.Message{}, err
		}
		if err := q.SetTenantFeature(ctx, catalogdb.SetTenantFeatureParams{TenantID: t.ID, Feature: feature, Enabled: enabled}); err != nil {
			return bus.Message{}, err
		}
		after := map[string]bool{feature: enabled}
		return tenantMessage(t, ""), audit(ctx, q, actor, "feature.set", t.ID, nil, after)
	})
}

// SetPlanLimit sets limit name of plan.
func (s *Store) SetPlanLimit(ctx context.Context, actor, plan, name string, value int64) error {
	return s.write(ctx, func(q *catalogdb.Queries) (bus.Message, error) {
		if err := q.SetPlanLimit(ctx, catalogdb.SetPlanLimitParams{Plan: plan, Name: name, Value: value}); err != nil {
			return bus.Message{}, err
		}
		return bus.Message{All: true}, auditTarget(ctx, q, actor, "plan.limit.set", "plan", plan, nil, map[string]int64{name: value})
	})
}

// SetPlanFeature includes feature in plan.
func (s *Store) SetPlanFeature(ctx context.Context, actor, plan, feature string) error {
	return s.write(ctx, func(q *catalogdb.Queries) (bus.Message, error) {
		if err := q.SetPlanFeature(ctx, catalogdb.SetPlanFeatureParams{Plan: plan, Feature: feature}); err != nil {
			return bus.Message{}, err
		}
		return bus.Message{All: true}, auditTarget(ctx, q, actor, "plan.feature.set", "plan", plan, nil, feature)
	})
}

// AuditEntry is one admin change.
type AuditEntry = catalogdb.TenantkitAuditLog

// Audit lists the audit log of a tenant, oldest first.
func (s *Store) Audit(ctx context.Context, tenantID uuid.UUID) ([]AuditEntry, error) {
	return s.q.ListAudit(ctx, catalogdb.ListAuditParams{TargetType: "tenant", TargetID: tenantID.String()})
}

// Plans lists the plans.
func (s *Store) Plans(ctx context.Context) ([]catalogdb.TenantkitPlan, error) {
	return s.q.ListPlans(ctx)
}

// write runs fn in a transaction and, after commit, hands its message to
// AfterCommitFunc. An empty message means nothing changed.
func (s *Store) write(ctx context.Context, fn func(q *catalogdb.Queries) (bus.Message, error)) error {
	var msg bus.Message
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		msg, err = fn(s.q.WithTx(tx))
		return err
	})
	if err != nil {
		return err
	}
	if s.afterCommit != nil && (msg.Tenant != "" || msg.All || msg.Flags) {
		s.afterCommit(ctx, msg)
	}
	return nil
}

func tenantMessage(t Tenant, host string) bus.Message {
	m := bus.Message{Tenant: t.ID.String(), Slugs: []string{t.Slug}}
	if host != "" {
		m.Hosts = []string{host}
	}
	return m
}

func audit(ctx context.Context, q *catalogdb.Queries, actor, action string, id uuid.UUID, before, after any) error {
	return auditTarget(ctx, q, actor, action, "tenant", id.String(), before, after)
}

func auditTarget(ctx context.Context, q *catalogdb.Queries, actor, action, typ, id string, before, after any) error {
	enc := func(v any) ([]byte, error) {
		if v == nil {
			return nil, nil
		}
		return json.Marshal(v)
	}
	b, err := enc(before)
	if err != nil {
		return err
	}
	a, err := enc(after)
	if err != nil {
		return err
	}
	return q.InsertAudit(ctx, catalogdb.InsertAuditParams{Actor: actor, Action: action, TargetType: typ, TargetID: id, Before: b, After: a})
}

func isForeignKey(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23503"
}

func isUnique(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return "tenantkit-verify=" + hex.EncodeToString(b)
}

// Publish sends a message that no catalog write carries (a move's drain
// notice) to every process listening: with pg_notify on the catalog's
// channel, and to AfterCommitFunc.
func (s *Store) Publish(ctx context.Context, m bus.Message) error {
	if err := bus.NewPGPublisher(s.pool).Publish(ctx, m); err != nil {
		return err
	}
	if s.afterCommit != nil {
		s.afterCommit(ctx, m)
	}
	return nil
}
