package tenantkit_test

import (
	"context"
	"fmt"
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
// there. Every single-statement call of both tenants keeps succeeding,
// each with its own shape, however they alternate.
func TestRollingMigrationKeepsOtherTenantsWorking(t *testing.T) {
	t.Parallel()
	inBothModes(t, rollingMigrationKeepsOtherTenantsWorking)
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
	for _, ctx := range []context.Context{s1, s2, s1, s2} {
		if _, err := columns(ctx); err != nil {
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
	for i, ctx := range []context.Context{s2, s1, s2, s1, s1, s2, s2, s1} {
		n, err := columns(ctx)
		if err != nil || n != want[ctx] {
			t.Fatalf("call %d after the migration: %d columns, %v; want %d", i, n, err, want[ctx])
		}
		var email string
		if err := kit.QueryRow(ctx, "SELECT email FROM ("+all+") c LIMIT 1").Scan(&email); err != nil {
			t.Fatalf("call %d after the migration: %v", i, err)
		}
	}
}
