package tenantkit_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/tenantkit/tenantkit"
	"github.com/tenantkit/tenantkit/examples/orders"
	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

// noteArgs is a job that notes that it ran, with what it saw, and then
// ends as Do says: "fail", "cancel", "snooze" (for an hour), or completes.
type noteArgs struct {
	Tag string `json:"tag"`
	Do  string `json:"do,omitempty"`
}

func (noteArgs) Kind() string { return "tenantkit_test_note" }

// seen is what one run of a note job saw.
type seen struct {
	tag       string
	tenant    *tenantkit.Tenant
	customers int
	flag      bool
}

// noteWorker records every run, and counts the tenant's customers through
// scoped access, as a handler would.
type noteWorker struct {
	river.WorkerDefaults[noteArgs]
	kit  func() *tenantkit.Kit
	mu   sync.Mutex
	runs []seen
}

func (w *noteWorker) Work(ctx context.Context, job *river.Job[noteArgs]) error {
	s := seen{tag: job.Args.Tag}
	s.tenant, _ = tenantkit.FromContext(ctx)
	if s.tenant != nil {
		if err := w.kit().QueryRow(ctx, "SELECT count(*) FROM customers").Scan(&s.customers); err != nil {
			return err
		}
		s.flag = w.kit().Flag(ctx, "jobs-test")
	}
	w.mu.Lock()
	w.runs = append(w.runs, s)
	w.mu.Unlock()
	switch job.Args.Do {
	case "fail":
		return errors.New("tenantkit test: the job failed")
	case "cancel":
		return river.JobCancel(errors.New("tenantkit test: the job gave up"))
	case "snooze":
		return river.JobSnooze(time.Hour)
	}
	return nil
}

func (w *noteWorker) ran(tag string) (seen, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range w.runs {
		if s.tag == tag {
			return s, true
		}
	}
	return seen{}, false
}

func (w *noteWorker) count(tag string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, s := range w.runs {
		if s.tag == tag {
			n++
		}
	}
	return n
}

// jobsKit is a listening Kit that works note jobs.
func jobsKit(t *testing.T, p *tenantkittest.Platform, cfg tenantkit.JobsConfig) (*tenantkit.Kit, *noteWorker) {
	t.Helper()
	return jobsKitWith(t, p, tenantkit.Config{}, cfg, func(c tenantkit.Config) *tenantkit.Kit { return p.ListeningKit(t, c) })
}

// jobsKitWith is jobsKit with more of the Kit's config, made by start.
func jobsKitWith(t *testing.T, p *tenantkittest.Platform, kc tenantkit.Config, cfg tenantkit.JobsConfig,
	start func(tenantkit.Config) *tenantkit.Kit) (*tenantkit.Kit, *noteWorker) {
	t.Helper()
	// A job may run before start returns (one left ready by an earlier
	// Kit): its worker waits for the Kit.
	var kit *tenantkit.Kit
	ready := make(chan struct{})
	w := &noteWorker{kit: func() *tenantkit.Kit { <-ready; return kit }}
	workers := river.NewWorkers()
	river.AddWorker(workers, w)
	cfg.Workers = workers
	if cfg.FetchPollInterval == 0 {
		cfg.FetchPollInterval = 100 * time.Millisecond
	}
	if cfg.ReconcileInterval == 0 {
		cfg.ReconcileInterval = 200 * time.Millisecond
	}
	kc.Jobs = &cfg
	func() {
		defer close(ready)
		kit = start(kc)
	}()
	return kit, w
}

// waitUntil waits for cond as waitFor does, naming what it waited for.
func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %s", what, d)
		}
	}
}

// jobState reads a job's state from River's table.
func jobState(t *testing.T, kit *tenantkit.Kit, id int64) (rivertype.JobState, bool) {
	t.Helper()
	j, err := kit.Jobs().JobGet(context.Background(), id)
	if errors.Is(err, river.ErrNotFound) {
		return "", false
	}
	if err != nil {
		t.Fatal(err)
	}
	return j.State, true
}

// TestAJobExistsIfAndOnlyIfItsTransactionCommits: on every tier (the
// tenant's data in the shared database, a schema, a database of its own,
// never the catalog's), a job enqueued in a kit.Tx that commits runs, with
// the transaction's writes visible to it; one enqueued in a kit.Tx that
// rolls back never runs and is gone from River's table.
func TestAJobExistsIfAndOnlyIfItsTransactionCommits(t *testing.T) {
	t.Parallel()
	p := tenantkittest.NewPlatform(t, orders.Migrations())
	tiers := map[string]string{"acme": "shared", "globex": "schema", "initech": "dedicated"}
	for slug, tier := range tiers {
		p.Tenant(t, slug, tier)
	}
	kit, w := jobsKit(t, p, tenantkit.JobsConfig{})
	var rolledBack []int64
	for slug := range tiers {
		ctx := p.Scoped(t, kit, slug)
		if err := kit.Tx(ctx, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "INSERT INTO customers (email, name) VALUES ($1, 'first')", slug+"@example.com"); err != nil {
				return err
			}
			_, err := kit.EnqueueTx(ctx, tx, noteArgs{Tag: slug + "-committed"}, nil)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		errBoom := errors.New("boom")
		err := kit.Tx(ctx, func(tx pgx.Tx) error {
			res, err := kit.EnqueueTx(ctx, tx, noteArgs{Tag: slug + "-rolled-back"}, nil)
			if err != nil {
				return err
			}
			rolledBack = append(rolledBack, res.Job.ID)
			return errBoom
		})
		if !errors.Is(err, errBoom) {
			t.Fatalf("%s: rolled back Tx: %v", slug, err)
		}
	}
	for slug := range tiers {
		waitUntil(t, 20*time.Second, slug+"'s committed job to run", func() bool { _, ok := w.ran(slug + "-committed"); return ok })
		s, _ := w.ran(slug + "-committed")
		if s.tenant == nil || s.tenant.Slug != slug || s.customers != 1 {
			t.Errorf("%s's job saw tenant %v and %d customers, want itself and 1", slug, s.tenant, s.customers)
		}
	}
	// A few relay rounds later: still nothing.
	time.Sleep(3 * time.Second)
	for slug := range tiers {
		if n := w.count(slug + "-rolled-back"); n != 0 {
			t.Errorf("%s's job of a rolled back transaction ran %d times", slug, n)
		}
	}
	for _, id := range rolledBack {
		if st, ok := jobState(t, kit, id); ok {
			t.Errorf("job %d of a rolled back transaction is in River's table, %s", id, st)
		}
	}
	for slug := range tiers {
		if n := outboxRows(t, p, slug); n != 0 {
			t.Errorf("%s: %d rows left in the outbox", slug, n)
		}
	}
}

// outboxRows counts the rows in the job outbox of slug's database, every
// tenant's (as its owner sees them).
func outboxRows(t *testing.T, p *tenantkittest.Platform, slug string) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, p.OwnerDSN(p.Placement(t, slug).Database))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM tenantkit.job_outbox").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestJobsAProcessLeftInTheOutboxAreRelayed: a process dies between its
// transactions' commits and its relaying their jobs to River (a Kit told
// so stands in for it). The committed transaction's job waits in the
// tenant's database, not in River; the rolled back one's is nowhere. Once
// the dead process's mark expires, a Kit working jobs relays it: it runs
// once, the outbox is empty, the mark is gone.
func TestJobsAProcessLeftInTheOutboxAreRelayed(t *testing.T) {
	t.Parallel()
	p := tenantkittest.NewPlatform(t, orders.Migrations())
	p.Tenant(t, "acme", "dedicated")
	dying := p.Kit(t, tenantkit.Config{Jobs: &tenantkit.JobsConfig{ReconcileInterval: 200 * time.Millisecond}})
	tenantkit.DieAfterCommits(dying)
	ctx := p.Scoped(t, dying, "acme")
	var committed, aborted int64
	if err := dying.Tx(ctx, func(tx pgx.Tx) error {
		res, err := dying.EnqueueTx(ctx, tx, noteArgs{Tag: "committed"}, nil)
		if err == nil {
			committed = res.Job.ID
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	_ = dying.Tx(ctx, func(tx pgx.Tx) error {
		res, err := dying.EnqueueTx(ctx, tx, noteArgs{Tag: "aborted"}, nil)
		if err != nil {
			return err
		}
		aborted = res.Job.ID
		return errors.New("rolled back")
	})
	for _, id := range []int64{committed, aborted} {
		if st, ok := jobState(t, dying, id); ok {
			t.Fatalf("job %d is in River (%s) before any process relayed it", id, st)
		}
	}
	if n := outboxRows(t, p, "acme"); n != 1 {
		t.Fatalf("%d rows in the outbox, want the committed transaction's 1", n)
	}

	kit, w := jobsKit(t, p, tenantkit.JobsConfig{})
	waitUntil(t, 20*time.Second, "the committed transaction's job to run", func() bool { _, ok := w.ran("committed"); return ok })
	waitUntil(t, 10*time.Second, "the dead process's mark to be removed", func() bool {
		conn, err := pgx.Connect(context.Background(), p.Catalog.OwnerDSN())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		var n int
		if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM tenantkit.job_outbox_marks").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 0
	})
	time.Sleep(time.Second)
	if n, m := w.count("committed"), w.count("aborted"); n != 1 || m != 0 {
		t.Fatalf("the committed job ran %d times, the aborted one %d; want 1 and 0", n, m)
	}
	if st, ok := jobState(t, kit, committed); !ok || st != rivertype.JobStateCompleted {
		t.Fatalf("the committed job is %q (%v), want completed under the id EnqueueTx gave", st, ok)
	}
	if n := outboxRows(t, p, "acme"); n != 0 {
		t.Fatalf("%d rows left in the outbox", n)
	}
}

// TestAJobSeesTheTenantContextAHandlerSees: the tenant context in a job
// is the one the HTTP middleware builds: same plan, features, limits,
// flag value; scoped access reaches the tenant's rows.
func TestAJobSeesTheTenantContextAHandlerSees(t *testing.T) {
	t.Parallel()
	p := tenantkittest.NewPlatform(t, orders.Migrations())
	p.Tenant(t, "acme", "schema")
	ctx := context.Background()
	if _, err := p.Store().SetTenantPlan(ctx, "test", "acme", catalog.SetPlanParams{Plan: "pro"}); err != nil {
		t.Fatal(err)
	}
	kit, w := jobsKit(t, p, tenantkit.JobsConfig{})
	want, err := kit.Lookup(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	sctx := p.Scoped(t, kit, "acme")
	if _, err := kit.Enqueue(sctx, noteArgs{Tag: "context"}, nil); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 20*time.Second, "the job to run", func() bool { _, ok := w.ran("context"); return ok })
	s, _ := w.ran("context")
	got := s.tenant
	if got == nil || got.ID != want.ID || got.Plan != "pro" || got.Plan != want.Plan || fmt.Sprint(got.Features) != fmt.Sprint(want.Features) ||
		fmt.Sprint(got.Limits) != fmt.Sprint(want.Limits) || s.flag != kit.Flag(sctx, "jobs-test") {
		t.Fatalf("the job saw %+v (flag %v), the handler's context is %+v", got, s.flag, want)
	}
	if _, err := kit.Enqueue(context.Background(), noteArgs{Tag: "nobody"}, nil); !errors.Is(err, tenantkit.ErrNoTenant) {
		t.Fatalf("Enqueue without a tenant: %v, want ErrNoTenant", err)
	}
	other := p.Kit(t, tenantkit.Config{})
	if err := other.Tx(sctx, func(tx pgx.Tx) error {
		_, err := kit.EnqueueTx(sctx, tx, noteArgs{Tag: "foreign"}, nil)
		return err
	}); !errors.Is(err, tenantkit.ErrNotScopedTx) {
		t.Fatalf("EnqueueTx in a transaction not of this Kit: %v, want ErrNotScopedTx", err)
	}
}

// TestASuspendedTenantsJobWaitsAndADeletedTenantsIsCancelled: a job of a
// suspended tenant is snoozed, spending no attempt, until the tenant is
// resumed; a job of a deleted tenant is cancelled and never runs.
func TestASuspendedTenantsJobWaitsAndADeletedTenantsIsCancelled(t *testing.T) {
	t.Parallel()
	p := tenantkittest.NewPlatform(t, orders.Migrations())
	p.Tenant(t, "acme", "shared")
	p.Tenant(t, "globex", "shared")
	ctx := context.Background()
	kit, w := jobsKit(t, p, tenantkit.JobsConfig{SuspendedSnooze: 200 * time.Millisecond})
	acme, globex := p.Scoped(t, kit, "acme"), p.Scoped(t, kit, "globex")
	if _, err := p.Store().SuspendTenant(ctx, "test", "acme", "unpaid invoice"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "the Kit to see acme suspended", func() bool {
		tn, err := kit.Lookup(ctx, "acme")
		return err == nil && tn.Status == tenantkit.StatusSuspended
	})
	held, err := kit.Enqueue(acme, noteArgs{Tag: "held"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // several snoozes
	if w.count("held") != 0 {
		t.Fatal("a suspended tenant's job ran")
	}
	j, err := kit.Jobs().JobGet(ctx, held.Job.ID)
	if err != nil || j.Attempt > 1 {
		t.Fatalf("the held job: %+v, %v; want no attempt spent", j, err)
	}
	if _, err := p.Store().ResumeTenant(ctx, "test", "acme"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "acme's job to run once acme is resumed", func() bool { return w.count("held") == 1 })

	if _, err := p.Store().DeleteTenant(ctx, "test", "globex"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "the Kit to see globex deleted", func() bool {
		tn, err := kit.Lookup(ctx, "globex")
		return errors.Is(err, tenantkit.ErrTenantNotFound) || (err == nil && tn.Status == tenantkit.StatusDeleted)
	})
	gone, err := kit.Enqueue(globex, noteArgs{Tag: "gone"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "the deleted tenant's job to be cancelled", func() bool {
		st, _ := jobState(t, kit, gone.Job.ID)
		return st == rivertype.JobStateCancelled
	})
	if w.count("gone") != 0 {
		t.Fatal("a deleted tenant's job ran")
	}
}

// slowArgs is a job that takes 50 ms.
type slowArgs struct {
	Tenant string `json:"tenant"`
}

func (slowArgs) Kind() string { return "tenantkit_test_slow" }

// slowWorker runs slow jobs and tracks how many of each tenant's run at
// once, across every Kit it is registered with.
type slowWorker struct {
	river.WorkerDefaults[slowArgs]
	mu      sync.Mutex
	running map[string]int
	most    map[string]int
	ran     map[string]int
	started map[string]time.Time
}

func (w *slowWorker) Work(ctx context.Context, job *river.Job[slowArgs]) error {
	w.mu.Lock()
	w.running[job.Args.Tenant]++
	w.most[job.Args.Tenant] = max(w.most[job.Args.Tenant], w.running[job.Args.Tenant])
	if _, ok := w.started[job.Args.Tenant]; !ok {
		w.started[job.Args.Tenant] = time.Now()
	}
	w.mu.Unlock()
	select {
	case <-time.After(50 * time.Millisecond):
	case <-ctx.Done():
	}
	w.mu.Lock()
	w.running[job.Args.Tenant]--
	w.ran[job.Args.Tenant]++
	w.mu.Unlock()
	return nil
}

// TestOneTenantsBacklogDoesNotHoldUpAnothersJob: with max_concurrent_jobs
// at 2 on their plan, tenant acme enqueues 5,000 jobs of 50 ms, then
// globex one. Two worker processes (Kits) of 10 workers each work them.
// globex's job starts while acme's backlog is still almost whole, and
// never more than 2 of acme's jobs run at once across both processes.
func TestOneTenantsBacklogDoesNotHoldUpAnothersJob(t *testing.T) {
	t.Parallel()
	p := tenantkittest.NewPlatform(t, orders.Migrations())
	p.Tenant(t, "acme", "shared")
	p.Tenant(t, "globex", "shared")
	ctx := context.Background()
	if err := p.Store().SetPlanLimit(ctx, "test", "free", tenantkit.JobConcurrencyLimit, 2); err != nil {
		t.Fatal(err)
	}
	w := &slowWorker{running: map[string]int{}, most: map[string]int{}, ran: map[string]int{}, started: map[string]time.Time{}}
	var kits []*tenantkit.Kit
	for range 2 {
		workers := river.NewWorkers()
		river.AddWorker(workers, w)
		kits = append(kits, p.ListeningKit(t, tenantkit.Config{Jobs: &tenantkit.JobsConfig{
			Workers: workers, Queues: map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 10}},
		}}))
	}
	acme := p.Scoped(t, kits[0], "acme")
	const backlog = 5000
	for range backlog {
		if _, err := kits[0].Enqueue(acme, slowArgs{Tenant: "acme"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	// What counts is how many of acme's jobs run between globex's enqueue
	// and its start: on a slow machine many run while the backlog is
	// still being enqueued.
	w.mu.Lock()
	ranBefore := w.ran["acme"]
	w.mu.Unlock()
	at := time.Now()
	if _, err := kits[1].Enqueue(p.Scoped(t, kits[1], "globex"), slowArgs{Tenant: "globex"}, nil); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 60*time.Second, "globex's job to start", func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		_, ok := w.started["globex"]
		return ok
	})
	w.mu.Lock()
	wait, acmeRan, most := w.started["globex"].Sub(at), w.ran["acme"]-ranBefore, w.most["acme"]
	w.mu.Unlock()
	t.Logf("globex's job started %v after it was enqueued, behind a backlog of %d acme jobs (%d had run by then); %d of acme's ran in between",
		wait.Round(time.Millisecond), backlog, ranBefore, acmeRan)
	if acmeRan > backlog/20 { // with the cap at 2, acme runs at most 40 jobs/s: about 6s
		t.Errorf("globex's job waited for %d of acme's jobs", acmeRan)
	}
	if most > 2 {
		t.Errorf("%d of acme's jobs ran at once across the two processes; its plan allows 2", most)
	}
}

// TestASerializationFailuresJobNeverRuns: two SERIALIZABLE kit.Tx on the
// same tenant read what the other writes, each enqueueing a job; one of
// them fails to serialize (at a statement or at COMMIT, where the Kit
// cannot tell how it ended and leaves its jobs to the reconciler). The
// committed one's job runs; the failed one's never does and is gone.
func TestASerializationFailuresJobNeverRuns(t *testing.T) {
	t.Parallel()
	p := tenantkittest.NewPlatform(t, orders.Migrations())
	p.Tenant(t, "acme", "shared")
	kit, w := jobsKit(t, p, tenantkit.JobsConfig{})
	ctx := p.Scoped(t, kit, "acme")
	serializable := pgx.TxOptions{IsoLevel: pgx.Serializable}
	read, bothRead, wrote := make(chan struct{}, 2), make(chan struct{}), make(chan struct{})
	ids := make([]int64, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = kit.TxWithOptions(ctx, serializable, func(tx pgx.Tx) error {
				var n int
				if err := tx.QueryRow(ctx, "SELECT count(*) FROM customers").Scan(&n); err != nil {
					return err
				}
				res, err := kit.EnqueueTx(ctx, tx, noteArgs{Tag: fmt.Sprintf("serial-%d", i)}, nil)
				if err != nil {
					return err
				}
				ids[i] = res.Job.ID
				read <- struct{}{}
				<-bothRead
				if i == 1 {
					<-wrote // the second writes after the first committed
				}
				_, err = tx.Exec(ctx, "INSERT INTO customers (email, name) VALUES ($1, 'x')", fmt.Sprintf("c%d-%d@acme.test", n, i))
				return err
			})
			if i == 0 {
				close(wrote)
			}
		}()
	}
	<-read
	<-read
	close(bothRead) // both have read before either writes
	wg.Wait()
	if errs[0] != nil || errs[1] == nil {
		t.Fatalf("transactions ended %v and %v; want the first committed and the second failed to serialize", errs[0], errs[1])
	}
	waitUntil(t, 20*time.Second, "the committed transaction's job to run", func() bool { _, ok := w.ran("serial-0"); return ok })
	waitUntil(t, 20*time.Second, "the failed transaction's job to be deleted", func() bool { _, ok := jobState(t, kit, ids[1]); return !ok })
	if n := w.count("serial-1"); n != 0 {
		t.Fatalf("the failed transaction's job ran %d times", n)
	}
}
