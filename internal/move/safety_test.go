package move_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantkit/tenantkit"
	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/move"
)

// ownerConn connects as the owner to a database of the test server.
func (b *bundle) ownerConn(t *testing.T, db string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), b.p.OwnerDSN(db))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// asTenant runs fn as the owner on db, scoped to tenant id by the RLS
// setting (FORCE row security confines the owner too).
func asTenant(t *testing.T, conn *pgx.Conn, id string, fn func(pgx.Tx) error) {
	t.Helper()
	err := pgx.BeginFunc(context.Background(), conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(context.Background(), "SELECT set_config('tenantkit.tenant_id', $1, true)", id); err != nil {
			return err
		}
		return fn(tx)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// digest is a text digest of a tenant's rows at a placement, in id order.
func digest(t *testing.T, conn *pgx.Conn, schema, tenant string) string {
	t.Helper()
	var out []string
	for _, q := range []string{
		"SELECT coalesce(string_agg(r::text, '|' ORDER BY r.id), '') FROM (SELECT id, email, name, created_at FROM %s.customers) r",
		"SELECT coalesce(string_agg(r::text, '|' ORDER BY r.id), '') FROM (SELECT id, customer_id, status, total, tags, meta, md5(note) AS note, length(note) AS len, blob, placed_at FROM %s.orders) r",
		"SELECT coalesce(string_agg(r::text, '|' ORDER BY r.name), '') FROM (SELECT name, value FROM %s.counters) r",
	} {
		var s string
		asTenant(t, conn, tenant, func(tx pgx.Tx) error {
			return tx.QueryRow(context.Background(), fmt.Sprintf(q, pgx.Identifier{schema}.Sanitize())).Scan(&s)
		})
		out = append(out, s)
	}
	return strings.Join(out, "\n")
}

// M10: values of every kind, TOAST values an UPDATE leaves unchanged,
// NULLs — written during the copy's catch-up, so that the stream carries
// them — arrive exactly.
func TestMoveCarriesEveryValueKind(t *testing.T) {
	b := setup(t)
	id := b.p.Tenant(t, "acme", "shared").String()
	b.seed(t, "acme", 5, 4)
	writes := func(m catalog.Move, phase string) error {
		if phase != catalog.MoveCatchingUp {
			return nil
		}
		ctx, err := b.scoped(t, "acme")
		if err != nil {
			return err
		}
		return b.kit.Tx(ctx, func(tx pgx.Tx) error {
			var c int64
			if err := tx.QueryRow(ctx, "INSERT INTO customers (email, name) VALUES ('late@x', NULL) RETURNING id").Scan(&c); err != nil {
				return err
			}
			for _, q := range []string{
				`INSERT INTO orders (customer_id, total, tags, meta, note, blob, placed_at) VALUES
				 ($1, 12345678901.25, '{"x,y","","NULL",null}', '{"a": [1, 2.5, null, "é"], "b": {"c": true}}', repeat('toast', 2000), '\x00ff10'::bytea, '2026-11-26 10:00:00.123456+05:30'),
				 ($1, NULL, NULL, NULL, NULL, NULL, NULL),
				 ($1, -0.01, '{}', '[]', 'tab	and
newline and \\ backslash', '\x'::bytea, 'infinity')`,
				// The TOASTed note is not touched: pgoutput leaves it out.
				"UPDATE orders SET status = 'paid', total = total + 1 WHERE note LIKE 'toast%'",
				"UPDATE orders SET note = NULL, meta = '{\"cleared\": 1}' WHERE meta IS NULL AND customer_id = $1",
				"UPDATE orders SET status = 'paid' WHERE note IS NOT NULL AND length(note) > 2000 AND customer_id <> $1",
				"DELETE FROM orders WHERE id = (SELECT min(id) FROM orders)",
				"INSERT INTO counters (name, value) VALUES ('n', 1) ON CONFLICT (tenant_id, name) DO UPDATE SET value = counters.value + 1",
				"INSERT INTO counters (name, value) VALUES ('n', 1) ON CONFLICT (tenant_id, name) DO UPDATE SET value = counters.value + 1",
			} {
				args := []any{}
				if strings.Contains(q, "$1") {
					args = append(args, c)
				}
				if _, err := tx.Exec(ctx, q, args...); err != nil {
					return fmt.Errorf("%s: %w", q, err)
				}
			}
			return nil
		})
	}
	r := b.runner(t, func(c *move.Config) { c.PhaseFunc = writes })
	src := b.p.Placement(t, "acme")
	m := mustDrive(t, r, b.create(t, "acme", "dedicated", ""))
	dst := b.p.Placement(t, "acme")
	want := digest(t, b.ownerConn(t, src.Database), src.Schema, id)
	got := digest(t, b.ownerConn(t, dst.Database), dst.Schema, id)
	if got != want {
		t.Fatalf("target differs from source:\nsource %s\ntarget %s", want, got)
	}
	if !strings.Contains(got, "cleared") || !strings.Contains(got, "infinity") {
		t.Fatalf("the stream's changes are missing from the target: %s", got)
	}
	var p move.Progress
	_ = jsonUnmarshal(m.Progress, &p)
	if p.Changes == 0 {
		t.Fatal("the stream applied no changes: the test did not exercise it")
	}
}

// M11: rows inserted after the cutover take new ids (sequences synced).
func TestMoveSyncsSequences(t *testing.T) {
	b := setup(t)
	b.p.Tenant(t, "acme", "shared")
	b.p.Tenant(t, "other", "shared")
	b.seed(t, "other", 3, 3) // the shared sequences run ahead of acme's rows
	b.seed(t, "acme", 4, 5)
	r := b.runner(t, nil)
	mustDrive(t, r, b.create(t, "acme", "schema", ""))
	b.seed(t, "acme", 3, 3) // would collide with moved ids if the target's sequences started at 1
	mustDrive(t, r, b.create(t, "acme", "shared", ""))
	b.seed(t, "acme", 2, 2)
	if n := len(b.snapshot(t, "acme")); n != 9+4*5+3*3+2*2 {
		t.Fatalf("acme has %d rows after two moves", n)
	}
}

// M5: a target row corrupted before the cutover fails verification under
// the fence; the cutover aborts, the source serves on, the target is gone.
func TestMoveVerificationCatchesACorruptRow(t *testing.T) {
	b := setup(t)
	id := b.p.Tenant(t, "acme", "shared").String()
	b.seed(t, "acme", 5, 5)
	src := b.p.Placement(t, "acme")
	corrupt := func(m catalog.Move, phase string) error {
		if phase != catalog.MoveVerifying {
			return nil
		}
		conn, err := pgx.Connect(context.Background(), b.p.OwnerDSN(m.TargetDatabase))
		if err != nil {
			return err
		}
		defer conn.Close(context.Background())
		asTenant(t, conn, id, func(tx pgx.Tx) error {
			o := pgx.Identifier{m.TargetSchema, "orders"}.Sanitize()
			_, err := tx.Exec(context.Background(), "UPDATE "+o+" SET status = 'tampered' WHERE id = (SELECT max(id) FROM "+o+")")
			return err
		})
		return nil
	}
	r := b.runner(t, func(c *move.Config) { c.PhaseFunc = corrupt })
	m, err := drive(t, r, b.create(t, "acme", "dedicated", ""))
	if err == nil || m.State != catalog.MoveFailed || !strings.Contains(m.LastError, "verification failed") {
		t.Fatalf("move: %v, state %s, error %q; want failed verification", err, m.State, m.LastError)
	}
	if pl := b.p.Placement(t, "acme"); pl != src {
		t.Fatalf("placement changed: %+v", pl)
	}
	b.seed(t, "acme", 1, 1) // the source serves on
	b.assertClean(t)
}

// assertClean fails when a move left anything behind: slots, prepared
// transactions, publications, or tenant databases no placement uses.
func (b *bundle) assertClean(t *testing.T) {
	t.Helper()
	if left := b.leftovers(t); len(left) > 0 {
		t.Fatalf("left behind: %v", left)
	}
	ctx := context.Background()
	conn := b.ownerConn(t, "postgres")
	var dbs []string
	rows, _ := conn.Query(ctx, "SELECT datname FROM pg_database WHERE datname LIKE 'tenant\\_%'")
	dbs, _ = pgx.CollectRows(rows, pgx.RowTo[string])
	pls, err := b.store.ListPlacements(ctx)
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	for _, p := range pls {
		used[p.Database] = true
	}
	moves, _ := b.store.ListMoves(ctx, "", 100)
	mine := map[string]bool{}
	for _, m := range moves {
		mine[m.SourceDatabase], mine[m.TargetDatabase] = true, true
	}
	for _, db := range dbs {
		if mine[db] && !used[db] {
			t.Fatalf("database %s is left behind", db)
		}
	}
}

// M8: a tenant transaction that holds the fence past the lock timeout
// aborts the cutover; the source serves on and the move fails cleanly.
func TestMoveCutoverGivesUpOnALongTransaction(t *testing.T) {
	b := setup(t)
	b.p.Tenant(t, "acme", "shared")
	b.seed(t, "acme", 3, 3)
	src := b.p.Placement(t, "acme")
	var wg sync.WaitGroup
	var longErr error
	hold := func(m catalog.Move, phase string) error {
		if phase != catalog.MoveCutover {
			return nil
		}
		ctx, err := b.scoped(t, "acme")
		if err != nil {
			return err
		}
		started := make(chan struct{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			longErr = b.kit.Tx(ctx, func(tx pgx.Tx) error {
				close(started)
				if _, err := tx.Exec(ctx, "INSERT INTO counters (name, value) VALUES ('long', 1)"); err != nil {
					return err
				}
				time.Sleep(2 * time.Second)
				return nil
			})
		}()
		<-started
		return nil
	}
	r := b.runner(t, func(c *move.Config) {
		c.PhaseFunc, c.LockTimeout, c.CutoverAttempts = hold, 300*time.Millisecond, 1
	})
	start := time.Now()
	m, err := drive(t, r, b.create(t, "acme", "dedicated", ""))
	wg.Wait()
	if err == nil || m.State != catalog.MoveFailed || !strings.Contains(m.LastError, "lock timeout") {
		t.Fatalf("move: %v, state %s, error %q; want a failed cutover", err, m.State, m.LastError)
	}
	if longErr != nil {
		t.Fatalf("the long transaction failed: %v", longErr)
	}
	if pl := b.p.Placement(t, "acme"); pl != src {
		t.Fatalf("placement changed: %+v", pl)
	}
	ctx, _ := b.scoped(t, "acme")
	var v int64
	if err := b.kit.QueryRow(ctx, "SELECT value FROM counters WHERE name = 'long'").Scan(&v); err != nil || v != 1 {
		t.Fatalf("the long transaction's write: %d, %v", v, err)
	}
	b.seed(t, "acme", 1, 1)
	b.assertClean(t)
	t.Logf("failed cleanly in %v", time.Since(start))
}

// M7: processes with a stale placement — a READ COMMITTED and a
// REPEATABLE READ transaction that were waiting on the fence, and a write
// after the flip — fail the epoch check on the source and are retried on
// the target: their callers see success and no write is lost.
func TestMoveRetriesStaleWritersOnTheTarget(t *testing.T) {
	b := setup(t)
	id := b.p.Tenant(t, "acme", "shared").String()
	b.seed(t, "acme", 2, 2)
	stale, err := b.scoped(t, "acme") // its placement is the source, forever
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	waiting := func(m catalog.Move, phase string) error {
		if phase != "cutover:fenced" {
			return nil
		}
		for i, iso := range []pgx.TxIsoLevel{pgx.ReadCommitted, pgx.RepeatableRead} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = b.kit.TxWithOptions(stale, pgx.TxOptions{IsoLevel: iso}, func(tx pgx.Tx) error {
					_, err := tx.Exec(stale, "INSERT INTO counters (name, value) VALUES ($1, 1)", "waited-"+string(iso))
					return err
				})
			}()
		}
		time.Sleep(300 * time.Millisecond) // both are waiting on the fence by now
		return nil
	}
	r := b.runner(t, func(c *move.Config) { c.PhaseFunc = waiting })
	src := b.p.Placement(t, "acme")
	mustDrive(t, r, b.create(t, "acme", "dedicated", ""))
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("a writer waiting on the fence failed: %v", err)
		}
	}
	if _, err := b.kit.Exec(stale, "INSERT INTO counters (name, value) VALUES ('after-flip', 1)"); err != nil {
		t.Fatalf("a stale write after the flip failed: %v", err)
	}
	dst := b.p.Placement(t, "acme")
	count := func(db, schema string) int64 {
		var n int64
		asTenant(t, b.ownerConn(t, db), id, func(tx pgx.Tx) error {
			return tx.QueryRow(context.Background(), "SELECT count(*) FROM "+pgx.Identifier{schema, "counters"}.Sanitize()+
				" WHERE name IN ('waited-read committed', 'waited-repeatable read', 'after-flip')").Scan(&n)
		})
		return n
	}
	if n := count(dst.Database, dst.Schema); n != 3 {
		t.Fatalf("the target has %d of the 3 stale writes", n)
	}
	if n := count(src.Database, src.Schema); n != 0 {
		t.Fatalf("the source took %d writes after the cutover", n)
	}
}

// M9: a rollback inside the confidence period returns the tenant to the
// source with the writes made on the target after the cutover.
func TestMoveRollbackKeepsWritesMadeAfterTheCutover(t *testing.T) {
	b := setup(t)
	b.p.Tenant(t, "acme", "shared")
	b.seed(t, "acme", 3, 3)
	src := b.p.Placement(t, "acme")
	r := b.runner(t, nil)
	m := mustDrive(t, r, b.create(t, "acme", "schema", ""))
	b.seed(t, "acme", 2, 2) // on the target
	ctx, _ := b.scoped(t, "acme")
	if _, err := b.kit.Exec(ctx, "UPDATE orders SET status = 'after' WHERE id = (SELECT min(id) FROM orders)"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.kit.Exec(ctx, "DELETE FROM orders WHERE id = (SELECT max(id) FROM orders)"); err != nil {
		t.Fatal(err)
	}
	want := b.snapshot(t, "acme")
	if _, err := b.store.RequestMoveRollback(context.Background(), "test", m.ID); err != nil {
		t.Fatal(err)
	}
	got, err := drive(t, r, m)
	if err == nil || got.State != catalog.MoveRolledBack {
		t.Fatalf("rollback: %v, state %s, error %q", err, got.State, got.LastError)
	}
	pl := b.p.Placement(t, "acme")
	if pl.Database != src.Database || pl.Schema != src.Schema || pl.Epoch != src.Epoch+2 {
		t.Fatalf("after the rollback the placement is %+v, want the source %+v with epoch %d", pl, src, src.Epoch+2)
	}
	if have := b.snapshot(t, "acme"); fmt.Sprint(have) != fmt.Sprint(want) {
		t.Fatalf("after the rollback the tenant has %d rows, want %d", len(have), len(want))
	}
	b.seed(t, "acme", 1, 1)
	b.assertClean(t)
}

// Every pair of placements: shared → schema → dedicated → shared, then
// shared on one cluster → shared on another, each under a light load.
func TestMoveBetweenEveryPairOfPlacements(t *testing.T) {
	b := setup(t)
	b.p.Tenant(t, "acme", "shared")
	b.p.AddCluster(t, "second")
	b.seed(t, "acme", 5, 5)
	r := b.runner(t, nil)
	for _, to := range []struct{ tier, cluster string }{
		{"schema", ""}, {"dedicated", ""}, {"shared", ""}, {"shared", "second"}, {"schema", "second"}, {"shared", "second"}, {"dedicated", "test"}, {"shared", "test"},
	} {
		l := startLoad(t, b, "acme", 1)
		time.Sleep(100 * time.Millisecond)
		before := b.p.Placement(t, "acme")
		m := mustDrive(t, r, b.create(t, "acme", to.tier, to.cluster))
		l.finish(t)
		after := b.p.Placement(t, "acme")
		if after.Tier != to.tier || after.Epoch != before.Epoch+1 || (to.cluster != "" && after.Cluster != to.cluster) {
			t.Fatalf("after the move to %v: %+v", to, after)
		}
		var p move.Progress
		_ = jsonUnmarshal(m.Progress, &p)
		t.Logf("%s/%s → %s/%s: pause %.1f ms, %d changes streamed", before.Cluster, before.Tier, after.Cluster, after.Tier, p.PauseMillis, p.Changes)
	}
	ctx, _ := b.scoped(t, "acme")
	if _, err := b.kit.Exec(ctx, "INSERT INTO counters (name) VALUES ('end')"); err != nil {
		t.Fatal(err)
	}
}

var _ = errors.New
var _ = tenantkit.ErrNoTenant

// TestMoveOffDedicatedClosesItsPooledConnections: a kit whose write
// finds the fence on the tenant's dedicated database, after the tenant
// moved off it, closes its pooled connections there. The database is
// retained, but the next move to the dedicated tier drops and recreates
// it; connections kept would be dead, and one reused within pgxpool's
// idle-ping threshold fails the write that takes it (the cutover
// benchmark saw 11 and 15 such failures in two of three runs of 10
// back-to-back cutovers).
func TestMoveOffDedicatedClosesItsPooledConnections(t *testing.T) {
	b := setup(t)
	b.p.Tenant(t, "acme", "shared")
	b.seed(t, "acme", 5, 5)
	r := b.runner(t, nil)
	mustDrive(t, r, b.create(t, "acme", catalog.TierDedicated, ""))
	dedicated := b.p.Placement(t, "acme").Database
	// The kit here does not listen for invalidations: a first write finds
	// the fence and reloads the tenant; the context it then caches is the
	// one kept.
	first, err := b.scoped(t, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.kit.Exec(first, "INSERT INTO counters (name) VALUES ('moved')"); err != nil {
		t.Fatal(err)
	}
	stale, err := b.scoped(t, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if tn, _ := tenantkit.FromContext(stale); tn.Placement.Database != dedicated {
		t.Fatalf("the kit places acme at %+v", tn.Placement)
	}
	// Several connections in the kit's pool for the dedicated database.
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := b.kit.Tx(stale, func(tx pgx.Tx) error {
				_, err := tx.Exec(stale, "SELECT pg_sleep(0.05)")
				return err
			}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	conn, err := pgx.Connect(context.Background(), b.p.Catalog.Server.SuperuserURL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	pooled := func() int {
		var n int
		if err := conn.QueryRow(context.Background(),
			"SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend'", dedicated).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := pooled(); n < 2 {
		t.Fatalf("%d connections to the dedicated database before the move, want several", n)
	}
	mustDrive(t, r, b.create(t, "acme", catalog.TierShared, ""))
	// A write through the context cached before the move finds the fence,
	// and lands on the shared tier.
	if _, err := b.kit.Exec(stale, "INSERT INTO counters (name) VALUES ('after')"); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); pooled() > 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			rows, _ := conn.Query(context.Background(), "SELECT usename::text || ' ' || coalesce(application_name, '') || ' ' || state || ' ' || left(query, 60) FROM pg_stat_activity WHERE datname = $1", dedicated)
			who, _ := pgx.CollectRows(rows, pgx.RowTo[string])
			t.Fatalf("%d connections still open to %s, which the tenant left: %q", pooled(), dedicated, who)
		}
	}
}
