package adminapi

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/tenantkit/tenantkit/api"
	"github.com/tenantkit/tenantkit/internal/billing"
	"github.com/tenantkit/tenantkit/internal/brandasset"
	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/domains"
	"github.com/tenantkit/tenantkit/internal/placement"
	"github.com/tenantkit/tenantkit/internal/problem"
	"github.com/tenantkit/tenantkit/internal/registry"
	"github.com/tenantkit/tenantkit/internal/settings"
)

// Config configures the admin API.
type Config struct {
	// Store is the catalog. Required.
	Store *catalog.Store
	// Token is the bearer token every /api/v1 request must carry. Required.
	Token string
	// ReadyFunc reports whether the server can serve (the catalog answers).
	// Defaults to always ready.
	ReadyFunc func(context.Context) error
	// Provisioner places tenants' data. Without it, tenants are created
	// unplaced and the placement routes answer 501. Defaults to nil.
	Provisioner *placement.Provisioner
	// SettingsSchema validates tenant settings on every write and fills
	// in their defaults on every read. Defaults to nil: settings are any
	// JSON object, without defaults.
	SettingsSchema *settings.Schema
	// Registry serves tenants' integrations. Without it the integration
	// routes answer 501. Defaults to nil.
	Registry *registry.Registry
	// Jobs lists, retries and cancels River's jobs in the catalog (an
	// insert-only client of jobs.Schema, see jobs.NewClient). Without it
	// the jobs routes answer 501. Defaults to nil.
	Jobs *river.Client[pgx.Tx]
	// Billing opens Stripe's Customer Portal and Checkout for tenants.
	// Without it (billing off) those routes answer 501. Defaults to nil.
	Billing BillingSessions
	// BaseDomain is the platform's own domain: tenants may not claim it
	// or any name under it as a custom domain. Defaults to none.
	BaseDomain string
	// Proof checks a custom domain's DNS proof before it is verified.
	// Defaults to domains.Proof{} (the system's resolver).
	Proof catalog.ProofCheck
	// DomainChanged, when set, is told of every domain verified or
	// removed through the API (the TLS front drops what it remembers).
	DomainChanged func(host string)
	// Logger receives errors that are not the client's. Defaults to
	// slog.Default().
	Logger *slog.Logger
}

// API serves the admin routes.
type API struct {
	store    *catalog.Store
	prov     *placement.Provisioner
	registry *registry.Registry
	assets   *brandasset.Assets
	jobs     *river.Client[pgx.Tx]
	billing  BillingSessions
	schema   *settings.Schema
	// baseDomain, proof and domainChanged: see Config.
	baseDomain    string
	proof         catalog.ProofCheck
	domainChanged func(string)
	token         []byte
	ready         func(context.Context) error
	log           *slog.Logger
	mux           *http.ServeMux
}

// maxBody bounds request bodies.
const maxBody = 1 << 20

// New returns the admin API.
func New(cfg Config) (*API, error) {
	if cfg.Store == nil {
		return nil, errors.New("adminapi: Config.Store is required")
	}
	if len(cfg.Token) < 16 {
		return nil, errors.New("adminapi: Config.Token must be at least 16 characters")
	}
	var err error
	a := &API{store: cfg.Store, prov: cfg.Provisioner, registry: cfg.Registry, jobs: cfg.Jobs, billing: cfg.Billing, schema: cfg.SettingsSchema, token: []byte(cfg.Token), ready: cfg.ReadyFunc, log: cfg.Logger, mux: http.NewServeMux()}
	if a.log == nil {
		a.log = slog.Default()
	}
	a.baseDomain, a.proof, a.domainChanged = cfg.BaseDomain, cfg.Proof, cfg.DomainChanged
	if a.proof == nil {
		a.proof = domains.Proof{}.Check
	}
	if a.assets, err = brandasset.New(brandasset.Config{Store: cfg.Store, Registry: cfg.Registry, Logger: a.log}); err != nil {
		return nil, err
	}
	a.routes()
	return a, nil
}

// route is one path of the API and its handler per method.
type route struct {
	path    string
	methods map[string]http.HandlerFunc
	public  bool // no token needed
}

func (a *API) routes() {
	for _, rt := range a.table() {
		var allow []string
		for method, h := range rt.methods {
			allow = append(allow, method)
			a.mux.Handle(method+" "+rt.path, a.guard(rt.public, h))
		}
		sort.Strings(allow)
		// Any other method on a known path: 405 with Allow, as a problem.
		a.mux.Handle(rt.path, a.guard(rt.public, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			problem.Write(w, r, problem.New(http.StatusMethodNotAllowed, problem.MethodNotAllowed, r.Method+" is not allowed here"))
		}))
	}
	notFound := a.guard(false, func(w http.ResponseWriter, r *http.Request) {
		problem.Write(w, r, problem.New(http.StatusNotFound, problem.NotFound, "no such admin route"))
	})
	a.mux.Handle("/api/v1/", notFound)
	a.mux.Handle("/api/v1", notFound)
}

// table is every route of the API. Each is in api/openapi.yaml, and a
// test holds the two to each other.
func (a *API) table() []route {
	return []route{
		{path: "/healthz", public: true, methods: map[string]http.HandlerFunc{"GET": a.healthz}},
		{path: "/readyz", public: true, methods: map[string]http.HandlerFunc{"GET": a.readyz}},
		{path: "/api/v1/openapi.json", public: true, methods: map[string]http.HandlerFunc{"GET": serveOpenAPI}},
		{path: "/api/v1/tenants", methods: map[string]http.HandlerFunc{"POST": a.createTenant, "GET": a.listTenants}},
		{path: "/api/v1/tenants/{ref}", methods: map[string]http.HandlerFunc{"GET": a.getTenant, "PATCH": a.updateTenant, "DELETE": a.deleteTenant}},
		{path: "/api/v1/tenants/{ref}/suspend", methods: map[string]http.HandlerFunc{"POST": a.suspendTenant}},
		{path: "/api/v1/tenants/{ref}/resume", methods: map[string]http.HandlerFunc{"POST": a.resumeTenant}},
		{path: "/api/v1/tenants/{ref}/domains", methods: map[string]http.HandlerFunc{"POST": a.addDomain, "GET": a.listDomains}},
		{path: "/api/v1/tenants/{ref}/branding", methods: map[string]http.HandlerFunc{"GET": a.getBranding, "PUT": a.putBranding}},
		{path: "/api/v1/tenants/{ref}/branding/logo", methods: map[string]http.HandlerFunc{"PUT": a.uploadAsset(brandasset.Logo)}},
		{path: "/api/v1/tenants/{ref}/branding/favicon", methods: map[string]http.HandlerFunc{"PUT": a.uploadAsset(brandasset.Favicon)}},
		{path: "/api/v1/domains/{host}", methods: map[string]http.HandlerFunc{"GET": a.getDomain, "DELETE": a.removeDomain}},
		{path: "/api/v1/domains/{host}/verify", methods: map[string]http.HandlerFunc{"POST": a.verifyDomain}},
		{path: "/api/v1/tenants/{ref}/placement", methods: map[string]http.HandlerFunc{"GET": a.getPlacement, "POST": a.placeTenant}},
		{path: "/api/v1/tenants/{ref}/moves", methods: map[string]http.HandlerFunc{"POST": a.createMove}},
		{path: "/api/v1/moves", methods: map[string]http.HandlerFunc{"GET": a.listMoves}},
		{path: "/api/v1/moves/{id}", methods: map[string]http.HandlerFunc{"GET": a.getMove}},
		{path: "/api/v1/moves/{id}/cancel", methods: map[string]http.HandlerFunc{"POST": a.cancelMove}},
		{path: "/api/v1/moves/{id}/rollback", methods: map[string]http.HandlerFunc{"POST": a.rollbackMove}},
		{path: "/api/v1/clusters", methods: map[string]http.HandlerFunc{"POST": a.addCluster, "GET": a.listClusters}},
		{path: "/api/v1/clusters/{name}", methods: map[string]http.HandlerFunc{"DELETE": a.removeCluster}},
		{path: "/api/v1/plans", methods: map[string]http.HandlerFunc{"GET": a.listPlans, "POST": a.createPlan}},
		{path: "/api/v1/plans/{name}", methods: map[string]http.HandlerFunc{"GET": a.getPlan, "PATCH": a.updatePlan, "DELETE": a.deletePlan}},
		{path: "/api/v1/tenants/{ref}/plan", methods: map[string]http.HandlerFunc{"POST": a.setPlan}},
		{path: "/api/v1/tenants/{ref}/overrides", methods: map[string]http.HandlerFunc{"GET": a.getOverrides, "PATCH": a.patchOverrides}},
		{path: "/api/v1/tenants/{ref}/usage-gauges", methods: map[string]http.HandlerFunc{"GET": a.listGauges}},
		{path: "/api/v1/tenants/{ref}/usage-gauges/{name}", methods: map[string]http.HandlerFunc{"PUT": a.setGauge}},
		{path: "/api/v1/flags", methods: map[string]http.HandlerFunc{"GET": a.listFlags, "POST": a.createFlag}},
		{path: "/api/v1/flags/{key}", methods: map[string]http.HandlerFunc{"GET": a.getFlag, "PATCH": a.updateFlag, "DELETE": a.deleteFlag}},
		{path: "/api/v1/flags/{key}/overrides/{tenant}", methods: map[string]http.HandlerFunc{"PUT": a.setFlagOverride, "DELETE": a.clearFlagOverride}},
		{path: "/api/v1/flags/{key}/audit", methods: map[string]http.HandlerFunc{"GET": a.flagAudit}},
		{path: "/api/v1/flags/{key}/evaluations", methods: map[string]http.HandlerFunc{"GET": a.flagEvaluations}},
		{path: "/api/v1/tenants/{ref}/flags", methods: map[string]http.HandlerFunc{"GET": a.tenantFlags}},
		{path: "/api/v1/tenants/{ref}/settings", methods: map[string]http.HandlerFunc{"GET": a.getSettings, "PATCH": a.patchSettings}},
		{path: "/api/v1/integrations/providers", methods: map[string]http.HandlerFunc{"GET": a.listProviders}},
		{path: "/api/v1/tenants/{ref}/integrations", methods: map[string]http.HandlerFunc{"GET": a.listIntegrations}},
		{path: "/api/v1/tenants/{ref}/integrations/{type}", methods: map[string]http.HandlerFunc{"GET": a.getIntegration, "PUT": a.putIntegration, "DELETE": a.deleteIntegration}},
		{path: "/api/v1/tenants/{ref}/integrations/{type}/test", methods: map[string]http.HandlerFunc{"POST": a.testIntegration}},
		{path: "/api/v1/tenants/{ref}/usage", methods: map[string]http.HandlerFunc{"GET": a.tenantUsage}},
		{path: "/api/v1/tenants/{ref}/billing", methods: map[string]http.HandlerFunc{"GET": a.tenantBilling}},
		{path: "/api/v1/tenants/{ref}/billing/portal", methods: map[string]http.HandlerFunc{"POST": a.billingPortal}},
		{path: "/api/v1/tenants/{ref}/billing/checkout", methods: map[string]http.HandlerFunc{"POST": a.billingCheckout}},
		{path: "/api/v1/billing/report", methods: map[string]http.HandlerFunc{"POST": a.billingReport}},
		{path: "/api/v1/usage", methods: map[string]http.HandlerFunc{"GET": a.exportUsage}},
		{path: "/api/v1/load", methods: map[string]http.HandlerFunc{"GET": a.load}},
		{path: "/api/v1/jobs", methods: map[string]http.HandlerFunc{"GET": a.listJobs}},
		{path: "/api/v1/jobs/{id}", methods: map[string]http.HandlerFunc{"GET": a.getJob}},
		{path: "/api/v1/jobs/{id}/retry", methods: map[string]http.HandlerFunc{"POST": a.retryJob}},
		{path: "/api/v1/jobs/{id}/cancel", methods: map[string]http.HandlerFunc{"POST": a.cancelJob}},
	}
}

func (a *API) guard(public bool, h http.HandlerFunc) http.Handler {
	if public {
		return h
	}
	return a.authenticate(h)
}

// serveOpenAPI serves the API's contract, which needs no token: it is
// public in the repository too.
func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(api.OpenAPI)
}

func (a *API) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// Handler returns the API's handler. Requests it has no route for get 404.
func (a *API) Handler() http.Handler { return a.mux }

// Routes reports whether a path belongs to the admin API, so a server can
// send everything else to the tenant pipeline.
func Routes(path string) bool {
	return path == "/healthz" || path == "/readyz" || path == "/api/v1" || strings.HasPrefix(path, "/api/v1/")
}

func (a *API) readyz(w http.ResponseWriter, r *http.Request) {
	if a.ready != nil {
		if err := a.ready(r.Context()); err != nil {
			a.log.WarnContext(r.Context(), "adminapi: not ready", "err", err)
			problem.Write(w, r, problem.New(http.StatusServiceUnavailable, problem.Unavailable, "catalog unavailable"))
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (a *API) authenticate(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, got, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		ok := strings.EqualFold(scheme, "Bearer") // the scheme is case-insensitive (RFC 9110)
		if !ok || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), a.token) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="tenantkit"`)
			detail := "missing bearer token"
			if ok {
				detail = "wrong bearer token"
			}
			problem.Write(w, r, problem.New(http.StatusUnauthorized, problem.Unauthorized, detail))
			return
		}
		next(w, r)
	})
}

func actor(r *http.Request) string {
	if a := strings.TrimSpace(r.Header.Get("X-Tenantkit-Actor")); a != "" && len(a) <= 100 {
		return "api:" + a
	}
	return "api"
}

// createBody is a new tenant, and optionally where to place its data.
type createBody struct {
	Slug    string `json:"slug"`
	Name    string `json:"name"`
	Plan    string `json:"plan"`
	Tier    string `json:"tier"`
	Cluster string `json:"cluster"`
}

// created is a new tenant with its placement, when it was placed.
type created struct {
	catalog.Tenant
	Placement *catalog.Placement `json:"placement,omitempty"`
}

func (a *API) createTenant(w http.ResponseWriter, r *http.Request) {
	var p createBody
	if !a.decode(w, r, &p) {
		return
	}
	if a.prov == nil && (p.Tier != "" || p.Cluster != "") {
		a.noProvisioner(w, r)
		return
	}
	if a.prov != nil {
		if err := CheckPlacement(r.Context(), a.store, p.Tier, p.Cluster); err != nil {
			a.fail(w, r, err)
			return
		}
	}
	t, err := a.store.CreateTenant(r.Context(), actor(r), catalog.CreateParams{Slug: p.Slug, Name: p.Name, Plan: p.Plan})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/tenants/"+t.ID.String())
	out := created{Tenant: t}
	if a.prov != nil {
		pl, err := a.prov.Provision(r.Context(), actor(r), t.ID.String(), p.Tier, p.Cluster)
		if err != nil {
			// The tenant exists; its placement resumes with POST …/placement.
			a.fail(w, r, fmt.Errorf("tenant %s created, placing its data failed (retry POST /api/v1/tenants/%s/placement): %w", t.Slug, t.ID, err))
			return
		}
		out.Placement = &pl
	}
	writeJSON(w, http.StatusCreated, out)
}

// CheckPlacement refuses, before a new tenant is written, a placement that
// cannot be made: an unknown tier or cluster, or no cluster at all.
func CheckPlacement(ctx context.Context, s *catalog.Store, tier, cluster string) error {
	v := &catalog.ValidationError{}
	switch tier {
	case "", catalog.TierShared, catalog.TierSchema, catalog.TierDedicated:
	default:
		v.Fields = append(v.Fields, catalog.FieldError{Field: "tier", Message: "must be shared, schema or dedicated"})
	}
	if cluster != "" {
		if _, err := s.GetCluster(ctx, cluster); errors.Is(err, catalog.ErrClusterNotFound) {
			v.Fields = append(v.Fields, catalog.FieldError{Field: "cluster", Message: fmt.Sprintf("no cluster %q", cluster)})
		} else if err != nil {
			return err
		}
	}
	if len(v.Fields) > 0 {
		return v
	}
	if cluster == "" {
		cs, err := s.ListClusters(ctx)
		if err != nil {
			return err
		}
		if len(cs) == 0 {
			return catalog.ErrNoCluster
		}
	}
	return nil
}

func (a *API) noProvisioner(w http.ResponseWriter, r *http.Request) {
	problem.Write(w, r, problem.New(http.StatusNotImplemented, problem.NotImplemented,
		"this server places no tenant data: start it with the application's migrations"))
}

func (a *API) getPlacement(w http.ResponseWriter, r *http.Request) {
	pl, err := a.store.GetPlacement(r.Context(), r.PathValue("ref"))
	a.respond(w, r, pl, err)
}

// placeTenant places a tenant's data, or finishes placing it.
func (a *API) placeTenant(w http.ResponseWriter, r *http.Request) {
	if a.prov == nil {
		a.noProvisioner(w, r)
		return
	}
	var body catalog.PlaceParams
	if r.ContentLength != 0 && !a.decode(w, r, &body) {
		return
	}
	pl, err := a.prov.Place(r.Context(), actor(r), r.PathValue("ref"), body)
	a.respond(w, r, pl, err)
}

func (a *API) addCluster(w http.ResponseWriter, r *http.Request) {
	var p catalog.ClusterParams
	if !a.decode(w, r, &p) {
		return
	}
	c, err := a.store.AddCluster(r.Context(), actor(r), p)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, clusterView(c))
}

func (a *API) listClusters(w http.ResponseWriter, r *http.Request) {
	cs, err := a.store.ListClusters(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := make([]map[string]string, 0, len(cs))
	for _, c := range cs {
		out = append(out, clusterView(c))
	}
	writeJSON(w, http.StatusOK, map[string]any{"clusters": out})
}

func (a *API) removeCluster(w http.ResponseWriter, r *http.Request) {
	if err := a.store.RemoveCluster(r.Context(), actor(r), r.PathValue("name")); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// clusterView is a cluster as the API shows it: without passwords.
func clusterView(c catalog.Cluster) map[string]string { return catalog.ClusterView(c) }

func (a *API) listTenants(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p := catalog.ListParams{After: q.Get("after"), Status: q.Get("status")}
	if s := q.Get("limit"); s != "" {
		// The store reads a zero Limit as "default", so an explicit 0 is
		// refused here.
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			a.fail(w, r, &catalog.ValidationError{Fields: []catalog.FieldError{{Field: "limit", Message: "must be a whole number between 1 and 500"}}})
			return
		}
		p.Limit = n
	}
	page, err := a.store.ListTenants(r.Context(), p)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	linkNext(w, r, page.Next)
	writeJSON(w, http.StatusOK, page)
}

// linkNext sets the Link header of a keyset page whose next is next: the
// request's address with after=next. A last page (next "") has none.
func linkNext(w http.ResponseWriter, r *http.Request, next string) {
	if next == "" {
		return
	}
	u := *r.URL
	qs := u.Query()
	qs.Set("after", next)
	u.RawQuery = qs.Encode()
	w.Header().Set("Link", fmt.Sprintf("<%s>; rel=\"next\"", u.RequestURI()))
}

func (a *API) getTenant(w http.ResponseWriter, r *http.Request) {
	t, err := a.store.GetTenant(r.Context(), r.PathValue("ref"))
	a.respond(w, r, t, err)
}

func (a *API) updateTenant(w http.ResponseWriter, r *http.Request) {
	var p catalog.UpdateParams
	if !a.decode(w, r, &p) {
		return
	}
	t, err := a.store.UpdateTenant(r.Context(), actor(r), r.PathValue("ref"), p)
	a.respond(w, r, t, err)
}

// deleteTenant soft-deletes a tenant; with ?hard=true it first removes
// its data (database, schema or rows) and destroys its data keys.
func (a *API) deleteTenant(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("hard") == "true" {
		if a.prov == nil {
			a.noProvisioner(w, r)
			return
		}
		if err := a.prov.Deprovision(r.Context(), actor(r), r.PathValue("ref")); err != nil {
			a.fail(w, r, err)
			return
		}
		if err := a.store.ShredTenant(r.Context(), actor(r), r.PathValue("ref")); err != nil {
			a.fail(w, r, err)
			return
		}
	}
	t, err := a.store.DeleteTenant(r.Context(), actor(r), r.PathValue("ref"))
	a.respond(w, r, t, err)
}

func (a *API) suspendTenant(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Reason string `json:"reason"`
	}
	if !a.decode(w, r, &body) {
		return
	}
	t, err := a.store.SuspendTenant(r.Context(), actor(r), r.PathValue("ref"), body.Reason)
	a.respond(w, r, t, err)
}

func (a *API) resumeTenant(w http.ResponseWriter, r *http.Request) {
	t, err := a.store.ResumeTenant(r.Context(), actor(r), r.PathValue("ref"))
	a.respond(w, r, t, err)
}

func (a *API) addDomain(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Host string `json:"host"`
	}
	if !a.decode(w, r, &body) {
		return
	}
	d, err := a.store.AddDomain(r.Context(), actor(r), r.PathValue("ref"), body.Host, a.baseDomain)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, catalog.View(d))
}

func (a *API) listDomains(w http.ResponseWriter, r *http.Request) {
	ds, err := a.store.ListDomains(r.Context(), r.PathValue("ref"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	views := make([]catalog.DomainView, len(ds))
	for i, d := range ds {
		views[i] = catalog.View(d)
	}
	writeJSON(w, http.StatusOK, map[string]any{"domains": views})
}

func (a *API) getDomain(w http.ResponseWriter, r *http.Request) {
	d, err := a.store.GetDomain(r.Context(), r.PathValue("host"))
	a.respondDomain(w, r, d, err)
}

func (a *API) removeDomain(w http.ResponseWriter, r *http.Request) {
	d, err := a.store.RemoveDomain(r.Context(), actor(r), r.PathValue("host"))
	if err == nil && a.domainChanged != nil {
		a.domainChanged(d.Host)
	}
	a.respondDomain(w, r, d, err)
}

// verifyDomain looks the domain's TXT record up and verifies it only when
// the record holds its token.
func (a *API) verifyDomain(w http.ResponseWriter, r *http.Request) {
	d, err := a.store.VerifyDomain(r.Context(), actor(r), r.PathValue("host"), a.proof)
	if err == nil && a.domainChanged != nil {
		a.domainChanged(d.Host)
	}
	a.respondDomain(w, r, d, err)
}

func (a *API) respondDomain(w http.ResponseWriter, r *http.Request, d catalog.Domain, err error) {
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, catalog.View(d))
}

func (a *API) respond(w http.ResponseWriter, r *http.Request, v any, err error) {
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// decode reads a JSON body into v, answering 400, 413, 415 or 422 itself
// when it cannot.
func (a *API) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			problem.Write(w, r, problem.New(http.StatusUnsupportedMediaType, problem.UnsupportedMedia, "send application/json"))
			return false
		}
	}
	// Read the whole (bounded) body first, so that a body over the limit is
	// 413 wherever the limit falls, even in padding after the object.
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err == nil {
		err = decodeObject(body, v)
	}
	if err == nil {
		return true
	}
	var (
		typeErr *json.UnmarshalTypeError
		tooBig  *http.MaxBytesError
	)
	switch {
	case errors.As(err, &tooBig):
		problem.Write(w, r, problem.New(http.StatusRequestEntityTooLarge, problem.RequestTooLarge, "request body over 1 MiB"))
	case errors.As(err, &typeErr) && typeErr.Field != "":
		a.fail(w, r, &catalog.ValidationError{Fields: []catalog.FieldError{{Field: typeErr.Field, Message: "must be a " + typeErr.Type.String()}}})
	case errors.Is(err, io.EOF):
		problem.Write(w, r, problem.New(http.StatusBadRequest, problem.MalformedJSON, "request body is empty; send a JSON object"))
	default:
		problem.Write(w, r, problem.New(http.StatusBadRequest, problem.MalformedJSON, "malformed JSON: "+err.Error()))
	}
	return false
}

// decodeObject decodes body, which must hold exactly one JSON object, into
// v. A body of only whitespace gives io.EOF.
func decodeObject(body []byte, v any) error {
	switch rest := bytes.TrimLeft(body, " \t\r\n"); {
	case len(rest) == 0:
		return io.EOF
	case rest[0] != '{':
		// null would otherwise decode as {}, and a PATCH of null write.
		return errors.New("send a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after the JSON object")
	}
	return nil
}

// fail answers with the problem of a store error, logging errors that are
// not the client's.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	p := ProblemFor(err)
	if p.Status == http.StatusInternalServerError {
		a.log.ErrorContext(r.Context(), "adminapi: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	problem.Write(w, r, p)
}

// ProblemFor maps a catalog error to its problem. Errors that are not the
// client's become a 500 that shows nothing of the cause.
func ProblemFor(err error) *problem.Problem {
	if p, ok := assetProblem(err); ok {
		return p
	}
	if p, ok := integrationProblem(err); ok {
		return p
	}
	if p, ok := jobProblem(err); ok {
		return p
	}
	if p, ok := domainProblem(err); ok {
		return p
	}
	if errors.Is(err, billing.ErrNoCustomer) {
		return problem.New(http.StatusConflict, problem.BillingNotReady,
			"the tenant has no customer on Stripe yet: its plan has no prices, or its subscription still waits in the billing outbox")
	}
	var (
		v  *catalog.ValidationError
		le *catalog.LimitExceededError
	)
	switch {
	case errors.As(err, &le):
		return limitProblem(le)
	case errors.As(err, &v):
		p := problem.New(http.StatusUnprocessableEntity, problem.InvalidFields, "some fields are invalid")
		for _, f := range v.Fields {
			p.Errors = append(p.Errors, problem.FieldError{Field: f.Field, Message: f.Message})
		}
		return p
	case errors.Is(err, catalog.ErrTenantNotFound):
		return problem.New(http.StatusNotFound, problem.TenantNotFound, "no such tenant")
	case errors.Is(err, catalog.ErrIntegrationNotFound):
		return problem.New(http.StatusNotFound, problem.NoIntegration, "the tenant has no integration of that type")
	case errors.Is(err, catalog.ErrSlugTaken):
		return problem.New(http.StatusConflict, problem.SlugTaken, "that slug is taken")
	case errors.Is(err, catalog.ErrTenantDeleted):
		return problem.New(http.StatusConflict, problem.TenantDeleted, "the tenant is deleted")
	case errors.Is(err, catalog.ErrDomainTaken):
		return problem.New(http.StatusConflict, problem.DomainTaken, "that domain is registered already")
	case errors.Is(err, catalog.ErrDomainNotFound):
		return problem.New(http.StatusNotFound, problem.DomainNotFound, "no such domain")
	case errors.Is(err, catalog.ErrClusterNotFound):
		return problem.New(http.StatusNotFound, problem.ClusterNotFound, "no such cluster")
	case errors.Is(err, catalog.ErrClusterExists):
		return problem.New(http.StatusConflict, problem.ClusterExists, "a cluster of that name is registered already")
	case errors.Is(err, catalog.ErrClusterInUse):
		return problem.New(http.StatusConflict, problem.ClusterInUse, "the cluster holds tenants")
	case errors.Is(err, catalog.ErrNoCluster):
		return problem.New(http.StatusConflict, problem.NoCluster, "no cluster accepts tenants: register one first")
	case errors.Is(err, catalog.ErrAlreadyPlaced):
		return problem.New(http.StatusConflict, problem.AlreadyPlaced, "the tenant is placed elsewhere already; move it instead")
	case errors.Is(err, catalog.ErrNotPlaced):
		return problem.New(http.StatusNotFound, problem.NotPlaced, "the tenant has no placement")
	case errors.Is(err, catalog.ErrMoveNotFound):
		return problem.New(http.StatusNotFound, problem.MoveNotFound, "no such move")
	case errors.Is(err, catalog.ErrMoveInProgress):
		return problem.New(http.StatusConflict, problem.MoveInProgress, "the tenant is being moved already: cancel that move or wait for it")
	case errors.Is(err, catalog.ErrSamePlacement):
		return problem.New(http.StatusConflict, problem.SamePlacement, userText(err))
	case errors.Is(err, catalog.ErrMoveState):
		return problem.New(http.StatusConflict, problem.MoveState, userText(err))
	case errors.Is(err, catalog.ErrPlanNotFound):
		return problem.New(http.StatusNotFound, problem.PlanNotFound, "no such plan")
	case errors.Is(err, catalog.ErrPlanExists):
		return problem.New(http.StatusConflict, problem.PlanExists, "a plan of that name exists already")
	case errors.Is(err, catalog.ErrPlanInUse):
		return problem.New(http.StatusConflict, problem.PlanInUse, userText(err))
	case errors.Is(err, catalog.ErrFlagNotFound):
		return problem.New(http.StatusNotFound, problem.FlagNotFound, "no such flag")
	case errors.Is(err, catalog.ErrFlagExists):
		return problem.New(http.StatusConflict, problem.FlagExists, "a flag of that key exists already")
	case errors.Is(err, catalog.ErrVersionMismatch):
		return problem.New(http.StatusPreconditionFailed, problem.PreconditionFailed, userText(err)+": read them again")
	}
	if p := settingsProblem(err); p != nil {
		return p
	}
	return problem.New(http.StatusInternalServerError, problem.Internal, "internal error")
}

// userText is a catalog error's message for people: the catalog's own
// words, which name moves, states and placements but no connection.
func userText(err error) string {
	return RedactText(strings.ReplaceAll(err.Error(), "catalog: ", ""))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"encoding failed"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// domainProblem is the problem of a domain proof that does not hold (422,
// with the record looked up and what it holds) or of a resolver that did
// not answer (503).
func domainProblem(err error) (*problem.Problem, bool) {
	var pe *domains.ProofError
	if errors.As(err, &pe) {
		p := problem.New(http.StatusUnprocessableEntity, problem.DomainProofMissing, pe.Error())
		p.Record, p.Found = pe.Record, pe.Found
		return p, true
	}
	if errors.Is(err, domains.ErrLookup) {
		return problem.New(http.StatusServiceUnavailable, problem.DNSUnavailable, RedactText(err.Error())), true
	}
	return nil, false
}
