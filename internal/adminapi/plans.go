package adminapi

import (
	"fmt"
	"net/http"
	"net/url"

	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/problem"
)

// planPatch is the body of PATCH /api/v1/plans/{name}: the plan's params
// without its name, which the path gives.
type planPatch struct {
	DisplayName *string           `json:"display_name,omitempty"`
	Description *string           `json:"description,omitempty"`
	Rank        *int              `json:"rank,omitempty"`
	DefaultTier *string           `json:"default_tier,omitempty"`
	Features    *[]string         `json:"features,omitempty"`
	Limits      *map[string]int64 `json:"limits,omitempty"`
	// Billing replaces the plan's Stripe prices; {} removes them.
	Billing *catalog.PlanBilling `json:"billing,omitempty"`
}

func (a *API) listPlans(w http.ResponseWriter, r *http.Request) {
	ps, err := a.store.ListPlans(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"plans": ps})
}

func (a *API) createPlan(w http.ResponseWriter, r *http.Request) {
	var p catalog.PlanParams
	if !a.decode(w, r, &p) {
		return
	}
	pl, err := a.store.CreatePlan(r.Context(), actor(r), p)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/plans/"+url.PathEscape(pl.Name))
	writeJSON(w, http.StatusCreated, pl)
}

func (a *API) getPlan(w http.ResponseWriter, r *http.Request) {
	pl, err := a.store.GetPlan(r.Context(), r.PathValue("name"))
	a.respond(w, r, pl, err)
}

func (a *API) updatePlan(w http.ResponseWriter, r *http.Request) {
	var p planPatch
	if !a.decode(w, r, &p) {
		return
	}
	pl, err := a.store.UpdatePlan(r.Context(), actor(r), catalog.PlanParams{
		Name: r.PathValue("name"), DisplayName: p.DisplayName, Description: p.Description,
		Rank: p.Rank, DefaultTier: p.DefaultTier, Features: p.Features, Limits: p.Limits, Billing: p.Billing,
	})
	a.respond(w, r, pl, err)
}

func (a *API) deletePlan(w http.ResponseWriter, r *http.Request) {
	if err := a.store.DeletePlan(r.Context(), actor(r), r.PathValue("name")); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// setPlan moves a tenant to another plan; a plan its usage exceeds is
// refused with 409 limit-exceeded unless forced.
func (a *API) setPlan(w http.ResponseWriter, r *http.Request) {
	var p catalog.SetPlanParams
	if !a.decode(w, r, &p) {
		return
	}
	t, err := a.store.SetTenantPlan(r.Context(), actor(r), r.PathValue("ref"), p)
	a.respond(w, r, t, err)
}

func (a *API) getOverrides(w http.ResponseWriter, r *http.Request) {
	o, err := a.store.TenantOverrides(r.Context(), r.PathValue("ref"))
	a.respond(w, r, o, err)
}

// patchOverrides sets and removes (null) a tenant's own limits and
// features.
func (a *API) patchOverrides(w http.ResponseWriter, r *http.Request) {
	var p catalog.OverridePatch
	if !a.decode(w, r, &p) {
		return
	}
	o, err := a.store.PatchTenantOverrides(r.Context(), actor(r), r.PathValue("ref"), p)
	a.respond(w, r, o, err)
}

// listGauges lists a tenant's recorded usage: what its limits are checked
// against.
func (a *API) listGauges(w http.ResponseWriter, r *http.Request) {
	us, err := a.store.TenantUsage(r.Context(), r.PathValue("ref"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if us == nil {
		us = []catalog.Usage{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"gauges": us})
}

// gaugeBody is the body of PUT …/usage-gauges/{name}.
type gaugeBody struct {
	Value *int64 `json:"value"`
}

func (a *API) setGauge(w http.ResponseWriter, r *http.Request) {
	var body gaugeBody
	if !a.decode(w, r, &body) {
		return
	}
	if body.Value == nil {
		a.fail(w, r, &catalog.ValidationError{Fields: []catalog.FieldError{{Field: "value", Message: "is required"}}})
		return
	}
	ref, name := r.PathValue("ref"), r.PathValue("name")
	if err := a.store.SetUsage(r.Context(), ref, name, *body.Value); err != nil {
		a.fail(w, r, err)
		return
	}
	us, err := a.store.TenantUsage(r.Context(), ref)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	for _, u := range us {
		if u.Name == name {
			writeJSON(w, http.StatusOK, u)
			return
		}
	}
	a.fail(w, r, fmt.Errorf("usage %q of %q not found after it was written", name, ref))
}

// limitProblem names each limit the tenant's usage breaks, in the detail
// for people and in violations for programs.
func limitProblem(e *catalog.LimitExceededError) *problem.Problem {
	vs := make([]problem.Violation, len(e.Violations))
	for i, v := range e.Violations {
		vs[i] = problem.Violation(v)
	}
	p := problem.New(http.StatusConflict, problem.LimitExceeded, e.Detail())
	p.Violations = vs
	return p
}
