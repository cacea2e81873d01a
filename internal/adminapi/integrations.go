package adminapi

import (
	"errors"
	"net/http"

	"github.com/tenantkit/tenantkit/internal/integration"
	"github.com/tenantkit/tenantkit/internal/problem"
	"github.com/tenantkit/tenantkit/internal/registry"
)

// integrationBody is a tenant's integration to set; the type is the path's.
type integrationBody struct {
	Provider    string            `json:"provider"`
	Credentials map[string]string `json:"credentials"`
	Settings    map[string]string `json:"settings"`
	Active      *bool             `json:"active"`
}

// TestResult is a passed integration test.
type TestResult struct {
	OK          bool          `json:"ok"`
	Integration registry.View `json:"integration"`
}

func (a *API) needRegistry(w http.ResponseWriter, r *http.Request) bool {
	if a.registry == nil {
		problem.Write(w, r, problem.New(http.StatusNotImplemented, problem.NotImplemented,
			"this server has no integration registry: start it with a key file"))
		return false
	}
	return true
}

func (a *API) listProviders(w http.ResponseWriter, r *http.Request) {
	if !a.needRegistry(w, r) {
		return
	}
	out := map[integration.Type][]integration.Spec{}
	for _, t := range integration.Types() {
		if specs, err := a.registry.Specs(t); err == nil {
			out[t] = specs
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) listIntegrations(w http.ResponseWriter, r *http.Request) {
	if !a.needRegistry(w, r) {
		return
	}
	vs, err := a.registry.List(r.Context(), r.PathValue("ref"))
	a.respond(w, r, map[string]any{"integrations": vs}, err)
}

func (a *API) getIntegration(w http.ResponseWriter, r *http.Request) {
	if !a.needRegistry(w, r) {
		return
	}
	v, err := a.registry.Show(r.Context(), r.PathValue("ref"), integration.Type(r.PathValue("type")))
	a.respond(w, r, v, err)
}

func (a *API) putIntegration(w http.ResponseWriter, r *http.Request) {
	if !a.needRegistry(w, r) {
		return
	}
	var b integrationBody
	if !a.decode(w, r, &b) {
		return
	}
	v, err := a.registry.Set(r.Context(), actor(r), r.PathValue("ref"), registry.SetParams{
		Type: integration.Type(r.PathValue("type")), Provider: b.Provider, Credentials: b.Credentials, Settings: b.Settings, Active: b.Active,
	})
	a.respond(w, r, v, err)
}

func (a *API) deleteIntegration(w http.ResponseWriter, r *http.Request) {
	if !a.needRegistry(w, r) {
		return
	}
	err := a.registry.Remove(r.Context(), actor(r), r.PathValue("ref"), integration.Type(r.PathValue("type")))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) testIntegration(w http.ResponseWriter, r *http.Request) {
	if !a.needRegistry(w, r) {
		return
	}
	v, err := a.registry.Test(r.Context(), r.PathValue("ref"), integration.Type(r.PathValue("type")))
	a.respond(w, r, TestResult{OK: true, Integration: v}, err)
}

// integrationProblem maps the registry's errors; ok is false for others.
func integrationProblem(err error) (*problem.Problem, bool) {
	switch {
	case errors.Is(err, registry.ErrUnknownType), errors.Is(err, registry.ErrUnknownProvider),
		errors.Is(err, integration.ErrInvalidConfig):
		p := problem.New(http.StatusUnprocessableEntity, problem.InvalidIntegration, userText(err))
		return p, true
	case errors.Is(err, registry.ErrNoProvider):
		return problem.New(http.StatusNotFound, problem.NoIntegration, userText(err)), true
	case errors.Is(err, registry.ErrTestFailed):
		return problem.New(http.StatusBadGateway, problem.IntegrationTestFailed, userText(err)), true
	}
	return nil, false
}
