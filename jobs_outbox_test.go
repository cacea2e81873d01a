package tenantkit_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river/rivertype"

	"github.com/tenantkit/tenantkit"
	"github.com/tenantkit/tenantkit/examples/orders"
	"github.com/tenantkit/tenantkit/internal/jobs"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

// execOwner runs sql as the owner of database db.
func execOwner(t *testing.T, p *tenantkittest.Platform, db, sql string, args ...any) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, p.OwnerDSN(db))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatal(err)
	}
}

// TestATenantSeesOnlyItsOwnJobsInTheOutbox: in the shared database, a
// tenant's scoped transaction (the application's role, on a pooled
// connection that served the other tenant just before) neither reads nor
// deletes another tenant's jobs waiting in the outbox, nor writes one in
// its name; it sees its own.
func TestATenantSeesOnlyItsOwnJobsInTheOutbox(t *testing.T) {
	t.Parallel()
	p := tenantkittest.NewPlatform(t, orders.Migrations())
	p.Tenant(t, "acme", "shared")
	globex := p.Tenant(t, "globex", "shared")
	kit := p.Kit(t, tenantkit.Config{Jobs: &tenantkit.JobsConfig{}, PoolSize: 1})
	tenantkit.DieAfterCommits(kit) // globex's job stays in the outbox
	gctx := p.Scoped(t, kit, "globex")
	if err := kit.Tx(gctx, func(tx pgx.Tx) error {
		_, err := kit.EnqueueTx(gctx, tx, noteArgs{Tag: "globex's secret"}, nil)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var own int
	if err := kit.QueryRow(gctx, "SELECT count(*) FROM tenantkit.job_outbox").Scan(&own); err != nil || own != 1 {
		t.Fatalf("globex sees %d of its own jobs in the outbox (%v), want 1", own, err)
	}

	actx := p.Scoped(t, kit, "acme")
	var seen int
	if err := kit.QueryRow(actx, "SELECT count(*) FROM tenantkit.job_outbox").Scan(&seen); err != nil || seen != 0 {
		t.Fatalf("acme sees %d jobs in the outbox (%v), want none of globex's", seen, err)
	}
	tag, err := kit.Exec(actx, "DELETE FROM tenantkit.job_outbox")
	if err != nil || tag.RowsAffected() != 0 {
		t.Fatalf("acme deleted %d of globex's waiting jobs (%v)", tag.RowsAffected(), err)
	}
	_, err = kit.Exec(actx, "INSERT INTO tenantkit.job_outbox (job_id, tenant_id, params) VALUES (-1, $1, '{}')", globex)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "42501" {
		t.Fatalf("acme wrote a job in globex's name: %v, want a row-level security violation", err)
	}
	if _, err := kit.Exec(actx, "UPDATE tenantkit.job_outbox SET params = '{}'"); !errors.As(err, &pgErr) || pgErr.Code != "42501" {
		t.Fatalf("acme updated the outbox: %v, want permission denied", err)
	}
	if n := outboxRows(t, p, "globex"); n != 1 {
		t.Fatalf("%d rows in the outbox, want globex's 1", n)
	}
}

// TestARelayThatReachedRiverIsNotRelayedAgain: a relay that committed its
// insert in the catalog but not its delete in the tenant's database (the
// process died between the two) leaves a row whose job River has, under
// the id drawn at enqueue. The next relay deletes the row and inserts
// nothing: the job runs once.
func TestARelayThatReachedRiverIsNotRelayedAgain(t *testing.T) {
	t.Parallel()
	p := tenantkittest.NewPlatform(t, orders.Migrations())
	p.Tenant(t, "acme", "schema")
	dying := p.Kit(t, tenantkit.Config{Jobs: &tenantkit.JobsConfig{ReconcileInterval: 200 * time.Millisecond}})
	tenantkit.DieAfterCommits(dying)
	ctx := p.Scoped(t, dying, "acme")
	var job *rivertype.JobRow
	if err := dying.Tx(ctx, func(tx pgx.Tx) error {
		res, err := dying.EnqueueTx(ctx, tx, noteArgs{Tag: "once"}, nil)
		if err == nil {
			job = res.Job
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// What the relay's catalog transaction wrote before the process died.
	execOwner(t, p, p.Catalog.Name, `INSERT INTO `+jobs.Schema+`.river_job (id, args, kind, max_attempts, metadata, priority, queue, state)
		VALUES ($1, $2, $3, $4, $5, $6, $7, 'available')`,
		job.ID, job.EncodedArgs, job.Kind, job.MaxAttempts, job.Metadata, job.Priority, job.Queue)

	_, w := jobsKit(t, p, tenantkit.JobsConfig{})
	waitUntil(t, 20*time.Second, "the outbox to be emptied", func() bool { return outboxRows(t, p, "acme") == 0 })
	waitUntil(t, 20*time.Second, "the job to run", func() bool { _, ok := w.ran("once"); return ok })
	time.Sleep(time.Second)
	if n := w.count("once"); n != 1 {
		t.Fatalf("the job ran %d times, want once", n)
	}
}

// TestTwoProcessesRelayADeadOnesJobsOnce: a process dies leaving 300 jobs
// in a tenant's outbox, 200 of one transaction and 100 of their own; two
// processes relay them at once, racing for the rows. Each job runs exactly
// once.
func TestTwoProcessesRelayADeadOnesJobsOnce(t *testing.T) {
	t.Parallel()
	p := tenantkittest.NewPlatform(t, orders.Migrations())
	p.Tenant(t, "acme", "shared")
	p.Tenant(t, "globex", "shared")
	dying := p.Kit(t, tenantkit.Config{Jobs: &tenantkit.JobsConfig{ReconcileInterval: 200 * time.Millisecond}})
	tenantkit.DieAfterCommits(dying)
	const n = 300
	for i := 0; i < n; {
		slug := []string{"acme", "globex"}[i%2]
		ctx := p.Scoped(t, dying, slug)
		batch := 1
		if i == 0 {
			batch = 200
		}
		if err := dying.Tx(ctx, func(tx pgx.Tx) error {
			for j := range batch {
				if _, err := dying.EnqueueTx(ctx, tx, noteArgs{Tag: strconv.Itoa(i + j)}, nil); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		i += batch
	}
	if got := outboxRows(t, p, "acme"); got != n {
		t.Fatalf("%d rows in the outbox, want %d", got, n)
	}
	var ws []*noteWorker
	var wg sync.WaitGroup
	var mu sync.Mutex
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, w := jobsKit(t, p, tenantkit.JobsConfig{})
			mu.Lock()
			ws = append(ws, w)
			mu.Unlock()
		}()
	}
	wg.Wait()
	count := func(tag string) int { return ws[0].count(tag) + ws[1].count(tag) }
	waitUntil(t, 60*time.Second, "every job to run", func() bool {
		for i := range n {
			if count(strconv.Itoa(i)) == 0 {
				return false
			}
		}
		return true
	})
	time.Sleep(time.Second)
	for i := range n {
		if c := count(strconv.Itoa(i)); c != 1 {
			t.Errorf("job %d ran %d times", i, c)
		}
	}
	if got := outboxRows(t, p, "acme"); got != 0 {
		t.Fatalf("%d rows left in the outbox", got)
	}
}

// TestEnqueueTxUnderEveryConfiguration: a job exists if and only if its
// transaction commits, on every tier, behind PgBouncer in transaction
// mode, and in databases whose default isolation is REPEATABLE READ or
// SERIALIZABLE (the relay's own transactions run under it too).
func TestEnqueueTxUnderEveryConfiguration(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name      string
		isolation string
		bouncer   bool
	}{
		{name: "pgbouncer", bouncer: true},
		{name: "repeatable-read", isolation: "repeatable read"},
		{name: "serializable", isolation: "serializable"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			p := tenantkittest.NewPlatform(t, orders.Migrations())
			tiers := map[string]string{"acme": "shared", "globex": "schema", "initech": "dedicated"}
			for slug, tier := range tiers {
				p.Tenant(t, slug, tier)
			}
			var kc tenantkit.Config
			if c.bouncer {
				bouncer := tenantkittest.StartPgBouncer(t, p.Catalog.Addr())
				kc = tenantkit.Config{DisablePreparedStatements: true, PoolConfigFunc: func(pc *pgxpool.Config) {
					pc.ConnConfig.Host = "127.0.0.1"
					pc.ConnConfig.Port = uint16(bouncer.Port())
				}}
			}
			if c.isolation != "" {
				for slug := range tiers {
					db := p.Placement(t, slug).Database
					execOwner(t, p, db, "ALTER DATABASE "+pgx.Identifier{db}.Sanitize()+" SET default_transaction_isolation = '"+c.isolation+"'")
				}
			}
			kit, w := jobsKitWith(t, p, kc, tenantkit.JobsConfig{}, func(cfg tenantkit.Config) *tenantkit.Kit { return p.ListeningKit(t, cfg) })
			for slug := range tiers {
				ctx := p.Scoped(t, kit, slug)
				for i := range 5 {
					if err := kit.Tx(ctx, func(tx pgx.Tx) error {
						_, err := kit.EnqueueTx(ctx, tx, noteArgs{Tag: fmt.Sprintf("%s-%d", slug, i)}, nil)
						return err
					}); err != nil {
						t.Fatal(err)
					}
				}
				errBoom := errors.New("boom")
				if err := kit.Tx(ctx, func(tx pgx.Tx) error {
					if _, err := kit.EnqueueTx(ctx, tx, noteArgs{Tag: slug + "-rolled-back"}, nil); err != nil {
						return err
					}
					return errBoom
				}); !errors.Is(err, errBoom) {
					t.Fatalf("%s: rolled back Tx: %v", slug, err)
				}
			}
			for slug := range tiers {
				for i := range 5 {
					tag := fmt.Sprintf("%s-%d", slug, i)
					waitUntil(t, 20*time.Second, tag+" to run", func() bool { _, ok := w.ran(tag); return ok })
				}
			}
			time.Sleep(time.Second)
			for slug := range tiers {
				for i := range 5 {
					if n := w.count(fmt.Sprintf("%s-%d", slug, i)); n != 1 {
						t.Errorf("%s's job %d ran %d times", slug, i, n)
					}
				}
				if n := w.count(slug + "-rolled-back"); n != 0 {
					t.Errorf("%s's rolled back job ran %d times", slug, n)
				}
				if n := outboxRows(t, p, slug); n != 0 {
					t.Errorf("%s: %d rows left in the outbox", slug, n)
				}
			}
		})
	}
}

// TestTheMarkOfADroppedDatabaseIsForgotten: a dead process's mark on a
// database that no longer exists (a move's cleanup dropped it) is removed
// by the next sweep, not retried forever.
func TestTheMarkOfADroppedDatabaseIsForgotten(t *testing.T) {
	t.Parallel()
	p := tenantkittest.NewPlatform(t, orders.Migrations())
	p.Tenant(t, "acme", "shared")
	execOwner(t, p, p.Catalog.Name, `INSERT INTO tenantkit.job_outbox_marks (instance, cluster, database, expires_at)
		VALUES (gen_random_uuid(), $1, 'tenantkit_no_such_database', now() - interval '1 minute')`, p.Cluster)
	jobsKit(t, p, tenantkit.JobsConfig{})
	waitUntil(t, 20*time.Second, "the dropped database's mark to be removed", func() bool {
		conn, err := pgx.Connect(context.Background(), p.Catalog.OwnerDSN())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		var n int
		if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM tenantkit.job_outbox_marks WHERE database = 'tenantkit_no_such_database'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 0
	})
}
