package tenantkit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"

	"github.com/tenantkit/tenantkit/internal/jobs"
	"github.com/tenantkit/tenantkit/internal/router"
	"github.com/tenantkit/tenantkit/internal/scope"
)

// JobsConfig turns on background jobs on River (riverqueue/river), whose
// tables the catalog holds in schema tenantkit_jobs (tenantkit catalog
// migrate creates them).
//
// A job is enqueued with its tenant (Kit.Enqueue, Kit.EnqueueTx) and
// worked with it: the worker's context carries the same tenant context an
// HTTP handler gets from Kit.Middleware, so a job calls Kit.Tx, Kit.Flag
// or Kit.Email as a handler does. A suspended tenant's jobs wait; a
// deleted tenant's jobs are cancelled.
type JobsConfig struct {
	// Workers are the application's workers (river.AddWorker). Without
	// them the Kit enqueues jobs but works none. Defaults to nil.
	Workers *river.Workers
	// Queues are the queues this process works, when Workers is set.
	// Defaults to river.QueueDefault with 10 workers.
	Queues map[string]river.QueueConfig
	// FetchPollInterval is how often an idle queue looks for jobs when no
	// notification arrived. Defaults to 1s, River's.
	FetchPollInterval time.Duration
	// SuspendedSnooze is how long a suspended tenant's job waits before it
	// looks at its tenant again; no attempt is spent. Defaults to 30s.
	SuspendedSnooze time.Duration
	// ReconcileInterval is how often this process relays the jobs other
	// processes left in the tenants' databases (they died between a commit
	// and its relay), retries relays that failed, and tells the catalog it
	// is alive. Defaults to 2s.
	ReconcileInterval time.Duration
	// Middleware is more River middleware, run inside the tenant's (it
	// sees the tenant context). Defaults to nil.
	Middleware []rivertype.Middleware
	// Periodic are jobs that run once per period for every active tenant
	// (see TenantPeriodicJob); they need Workers. Defaults to none.
	Periodic []TenantPeriodicJob
	// PlatformPeriodic are River periodic jobs of the platform, not of a
	// tenant (the billing sync, say): River's elected leader enqueues
	// them. They need Workers. Defaults to none.
	PlatformPeriodic []*river.PeriodicJob
}

// Job metadata keys: every tenant job names its tenant.
const (
	jobTenantKey = "tenant_id"
	jobSlugKey   = "tenant"
	// jobCommitKey named, in an earlier design, the transaction a job
	// waited for; metadata given under it is dropped.
	jobCommitKey = "tenantkit_commit"
)

// ErrNotScopedTx is returned by EnqueueTx for a transaction Kit.Tx did
// not give.
var ErrNotScopedTx = errors.New("tenantkit: EnqueueTx needs the transaction Kit.Tx gives its function")

// jobRunner is the Kit's River client and the relay of its outbox.
type jobRunner struct {
	k      *Kit
	cfg    JobsConfig
	client *river.Client[pgx.Tx]
	// relayClient inserts the jobs relayed from the outbox, as they were
	// captured at enqueue (see outboxRelay).
	relayClient *river.Client[pgx.Tx]
	// instance names this process in tenantkit.job_outbox_marks.
	instance uuid.UUID
	ids      idPool
	// relays carries the outbox rows of committed transactions to the
	// relay goroutine, so that relaying them costs the transaction nothing.
	relays  chan relayItem
	stop    chan struct{}
	stopped chan struct{}
	// mu guards marked and sweep.
	mu sync.Mutex
	// marked are the databases this process has marked as ones where it
	// may leave outbox rows.
	marked map[router.Key]bool
	// sweep are the databases whose outbox this process relays whole on
	// its next round: a relay there failed, or a commit's outcome is
	// unknown.
	sweep map[router.Key]bool
	// periodic are the periodic declarations, by name.
	periodic map[string]TenantPeriodicJob
	// dead leaves the outbox rows of committed transactions unrelayed and
	// the marks unrefreshed, as a process that died right after its commits
	// (tests).
	dead atomic.Bool
}

func (k *Kit) buildJobs() error {
	cfg := k.cfg.Jobs
	if cfg == nil {
		return nil
	}
	c := *cfg
	if c.SuspendedSnooze <= 0 {
		c.SuspendedSnooze = 30 * time.Second
	}
	if c.ReconcileInterval <= 0 {
		c.ReconcileInterval = 2 * time.Second
	}
	j := &jobRunner{k: k, cfg: c, instance: uuid.New(), relays: make(chan relayItem, 1024),
		stop: make(chan struct{}), stopped: make(chan struct{}), marked: map[router.Key]bool{}, sweep: map[router.Key]bool{}}
	logger := slog.New(warnOnly{k.log.Handler()})
	mw := append([]rivertype.Middleware{&tenantWork{j: j}, &tenantUnique{}}, c.Middleware...)
	rc := &river.Config{
		Schema:            jobs.Schema,
		FetchPollInterval: c.FetchPollInterval,
		Logger:            logger,
		// The capture is innermost: EnqueueTx sees the job as River
		// would insert it, after every other insert middleware.
		Middleware: append(mw, &outboxCapture{}),
	}
	if c.Workers != nil {
		rc.Workers = c.Workers
		rc.Queues = c.Queues
		if rc.Queues == nil {
			rc.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 10}}
		}
	}
	if err := j.buildPeriodic(rc); err != nil {
		return err
	}
	rc.PeriodicJobs = append(rc.PeriodicJobs, c.PlatformPeriodic...)
	client, err := river.NewClient(riverpgxv5.New(k.pool), rc)
	if err != nil {
		return fmt.Errorf("tenantkit: jobs: %w", err)
	}
	j.client = client
	if j.relayClient, err = river.NewClient(riverpgxv5.New(k.pool), &river.Config{
		Schema: jobs.Schema, Logger: logger, Middleware: []rivertype.Middleware{&outboxRelay{}},
	}); err != nil {
		return fmt.Errorf("tenantkit: jobs: %w", err)
	}
	k.jobs = j
	go j.relayLoop()
	k.closers = append(k.closers, func() { close(j.stop); <-j.stopped })
	return nil
}

// Jobs returns the Kit's River client, for what Enqueue does not cover
// (JobList, JobCancel, subscriptions). It is nil without Config.Jobs.
func (k *Kit) Jobs() *river.Client[pgx.Tx] {
	if k.jobs == nil {
		return nil
	}
	return k.jobs.client
}

// ErrJobsOff is returned by Enqueue and EnqueueTx on a Kit without
// Config.Jobs.
var ErrJobsOff = errors.New("tenantkit: jobs are off: set Config.Jobs")

// Enqueue inserts a job for the tenant of ctx (ErrNoTenant without one),
// outside any transaction: it is available as soon as Enqueue returns.
// opts may be nil; its Metadata, if any, is kept beside the tenant's.
// River's UniqueOpts hold per tenant: the same unique job of two tenants
// is two jobs.
func (k *Kit) Enqueue(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	if k.jobs == nil {
		return nil, ErrJobsOff
	}
	t, ok := FromContext(ctx)
	if !ok {
		return nil, ErrNoTenant
	}
	o, err := tenantOpts(opts, t)
	if err != nil {
		return nil, err
	}
	return k.jobs.client.Insert(ctx, args, o)
}

// EnqueueTx enqueues a job for the tenant of ctx that exists if and only if
// tx commits: tx is the transaction Kit.Tx gives its function
// (ErrNotScopedTx otherwise), on whatever database the tenant's data
// lives. The job is written to that database's outbox
// (tenantkit.job_outbox) in tx, as River would insert it: with its id,
// drawn now from River's sequence, its queue, priority, schedule and
// unique key. When tx commits, the Kit relays it to River at once; should
// the process die first, any Kit working jobs relays it (see
// JobsConfig.ReconcileInterval). A job of a rolled-back transaction never
// existed.
//
// The result's Job is the job as it will be inserted: State is the one it
// will have. A unique job (opts.UniqueOpts, per tenant) is checked
// against River's jobs when it is relayed, so a duplicate is skipped then
// and its id names no job. Insert middleware runs now, with ctx; River's
// insert hooks run at the relay.
func (k *Kit) EnqueueTx(ctx context.Context, tx pgx.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	if k.jobs == nil {
		return nil, ErrJobsOff
	}
	t, ok := FromContext(ctx)
	if !ok {
		return nil, ErrNoTenant
	}
	jt, ok := tx.(*jobTx)
	if !ok {
		return nil, ErrNotScopedTx
	}
	if jt.target.Tenant != t.ID {
		return nil, fmt.Errorf("tenantkit: EnqueueTx for tenant %s in a transaction of tenant %s", t.ID, jt.target.Tenant)
	}
	o, err := tenantOpts(opts, t)
	if err != nil {
		return nil, err
	}
	return k.jobs.enqueueTx(ctx, jt, args, o)
}

// JobTenant returns the tenant a job was enqueued for (by Kit.Enqueue,
// Kit.EnqueueTx or a TenantPeriodicJob): its id and its slug as it was
// then. ok is false for a job enqueued without a tenant, or whose metadata
// names none that parses. It is for code that sees River's job rows
// without a worker's context: event subscribers, error handlers, tools.
func JobTenant(job *rivertype.JobRow) (id uuid.UUID, slug string, ok bool) {
	if job == nil {
		return uuid.Nil, "", false
	}
	id, slug, err := jobTenant(job.Metadata)
	return id, slug, err == nil && id != uuid.Nil
}

// jobTenant reads the tenant from a job's metadata: uuid.Nil for none, an
// error for a tenant key that is not a tenant id.
func jobTenant(metadata []byte) (uuid.UUID, string, error) {
	var meta struct {
		Tenant string `json:"tenant_id"`
		Slug   string `json:"tenant"`
	}
	if err := json.Unmarshal(metadata, &meta); err != nil || meta.Tenant == "" {
		return uuid.Nil, "", nil
	}
	id, err := uuid.Parse(meta.Tenant)
	if err != nil {
		return uuid.Nil, "", fmt.Errorf("tenantkit: job names tenant %q, not a tenant id", meta.Tenant)
	}
	return id, meta.Slug, nil
}

// tenantOpts is opts with the tenant in its metadata.
func tenantOpts(opts *river.InsertOpts, t *Tenant) (*river.InsertOpts, error) {
	var o river.InsertOpts
	if opts != nil {
		o = *opts
	}
	meta := map[string]any{}
	if len(o.Metadata) > 0 {
		if err := json.Unmarshal(o.Metadata, &meta); err != nil {
			return nil, fmt.Errorf("tenantkit: InsertOpts.Metadata must be a JSON object: %w", err)
		}
	}
	meta = maps.Clone(meta)
	// The tenant is the Kit's to say: metadata the caller gives under its
	// keys is replaced, and the key of an earlier design dropped.
	meta[jobTenantKey], meta[jobSlugKey] = t.ID.String(), t.Slug
	delete(meta, jobCommitKey)
	b, err := json.Marshal(meta)
	if err != nil {
		return nil, err
	}
	o.Metadata = b
	return &o, nil
}

// jobTx is the transaction Kit.Tx gives its function when jobs are on:
// it remembers the jobs enqueued in it.
type jobTx struct {
	pgx.Tx
	target scope.Target
	ids    []int64
}

// tx runs one attempt of a scoped transaction (begin runs it) with fn
// given a jobTx, then hands the jobs fn enqueued to the relay when the
// transaction committed. When the commit itself failed, whether it took
// effect is unknown here: the database's outbox is relayed whole on the
// next round, which finds the rows if it did.
func (j *jobRunner) tx(ctx context.Context, t scope.Target, fn func(pgx.Tx) error, begin func(func(pgx.Tx) error) error) error {
	jt := &jobTx{target: t}
	var fnErr error
	err := begin(func(tx pgx.Tx) error {
		jt.Tx = tx
		fnErr = fn(jt)
		return fnErr
	})
	if len(jt.ids) == 0 || j.dead.Load() {
		return err
	}
	key := router.Key{Cluster: t.Cluster, Database: t.Database}
	switch {
	case err == nil:
		j.queue(relayItem{key: key, tenant: t.Tenant, ids: jt.ids})
	case fnErr == nil:
		j.mu.Lock()
		j.sweep[key] = true
		j.mu.Unlock()
	}
	return err
}

// run works jobs until ctx is done, then stops River, letting running
// jobs finish for up to 10 seconds.
func (j *jobRunner) run(ctx context.Context) error {
	if j.cfg.Workers == nil {
		return nil
	}
	if err := j.client.Start(ctx); err != nil {
		return fmt.Errorf("tenantkit: jobs: %w", err)
	}
	<-ctx.Done()
	stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := j.client.Stop(stopCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

// tenantWork is the River middleware that works a job with its tenant.
type tenantWork struct {
	river.MiddlewareDefaults
	j *jobRunner
}

// Work restores the tenant context of the job's tenant, or snoozes the job
// while the tenant is suspended, or cancels it when the tenant is deleted.
// A job without a tenant is worked as it is. A tenant's job that runs is
// metered, whatever its outcome: one job and its wall time in the tenant's
// usage, and the job metrics; one snoozed here, before it runs, is not.
func (m *tenantWork) Work(ctx context.Context, job *rivertype.JobRow, doInner func(context.Context) error) (err error) {
	id, slug, err := jobTenant(job.Metadata)
	if err != nil {
		return river.JobCancel(err)
	}
	if id == uuid.Nil {
		return doInner(ctx)
	}
	k := m.j.k
	t, err := k.cache.ByID(ctx, id)
	switch {
	case errors.Is(err, ErrTenantNotFound):
		return river.JobCancel(fmt.Errorf("tenantkit: tenant %s (%s) no longer exists", slug, id))
	case err != nil:
		return err
	case t.Status == StatusDeleted:
		return river.JobCancel(fmt.Errorf("tenantkit: tenant %s is deleted", t.Slug))
	case t.Status == StatusSuspended:
		return river.JobSnooze(m.j.cfg.SuspendedSnooze)
	}
	if limit, ok := t.Limit(JobConcurrencyLimit); ok {
		admitted, err := m.j.admit(ctx, t.ID, job.ID, limit)
		if err != nil {
			return err
		}
		if !admitted {
			return river.JobSnooze(time.Second + rand.N(time.Second))
		}
		defer m.j.release(job.ID)
	}
	ctx = WithTenant(ctx, t)
	o := k.obs
	if o == nil {
		return doInner(ctx)
	}
	if o.tracing != nil {
		var end func(error)
		ctx, end = o.tracing.StartJob(ctx, job.Kind, job.ID, k.extra(t).traceAttrs)
		defer func() { end(err) }()
	}
	return o.job(k, t, job.Kind, func() error { return doInner(ctx) })
}

// JobConcurrencyLimit is the plan limit (overridable per tenant) on how
// many of a tenant's jobs run at once, across every worker process. A
// job over it is snoozed for a second or two, no attempt spent, and the
// tenant's other waiting jobs drop to River's lowest priority, so that
// one tenant's backlog does not hold up the others' jobs. Without the
// limit, a tenant's jobs are not capped.
const JobConcurrencyLimit = "max_concurrent_jobs"

// admit asks the catalog whether job may run now under its tenant's cap.
func (j *jobRunner) admit(ctx context.Context, tenant uuid.UUID, job int64, limit int64) (bool, error) {
	var ok bool
	err := j.k.pool.QueryRow(ctx, "SELECT tenantkit.admit_job($1, $2, $3)", tenant, job, limit).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("tenantkit: admit job %d: %w", job, err)
	}
	return ok, nil
}

// release gives back a job's admission once it ran. Should this fail, the
// admission stops counting once the job is no longer running.
func (j *jobRunner) release(job int64) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := j.k.pool.Exec(ctx, "DELETE FROM tenantkit.job_admissions WHERE job_id = $1", job); err != nil {
		j.k.log.Warn("tenantkit: release job admission", "job", job, "err", err)
	}
}

// warnOnly passes on River's warnings and errors, not its routine info.
type warnOnly struct{ slog.Handler }

func (w warnOnly) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && w.Handler.Enabled(ctx, l)
}
