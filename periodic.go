package tenantkit

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/tenantkit/tenantkit/internal/catalog"
)

// TenantPeriodicJob declares work that runs once per period for every
// active tenant: a nightly report, the usage report billing reads. One
// declaration fans out, each period, to one job per tenant, each with the
// tenant in its context as any tenant job. The tenants' jobs are spread
// over the period (a tenant's offset in it is a hash of the declaration
// and the tenant), so that ten thousand tenants do not start in the same
// second, and a tenant never gets two jobs of one declaration for one
// period, whatever runs the fan-out twice.
type TenantPeriodicJob struct {
	// Name identifies the declaration; with the tenant and the period it
	// keys the once-only. Required.
	Name string
	// Interval is the period; periods start at multiples of it since
	// Go's zero time (UTC midnight for 24h). Required.
	Interval time.Duration
	// Args returns the job of tenant t for the period starting at period,
	// or nil args for none. InsertOpts may be nil; its ScheduledAt, when
	// set, replaces the spread. Required.
	Args func(t *Tenant, period time.Time) (river.JobArgs, *river.InsertOpts)
}

// fanoutArgs is the job that fans a declaration out for one period.
type fanoutArgs struct {
	Name   string    `json:"name"`
	Period time.Time `json:"period"`
}

func (fanoutArgs) Kind() string { return "tenantkit_periodic_fanout" }

type fanoutWorker struct {
	river.WorkerDefaults[fanoutArgs]
	j *jobRunner
}

func (w *fanoutWorker) Work(ctx context.Context, job *river.Job[fanoutArgs]) error {
	_, err := w.j.fanOut(ctx, job.Args.Name, job.Args.Period)
	return err
}

// buildPeriodic registers the fan-out worker and one River periodic job
// per declaration; River runs periodic jobs on its elected leader only.
func (j *jobRunner) buildPeriodic(rc *river.Config) error {
	decls := j.cfg.Periodic
	if len(decls) == 0 {
		return nil
	}
	if j.cfg.Workers == nil {
		return errors.New("tenantkit: JobsConfig.Periodic needs Workers: periodic jobs are worked by this Kit")
	}
	j.periodic = map[string]TenantPeriodicJob{}
	for _, d := range decls {
		switch {
		case d.Name == "":
			return errors.New("tenantkit: a TenantPeriodicJob needs a Name")
		case d.Interval <= 0:
			return fmt.Errorf("tenantkit: periodic job %q needs an Interval", d.Name)
		case d.Args == nil:
			return fmt.Errorf("tenantkit: periodic job %q needs Args", d.Name)
		}
		if _, dup := j.periodic[d.Name]; dup {
			return fmt.Errorf("tenantkit: two periodic jobs are named %q", d.Name)
		}
		j.periodic[d.Name] = d
		rc.PeriodicJobs = append(rc.PeriodicJobs, river.NewPeriodicJob(river.PeriodicInterval(d.Interval),
			func() (river.JobArgs, *river.InsertOpts) {
				return fanoutArgs{Name: d.Name, Period: time.Now().UTC().Truncate(d.Interval)},
					&river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true}}
			}, &river.PeriodicJobOpts{RunOnStart: true}))
	}
	return river.AddWorkerSafely(j.cfg.Workers, &fanoutWorker{j: j})
}

// fanOut enqueues declaration name's job for every active tenant that has
// none for the period, a page of tenants per catalog transaction, and
// returns how many it enqueued.
func (j *jobRunner) fanOut(ctx context.Context, name string, period time.Time) (int, error) {
	d, ok := j.periodic[name]
	if !ok {
		return 0, fmt.Errorf("tenantkit: no periodic job %q in this process", name)
	}
	total := 0
	p := catalog.ListParams{Limit: 500, Status: StatusActive}
	for {
		page, err := j.k.store.ListTenants(ctx, p)
		if err != nil {
			return total, err
		}
		n, err := j.fanOutPage(ctx, d, period, page.Tenants)
		total += n
		if err != nil {
			return total, err
		}
		if page.Next == "" {
			break
		}
		p.After = page.Next
	}
	// The once-only of past periods is kept two periods, then let go.
	_, err := j.k.pool.Exec(ctx, "DELETE FROM tenantkit.periodic_runs WHERE name = $1 AND period < $2",
		name, period.Add(-2*d.Interval))
	return total, err
}

// fanOutPage claims the period for each tenant of a page that has not had
// it, and enqueues their jobs in the same transaction.
func (j *jobRunner) fanOutPage(ctx context.Context, d TenantPeriodicJob, period time.Time, tenants []catalog.Tenant) (int, error) {
	ids := make([]uuid.UUID, len(tenants))
	for i, t := range tenants {
		ids[i] = t.ID
	}
	tx, err := j.k.pool.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	rows, err := tx.Query(ctx, `
		INSERT INTO tenantkit.periodic_runs (name, tenant_id, period)
		SELECT $1, id, $3 FROM unnest($2::uuid[]) id
		ON CONFLICT DO NOTHING RETURNING tenant_id`, d.Name, ids, period)
	if err != nil {
		return 0, err
	}
	claimed, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return 0, err
	}
	var params []river.InsertManyParams
	for _, id := range claimed {
		t, err := j.k.cache.ByID(ctx, id)
		if err != nil {
			return 0, err
		}
		args, opts := d.Args(t, period)
		if args == nil {
			continue
		}
		o, err := tenantOpts(opts, t)
		if err != nil {
			return 0, err
		}
		if o.ScheduledAt.IsZero() {
			o.ScheduledAt = period.Add(spread(d.Name, id, d.Interval))
		}
		params = append(params, river.InsertManyParams{Args: args, InsertOpts: o})
	}
	if len(params) > 0 {
		if _, err := j.client.InsertManyTx(ctx, tx, params); err != nil {
			return 0, err
		}
	}
	return len(params), tx.Commit(ctx)
}

// spread is tenant's offset in a period of declaration name: the same
// every period, and spread evenly over the tenants.
func spread(name string, tenant uuid.UUID, interval time.Duration) time.Duration {
	h := fnv.New64a()
	h.Write([]byte(name))
	h.Write(tenant[:])
	return time.Duration(h.Sum64() % uint64(interval))
}
