package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/riverqueue/river"
	"golang.org/x/sync/errgroup"

	"github.com/tenantkit/tenantkit"
	"github.com/tenantkit/tenantkit/internal/adminapi"
	"github.com/tenantkit/tenantkit/internal/billing"
	"github.com/tenantkit/tenantkit/internal/bus"
	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/certstore"
	"github.com/tenantkit/tenantkit/internal/domaincheck"
	"github.com/tenantkit/tenantkit/internal/domains"
	"github.com/tenantkit/tenantkit/internal/jobs"
	"github.com/tenantkit/tenantkit/internal/move"
	"github.com/tenantkit/tenantkit/internal/placement"
	"github.com/tenantkit/tenantkit/internal/registry"
	"github.com/tenantkit/tenantkit/internal/server"
	"github.com/tenantkit/tenantkit/internal/tlsserve"
	"github.com/tenantkit/tenantkit/internal/tracing"
)

// serveOptions are what dev and serve share.
type serveOptions struct {
	addr        string
	databaseURL string // catalog, as the owner role
	redisURL    string
	adminToken  string
	baseDomain  string
	migrations  fs.FS
	// app builds the tenant-facing application on the kit.
	app func(*tenantkit.Kit) http.Handler
	// workers builds the application's River workers, given how to reach
	// the Kit they run in (built after them); with them the Kit's jobs are
	// on and this server works them. nil: no jobs.
	workers func(kit func() *tenantkit.Kit) *river.Workers
	// billing is the platform's Stripe when billing is on: plans' prices
	// are checked with it, and the billing outbox drained to it.
	billing *billing.Billing
	// webhookSecret verifies Stripe's events at /webhooks/stripe; without
	// it the route is not served.
	webhookSecret string
	// billingGrace is how long a past-due tenant keeps working.
	billingGrace time.Duration
	// billingSync shapes the Stripe calls of catalog changes; billingCancel
	// is "now" or "period-end"; billingOnDeleted "suspend" or "downgrade".
	billingSync                     billing.SyncConfig
	billingCancel, billingOnDeleted string
	// dnsResolver is the DNS server custom domains' proof is looked up
	// at ("" for the system's); domainRecheck how often a verified domain
	// is checked again, domainGrace how long one whose proof has gone
	// keeps resolving.
	// assetHost is where tenants' branding assets must be.
	assetHost string
	// tls is the TLS front's configuration (--tls-addr and the rest).
	tls                        tlsOptions
	dnsResolver                string
	domainRecheck, domainGrace time.Duration
	// suspendedSnooze is how long a suspended tenant's job waits before
	// it looks again; zero is the Kit's default (30s).
	suspendedSnooze time.Duration
	log             *slog.Logger
	// rlsCheck audits every target before serving and refuses to serve
	// when a violation is found.
	rlsCheck bool
	// noMover leaves moves to other runners: without it, a server with the
	// application's migrations runs a move runner.
	noMover bool
	// ready is called with the bound address once the server listens.
	ready func(addr string)
	// settingsSchema is the JSON Schema of tenant settings; nil means any
	// JSON object.
	settingsSchema []byte
	// rateLimitFailOpen serves requests while the rate limiter's Redis is
	// down; noRateLimit turns rate limits off.
	rateLimitFailOpen, noRateLimit bool
	// kms is the key-encryption key of tenants' data keys; without one
	// (no key file, no Vault) integrations are off.
	kms registry.KMSConfig
	// platform is the platform's integration defaults and sender.
	platform registry.PlatformFile
	// observe configures metrics, usage, noisy neighbours, logs, traces.
	observe observeOptions
	// jwtSecret, when set, also resolves tenants from HS256 bearer tokens
	// (claim tenant_id; sub names the user for usage).
	jwtSecret []byte
}

// resolvers are the Kit's tenant resolvers: subdomains of the base
// domain, verified custom domains, and tokens when a JWT secret is set.
func (o serveOptions) resolvers() tenantkit.ResolverConfig {
	rc := tenantkit.ResolverConfig{BaseDomain: o.baseDomain, CustomDomains: true}
	if len(o.jwtSecret) > 0 {
		rc.JWT = &tenantkit.JWTConfig{Secret: o.jwtSecret}
	}
	return rc
}

// kitObservability is the Kit's view of the observability options.
func (o serveOptions) kitObservability() tenantkit.ObservabilityConfig {
	ob := o.observe
	return tenantkit.ObservabilityConfig{
		TopK: ob.topK, FlushInterval: ob.flushInterval, NoisyShare: ob.noisyShare, Sustain: ob.noisySustain,
		Window: ob.noisyWindow, Throttle: ob.throttleNoisy, AccessLog: ob.accessLog,
		Tracing: tracing.Config{Endpoint: ob.otelEndpoint, ServiceName: "tenantkit", Logger: o.log},
	}
}

func (o serveOptions) integrationsOn() bool {
	return o.kms.KeyFile != "" || o.kms.Vault.Address != "" || o.kms.KeyURI != ""
}

// kitIntegrations is the Kit's view of the integration options.
func (o serveOptions) kitIntegrations() tenantkit.IntegrationsConfig {
	if !o.integrationsOn() {
		return tenantkit.IntegrationsConfig{}
	}
	ic := tenantkit.IntegrationsConfig{KeyFile: o.kms.KeyFile, VaultAddress: o.kms.Vault.Address, VaultToken: o.kms.Vault.Token,
		VaultKey: o.kms.Vault.KeyName, KMSKeyURI: o.kms.KeyURI, KMSCredentialsFile: o.kms.CredentialsFile, EmailFrom: o.platform.EmailFrom, Defaults: map[string]tenantkit.IntegrationDefault{}}
	for t, d := range o.platform.Defaults {
		ic.Defaults[string(t)] = tenantkit.IntegrationDefault{Provider: d.Provider, Credentials: d.Credentials, Settings: d.Settings}
	}
	return ic
}

// kitJobs is the Kit's jobs configuration, always on: the application's
// workers when it has any, the re-check of custom domains, and with
// billing on the drain of the billing outbox (River periodic jobs on the
// leader).
func (o serveOptions) kitJobs(kit func() *tenantkit.Kit, pool *pgxpool.Pool, reg prometheus.Registerer) (*tenantkit.JobsConfig, error) {
	workers := river.NewWorkers()
	if o.workers != nil {
		workers = o.workers(kit)
	}
	// The platform's jobs have their own queue; the default queue, where
	// the application's jobs go, is worked only with the application's
	// workers: a serve without them must not take its jobs and fail them.
	queues := map[string]river.QueueConfig{jobs.PlatformQueue: {MaxWorkers: 4}}
	if o.workers != nil {
		queues[river.QueueDefault] = river.QueueConfig{MaxWorkers: 10}
	}
	cfg := &tenantkit.JobsConfig{Workers: workers, Queues: queues, SuspendedSnooze: o.suspendedSnooze}
	// Verified custom domains are checked again, daily by default.
	{
		store, err := catalog.NewStore(catalog.StoreConfig{Pool: pool})
		if err != nil {
			return nil, err
		}
		if err := river.AddWorkerSafely(workers, &domaincheck.Worker{Store: store, Check: o.domainProof().Check,
			Interval: o.domainRecheck, Grace: o.domainGrace, Logger: o.log}); err != nil {
			return nil, err
		}
		cfg.PlatformPeriodic = append(cfg.PlatformPeriodic, domaincheck.Periodic())
	}
	if o.billing != nil {
		store, err := catalog.NewStore(catalog.StoreConfig{Pool: pool})
		if err != nil {
			return nil, err
		}
		sc := o.billingSync
		sc.CancelAtPeriodEnd = o.billingCancel == "period-end"
		sync := billing.NewSyncer(o.billing, store, sc)
		bm := billing.NewMetrics(store)
		if err := reg.Register(bm); err != nil {
			return nil, err
		}
		if err := river.AddWorkerSafely(workers, &billing.DrainWorker{Syncer: sync, Logger: o.log, Metrics: bm}); err != nil {
			return nil, err
		}
		cfg.PlatformPeriodic = append(cfg.PlatformPeriodic, billing.DrainPeriodic(0))
		if err := river.AddWorkerSafely(workers, &billing.EventWorker{Store: store, Config: billing.EventsConfig{Grace: o.billingGrace, OnSubscriptionDeleted: o.billingOnDeleted}, Logger: o.log, Metrics: bm}); err != nil {
			return nil, err
		}
		if err := river.AddWorkerSafely(workers, &billing.OverdueWorker{Store: store, Logger: o.log}); err != nil {
			return nil, err
		}
		if err := river.AddWorkerSafely(workers, &billing.ReportWorker{Billing: o.billing, Store: store, Logger: o.log}); err != nil {
			return nil, err
		}
		cfg.PlatformPeriodic = append(cfg.PlatformPeriodic, river.NewPeriodicJob(river.PeriodicInterval(time.Hour),
			func() (river.JobArgs, *river.InsertOpts) { return billing.ReportArgs{}, nil }, nil))
		cfg.PlatformPeriodic = append(cfg.PlatformPeriodic, river.NewPeriodicJob(river.PeriodicInterval(time.Minute),
			func() (river.JobArgs, *river.InsertOpts) { return billing.OverdueArgs{}, nil }, &river.PeriodicJobOpts{RunOnStart: true}))
	}
	return cfg, nil
}

// serve runs the server until ctx is done.
func serve(ctx context.Context, o serveOptions) error {
	pool, err := pgxpool.New(ctx, o.databaseURL)
	if err != nil {
		return fmt.Errorf("catalog database URL: %w", err)
	}
	defer pool.Close()
	if err := upgradeSystem(ctx, pool, o.log); err != nil {
		return err
	}
	metrics := prometheus.NewRegistry()
	metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	o.log = slog.New(tenantkit.LogHandler(o.log.Handler()))
	// The workers reach the Kit when a job runs, which Start begins.
	var kit *tenantkit.Kit
	jobsCfg, err := o.kitJobs(func() *tenantkit.Kit { return kit }, pool, metrics)
	if err != nil {
		return err
	}
	kit, err = tenantkit.New(tenantkit.Config{
		Pool: pool, DatabaseURL: o.databaseURL, RedisURL: o.redisURL, Logger: o.log,
		Observability:  o.kitObservability(),
		Resolvers:      o.resolvers(),
		SettingsSchema: o.settingsSchema,
		RateLimit:      tenantkit.RateLimitConfig{Disabled: o.noRateLimit, FailOpen: o.rateLimitFailOpen},
		Integrations:   o.kitIntegrations(),
		Jobs:           jobsCfg,
		Registerer:     metrics,
		Branding:       tenantkit.BrandingConfig{AssetHost: o.assetHost},
	})
	if err != nil {
		return err
	}
	defer kit.Close()
	if o.rlsCheck {
		if err := auditBeforeServing(ctx, kit); err != nil {
			return err
		}
	}
	var after func(context.Context, bus.Message)
	if o.redisURL != "" {
		r, err := bus.NewRedis(bus.RedisConfig{URL: o.redisURL, Logger: o.log})
		if err != nil {
			return err
		}
		defer r.Close()
		after = func(ctx context.Context, m bus.Message) {
			if err := r.Publish(context.WithoutCancel(ctx), m); err != nil {
				o.log.Warn("publish invalidation to redis", "err", err)
			}
		}
	}
	var app http.Handler
	if o.app != nil {
		app = o.app(kit)
	}
	var reg *registry.Registry
	if o.integrationsOn() {
		store, err := catalog.NewStore(catalog.StoreConfig{Pool: pool, AfterCommitFunc: after})
		if err != nil {
			return err
		}
		if reg, _, err = registry.Standard(registry.StandardConfig{Store: store, KMS: o.kms, Defaults: o.platform.Defaults, Logger: o.log}); err != nil {
			return err
		}
	}
	var sessions adminapi.BillingSessions
	if o.billing != nil {
		store, err := catalog.NewStore(catalog.StoreConfig{Pool: pool, AfterCommitFunc: after})
		if err != nil {
			return err
		}
		sessions = billing.Sessions{Billing: o.billing, Store: store}
	}
	var webhook http.Handler
	if o.billing != nil && o.webhookSecret != "" {
		store, err := catalog.NewStore(catalog.StoreConfig{Pool: pool, AfterCommitFunc: after})
		if err != nil {
			return err
		}
		webhook = billing.Webhook(store, o.webhookSecret, func(ctx context.Context, tx pgx.Tx, args river.JobArgs) error {
			_, err := kit.Jobs().InsertTx(ctx, tx, args, nil)
			return err
		}, o.log)
	}
	front, err := o.tlsFront(ctx, pool, after)
	if err != nil {
		return err
	}
	var domainChanged func(string)
	if front != nil {
		defer front.Close()
		domainChanged = func(host string) {
			if err := front.Invalidate(context.WithoutCancel(ctx), host); err != nil {
				o.log.Warn("tls: reload the custom domains after a change", "host", host, "err", err)
			}
		}
	}
	srv, err := server.New(server.Config{Pool: pool, Kit: kit, AdminToken: o.adminToken, App: app,
		Migrations: o.migrations, AfterCommitFunc: after, Logger: o.log,
		Gatherer: metrics, SettingsSchema: o.settingsSchema, Registry: reg, PlanCheck: o.planCheck(), StripeWebhook: webhook,
		Billing: sessions, BaseDomain: o.baseDomain, DomainProof: o.domainProof().Check, DomainChanged: domainChanged,
		AssetHost: o.assetHost})
	if err != nil {
		return err
	}
	runner, err := mover(pool, after, o)
	if err != nil {
		return err
	}
	store, err := catalog.NewStore(catalog.StoreConfig{Pool: pool, AfterCommitFunc: after})
	if err != nil {
		return err
	}
	metrics.MustRegister(server.MoveCollector(store), jobs.Collector(pool))
	l, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", o.addr, err)
	}
	hb, err := heartbeat(ctx, pool, l.Addr().String(), o.log)
	if err != nil {
		l.Close()
		return err
	}
	if o.ready != nil {
		o.ready(l.Addr().String())
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return kit.Start(gctx) })
	if runner != nil {
		g.Go(func() error { return runner.Run(gctx) })
	}
	g.Go(func() error { return srv.Serve(gctx, l) })
	if front != nil {
		if err := o.serveTLS(gctx, g, front, srv.Handler()); err != nil {
			return err
		}
	}
	g.Go(func() error { return runStorageSampler(gctx, store, o.observe.storageInterval, o.log) })
	g.Go(func() error { return hb.Run(gctx) })
	err = g.Wait()
	// Only once nothing is served any more: until then a contract
	// migration must still see this instance.
	removeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if rerr := hb.Remove(removeCtx); rerr != nil {
		o.log.Warn("remove this instance from the catalog's instances", "err", rerr)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// heartbeat records this instance in the catalog before it serves, so
// that catalog migrate holds back the contract migrations that would
// break it, and returns the Heartbeat that keeps the record fresh.
func heartbeat(ctx context.Context, pool *pgxpool.Pool, addr string, log *slog.Logger) (*catalog.Heartbeat, error) {
	hb, err := catalog.NewHeartbeat(catalog.HeartbeatConfig{Pool: pool, Version: binaryVersion(), Addr: addr, Logger: log})
	if err != nil {
		return nil, err
	}
	if err := hb.Beat(ctx); err != nil {
		return nil, fmt.Errorf("record this instance in the catalog: %w", err)
	}
	return hb, nil
}

// mover returns the move runner the server runs beside it, or nil when it
// runs none: no application migrations to build targets with, or
// --no-mover.
func mover(pool *pgxpool.Pool, after func(context.Context, bus.Message), o serveOptions) (*move.Runner, error) {
	if o.migrations == nil || o.noMover {
		return nil, nil
	}
	store, err := catalog.NewStore(catalog.StoreConfig{Pool: pool, AfterCommitFunc: after})
	if err != nil {
		return nil, err
	}
	return move.New(move.Config{Store: store, Migrations: o.migrations, Logger: o.log})
}

// auditBeforeServing runs the RLS audit on every target of the catalog.
func auditBeforeServing(ctx context.Context, kit *tenantkit.Kit) error {
	vs, err := kit.CheckRLS(ctx)
	if err != nil {
		return fmt.Errorf("rls check before serving: %w", err)
	}
	if len(vs) > 0 {
		return fmt.Errorf("refusing to serve: rls check found %d violations, first %s.%s: %s (run tenantkit rls check)",
			len(vs), vs[0].Schema, vs[0].Object, vs[0].Detail)
	}
	return nil
}

// upgradeSystem brings every tenant database's data-plane objects and
// grants up to this release before anything is served: scoped access calls
// functions an earlier release did not install.
func upgradeSystem(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) error {
	store, err := catalog.NewStore(catalog.StoreConfig{Pool: pool})
	if err != nil {
		return err
	}
	n, err := placement.UpgradeSystem(ctx, store, "")
	if err != nil {
		return fmt.Errorf("upgrade the data-plane objects of tenant databases: %w", err)
	}
	log.Debug("data-plane objects up to date", "databases", n)
	return nil
}

// planCheck is the check of plans' prices with Stripe, nil with billing
// off.
func (o serveOptions) planCheck() func(context.Context, catalog.PlanBilling) error {
	if o.billing == nil {
		return nil
	}
	return o.billing.CheckPrices
}

// checkBillingFlags refuses billing flags of unknown values.
func (o serveOptions) checkBillingFlags() error {
	switch {
	case o.billingGrace < 0:
		return usageError{errors.New("--billing-grace must not be negative")}
	case o.billingSync.UpgradeProration != "" && o.billingSync.UpgradeProration != "always_invoice" && o.billingSync.UpgradeProration != "create_prorations":
		return usageError{fmt.Errorf("--billing-upgrade-proration %q: want always_invoice or create_prorations", o.billingSync.UpgradeProration)}
	case o.billingCancel != "" && o.billingCancel != "now" && o.billingCancel != "period-end":
		return usageError{fmt.Errorf("--billing-cancel %q: want now or period-end", o.billingCancel)}
	case o.billingOnDeleted != "" && o.billingOnDeleted != "suspend" && o.billingOnDeleted != "downgrade":
		return usageError{fmt.Errorf("--billing-on-subscription-deleted %q: want suspend or downgrade", o.billingOnDeleted)}
	}
	return nil
}

// domainProof is how custom domains' DNS proof is checked.
func (o serveOptions) domainProof() domains.Proof {
	return domains.Proof{Resolver: o.dnsResolver}
}

// tlsFront is the TLS front of --tls-addr: the base domain's certificate
// from files, and certificates for verified custom domains of active
// tenants ordered on demand from the ACME CA, kept in the catalog
// (certstore) so that every instance shares them. nil without --tls-addr.
func (o serveOptions) tlsFront(ctx context.Context, pool *pgxpool.Pool, after func(context.Context, bus.Message)) (*tlsserve.Front, error) {
	if o.tls.addr == "" {
		return nil, nil
	}
	store, err := catalog.NewStore(catalog.StoreConfig{Pool: pool, AfterCommitFunc: after})
	if err != nil {
		return nil, err
	}
	cfg := &tlsserve.Config{
		Storage:  certstore.New(pool, certstore.Options{Logger: o.log}),
		ListFunc: store.ServableDomains,
		// Another instance's verify reaches this one within 10 s (a
		// single indexed query); this instance's own at once (Invalidate).
		RefreshInterval: 10 * time.Second,
		DirectoryURL:    o.tls.acmeDirectory,
		Email:           o.tls.acmeEmail,
		Logger:          o.log,
		OnCertificate: func(ctx context.Context, host string, notAfter time.Time, err error) {
			status, msg, exp := catalog.SSLActive, "", &notAfter
			if err != nil {
				status, msg, exp = catalog.SSLFailed, err.Error(), nil
			}
			if serr := store.SetDomainSSL(context.WithoutCancel(ctx), host, status, msg, exp); serr != nil && !errors.Is(serr, catalog.ErrDomainNotFound) {
				o.log.Warn("tls: record a custom domain's certificate", "host", host, "err", serr)
			}
		},
	}
	if o.tls.certFile != "" {
		cfg.BaseDomain, cfg.StaticCertFile, cfg.StaticKeyFile = o.baseDomain, o.tls.certFile, o.tls.keyFile
	}
	if o.tls.acmeRoots != "" {
		pem, err := os.ReadFile(o.tls.acmeRoots)
		if err != nil {
			return nil, usageError{fmt.Errorf("--acme-ca-roots: %w", err)}
		}
		cfg.CARoots = x509.NewCertPool()
		if !cfg.CARoots.AppendCertsFromPEM(pem) {
			return nil, usageError{fmt.Errorf("--acme-ca-roots %s: no PEM certificate in it", o.tls.acmeRoots)}
		}
	}
	if o.tls.httpAddr != "" {
		_, port, err := net.SplitHostPort(o.tls.httpAddr)
		if err != nil {
			return nil, usageError{fmt.Errorf("--http-redirect-addr %q: %w", o.tls.httpAddr, err)}
		}
		cfg.HTTPPort, _ = strconv.Atoi(port)
	}
	if _, port, err := net.SplitHostPort(o.tls.addr); err == nil {
		cfg.HTTPSPort, _ = strconv.Atoi(port)
	}
	return tlsserve.New(ctx, cfg)
}

// serveTLS serves h over TLS on --tls-addr and, on --http-redirect-addr,
// the ACME HTTP-01 challenges and a redirect of everything else to HTTPS.
func (o serveOptions) serveTLS(ctx context.Context, g *errgroup.Group, front *tlsserve.Front, h http.Handler) error {
	tl, err := net.Listen("tcp", o.tls.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", o.tls.addr, err)
	}
	if o.tls.ready != nil {
		o.tls.ready(tl.Addr().String())
	}
	g.Go(func() error {
		// Refused handshakes (unknown names, scanners) are the front's
		// debug log, not a line each on stderr.
		errLog := slog.NewLogLogger(o.log.Handler(), slog.LevelDebug)
		return server.ServeHTTP(ctx, &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute, ErrorLog: errLog},
			tls.NewListener(tl, front.TLSConfig()))
	})
	if o.tls.httpAddr != "" {
		hl, err := net.Listen("tcp", o.tls.httpAddr)
		if err != nil {
			return fmt.Errorf("listen on %s: %w", o.tls.httpAddr, err)
		}
		g.Go(func() error {
			return server.ServeHTTP(ctx, &http.Server{Handler: front.HTTPHandler(nil), ReadHeaderTimeout: 10 * time.Second}, hl)
		})
	}
	return nil
}

// tlsOptions configure the TLS front.
type tlsOptions struct {
	// addr is --tls-addr; httpAddr --http-redirect-addr.
	addr, httpAddr string
	// certFile and keyFile are the base domain's certificate (covering it
	// and *.BASE-DOMAIN).
	certFile, keyFile string
	// acmeDirectory, acmeEmail and acmeRoots: the ACME CA, the account's
	// contact, and a PEM file of roots for the CA's API (a test CA).
	acmeDirectory, acmeEmail, acmeRoots string
	// ready is told the TLS address once it listens.
	ready func(addr string)
}
