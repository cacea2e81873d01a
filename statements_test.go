package tenantkit_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantkit/tenantkit"
	"github.com/tenantkit/tenantkit/examples/orders"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

// TestPreparedStatementsAreBounded: an application that inlines values
// sends more distinct statement texts than the cache holds, on the single
// statement path and inside Tx; every connection keeps at most the cache's
// size of each kind on the server.
func TestPreparedStatementsAreBounded(t *testing.T) {
	t.Parallel()
	inBothModes(t, preparedStatementsAreBounded)
}

func preparedStatementsAreBounded(t *testing.T, mode string) {
	const size, conns, texts = 8, 2, 60
	p := tenantkittest.NewPlatform(t, orders.Migrations())
	p.Tenant(t, "acme", "shared")
	kit := kitIn(t, p, mode, tenantkit.Config{ConnBudget: conns, PoolSize: conns, StatementCacheSize: size})
	ctx := p.Scoped(t, kit, "acme")
	var wg sync.WaitGroup
	for g := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range texts {
				var n int
				if err := kit.QueryRow(ctx, fmt.Sprintf("SELECT %d + $1::int /* %d */", i, g), 1).Scan(&n); err != nil || n != i+1 {
					t.Errorf("statement %d: %d, %v", i, n, err)
					return
				}
				err := kit.Tx(ctx, func(tx pgx.Tx) error {
					return tx.QueryRow(ctx, fmt.Sprintf("SELECT %d * $1::int /* %d */", i, g), 2).Scan(&n)
				})
				if err != nil || n != 2*i {
					t.Errorf("statement %d in Tx: %d, %v", i, n, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	// Both connections at once, each counting its own statements.
	var (
		held   sync.WaitGroup
		counts = make([]int, conns)
		pids   = make([]int, conns)
	)
	held.Add(conns)
	errs := make(chan error, conns)
	for i := range conns {
		go func() {
			errs <- kit.Tx(ctx, func(tx pgx.Tx) error {
				held.Done()
				waitGroupTimeout(&held, 10*time.Second)
				return tx.QueryRow(ctx, "SELECT count(*), pg_backend_pid() FROM pg_prepared_statements").Scan(&counts[i], &pids[i])
			})
		}()
	}
	for range conns {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if pids[0] == pids[1] {
		t.Fatalf("both counts came from one connection (%d)", pids[0])
	}
	limit := 2*size + 1
	if mode == "bound" {
		limit += 2 // the binding's two statements
	}
	for i, n := range counts {
		// size of tenantkit's own, size of pgx's (Tx and the setup
		// statement), one statement pgx may deallocate on its next use.
		if n > limit {
			t.Errorf("connection %d holds %d prepared statements, want at most %d", pids[i], n, limit)
		}
	}
	t.Logf("prepared statements per connection: %v", counts)
}

// waitGroupTimeout waits for wg, at most d.
func waitGroupTimeout(wg *sync.WaitGroup, d time.Duration) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
	}
}

// TestRollingMigrationKeepsOtherTenantsWorking: two schema-tier tenants
// share one connection and the same statement texts; a migration adds a
// column to one schema's table, changing the result shape of SELECT *
// there. Every single-statement call and transaction of both tenants
// keeps succeeding, each with its own shape, however they alternate: on
// bound connections, set up per transaction, and behind a pooler that
// resets sessions (where every transaction begins with its first
// statement, prepared by name under whichever tenant came first).
func TestRollingMigrationKeepsOtherTenantsWorking(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"bound", "prepared", "pooler-resets"} {
		t.Run(mode, func(t *testing.T) { rollingMigrationKeepsOtherTenantsWorking(t, mode) })
	}
}

func rollingMigrationKeepsOtherTenantsWorking(t *testing.T, mode string) {
	p := tenantkittest.NewPlatform(t, orders.Migrations())
	p.Tenant(t, "sch-one", "schema")
	p.Tenant(t, "sch-two", "schema")
	kit := kitIn(t, p, mode, tenantkit.Config{ConnBudget: 1, PoolSize: 1})
	s1, s2 := p.Scoped(t, kit, "sch-one"), p.Scoped(t, kit, "sch-two")
	seed(t, kit, s1, "a@one.test")
	seed(t, kit, s2, "b@two.test")
	const all = "SELECT * FROM customers ORDER BY id"
	columns := func(ctx context.Context) (int, error) {
		var n int
		rows, err := tenantkit.Query(ctx, kit, all, nil, pgx.RowToMap)
		if len(rows) > 0 {
			n = len(rows[0])
		}
		return n, err
	}
	// The columns of the first statement of a transaction, and of its
	// second.
	inTx := func(ctx context.Context) (first, second int, err error) {
		err = kit.Tx(ctx, func(tx pgx.Tx) error {
			for _, n := range []*int{&first, &second} {
				rows, err := tx.Query(ctx, all)
				if err != nil {
					return err
				}
				*n = len(rows.FieldDescriptions())
				for rows.Next() {
				}
				if err := rows.Err(); err != nil {
					return err
				}
			}
			return nil
		})
		return first, second, err
	}
	for _, ctx := range []context.Context{s1, s2, s1, s2} {
		if _, err := columns(ctx); err != nil {
			t.Fatal(err)
		}
		if _, _, err := inTx(ctx); err != nil {
			t.Fatal(err)
		}
	}
	owner, err := pgx.Connect(context.Background(), p.OwnerDSN(p.SharedDatabase))
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close(context.Background())
	schema := p.Placement(t, "sch-one").Schema
	if _, err := owner.Exec(context.Background(), "ALTER TABLE "+pgx.Identifier{schema, "customers"}.Sanitize()+" ADD COLUMN extra int DEFAULT 7"); err != nil {
		t.Fatal(err)
	}
	want := map[context.Context]int{s1: 6, s2: 5}
	// Each call meets the statement last prepared for the other tenant:
	// in the first half a transaction's first statement meets it first,
	// in the second half a single statement.
	for i, ctx := range []context.Context{s2, s1, s2, s1, s1, s2, s2, s1} {
		tx := func() {
			// In a transaction a statement that meets a changed shape
			// fails its transaction: nothing can run again inside it.
			// pgx forgets it, so the next transaction works. A transaction
			// that begins with its first statement (on a bound session,
			// behind a pooler that resets: wherever the session needs no
			// reset first) runs that one again like a single statement:
			// only a later one, which pgx prepared, may fail it.
			first, second, err := inTx(ctx)
			if mode != "prepared" && first != want[ctx] {
				t.Fatalf("transaction %d after the migration: its first statement has %d columns, %v; want %d", i, first, err, want[ctx])
			}
			if err != nil && resultChanged(err) {
				first, second, err = inTx(ctx)
			}
			if err != nil || first != want[ctx] || second != want[ctx] {
				t.Fatalf("transaction %d after the migration: %d and %d columns, %v; want %d", i, first, second, err, want[ctx])
			}
		}
		if i < 4 {
			tx()
		}
		n, err := columns(ctx)
		if err != nil || n != want[ctx] {
			t.Fatalf("call %d after the migration: %d columns, %v; want %d", i, n, err, want[ctx])
		}
		var email string
		if err := kit.QueryRow(ctx, "SELECT email FROM ("+all+") c LIMIT 1").Scan(&email); err != nil {
			t.Fatalf("call %d after the migration: %v", i, err)
		}
		if i >= 4 {
			tx()
		}
	}
}

// resultChanged says err is the server's refusal of a prepared statement
// whose result shape changed: directly, or through PgBouncer, which
// prepared it again on another server session.
func resultChanged(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "cached plan must not change result type") ||
		strings.Contains(err.Error(), "result formats but query has"))
}
