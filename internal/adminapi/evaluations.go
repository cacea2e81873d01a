package adminapi

import (
	"context"
	"fmt"
	"net/http"

	"github.com/google/uuid"

	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/flags"
)

// Evaluation is a flag's value for a tenant and the reason, with the
// tenant's rollout bucket for the flag (0 to 9999: a rollout of n basis
// points reaches the buckets below n), so people can see why.
type Evaluation struct {
	Flag     string    `json:"flag"`
	TenantID uuid.UUID `json:"tenant_id"`
	Tenant   string    `json:"tenant"`
	Plan     string    `json:"plan"`
	Bucket   int       `json:"bucket"`
	Value    bool      `json:"value"`
	Reason   string    `json:"reason"`
}

// TenantFlags are every flag's evaluation for one tenant, by key.
type TenantFlags struct {
	TenantID uuid.UUID    `json:"tenant_id"`
	Tenant   string       `json:"tenant"`
	Plan     string       `json:"plan"`
	Flags    []Evaluation `json:"flags"`
}

// FlagEvaluations are one flag's evaluations for every live tenant, by
// slug.
type FlagEvaluations struct {
	Flag        string       `json:"flag"`
	Evaluations []Evaluation `json:"evaluations"`
}

// snapshot evaluates flags as the data plane would right now: from a
// fresh, consistent read of every flag, override and plan rank.
func snapshot(ctx context.Context, s *catalog.Store) (*flags.Snapshot, error) {
	set, err := s.LoadFlags(ctx)
	if err != nil {
		return nil, err
	}
	snap, err := set.Snapshot()
	if err != nil {
		return nil, fmt.Errorf("adminapi: the catalog's flags cannot be evaluated: %w", err)
	}
	return snap, nil
}

func evaluation(snap *flags.Snapshot, key string, t catalog.Tenant) Evaluation {
	ev := snap.Evaluate(key, t.ID, t.Plan)
	cohort := key
	if f, ok := snap.Flag(key); ok && f.Seed != "" {
		cohort = f.Seed
	}
	return Evaluation{
		Flag: key, TenantID: t.ID, Tenant: t.Slug, Plan: t.Plan,
		Bucket: flags.Bucket(cohort, t.ID), Value: ev.Value, Reason: string(ev.Reason),
	}
}

// EvaluateTenant evaluates every flag for tenant ref.
func EvaluateTenant(ctx context.Context, s *catalog.Store, ref string) (TenantFlags, error) {
	t, err := s.GetTenant(ctx, ref)
	if err != nil {
		return TenantFlags{}, err
	}
	snap, err := snapshot(ctx, s)
	if err != nil {
		return TenantFlags{}, err
	}
	out := TenantFlags{TenantID: t.ID, Tenant: t.Slug, Plan: t.Plan, Flags: []Evaluation{}}
	for _, f := range snap.Flags() {
		out.Flags = append(out.Flags, evaluation(snap, f.Key, t))
	}
	return out, nil
}

// EvaluateFlag evaluates flag key for every tenant that is not deleted.
func EvaluateFlag(ctx context.Context, s *catalog.Store, key string) (FlagEvaluations, error) {
	snap, err := snapshot(ctx, s)
	if err != nil {
		return FlagEvaluations{}, err
	}
	if _, ok := snap.Flag(key); !ok {
		return FlagEvaluations{}, fmt.Errorf("%w: %q", catalog.ErrFlagNotFound, key)
	}
	out := FlagEvaluations{Flag: key, Evaluations: []Evaluation{}}
	p := catalog.ListParams{Limit: 500}
	for {
		page, err := s.ListTenants(ctx, p)
		if err != nil {
			return FlagEvaluations{}, err
		}
		for _, t := range page.Tenants {
			if t.Status != catalog.StatusDeleted {
				out.Evaluations = append(out.Evaluations, evaluation(snap, key, t))
			}
		}
		if page.Next == "" {
			return out, nil
		}
		p.After = page.Next
	}
}

func (a *API) tenantFlags(w http.ResponseWriter, r *http.Request) {
	out, err := EvaluateTenant(r.Context(), a.store, r.PathValue("ref"))
	a.respond(w, r, out, err)
}

func (a *API) flagEvaluations(w http.ResponseWriter, r *http.Request) {
	out, err := EvaluateFlag(r.Context(), a.store, r.PathValue("key"))
	a.respond(w, r, out, err)
}
