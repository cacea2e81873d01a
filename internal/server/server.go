package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/riverqueue/river"
	"riverqueue.com/riverui"

	"github.com/tenantkit/tenantkit"
	"github.com/tenantkit/tenantkit/internal/adminapi"
	"github.com/tenantkit/tenantkit/internal/billing"
	"github.com/tenantkit/tenantkit/internal/brandasset"
	"github.com/tenantkit/tenantkit/internal/branding"
	"github.com/tenantkit/tenantkit/internal/bus"
	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/jobs"
	"github.com/tenantkit/tenantkit/internal/placement"
	"github.com/tenantkit/tenantkit/internal/registry"
	"github.com/tenantkit/tenantkit/internal/settings"
)

// Config configures a Server.
type Config struct {
	// Pool connects to the catalog. Required.
	Pool *pgxpool.Pool
	// Kit resolves tenants for the tenant-facing routes. Required.
	Kit *tenantkit.Kit
	// AdminToken protects the admin API. Required.
	AdminToken string
	// App serves tenant-facing routes after resolution, besides
	// /api/whoami. Defaults to none (404 problem).
	App http.Handler
	// Migrations are the application's migrations; with them the admin API
	// places tenants' data. Defaults to nil (tenants are not placed).
	Migrations fs.FS
	// AfterCommitFunc is handed to the catalog store, to publish
	// invalidations on a bus other than LISTEN/NOTIFY. Defaults to nil.
	AfterCommitFunc func(context.Context, bus.Message)
	// Gatherer is served on /metrics to holders of the admin token.
	// Defaults to nil: no /metrics.
	Gatherer prometheus.Gatherer
	// Registry serves tenants' integrations to the admin API. Defaults to
	// nil: the integration routes answer 501.
	Registry *registry.Registry
	// SettingsSchema validates tenant settings written through the admin
	// API. Defaults to nil: settings are any JSON object.
	SettingsSchema []byte
	// Jobs is the River client of the catalog's jobs queue (jobs.Schema)
	// that the admin API's jobs routes and River's UI at JobsUIPath use.
	// Defaults to an insert-only client over Pool (jobs.NewClient).
	Jobs *river.Client[pgx.Tx]
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// PlanCheck checks a plan's Stripe prices before the admin API writes
	// them (billing.Billing.CheckPrices). Defaults to nil: billing is off.
	PlanCheck func(context.Context, catalog.PlanBilling) error
	// StripeWebhook, when set, serves Stripe's events at
	// billing.WebhookPath, outside the admin API's authentication (the
	// events are signed). Defaults to nil: not served.
	StripeWebhook http.Handler
	// Billing opens Stripe's Customer Portal and Checkout for tenants
	// (billing.Sessions). Defaults to nil: those routes answer 501.
	Billing adminapi.BillingSessions
	// BaseDomain, DomainProof and DomainChanged are the admin API's
	// (adminapi.Config): the platform's own domain, the DNS proof check
	// of custom domains, and who is told of a domain verified or removed.
	BaseDomain  string
	DomainProof catalog.ProofCheck
	// AssetHost is where tenants' logos, favicons and url() in custom CSS
	// must be (branding.Policy). Requests whose Host is it are served the
	// logos and favicons uploaded through the admin API, from the
	// tenants' storage (Registry), at /t/{tenant-id}/{logo|favicon}, and
	// nothing else. Defaults to none.
	AssetHost     string
	DomainChanged func(host string)
}

// JobsUIPath is where River's UI is served, to holders of the admin
// token: as a bearer token, or as the password of HTTP Basic
// authentication, which a browser asks for.
const JobsUIPath = "/admin/jobs"

// Server is the tenantkit HTTP server.
type Server struct {
	handler http.Handler
	jobsUI  *riverui.Handler
	log     *slog.Logger
}

// New returns a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Pool == nil || cfg.Kit == nil {
		return nil, errors.New("server: Config.Pool and Config.Kit are required")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	store, err := catalog.NewStore(catalog.StoreConfig{Pool: cfg.Pool, AfterCommitFunc: cfg.AfterCommitFunc, PlanCheck: cfg.PlanCheck,
		BrandingPolicy: branding.Policy{AssetHost: cfg.AssetHost}})
	if err != nil {
		return nil, err
	}
	var prov *placement.Provisioner
	if cfg.Migrations != nil {
		if prov, err = placement.New(placement.Config{Store: store, Migrations: cfg.Migrations, Logger: log}); err != nil {
			return nil, err
		}
	}
	var schema *settings.Schema
	if cfg.SettingsSchema != nil {
		if schema, err = settings.Compile(cfg.SettingsSchema); err != nil {
			return nil, fmt.Errorf("server: settings schema: %w", err)
		}
	}
	jobsClient := cfg.Jobs
	if jobsClient == nil {
		if jobsClient, err = jobs.NewClient(cfg.Pool); err != nil {
			return nil, err
		}
	}
	api, err := adminapi.New(adminapi.Config{
		Store: store, Token: cfg.AdminToken, Logger: log, Provisioner: prov, SettingsSchema: schema, Registry: cfg.Registry, Jobs: jobsClient, Billing: cfg.Billing,
		BaseDomain: cfg.BaseDomain, Proof: cfg.DomainProof, DomainChanged: cfg.DomainChanged,
		ReadyFunc: func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			return cfg.Pool.Ping(ctx)
		},
	})
	if err != nil {
		return nil, err
	}
	tenantMux := http.NewServeMux()
	tenantMux.HandleFunc("GET /api/whoami", whoami(cfg.Kit))
	if cfg.App != nil {
		tenantMux.Handle("/", cfg.App)
	}
	tenantRoutes := cfg.Kit.Middleware(tenantMux)
	admin := api.Handler()
	var metrics http.Handler
	if cfg.Gatherer != nil {
		metrics = api.Authenticated(promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelError)}))
	}
	jobsUI, err := riverui.NewHandler(&riverui.HandlerOpts{Endpoints: riverui.NewEndpoints(jobsClient, nil), Prefix: JobsUIPath, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("server: river UI: %w", err)
	}
	// A browser sends Basic credentials with any request to the server,
	// a cross-site form's too: the UI's writes (retry, cancel, delete,
	// pause) are taken from its own pages only.
	ui := api.AuthenticatedBrowser(http.NewCrossOriginProtection().Handler(jobsUI))
	assets, err := brandasset.New(brandasset.Config{Store: store, Registry: cfg.Registry, Logger: log})
	if err != nil {
		return nil, err
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The asset host serves the assets only: no admin route, no
		// tenant's application, ever shares its origin with them.
		if isHost(r.Host, cfg.AssetHost) {
			assets.ServeHTTP(w, r)
			return
		}
		if metrics != nil && r.URL.Path == "/metrics" {
			metrics.ServeHTTP(w, r)
			return
		}
		if cfg.StripeWebhook != nil && r.URL.Path == billing.WebhookPath {
			cfg.StripeWebhook.ServeHTTP(w, r)
			return
		}
		if r.URL.Path == JobsUIPath || strings.HasPrefix(r.URL.Path, JobsUIPath+"/") {
			ui.ServeHTTP(w, r)
			return
		}
		if adminapi.Routes(r.URL.Path) {
			admin.ServeHTTP(w, r)
			return
		}
		tenantRoutes.ServeHTTP(w, r)
	})
	return &Server{handler: h, jobsUI: jobsUI, log: log}, nil
}

// isHost reports whether a request's Host is host; without a port in
// host, any port matches.
func isHost(reqHost, host string) bool {
	if host == "" {
		return false
	}
	if strings.EqualFold(reqHost, host) {
		return true
	}
	if _, _, err := net.SplitHostPort(host); err == nil {
		return false
	}
	h, _, err := net.SplitHostPort(reqHost)
	return err == nil && strings.EqualFold(h, host)
}

// Handler is the server's whole handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Start starts what the handler runs in the background (the counts River's
// UI shows) until ctx is done. Serve calls it; a server whose Handler is
// served otherwise calls it itself.
func (s *Server) Start(ctx context.Context) error {
	if err := s.jobsUI.Start(ctx); err != nil {
		return fmt.Errorf("server: river UI: %w", err)
	}
	return nil
}

// Serve serves on l until ctx is done, then shuts down gracefully.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	if err := s.Start(ctx); err != nil {
		return err
	}
	return ServeHTTP(ctx, &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}, l)
}

// ServeHTTP serves srv on l until ctx is done, then shuts it down
// gracefully (10 s for requests in flight).
func ServeHTTP(ctx context.Context, srv *http.Server, l net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Whoami is the resolved tenant as the demo route shows it: its plan,
// features and limits, its flags with their reasons, and its settings with
// defaults — all from the cached tenant context and the in-process flag
// snapshot.
type Whoami struct {
	ID       string                     `json:"id"`
	Slug     string                     `json:"slug"`
	Name     string                     `json:"name"`
	Plan     string                     `json:"plan"`
	Status   string                     `json:"status"`
	Features map[string]bool            `json:"features"`
	Limits   map[string]int64           `json:"limits"`
	Flags    []tenantkit.FlagEvaluation `json:"flags"`
	Settings json.RawMessage            `json:"settings"`
}

func whoami(kit *tenantkit.Kit) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		t, _ := tenantkit.FromContext(r.Context())
		out := Whoami{
			ID: t.ID.String(), Slug: t.Slug, Name: t.Name, Plan: t.Plan, Status: t.Status,
			Features: t.Features, Limits: t.Limits, Flags: kit.Flags(r.Context()),
		}
		if s, err := kit.Settings(r.Context()); err == nil {
			out.Settings = s.Raw()
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	}
}
