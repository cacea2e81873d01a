package tenantkit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
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
	// ReconcileInterval is how often this process settles the jobs of
	// transactions whose end it did not see (the process that ran them
	// died, or their commit failed): a committed one's jobs become
	// available, a rolled back one's are deleted. Defaults to 2s.
	ReconcileInterval time.Duration
	// Middleware is more River middleware, run inside the tenant's (it
	// sees the tenant context). Defaults to nil.
	Middleware []rivertype.Middleware
	// Periodic are jobs that run once per period for every active tenant
	// (see TenantPeriodicJob); they need Workers. Defaults to none.
	Periodic []TenantPeriodicJob
}

// Job metadata keys: every tenant job names its tenant, and a job enqueued
// in a scoped transaction names the transaction.
const (
	jobTenantKey = "tenant_id"
	jobSlugKey   = "tenant"
	jobCommitKey = "tenantkit_commit"
)

// jobCommit names the transaction a pending job waits for.
type jobCommit struct {
	XID      string `json:"xid"`
	Cluster  string `json:"cluster"`
	Database string `json:"database"`
}

// ErrNotScopedTx is returned by EnqueueTx for a transaction Kit.Tx did
// not give.
var ErrNotScopedTx = errors.New("tenantkit: EnqueueTx needs the transaction Kit.Tx gives its function")

// jobRunner is the Kit's River client and what settles pending jobs.
type jobRunner struct {
	k      *Kit
	cfg    JobsConfig
	client *river.Client[pgx.Tx]
	// settles carries the jobs of ended transactions to the settler, so
	// that settling them costs the transaction no round trip.
	settles chan settle
	stop    chan struct{}
	stopped chan struct{}
	// periodic are the periodic declarations, by name.
	periodic map[string]TenantPeriodicJob
	// skipSettle leaves a transaction's jobs pending when it ends, as if
	// the process died right then (tests).
	skipSettle bool
}

// settle is the jobs of one ended transaction: committed (to be made
// available) or rolled back (to be deleted).
type settle struct {
	ids       []int64
	committed bool
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
	j := &jobRunner{k: k, cfg: c, settles: make(chan settle, 1024), stop: make(chan struct{}), stopped: make(chan struct{})}
	rc := &river.Config{
		Schema:            jobs.Schema,
		FetchPollInterval: c.FetchPollInterval,
		Logger:            slog.New(warnOnly{k.log.Handler()}),
		Middleware:        append([]rivertype.Middleware{&tenantWork{j: j}, &tenantUnique{}}, c.Middleware...),
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
	client, err := river.NewClient(riverpgxv5.New(k.pool), rc)
	if err != nil {
		return fmt.Errorf("tenantkit: jobs: %w", err)
	}
	j.client = client
	k.jobs = j
	go j.settler()
	k.closers = append(k.closers, func() { close(j.stop); <-j.stopped })
	return nil
}

// settler settles the jobs of ended transactions in batches, in the
// background, until the Kit closes; then it settles what is left.
func (j *jobRunner) settler() {
	defer close(j.stopped)
	for {
		var first settle
		select {
		case first = <-j.settles:
		case <-j.stop:
			for {
				select {
				case s := <-j.settles:
					j.settleBatch([]settle{s})
				default:
					return
				}
			}
		}
		batch := []settle{first}
	more:
		for len(batch) < 256 {
			select {
			case s := <-j.settles:
				batch = append(batch, s)
			default:
				break more
			}
		}
		j.settleBatch(batch)
	}
}

// settleBatch makes the committed transactions' jobs available and
// deletes the rolled back ones'. What fails waits for the reconciler.
func (j *jobRunner) settleBatch(batch []settle) {
	var available, discarded []int64
	for _, s := range batch {
		if s.committed {
			available = append(available, s.ids...)
		} else {
			discarded = append(discarded, s.ids...)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if len(available) > 0 {
		if err := j.makeAvailable(ctx, available); err != nil {
			j.k.log.Warn("tenantkit: jobs of committed transactions wait for the reconciler", "jobs", len(available), "err", err)
		}
	}
	if len(discarded) > 0 {
		if err := j.discard(ctx, discarded); err != nil {
			j.k.log.Warn("tenantkit: jobs of rolled back transactions wait for the reconciler", "jobs", len(discarded), "err", err)
		}
	}
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
	o, err := tenantOpts(opts, t, nil)
	if err != nil {
		return nil, err
	}
	return k.jobs.client.Insert(ctx, args, o)
}

// EnqueueTx inserts a job for the tenant of ctx that exists if and only if
// tx commits: tx is the transaction Kit.Tx gives its function
// (ErrNotScopedTx otherwise), on whatever database the tenant's data
// lives. The job waits in River's pending state, where no worker takes
// it; when the transaction commits, the Kit makes it available at once.
// Should the process die in between, or the commit's answer be lost,
// any Kit working jobs asks the tenant's database whether the
// transaction committed (pg_xact_status) and makes the job available or
// deletes it. A job of a rolled-back transaction never runs.
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
	if jt.xid == "" {
		// Gives the transaction an id if it has none yet: that is what
		// the job waits for.
		if err := tx.QueryRow(ctx, "SELECT pg_current_xact_id()::text").Scan(&jt.xid); err != nil {
			return nil, fmt.Errorf("tenantkit: EnqueueTx: %w", err)
		}
	}
	o, err := tenantOpts(opts, t, &jobCommit{XID: jt.xid, Cluster: jt.target.Cluster, Database: jt.target.Database})
	if err != nil {
		return nil, err
	}
	o.Pending = true
	res, err := k.jobs.client.Insert(ctx, args, o)
	if err != nil {
		return nil, err
	}
	if !res.UniqueSkippedAsDuplicate {
		jt.ids = append(jt.ids, res.Job.ID)
	}
	return res, nil
}

// tenantOpts is opts with the tenant (and the transaction, when commit is
// not nil) in its metadata.
func tenantOpts(opts *river.InsertOpts, t *Tenant, commit *jobCommit) (*river.InsertOpts, error) {
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
	// The tenant and the transaction are the Kit's to say: metadata the
	// caller gives under their keys is replaced or dropped.
	meta[jobTenantKey], meta[jobSlugKey] = t.ID.String(), t.Slug
	delete(meta, jobCommitKey)
	if commit != nil {
		meta[jobCommitKey] = commit
	}
	b, err := json.Marshal(meta)
	if err != nil {
		return nil, err
	}
	o.Metadata = b
	return &o, nil
}

// jobTx is the transaction Kit.Tx gives its function when jobs are on:
// it remembers the jobs enqueued in it, and the transaction's id.
type jobTx struct {
	pgx.Tx
	target scope.Target
	xid    string
	ids    []int64
}

// tx runs one attempt of a scoped transaction (begin runs it) with fn
// given a jobTx, then has the jobs fn enqueued settled: made available
// when the transaction committed, deleted when fn failed (so it rolled
// back). When the commit itself failed, its fate is unknown here: the jobs
// wait for the reconciler, which asks the database.
func (j *jobRunner) tx(ctx context.Context, t scope.Target, fn func(pgx.Tx) error, begin func(func(pgx.Tx) error) error) error {
	jt := &jobTx{target: t}
	var fnErr error
	err := begin(func(tx pgx.Tx) error {
		jt.Tx = tx
		fnErr = fn(jt)
		return fnErr
	})
	if len(jt.ids) == 0 || j.skipSettle {
		return err
	}
	// Settled in the background, whatever becomes of ctx: they are the
	// work the transaction did.
	switch {
	case err == nil:
		j.queue(settle{ids: jt.ids, committed: true})
	case fnErr != nil:
		j.queue(settle{ids: jt.ids})
	}
	return err
}

// queue hands s to the settler; when it is behind by a full buffer, the
// caller settles s itself rather than wait.
func (j *jobRunner) queue(s settle) {
	select {
	case j.settles <- s:
	default:
		j.settleBatch([]settle{s})
	}
}

// makeAvailable moves pending jobs to available (or scheduled, when they
// were inserted for later) and tells the queues' workers, as River's own
// insert does. Only pending jobs move: a job the reconciler already
// released and a worker ran is not run again.
func (j *jobRunner) makeAvailable(ctx context.Context, ids []int64) error {
	_, err := j.k.pool.Exec(ctx, `
		WITH moved AS (
			UPDATE `+jobs.Schema+`.river_job
			SET state = CASE WHEN scheduled_at > now() THEN 'scheduled' ELSE 'available' END::`+jobs.Schema+`.river_job_state
			WHERE id = ANY($1) AND state = 'pending'
			RETURNING queue)
		SELECT pg_notify('`+jobs.Schema+`.river_insert', json_build_object('queue', queue)::text)
		FROM (SELECT DISTINCT queue FROM moved) q`, ids)
	return err
}

// discard deletes pending jobs whose transaction rolled back.
func (j *jobRunner) discard(ctx context.Context, ids []int64) error {
	_, err := j.k.pool.Exec(ctx, `DELETE FROM `+jobs.Schema+`.river_job WHERE id = ANY($1) AND state = 'pending'`, ids)
	return err
}

// reconcileAge is how old a pending job must be before the reconciler
// looks at it: older than any transaction settles its own.
const reconcileAge = 2 * time.Second

// reconcile settles the pending jobs of transactions whose end no process
// saw: it asks each one's database whether it committed. A database that
// cannot answer (gone, unreachable) leaves its jobs pending for the next
// round; a transaction too old for its database to remember is logged and
// its jobs left pending for an operator.
func (j *jobRunner) reconcile(ctx context.Context) error {
	rows, err := j.k.pool.Query(ctx, `
		SELECT id, metadata->'`+jobCommitKey+`'
		FROM `+jobs.Schema+`.river_job
		WHERE state = 'pending' AND metadata ? '`+jobCommitKey+`' AND created_at < now() - $1::interval
		ORDER BY id LIMIT 1000`, reconcileAge)
	if err != nil {
		return err
	}
	byDB := map[router.Key]map[string][]int64{} // database → xid → jobs
	var (
		id     int64
		commit jobCommit
	)
	if _, err := pgx.ForEachRow(rows, []any{&id, &commit}, func() error {
		key := router.Key{Cluster: commit.Cluster, Database: commit.Database}
		if byDB[key] == nil {
			byDB[key] = map[string][]int64{}
		}
		byDB[key][commit.XID] = append(byDB[key][commit.XID], id)
		return nil
	}); err != nil {
		return err
	}
	var errs []error
	for key, xids := range byDB {
		if err := j.settle(ctx, key, xids); err != nil {
			errs = append(errs, fmt.Errorf("database %s of cluster %s: %w", key.Database, key.Cluster, err))
		}
	}
	return errors.Join(errs...)
}

// settle asks one database for the fate of its transactions and settles
// their jobs.
func (j *jobRunner) settle(ctx context.Context, key router.Key, xids map[string][]int64) error {
	pool, release, err := j.k.router.Acquire(ctx, key)
	if err != nil {
		return err
	}
	defer release()
	list := make([]string, 0, len(xids))
	for x := range xids {
		list = append(list, x)
	}
	rows, err := pool.Query(ctx, `SELECT x, pg_xact_status(x::xid8) FROM unnest($1::text[]) x`, list)
	if err != nil {
		return err
	}
	var (
		x                  string
		status             *string
		committed, aborted []int64
	)
	if _, err := pgx.ForEachRow(rows, []any{&x, &status}, func() error {
		switch {
		case status == nil:
			j.k.log.WarnContext(ctx, "tenantkit: pending jobs of a transaction the database no longer remembers; settle them by hand",
				"cluster", key.Cluster, "database", key.Database, "xid", x, "jobs", xids[x])
		case *status == "committed":
			committed = append(committed, xids[x]...)
		case *status == "aborted":
			aborted = append(aborted, xids[x]...)
		}
		return nil
	}); err != nil {
		return err
	}
	if len(committed) > 0 {
		if err := j.makeAvailable(ctx, committed); err != nil {
			return err
		}
	}
	if len(aborted) > 0 {
		return j.discard(ctx, aborted)
	}
	return nil
}

// run works jobs and reconciles pending ones until ctx is done, then
// stops River, letting running jobs finish for up to 10 seconds.
func (j *jobRunner) run(ctx context.Context) error {
	if j.cfg.Workers == nil {
		return nil
	}
	if err := j.client.Start(ctx); err != nil {
		return fmt.Errorf("tenantkit: jobs: %w", err)
	}
	every(ctx, j.cfg.ReconcileInterval, func() {
		if err := j.reconcile(ctx); err != nil && ctx.Err() == nil {
			j.k.log.WarnContext(ctx, "tenantkit: settle pending jobs", "err", err)
		}
	})
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
	var meta struct {
		Tenant string `json:"tenant_id"`
		Slug   string `json:"tenant"`
	}
	if err := json.Unmarshal(job.Metadata, &meta); err != nil || meta.Tenant == "" {
		return doInner(ctx)
	}
	id, err := uuid.Parse(meta.Tenant)
	if err != nil {
		return river.JobCancel(fmt.Errorf("tenantkit: job names tenant %q, not a tenant id", meta.Tenant))
	}
	k := m.j.k
	t, err := k.cache.ByID(ctx, id)
	switch {
	case errors.Is(err, ErrTenantNotFound):
		return river.JobCancel(fmt.Errorf("tenantkit: tenant %s (%s) no longer exists", meta.Slug, id))
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
