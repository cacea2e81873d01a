package tenantkit_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantkit/tenantkit"
	"github.com/tenantkit/tenantkit/examples/orders"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

var tiers = []string{"shared", "schema", "dedicated"}

// seed writes a customer, an order and two lines as the tenant of ctx and
// returns the customer's and the order's ids.
func seed(t testing.TB, kit *tenantkit.Kit, ctx context.Context, email string) (customer, order int64) {
	t.Helper()
	err := kit.Tx(ctx, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO customers (email, name) VALUES ($1, 'C') RETURNING id`, email).Scan(&customer); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `INSERT INTO orders (customer_id) VALUES ($1) RETURNING id`, customer).Scan(&order); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO order_items (order_id, line, sku, quantity, price_cents) VALUES ($1, 1, 'a', 1, 100), ($1, 2, 'b', 2, 250)`, order)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return customer, order
}

func TestScopedAccessNeedsATenant(t *testing.T) {
	t.Parallel()
	p := tenantkittest.NewPlatform(t, orders.Migrations())
	kit := p.Kit(t, tenantkit.Config{})
	ctx := context.Background()
	if err := kit.Tx(ctx, func(pgx.Tx) error { t.Fatal("fn ran without a tenant"); return nil }); !errors.Is(err, tenantkit.ErrNoTenant) {
		t.Fatalf("Tx: %v", err)
	}
	if _, err := kit.Exec(ctx, "DELETE FROM orders"); !errors.Is(err, tenantkit.ErrNoTenant) {
		t.Fatalf("Exec: %v", err)
	}
	var n int
	if err := kit.QueryRow(ctx, "SELECT count(*) FROM orders").Scan(&n); !errors.Is(err, tenantkit.ErrNoTenant) {
		t.Fatalf("QueryRow: %v", err)
	}
}

// probe is what a pooled connection shows right after a scoped use.
type probe struct {
	setting, searchPath string
	visible             int
}

// TestT1PooledConnectionKeepsNothing: with one connection per pool, every
// scoped use is followed by a probe on that very connection (AfterRelease).
// It must see no tenant setting, no search_path of the tenant and no rows.
func TestT1PooledConnectionKeepsNothing(t *testing.T) {
	t.Parallel()
	p := tenantkittest.NewPlatform(t, orders.Migrations())
	for _, tier := range tiers {
		p.Tenant(t, "a-"+tier, tier)
	}
	var (
		mu     sync.Mutex
		probes []probe
	)
	kit := p.Kit(t, tenantkit.Config{ConnBudget: 2, PoolSize: 1, PoolConfigFunc: func(c *pgxpool.Config) {
		c.AfterRelease = func(conn *pgx.Conn) bool {
			ctx := context.Background()
			var pr probe
			// Unscoped, on the same connection: what would the next user see?
			err := conn.QueryRow(ctx, `SELECT coalesce(current_setting('tenantkit.tenant_id', true), ''),
				current_setting('search_path')`).Scan(&pr.setting, &pr.searchPath)
			if err == nil {
				err = conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM app.customers) +
					(SELECT count(*) FROM pg_namespace n JOIN pg_class c ON c.relnamespace = n.oid
					 WHERE n.nspname LIKE 't\_%' AND c.relname = 'customers' AND has_table_privilege(c.oid, 'SELECT') AND false)`).Scan(&pr.visible)
			}
			if err != nil && !strings.Contains(err.Error(), "does not exist") {
				pr.setting = "probe failed: " + err.Error()
			}
			mu.Lock()
			probes = append(probes, pr)
			mu.Unlock()
			return true
		}
	}})
	for _, tier := range tiers {
		ctx := p.Scoped(t, kit, "a-"+tier)
		seed(t, kit, ctx, "x@a.test")
		var n int
		if err := kit.QueryRow(ctx, "SELECT count(*) FROM customers").Scan(&n); err != nil || n != 1 {
			t.Fatalf("%s: scoped count %d, %v", tier, n, err)
		}
		if _, err := kit.Exec(ctx, "UPDATE customers SET name = 'D'"); err != nil {
			t.Fatal(err)
		}
	}
	// AfterRelease runs after the connection is back; wait for the last.
	waitFor(t, 5*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(probes) >= 9 })
	mu.Lock()
	defer mu.Unlock()
	for i, pr := range probes {
		if pr.setting != "" || strings.Contains(pr.searchPath, "t_") || strings.Contains(pr.searchPath, "app") || pr.visible != 0 {
			t.Fatalf("probe %d after a scoped use: %+v — the connection kept the tenant", i, pr)
		}
	}
}

// TestT2PriorSetLocalLeavesNothing: after a transaction that set the tenant
// locally, an unscoped query on the same connection sees no rows, whether
// it committed or rolled back: the setting reads ” then, and the policy
// treats ” as no tenant.
func TestT2PriorSetLocalLeavesNothing(t *testing.T) {
	t.Parallel()
	p := tenantkittest.NewPlatform(t, orders.Migrations())
	a := p.Tenant(t, "acme", "shared")
	kit := p.Kit(t, tenantkit.Config{})
	seed(t, kit, p.Scoped(t, kit, "acme"), "x@acme.test")
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, p.AppDSN(p.SharedDatabase))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, end := range []string{"COMMIT", "ROLLBACK"} {
		if _, err := conn.Exec(ctx, "BEGIN"); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, "SELECT set_config('tenantkit.tenant_id', $1, true)", a.String()); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM app.customers").Scan(&n); err != nil || n != 1 {
			t.Fatalf("inside: %d %v", n, err)
		}
		if _, err := conn.Exec(ctx, end); err != nil {
			t.Fatal(err)
		}
		var setting string
		if err := conn.QueryRow(ctx, "SELECT current_setting('tenantkit.tenant_id', true)").Scan(&setting); err != nil || setting != "" {
			t.Fatalf("after %s the setting reads %q (%v)", end, setting, err)
		}
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM app.customers").Scan(&n); err != nil || n != 0 {
			t.Fatalf("after %s an unscoped query saw %d rows (%v)", end, n, err)
		}
	}
}

// snapshot is every row of a tenant's tables, as text, via the owner role
// with the tenant's setting (the owner is subject to FORCE RLS too).
func snapshot(t *testing.T, p *tenantkittest.Platform, slug string, id uuid.UUID) string {
	t.Helper()
	pl := p.Placement(t, slug)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, p.OwnerDSN(pl.Database))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var out strings.Builder
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT set_config('tenantkit.tenant_id', $1, true)", id.String()); err != nil {
			return err
		}
		for _, table := range []string{"customers", "orders", "order_items"} {
			rows, err := tx.Query(ctx, fmt.Sprintf("SELECT t::text FROM %s t ORDER BY t::text", pgx.Identifier{pl.Schema, table}.Sanitize()))
			if err != nil {
				return err
			}
			lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return err
			}
			fmt.Fprintf(&out, "%s: %s\n", table, strings.Join(lines, " | "))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// TestT4CrossTenantMatrix: as tenant A, every way of reaching tenant B's
// rows — on every table and tier — touches nothing, and B's rows stay
// byte-identical.
func TestT4CrossTenantMatrix(t *testing.T) {
	t.Parallel()
	p := tenantkittest.NewPlatform(t, orders.Migrations())
	kit := p.Kit(t, tenantkit.Config{})
	for _, tier := range tiers {
		t.Run(tier, func(t *testing.T) {
			aSlug, bSlug := "a-"+tier, "b-"+tier
			p.Tenant(t, aSlug, tier)
			bID := p.Tenant(t, bSlug, tier)
			actx, bctx := p.Scoped(t, kit, aSlug), p.Scoped(t, kit, bSlug)
			seed(t, kit, actx, "a@a.test")
			bCustomer, bOrder := seed(t, kit, bctx, "b@b.test")
			before := snapshot(t, p, bSlug, bID)
			if !strings.Contains(before, "b@b.test") {
				t.Fatalf("B's snapshot is empty: %s", before)
			}
			bSchema := pgx.Identifier{p.Placement(t, bSlug).Schema}.Sanitize()
			b := bID.String()
			// Every attempt returns the tenant_id of each row it read or
			// wrote; none may be B's, and B's rows must not change.
			attempts := []struct{ name, sql string }{
				{"select B's customer by id", fmt.Sprintf("SELECT tenant_id FROM customers WHERE id = %d", bCustomer)},
				{"select B's order by id", fmt.Sprintf("SELECT tenant_id FROM orders WHERE id = %d", bOrder)},
				{"select B's lines", fmt.Sprintf("SELECT tenant_id FROM order_items WHERE order_id = %d", bOrder)},
				{"list customers", "SELECT tenant_id FROM customers"},
				{"list orders", "SELECT tenant_id FROM orders"},
				{"list lines", "SELECT tenant_id FROM order_items"},
				{"select by B's tenant_id", fmt.Sprintf("SELECT tenant_id FROM customers WHERE tenant_id = '%s'", b)},
				{"update B's customer", fmt.Sprintf("UPDATE customers SET name = 'pwned' WHERE id = %d RETURNING tenant_id", bCustomer)},
				{"update B's order", fmt.Sprintf("UPDATE orders SET status = 'cancelled' WHERE id = %d RETURNING tenant_id", bOrder)},
				{"update B's lines", fmt.Sprintf("UPDATE order_items SET quantity = 99 WHERE order_id = %d RETURNING tenant_id", bOrder)},
				{"delete B's lines", fmt.Sprintf("DELETE FROM order_items WHERE order_id = %d RETURNING tenant_id", bOrder)},
				{"delete B's order", fmt.Sprintf("DELETE FROM orders WHERE id = %d RETURNING tenant_id", bOrder)},
				{"delete B's customer", "DELETE FROM customers WHERE email = 'b@b.test' RETURNING tenant_id"},
				{"insert with B's tenant_id", fmt.Sprintf("INSERT INTO customers (tenant_id, email, name) VALUES ('%s', 'evil@x.test', 'E') RETURNING tenant_id", b)},
				{"insert a line into B's order", fmt.Sprintf("INSERT INTO order_items (tenant_id, order_id, line, sku, quantity, price_cents) VALUES ('%s', %d, 9, 'x', 1, 1) RETURNING tenant_id", b, bOrder)},
				{"move own rows to B", fmt.Sprintf("UPDATE customers SET tenant_id = '%s' RETURNING tenant_id", b)},
				{"upsert on B's key", fmt.Sprintf("INSERT INTO customers (tenant_id, email, name) VALUES ('%s', 'b@b.test', 'X') ON CONFLICT (tenant_id, email) DO UPDATE SET name = 'pwned' RETURNING tenant_id", b)},
				{"qualified select of B's schema", fmt.Sprintf("SELECT tenant_id FROM %s.customers", bSchema)},
				{"qualified update of B's schema", fmt.Sprintf("UPDATE %s.customers SET name = 'pwned' RETURNING tenant_id", bSchema)},
				{"qualified delete of B's schema", fmt.Sprintf("DELETE FROM %s.order_items RETURNING tenant_id", bSchema)},
				{"truncate", "TRUNCATE order_items"},
				{"disable RLS", "ALTER TABLE customers DISABLE ROW LEVEL SECURITY"},
			}
			for _, at := range attempts {
				var seen []uuid.UUID
				err := kit.Tx(actx, func(tx pgx.Tx) error {
					rows, err := tx.Query(actx, at.sql)
					if err != nil {
						return err
					}
					seen, err = pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
					return err
				})
				for _, id := range seen {
					if id == bID {
						t.Errorf("%s: reached a row of B (err %v)", at.name, err)
					}
				}
			}
			if after := snapshot(t, p, bSlug, bID); after != before {
				t.Fatalf("B's rows changed:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

// TestT5NoExistenceOracle: a foreign key to B's row fails exactly as one to
// a row that does not exist, and A and B can hold the same unique value.
func TestT5NoExistenceOracle(t *testing.T) {
	t.Parallel()
	p := tenantkittest.NewPlatform(t, orders.Migrations())
	kit := p.Kit(t, tenantkit.Config{})
	p.Tenant(t, "acme", "shared")
	p.Tenant(t, "globex", "shared")
	actx, bctx := p.Scoped(t, kit, "acme"), p.Scoped(t, kit, "globex")
	bCustomer, _ := seed(t, kit, bctx, "same@example.test")
	seed(t, kit, actx, "same@example.test") // the same email under another tenant is fine
	insert := func(customer int64) *pgconn.PgError {
		_, err := kit.Exec(actx, "INSERT INTO orders (customer_id) VALUES ($1)", customer)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) {
			t.Fatalf("insert referencing %d: %v, want a foreign key error", customer, err)
		}
		return pgErr
	}
	toB, toNothing := insert(bCustomer), insert(bCustomer+1_000_000)
	digits := regexp.MustCompile(`\d+`)
	same := func(a, b string) bool { return digits.ReplaceAllString(a, "N") == digits.ReplaceAllString(b, "N") }
	if toB.Code != toNothing.Code || toB.ConstraintName != toNothing.ConstraintName ||
		!same(toB.Message, toNothing.Message) || !same(toB.Detail, toNothing.Detail) {
		t.Fatalf("B's row is distinguishable:\n%+v\n%+v", toB, toNothing)
	}
}

// TestT8PolicyIsAnInitPlanAndUsesTheIndex: the tenant setting is evaluated
// once per query and the (tenant_id, …) index serves it.
func TestT8PolicyIsAnInitPlanAndUsesTheIndex(t *testing.T) {
	t.Parallel()
	p := tenantkittest.NewPlatform(t, orders.Migrations())
	kit := p.Kit(t, tenantkit.Config{})
	p.Tenant(t, "acme", "shared")
	p.Tenant(t, "globex", "shared")
	for _, slug := range []string{"acme", "globex"} {
		ctx := p.Scoped(t, kit, slug)
		err := kit.Tx(ctx, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO customers (email, name) SELECT 'c' || g || '@x.test', 'c' FROM generate_series(1, 200) g`); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO orders (customer_id) SELECT c.id FROM customers c, generate_series(1, 20)`)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, p.OwnerDSN(p.SharedDatabase))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "ANALYZE app.customers, app.orders, app.order_items"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	actx := p.Scoped(t, kit, "acme")
	for _, q := range []string{
		"EXPLAIN SELECT * FROM orders WHERE customer_id = 5",
		"EXPLAIN SELECT * FROM customers WHERE email = 'c7@x.test'",
		"EXPLAIN SELECT * FROM orders WHERE id = 42",
	} {
		var plan []string
		err := kit.Tx(actx, func(tx pgx.Tx) error {
			rows, err := tx.Query(actx, q)
			if err != nil {
				return err
			}
			plan, err = pgx.CollectRows(rows, pgx.RowTo[string])
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		text := strings.Join(plan, "\n")
		if !strings.Contains(text, "InitPlan") {
			t.Errorf("%s: no InitPlan, the setting is evaluated per row:\n%s", q, text)
		}
		if !strings.Contains(text, "Index") || !regexp.MustCompile(`Index Cond: \(\(tenant_id = \$0\)`).MatchString(text) {
			t.Errorf("%s: the (tenant_id, …) index does not serve the policy:\n%s", q, text)
		}
	}
}

// TestCheckRLSGuardsStart: the audit passes on a correct platform, and a
// Kit told to check at start refuses once a table loses FORCE.
func TestCheckRLSGuardsStart(t *testing.T) {
	t.Parallel()
	p := tenantkittest.NewPlatform(t, orders.Migrations())
	p.Tenant(t, "acme", "shared")
	p.Tenant(t, "globex", "schema")
	kit := p.Kit(t, tenantkit.Config{RLSCheckOnStart: true})
	ctx := context.Background()
	if vs, err := kit.CheckRLS(ctx); err != nil || len(vs) != 0 {
		t.Fatalf("correct platform: %v %v", vs, err)
	}
	conn, err := pgx.Connect(ctx, p.OwnerDSN(p.SharedDatabase))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "ALTER TABLE app.orders NO FORCE ROW LEVEL SECURITY"); err != nil {
		t.Fatal(err)
	}
	vs, err := kit.CheckRLS(ctx)
	if err != nil || len(vs) != 1 || vs[0].Object != "orders" || vs[0].Kind != "rls_not_forced" {
		t.Fatalf("after NO FORCE: %+v %v", vs, err)
	}
	startCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := kit.Start(startCtx); err == nil || !strings.Contains(err.Error(), "orders") {
		t.Fatalf("Start with a violation: %v", err)
	}
}

// TestFenceRefusesAStaleEpoch: once a database's fence holds a newer epoch
// for a tenant, written as a move's cutover writes it (after advancing the
// database's cutover counter), every scoped statement carrying the old
// epoch fails there, on both paths, though the Kit had checked the fence
// before, and passes again once the fence agrees.
func TestFenceRefusesAStaleEpoch(t *testing.T) {
	t.Parallel()
	p := tenantkittest.NewPlatform(t, orders.Migrations())
	id := p.Tenant(t, "acme", "shared")
	kit := p.Kit(t, tenantkit.Config{})
	ctx := p.Scoped(t, kit, "acme")
	seed(t, kit, ctx, "x@acme.test")
	// A transaction begins with its first statement when the Kit prepared
	// it already: whatever that statement is, it meets the refusal, and a
	// function that swallows it fails all the same.
	firsts := map[string]func(tx pgx.Tx) error{
		"Exec": func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, "UPDATE customers SET name = 'stale'")
			return err
		},
		"Query": func(tx pgx.Tx) error { return closeRows(tx.Query(ctx, "SELECT id FROM customers")) },
		"SendBatch": func(tx pgx.Tx) error {
			b := &pgx.Batch{}
			b.Queue("UPDATE customers SET name = 'stale'")
			return tx.SendBatch(ctx, b).Close()
		},
		"swallowed": func(tx pgx.Tx) error {
			_, _ = tx.Exec(ctx, "UPDATE customers SET name = 'stale'")
			return nil
		},
	}
	for i := 0; i < 2; i++ { // the first prepares, the second joins the begin
		for name, fn := range firsts {
			if err := kit.Tx(ctx, fn); err != nil {
				t.Fatalf("Tx by %s: %v", name, err)
			}
		}
	}
	if _, err := kit.Exec(ctx, "UPDATE customers SET name = 'fresh'"); err != nil {
		t.Fatal(err)
	}
	bg := context.Background()
	conn, err := pgx.Connect(bg, p.OwnerDSN(p.SharedDatabase))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(bg)
	if _, err := conn.Exec(bg, "SELECT nextval('tenantkit.cutover_seq')"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(bg, "INSERT INTO tenantkit.fence (tenant_id, epoch) VALUES ($1, 2) ON CONFLICT (tenant_id) DO UPDATE SET epoch = 2", id); err != nil {
		t.Fatal(err)
	}
	moved := func(err error) bool {
		var pgErr *pgconn.PgError
		return errors.As(err, &pgErr) && pgErr.Code == "TKMOV"
	}
	var n int
	if err := kit.Tx(ctx, func(tx pgx.Tx) error { return tx.QueryRow(ctx, "SELECT count(*) FROM customers").Scan(&n) }); !moved(err) {
		t.Fatalf("Tx with a stale epoch: %v", err)
	}
	for name, fn := range firsts {
		if err := kit.Tx(ctx, fn); !moved(err) {
			t.Fatalf("Tx by %s with a stale epoch: %v", name, err)
		}
	}
	for i := 0; i < 2; i++ { // the first prepares in a transaction, the second is one round trip
		if err := kit.QueryRow(ctx, "SELECT count(*) FROM customers").Scan(&n); !moved(err) {
			t.Fatalf("QueryRow %d with a stale epoch: %v", i, err)
		}
	}
	if _, err := conn.Exec(bg, "UPDATE tenantkit.fence SET epoch = 1 WHERE tenant_id = $1", id); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := kit.QueryRow(ctx, "SELECT count(*) FROM customers").Scan(&n); err != nil || n != 1 {
			t.Fatalf("QueryRow %d after the fence agrees: %d %v", i, n, err)
		}
	}
	var stale int
	if err := kit.QueryRow(ctx, "SELECT count(*) FROM customers WHERE name = 'stale'").Scan(&stale); err != nil || stale != 0 {
		t.Fatalf("rows written under a stale epoch: %d, %v", stale, err)
	}
}

// TestDeadPooledConnectionIsRetried: a statement or transaction handed a
// pooled connection that is already closed (one to a database dropped under
// it, say) runs again on another, since nothing reached the server; a
// transaction's function runs once.
func TestDeadPooledConnectionIsRetried(t *testing.T) {
	t.Parallel()
	p := tenantkittest.NewPlatform(t, orders.Migrations())
	p.Tenant(t, "acme", "shared")
	var kill atomic.Bool
	kit := p.Kit(t, tenantkit.Config{PoolConfigFunc: func(c *pgxpool.Config) {
		c.PrepareConn = func(ctx context.Context, conn *pgx.Conn) (bool, error) {
			if kill.CompareAndSwap(true, false) {
				_ = conn.Close(ctx) // the pool hands it out all the same
			}
			return true, nil
		}
	}})
	ctx := p.Scoped(t, kit, "acme")
	seed(t, kit, ctx, "x@acme.test")
	kill.Store(true)
	var n int
	if err := kit.QueryRow(ctx, "SELECT count(*) FROM customers").Scan(&n); err != nil || n != 1 {
		t.Fatalf("statement on a dead connection: count %d, %v", n, err)
	}
	if kill.Load() {
		t.Fatal("no connection was closed: the test did not exercise a retry")
	}
	kill.Store(true)
	runs := 0
	err := kit.Tx(ctx, func(tx pgx.Tx) error {
		runs++
		_, err := tx.Exec(ctx, "UPDATE customers SET name = 'retried'")
		return err
	})
	if err != nil || runs != 1 || kill.Load() {
		t.Fatalf("transaction on a dead connection: %v after %d runs (kill pending %v)", err, runs, kill.Load())
	}
}

// TestTxBeginsWithAnyFirstCall: whatever a transaction's function calls
// first — a statement joining the begin or not, a batch, a savepoint, a
// prepare, the raw connection (COPY FROM is refused under row-level
// security by PostgreSQL itself) — it runs inside the
// transaction, scoped to the tenant, and commits or rolls back with it;
// a function that sends nothing commits nothing. On bound and per-
// transaction connections and behind a pooler that resets, twice each
// (the second time the statements are prepared and join the begin), for
// a shared-tier and a schema-tier tenant.
func TestTxBeginsWithAnyFirstCall(t *testing.T) {
	t.Parallel()
	p := tenantkittest.NewPlatform(t, orders.Migrations())
	p.Tenant(t, "acme", "shared")
	p.Tenant(t, "initech", "schema")
	for _, mode := range []string{"bound", "prepared", "pooler-resets"} {
		kit := kitIn(t, p, mode, tenantkit.Config{ConnBudget: 1, PoolSize: 1})
		for _, slug := range []string{"acme", "initech"} {
			ctx := p.Scoped(t, kit, slug)
			n := 0
			email := func() string { n++; return fmt.Sprintf("%s-%s-%d@x.test", mode, slug, n) }
			firsts := map[string]func(tx pgx.Tx) error{
				"Exec": func(tx pgx.Tx) error {
					_, err := tx.Exec(ctx, "INSERT INTO customers (email, name) VALUES ($1, 'F')", email())
					return err
				},
				"QueryRow": func(tx pgx.Tx) error {
					var id int64
					return tx.QueryRow(ctx, "INSERT INTO customers (email, name) VALUES ($1, 'F') RETURNING id", email()).Scan(&id)
				},
				"Query": func(tx pgx.Tx) error {
					return closeRows(tx.Query(ctx, "INSERT INTO customers (email, name) VALUES ($1, 'F') RETURNING id", email()))
				},
				"SendBatch": func(tx pgx.Tx) error {
					b := &pgx.Batch{}
					b.Queue("INSERT INTO customers (email, name) VALUES ($1, 'F')", email())
					return tx.SendBatch(ctx, b).Close()
				},
				"Begin": func(tx pgx.Tx) error {
					sp, err := tx.Begin(ctx)
					if err != nil {
						return err
					}
					if _, err := sp.Exec(ctx, "INSERT INTO customers (email, name) VALUES ($1, 'F')", email()); err != nil {
						return err
					}
					return sp.Commit(ctx)
				},
				"Prepare": func(tx pgx.Tx) error {
					if _, err := tx.Prepare(ctx, "first_insert", "INSERT INTO customers (email, name) VALUES ($1, 'F')"); err != nil {
						return err
					}
					_, err := tx.Exec(ctx, "first_insert", email())
					if err == nil {
						err = tx.Conn().Deallocate(ctx, "first_insert")
					}
					return err
				},
				"Conn": func(tx pgx.Tx) error {
					_, err := tx.Conn().Exec(ctx, "INSERT INTO customers (email, name) VALUES ($1, 'F')", email())
					return err
				},
			}
			count := func() int64 {
				var c int64
				if err := kit.QueryRow(ctx, "SELECT count(*) FROM customers").Scan(&c); err != nil {
					t.Fatal(err)
				}
				return c
			}
			want := count()
			for round := range 2 {
				for name, fn := range firsts {
					if err := kit.Tx(ctx, fn); err != nil {
						t.Fatalf("%s/%s round %d: Tx by %s: %v", mode, slug, round, name, err)
					}
					want++
					// The same, rolled back.
					rollback := errors.New("roll back")
					if err := kit.Tx(ctx, func(tx pgx.Tx) error {
						if err := fn(tx); err != nil {
							return err
						}
						return rollback
					}); !errors.Is(err, rollback) {
						t.Fatalf("%s/%s round %d: Tx by %s, rolled back: %v", mode, slug, round, name, err)
					}
					if got := count(); got != want {
						t.Fatalf("%s/%s round %d: after Tx by %s: %d customers, want %d", mode, slug, round, name, got, want)
					}
				}
				if err := kit.Tx(ctx, func(pgx.Tx) error { return nil }); err != nil {
					t.Fatalf("%s/%s: an empty Tx: %v", mode, slug, err)
				}
			}
			// Every row is the tenant's own, in its own schema: row-level
			// security admits it, and the other tenant sees none of it.
			var foreign int64
			if err := kit.QueryRow(ctx, "SELECT count(*) FROM customers WHERE email NOT LIKE $1", "%-"+slug+"-%").Scan(&foreign); err != nil || foreign != 0 {
				t.Fatalf("%s/%s: %d customers of another tenant visible, %v", mode, slug, foreign, err)
			}
		}
	}
}

// closeRows closes the rows of a query and returns its error.
func closeRows(rows pgx.Rows, err error) error {
	if err != nil {
		return err
	}
	rows.Close()
	return rows.Err()
}
