package tenantkit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tenantkit/tenantkit/internal/bus"
	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/dataplane"
	"github.com/tenantkit/tenantkit/internal/fairshare"
	"github.com/tenantkit/tenantkit/internal/flags"
	"github.com/tenantkit/tenantkit/internal/keys"
	"github.com/tenantkit/tenantkit/internal/mailer"
	"github.com/tenantkit/tenantkit/internal/meter"
	"github.com/tenantkit/tenantkit/internal/ratelimit"
	"github.com/tenantkit/tenantkit/internal/registry"
	"github.com/tenantkit/tenantkit/internal/resolve"
	"github.com/tenantkit/tenantkit/internal/router"
	"github.com/tenantkit/tenantkit/internal/scope"
	"github.com/tenantkit/tenantkit/internal/settings"
	"github.com/tenantkit/tenantkit/internal/tenantcache"
)

// PgBouncerResetQuery is a server_reset_query for a PgBouncer in
// transaction mode in front of tenant databases, with
// server_reset_query_always = 1: everything DISCARD ALL undoes but the
// statements prepared through the protocol, which PgBouncer 1.21 and
// later keep (max_prepared_statements) and DISCARD ALL would make it
// prepare again in every transaction. SQL-level PREPAREs survive it: their
// text stays readable by the next client, as that of PgBouncer's own
// cached statements is, and running one runs it under the running
// tenant's setting and search_path. Where that matters, keep DISCARD ALL.
// A Kit with Config.TransactionPooler resets a session itself when the
// pooler did not (see the README).
const PgBouncerResetQuery = "RESET ALL; CLOSE ALL; UNLISTEN *; SELECT pg_advisory_unlock_all(); DISCARD TEMP; DISCARD SEQUENCES"

// Config configures a Kit.
type Config struct {
	// DatabaseURL connects to the catalog database. Required unless Pool
	// is set.
	DatabaseURL string
	// Pool is a ready pool on the catalog database, used instead of
	// DatabaseURL. The Kit does not close it. Defaults to nil.
	Pool *pgxpool.Pool
	// RedisURL, when set, carries cache invalidations over Redis pub/sub
	// instead of PostgreSQL LISTEN/NOTIFY. Defaults to "" (LISTEN/NOTIFY).
	RedisURL string
	// Resolvers says how requests name their tenant. Defaults to the
	// subdomain of BaseDomain "localhost" only.
	Resolvers ResolverConfig
	// CacheTTL bounds how long a tenant context is served from memory
	// without an invalidation. Defaults to 5 minutes.
	CacheTTL time.Duration
	// NegativeCacheTTL is how long an unknown tenant, slug or host is
	// remembered. Defaults to 5 seconds.
	NegativeCacheTTL time.Duration
	// CacheSize bounds the number of tenant contexts held. Defaults to
	// 100,000.
	CacheSize int
	// ConnBudget bounds the connections all pools to tenant databases hold
	// together. Defaults to 50.
	ConnBudget int32
	// PoolSize bounds the connections of one pool (one per cluster and
	// database). Defaults to 10.
	PoolSize int32
	// PoolConfigFunc adjusts every tenant-data pool's configuration before
	// it is created (tracers, say). Defaults to nil.
	PoolConfigFunc func(*pgxpool.Config)
	// TransactionPooler says that tenant pools go through a pooler in
	// transaction mode (PgBouncer): a server connection may have served any
	// client since this process last used it. Connections are then never
	// bound to a tenant: every scoped transaction sets its tenant up, in
	// one statement, and resets the session first unless the pooler reset
	// it (configure PgBouncer's server_reset_query_always; see the
	// README). Statements stay prepared, which PgBouncer 1.21 and later
	// keep with max_prepared_statements (200 by default since 1.22).
	// Defaults to false.
	TransactionPooler bool
	// DisablePreparedStatements sends every tenant statement unprepared,
	// and implies TransactionPooler. Set it when tenant pools go through
	// PgBouncer in transaction mode before 1.21, or without
	// max_prepared_statements: named prepared statements do not survive
	// there. It costs a parse per statement. Defaults to false.
	DisablePreparedStatements bool
	// DisableSessionBinding makes every scoped transaction set its tenant
	// up, as behind PgBouncer, instead of keeping each pooled connection
	// bound to the tenant it served last (see the README's scoped-access
	// section). Defaults to false.
	DisableSessionBinding bool
	// StatementCacheSize bounds the statements prepared on each tenant
	// connection, by the single-statement helpers and by pgx inside Tx
	// each: the least recently used is deallocated to make room, so an
	// application that inlines values leaves a bounded number per server
	// process. Defaults to 512.
	StatementCacheSize int
	// RLSCheckOnStart makes Start audit row-level security on every target
	// first (see CheckRLS) and fail instead of running when it finds a
	// violation. Defaults to false.
	RLSCheckOnStart bool
	// DisableFairShare turns off the cap on each tenant's concurrent scoped
	// transactions on shared pools (its max_concurrent_tx limit). Defaults
	// to false: tenants with the limit wait for their own slots.
	DisableFairShare bool
	// SettingsSchema is the JSON Schema (draft 2020-12) of tenant
	// settings: Settings fills in its defaults. Defaults to nil: settings
	// are any JSON object, without defaults.
	SettingsSchema []byte
	// RateLimit configures the per-tenant request rate limits Middleware
	// enforces. Defaults to limits kept in this process, or in Redis when
	// RedisURL is set, failing closed.
	RateLimit RateLimitConfig
	// Integrations configures tenants' own integrations and email.
	// Defaults to none.
	Integrations IntegrationsConfig
	// Observability configures per-tenant metrics, usage metering, noisy
	// neighbour detection, request logs and tracing. Defaults to metrics
	// with the 20 busiest tenants labelled, usage flushed every 10 seconds,
	// noisy tenants reported but not throttled, no request log, no tracing.
	Observability ObservabilityConfig
	// Jobs turns on background jobs on River, enqueued and worked with
	// their tenant. Defaults to nil: no jobs.
	Jobs *JobsConfig
	// Registerer receives the Kit's Prometheus metrics. Defaults to nil:
	// not registered.
	Registerer prometheus.Registerer
	// Branding is the platform's own look: what a tenant's branding falls
	// back to, field by field (Kit.Branding), and the asset host tenants'
	// logos, favicons and url() in custom CSS must be on. Defaults to
	// internal defaults and no asset host.
	Branding BrandingConfig
	// Logger receives the Kit's logs. Defaults to slog.Default().
	Logger *slog.Logger
}

// RateLimitConfig configures per-tenant request rate limits. A tenant's
// rate is its api_rps limit and its burst its api_burst limit (api_rps
// when unset); a tenant without api_rps is not limited.
type RateLimitConfig struct {
	// Disabled turns rate limiting off. Defaults to false.
	Disabled bool
	// InProcess keeps the limits in this process even when RedisURL is
	// set: each instance then allows the full rate. Defaults to false:
	// with RedisURL, instances share the limit through Redis.
	InProcess bool
	// FailOpen lets requests through while Redis cannot be reached.
	// Defaults to false: they get 503 with Retry-After. Either way
	// tenantkit_ratelimit_backend_errors_total counts them.
	FailOpen bool
}

func (c *Config) validate() error {
	if c.DatabaseURL == "" && c.Pool == nil {
		return errors.New("tenantkit: Config.DatabaseURL or Config.Pool is required")
	}
	if c.StatementCacheSize < 0 {
		return errors.New("tenantkit: Config.StatementCacheSize must not be negative")
	}
	if c.CacheTTL < 0 || c.NegativeCacheTTL < 0 || c.CacheSize < 0 {
		return errors.New("tenantkit: cache durations and size must not be negative")
	}
	return nil
}

// Kit is the data plane of tenantkit inside an application.
type Kit struct {
	cfg Config
	log *slog.Logger
	// noResetOnce logs once that the pooler does not reset sessions.
	noResetOnce sync.Once
	pool        *pgxpool.Pool
	ownsPool    bool
	store       *catalog.Store
	cache       *tenantcache.Cache
	router      *router.Router
	scoper      *scope.Scoper
	binds       scope.Bindings
	path        *dataplane.Path
	clusters    sync.Map // cluster name → app URL
	resolvers   []resolve.Resolver
	closers     []func()
	sub         subscriber
	fair        fairshare.Slots
	schema      *settings.Schema
	flags       *flags.Engine
	provider    *flags.Provider
	limiter     ratelimit.Limiter
	registry    *registry.Registry
	keyring     *keys.Keyring
	mailer      *mailer.Mailer
	obs         *observer
	jobs        *jobRunner
	// sinkFunc wraps the usage sink and manualTick leaves the load window
	// to the caller (tests); pruneEvery is how often usage is pruned
	// (usagePrune when 0).
	sinkFunc   func(meter.Sink) meter.Sink
	manualTick bool
	pruneEvery time.Duration
}

type subscriber interface {
	Run(ctx context.Context, h bus.Handler) error
	Connected() bool
}

// New returns a Kit. It does not connect yet: the pool connects on first
// use, and Start listens for catalog changes.
func New(cfg Config) (*Kit, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	k := &Kit{cfg: cfg, log: cfg.Logger, pool: cfg.Pool}
	if k.log == nil {
		k.log = slog.Default()
	}
	if k.pool == nil {
		pool, err := pgxpool.New(context.Background(), cfg.DatabaseURL)
		if err != nil {
			return nil, fmt.Errorf("tenantkit: catalog pool: %w", err)
		}
		k.pool, k.ownsPool = pool, true
	}
	var err error
	if k.store, err = catalog.NewStore(catalog.StoreConfig{Pool: k.pool, BrandingPolicy: k.brandingPolicy()}); err != nil {
		return nil, err
	}
	if cfg.SettingsSchema != nil {
		if k.schema, err = settings.Compile(cfg.SettingsSchema); err != nil {
			return nil, fmt.Errorf("tenantkit: settings schema: %w", err)
		}
	}
	if k.cache, err = tenantcache.New(tenantcache.Config{
		Source: source{k.store, k}, TTL: cfg.CacheTTL, NegativeTTL: cfg.NegativeCacheTTL, MaximumSize: cfg.CacheSize,
	}); err != nil {
		return nil, err
	}
	if err := k.buildObserver(); err != nil {
		k.cache.Close()
		return nil, err
	}
	if k.router, err = router.New(router.Config{
		URLFunc: k.clusterURL, Budget: cfg.ConnBudget, PoolSize: cfg.PoolSize, ConfigFunc: k.poolConfig,
		NoPreparedStatements: cfg.DisablePreparedStatements,
	}); err != nil {
		return nil, err
	}
	k.closers = append(k.closers, k.router.Close)
	// Behind a pooler in transaction mode (and without prepared
	// statements, taken to mean PgBouncer before 1.21), server
	// connections may have served anyone.
	k.binds.Connected = func() bool { return k.sub != nil && k.sub.Connected() }
	k.binds.Sweep = func() { dataplane.SweepBindings(k.router, k.scoper) }
	k.scoper = scope.New(scope.Config{
		Shared:     cfg.TransactionPooler || cfg.DisablePreparedStatements,
		Unprepared: cfg.DisablePreparedStatements, CacheSize: cfg.StatementCacheSize,
		Bind: !cfg.DisableSessionBinding, Binding: k.binds.Allow,
		NoPoolerReset: func() {
			k.noResetOnce.Do(func() {
				k.log.Warn("tenantkit: the pooler does not reset server sessions after each transaction, so every scoped " +
					"transaction resets its session itself, which is slower; set server_reset_query_always = 1 and " +
					"server_reset_query to tenantkit.PgBouncerResetQuery")
			})
		},
	})
	k.path = dataplane.New(k.pathConfig())
	if err := k.buildFlags(); err != nil {
		k.Close()
		return nil, err
	}
	if err := k.buildLimiter(); err != nil {
		k.Close()
		return nil, err
	}
	if err := k.buildIntegrations(); err != nil {
		k.Close()
		return nil, err
	}
	if err := k.buildResolvers(); err != nil {
		k.Close()
		return nil, err
	}
	if err := k.buildSubscriber(); err != nil {
		k.Close()
		return nil, err
	}
	if err := k.buildJobs(); err != nil {
		k.Close()
		return nil, err
	}
	return k, nil
}

func (k *Kit) buildFlags() error {
	var err error
	if k.flags, err = flags.NewEngine(flags.EngineConfig{LoadFunc: k.loadFlags, Logger: k.log}); err != nil {
		return err
	}
	k.provider, err = flags.NewProvider(flags.ProviderConfig{
		Evaluator: k.flags,
		PlanFunc: func(ctx context.Context, id uuid.UUID) (string, error) {
			t, err := k.cache.ByID(ctx, id)
			if err != nil {
				return "", err
			}
			return t.Plan, nil
		},
	})
	return err
}

func (k *Kit) buildLimiter() error {
	rl := k.cfg.RateLimit
	switch {
	case rl.Disabled:
		return nil
	case k.cfg.RedisURL != "" && !rl.InProcess:
		r, err := ratelimit.NewRedis(ratelimit.RedisConfig{
			URL: k.cfg.RedisURL, FailOpen: rl.FailOpen, Registerer: k.cfg.Registerer, Logger: k.log,
		})
		if err != nil {
			return fmt.Errorf("tenantkit: rate limits in redis: %w", err)
		}
		k.limiter = r
		k.closers = append(k.closers, func() { _ = r.Close() })
	default:
		l, err := ratelimit.NewLocal(ratelimit.LocalConfig{Registerer: k.cfg.Registerer})
		if err != nil {
			return err
		}
		k.limiter = l
		k.closers = append(k.closers, func() { _ = l.Close() })
	}
	return nil
}

func (k *Kit) buildSubscriber() error {
	if k.cfg.RedisURL != "" {
		r, err := bus.NewRedis(bus.RedisConfig{URL: k.cfg.RedisURL, Logger: k.log})
		if err != nil {
			return fmt.Errorf("tenantkit: redis: %w", err)
		}
		k.sub = r
		k.closers = append(k.closers, func() { _ = r.Close() })
		return nil
	}
	connString := k.cfg.DatabaseURL
	if connString == "" {
		connString = k.pool.Config().ConnConfig.ConnString()
	}
	l, err := bus.NewPGListener(bus.PGListenerConfig{ConnString: connString, Logger: k.log})
	if err != nil {
		return err
	}
	k.sub = l
	return nil
}

// Start listens for catalog changes and drops the cached entries they name
// until ctx is done. After a lost connection it reconnects with backoff and
// drops the whole cache, since messages may have been missed. It returns
// when ctx is done.
func (k *Kit) Start(ctx context.Context) error {
	if k.cfg.RLSCheckOnStart {
		if err := k.checkRLSOnStart(ctx); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := k.flags.Refresh(ctx); err != nil {
		k.log.WarnContext(ctx, "tenantkit: load feature flags; retrying in the background", "err", err)
	}
	flagsDone := make(chan struct{})
	go func() {
		defer close(flagsDone)
		_ = k.flags.Run(ctx)
	}()
	defer func() { cancel(); <-flagsDone }()
	if !k.cfg.DisableFairShare {
		sweepDone := make(chan struct{})
		go func() {
			defer close(sweepDone)
			every(ctx, fairshare.SweepEvery, func() { k.fair.Sweep() })
		}()
		defer func() { cancel(); <-sweepDone }()
	}
	if k.jobs != nil {
		jobsDone := make(chan struct{})
		go func() {
			defer close(jobsDone)
			if err := k.jobs.run(ctx); err != nil {
				k.log.ErrorContext(ctx, "tenantkit: jobs", "err", err)
			}
		}()
		defer func() { cancel(); <-jobsDone }()
	}
	if k.obs != nil {
		obsDone := make(chan struct{})
		go func() {
			defer close(obsDone)
			k.runObserver(ctx)
		}()
		defer func() { cancel(); <-obsDone }()
	}
	err := k.sub.Run(ctx, (*invalidator)(k))
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	return err
}

// Listening reports whether Start is connected to the invalidation bus:
// while it is not, cached contexts may be stale for up to CacheTTL.
func (k *Kit) Listening() bool { return k.sub.Connected() }

// Close releases the Kit's resources. Stop Start's context first.
func (k *Kit) Close() {
	// Last opened, first closed: the jobs' relay needs the router.
	for _, c := range slices.Backward(k.closers) {
		c()
	}
	k.cache.Close()
	if k.ownsPool {
		k.pool.Close()
	}
}

// Lookup returns the tenant context of a tenant by id, slug, or verified
// custom domain, from memory when cached.
func (k *Kit) Lookup(ctx context.Context, idOrSlug string) (*Tenant, error) {
	if id, err := uuid.Parse(idOrSlug); err == nil {
		return k.cache.ByID(ctx, id)
	}
	return k.cache.Lookup(ctx, resolve.Ref{Kind: resolve.BySlug, Value: idOrSlug})
}

// InvalidateAll drops every cached tenant context and cluster address.
func (k *Kit) InvalidateAll() { (*invalidator)(k).Reset() }

// invalidator is the Kit as the bus sees it.
type invalidator Kit

func (i *invalidator) Invalidate(m bus.Message) {
	if m.DrainEpoch > 0 {
		if id, err := uuid.Parse(m.Tenant); err == nil {
			var d time.Duration // NaN, ±Inf and out-of-range seconds give the default
			if secs := m.DrainSeconds; secs > 0 && secs < scope.MaxDrain.Seconds()+1 {
				d = time.Duration(secs * float64(time.Second))
			}
			i.binds.Drain(id, m.DrainEpoch, d)
		}
		return
	}
	if m.All {
		i.clusters.Clear()
	}
	if m.Flags {
		i.flags.Invalidate()
	}
	if m.All || m.Tenant != "" || len(m.Slugs) > 0 || len(m.Hosts) > 0 {
		i.cache.Invalidate(m)
	}
	if id, err := uuid.Parse(m.Tenant); err == nil {
		(*Kit)(i).invalidateIntegrations(id)
	}
	if m.All {
		(*Kit)(i).resetIntegrations()
	}
}

func (i *invalidator) Reset() {
	i.binds.GiveUpAll()
	i.clusters.Clear()
	i.cache.Reset()
	i.flags.Invalidate()
	(*Kit)(i).resetIntegrations()
}

// clusterURL returns the app-role URL of a cluster, from memory when it can.
func (k *Kit) clusterURL(ctx context.Context, name string) (string, error) {
	if u, ok := k.clusters.Load(name); ok {
		return u.(string), nil
	}
	c, err := k.store.GetCluster(ctx, name)
	if err != nil {
		return "", err
	}
	k.clusters.Store(name, c.AppURL)
	return c.AppURL, nil
}

func tenantMessage(t *Tenant) bus.Message {
	return bus.Message{Tenant: t.ID.String(), Slugs: []string{t.Slug}}
}
