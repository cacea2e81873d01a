package tenantkit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tenantkit/tenantkit"
	"github.com/tenantkit/tenantkit/examples/orders"
	"github.com/tenantkit/tenantkit/internal/bootstrap"
	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

// scopeBench is a platform with two shared-tier tenants holding 2,000
// customers and 10,000 orders each.
type scopeBench struct {
	p       *tenantkittest.Platform
	kit     *tenantkit.Kit
	ctx     context.Context // scoped to acme
	acme    string
	orderID int64
	// regular is a customer of acme with 40 orders of 3 items each.
	regular int64
}

func newScopeBench(b *testing.B) *scopeBench {
	b.Helper()
	p := tenantkittest.NewPlatform(b, orders.Migrations())
	s := &scopeBench{p: p}
	s.acme = p.Tenant(b, "acme", "shared").String()
	p.Tenant(b, "globex", "shared")
	// Listening, as an application's Kit is: its pooled connections stay
	// bound to the tenant they served.
	s.kit = p.ListeningKit(b, tenantkit.Config{})
	for _, slug := range []string{"globex", "acme"} {
		ctx := p.Scoped(b, s.kit, slug)
		err := s.kit.Tx(ctx, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO customers (email, name) SELECT 'c' || g || '@x.test', 'c' FROM generate_series(1, 2000) g`); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO orders (customer_id) SELECT c.id FROM customers c, generate_series(1, 5)`); err != nil {
				return err
			}
			if err := tx.QueryRow(ctx, `INSERT INTO customers (email, name) VALUES ('regular@x.test', 'r') RETURNING id`).Scan(&s.regular); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO orders (customer_id, created_at)
				SELECT $1, now() - g * interval '1 hour' FROM generate_series(1, 40) g`, s.regular); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO order_items (order_id, line, sku, quantity, price_cents)
				SELECT o.id, l, 'sku-' || l, l, 100 * l FROM orders o, generate_series(1, 3) l`); err != nil {
				return err
			}
			return tx.QueryRow(ctx, `SELECT max(id) FROM orders`).Scan(&s.orderID)
		})
		if err != nil {
			b.Fatal(err)
		}
		s.ctx = ctx
	}
	conn, err := pgx.Connect(context.Background(), p.Catalog.Server.SuperuserURL(p.SharedDatabase))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(context.Background())
	// Vacuumed, analyzed and checkpointed: autovacuum and the checkpointer
	// have nothing left of the seeding to do while the benchmark runs.
	for _, q := range []string{"VACUUM (ANALYZE) app.customers, app.orders, app.order_items", "CHECKPOINT"} {
		if _, err := conn.Exec(context.Background(), q); err != nil {
			b.Fatal(err)
		}
	}
	return s
}

// bypassPool connects as the superuser, whom RLS does not filter: the
// baseline of a bare query.
func (s *scopeBench) bypassPool(b *testing.B) *pgxpool.Pool {
	pool, err := pgxpool.New(context.Background(), s.p.Catalog.Server.SuperuserURL(s.p.SharedDatabase))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	return pool
}

// The point query, the transaction around it and the page, bare (on a
// pool RLS does not filter, the tenant filter written out) and scoped,
// each run directly below and through PgBouncer further down.
const (
	bareRowSQL   = "SELECT status FROM app.orders WHERE tenant_id = $1 AND id = $2"
	scopedRowSQL = "SELECT status FROM orders WHERE id = $1"
)

func runBareQueryRow(b *testing.B, s *scopeBench, pool *pgxpool.Pool) {
	ctx := context.Background()
	var status string
	b.ResetTimer()
	for b.Loop() {
		if err := pool.QueryRow(ctx, bareRowSQL, s.acme, s.orderID).Scan(&status); err != nil {
			b.Fatal(err)
		}
	}
}

func runScopedQueryRow(b *testing.B, s *scopeBench, kit *tenantkit.Kit, ctx context.Context) {
	var status string
	b.ResetTimer()
	for b.Loop() {
		if err := kit.QueryRow(ctx, scopedRowSQL, s.orderID).Scan(&status); err != nil {
			b.Fatal(err)
		}
	}
}

func runBareTx(b *testing.B, s *scopeBench, pool *pgxpool.Pool) {
	ctx := context.Background()
	var status string
	b.ResetTimer()
	for b.Loop() {
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			return tx.QueryRow(ctx, bareRowSQL, s.acme, s.orderID).Scan(&status)
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

func runScopedTx(b *testing.B, s *scopeBench, kit *tenantkit.Kit, ctx context.Context) {
	var status string
	b.ResetTimer()
	for b.Loop() {
		err := kit.Tx(ctx, func(tx pgx.Tx) error {
			return tx.QueryRow(ctx, scopedRowSQL, s.orderID).Scan(&status)
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBareQueryRow is the baseline: a single-row query on a pgxpool,
// tenant filter written by hand.
func BenchmarkBareQueryRow(b *testing.B) {
	s := newScopeBench(b)
	runBareQueryRow(b, s, s.bypassPool(b))
}

// BenchmarkScopedQueryRow is the same row through kit.QueryRow, RLS doing
// the filtering, on a connection bound to the tenant: the query alone.
func BenchmarkScopedQueryRow(b *testing.B) {
	s := newScopeBench(b)
	runScopedQueryRow(b, s, s.kit, s.ctx)
}

// BenchmarkScopedTx is the same row in kit.Tx on a bound connection:
// BEGIN, the query, COMMIT, as a bare transaction.
func BenchmarkScopedTx(b *testing.B) {
	s := newScopeBench(b)
	runScopedTx(b, s, s.kit, s.ctx)
}

// perTxKit is a Kit of s that sets the tenant up in every transaction, as
// a Kit does for a tenant a move is draining.
func (s *scopeBench) perTxKit(b *testing.B) (*tenantkit.Kit, context.Context) {
	kit := s.p.Kit(b, tenantkit.Config{DisableSessionBinding: true})
	return kit, s.p.Scoped(b, kit, "acme")
}

// BenchmarkScopedQueryRowPerTx is BenchmarkScopedQueryRow with the setup
// per transaction: the setup, the fence check and the query in one round
// trip.
func BenchmarkScopedQueryRowPerTx(b *testing.B) {
	s := newScopeBench(b)
	kit, ctx := s.perTxKit(b)
	runScopedQueryRow(b, s, kit, ctx)
}

// BenchmarkScopedTxPerTx is BenchmarkScopedTx with the setup per
// transaction: BEGIN, the setup and the fence check in one round trip,
// the query, COMMIT.
func BenchmarkScopedTxPerTx(b *testing.B) {
	s := newScopeBench(b)
	kit, ctx := s.perTxKit(b)
	runScopedTx(b, s, kit, ctx)
}

// BenchmarkBareTx is BenchmarkScopedTx's baseline: a bare pgx transaction.
func BenchmarkBareTx(b *testing.B) {
	s := newScopeBench(b)
	runBareTx(b, s, s.bypassPool(b))
}

// BenchmarkExplicitFilter counts a customer's orders with the tenant filter
// written out, inside one open transaction: the server-side cost only.
func BenchmarkExplicitFilter(b *testing.B) {
	s := newScopeBench(b)
	pool := s.bypassPool(b)
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Rollback(ctx)
	var n int
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM app.orders WHERE tenant_id = $1 AND customer_id = $2", s.acme, int64(2001+i%2000)).Scan(&n); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRLSFilter is the same count with the filter left to the policy.
func BenchmarkRLSFilter(b *testing.B) {
	s := newScopeBench(b)
	var n int
	err := s.kit.Tx(s.ctx, func(tx pgx.Tx) error {
		b.ResetTimer()
		for i := 0; b.Loop(); i++ {
			if err := tx.QueryRow(s.ctx, "SELECT count(*) FROM orders WHERE customer_id = $1", int64(2001+i%2000)).Scan(&n); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}

// The handler's page: the 25 newest orders of a customer with their items.
// scopedPageSQL leaves the tenant to row-level security; barePageSQL writes
// the filter out, as an application without tenantkit would.
const (
	scopedPageSQL = `SELECT o.id, o.status, o.created_at, i.line, i.sku, i.quantity, i.price_cents
FROM (SELECT id, status, created_at FROM orders WHERE customer_id = $1 ORDER BY created_at DESC, id DESC LIMIT 25) o
LEFT JOIN order_items i ON i.order_id = o.id
ORDER BY o.created_at DESC, o.id DESC, i.line`
	barePageSQL = `SELECT o.id, o.status, o.created_at, i.line, i.sku, i.quantity, i.price_cents
FROM (SELECT id, status, created_at FROM app.orders WHERE tenant_id = $1 AND customer_id = $2
      ORDER BY created_at DESC, id DESC LIMIT 25) o
LEFT JOIN app.order_items i ON i.tenant_id = $1 AND i.order_id = o.id
ORDER BY o.created_at DESC, o.id DESC, i.line`
)

type pageRow struct {
	ID         int64
	Status     string
	CreatedAt  time.Time
	Line       *int32
	SKU        *string
	Quantity   *int32
	PriceCents *int64
}

func checkPage(b *testing.B, rows []pageRow, err error) {
	if err != nil {
		b.Fatal(err)
	}
	if len(rows) != 75 {
		b.Fatalf("page of %d rows, want 75", len(rows))
	}
}

func runBarePage(b *testing.B, s *scopeBench, pool *pgxpool.Pool) {
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		rows, err := pool.Query(ctx, barePageSQL, s.acme, s.regular)
		if err != nil {
			b.Fatal(err)
		}
		page, err := pgx.CollectRows(rows, pgx.RowToStructByPos[pageRow])
		checkPage(b, page, err)
	}
}

func runScopedPage(b *testing.B, s *scopeBench, kit *tenantkit.Kit, ctx context.Context) {
	b.ResetTimer()
	for b.Loop() {
		page, err := tenantkit.Query(ctx, kit, scopedPageSQL, []any{s.regular}, pgx.RowToStructByPos[pageRow])
		checkPage(b, page, err)
	}
}

// BenchmarkBarePage is the page on a bare pgxpool, filter written out.
func BenchmarkBarePage(b *testing.B) {
	s := newScopeBench(b)
	runBarePage(b, s, s.bypassPool(b))
}

// BenchmarkScopedPage is the page through tenantkit.Query.
func BenchmarkScopedPage(b *testing.B) {
	s := newScopeBench(b)
	runScopedPage(b, s, s.kit, s.ctx)
}

// BenchmarkNaiveQueryRow is how other stacks scope a connection: a
// session-level SET of the tenant, then the query — two round trips, and
// the setting left on the connection for whoever gets it next.
func BenchmarkNaiveQueryRow(b *testing.B) {
	s := newScopeBench(b)
	pool, err := pgxpool.New(context.Background(), s.p.AppDSN(s.p.SharedDatabase))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	ctx := context.Background()
	var status string
	b.ResetTimer()
	for b.Loop() {
		conn, err := pool.Acquire(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := conn.Exec(ctx, "SELECT set_config('tenantkit.tenant_id', $1, false)", s.acme); err != nil {
			b.Fatal(err)
		}
		if err := conn.QueryRow(ctx, "SELECT status FROM app.orders WHERE id = $1", s.orderID).Scan(&status); err != nil {
			b.Fatal(err)
		}
		conn.Release()
	}
}

// bouncerBench is scopeBench behind a PgBouncer 1.24 in transaction mode
// that keeps prepared statements (max_prepared_statements, 200 by
// default) and resets every server session after each transaction with
// tenantkit.PgBouncerResetQuery, as the README asks, the app role's
// default search_path naming the shared schema (pathDefault), as it
// advises: a Kit whose pools go
// through it (Config.TransactionPooler: every transaction sets its tenant
// up) and a bare pool through it as the replication role, whom row-level
// security does not filter. Both use pgx's default statement cache.
type bouncerBench struct {
	*scopeBench
	kit  *tenantkit.Kit
	ctx  context.Context
	bare *pgxpool.Pool
}

func newBouncerBench(b *testing.B, pathDefault bool) *bouncerBench {
	s := newScopeBench(b)
	bouncer := tenantkittest.StartPgBouncer(b, s.p.Catalog.Addr(), tenantkittest.WithResetQuery(tenantkit.PgBouncerResetQuery))
	via := func(c *pgxpool.Config) {
		c.ConnConfig.Host = "127.0.0.1"
		c.ConnConfig.Port = uint16(bouncer.Port())
	}
	kit := s.p.Kit(b, tenantkit.Config{TransactionPooler: true, PoolConfigFunc: via})
	cfg, err := pgxpool.ParseConfig(s.p.Catalog.Server.ReplicationURL(s.p.SharedDatabase))
	if err != nil {
		b.Fatal(err)
	}
	via(cfg)
	// The replication role reads past row-level security but has no
	// grant on the application's tables: give it one, for the baseline.
	su, err := pgx.Connect(context.Background(), s.p.Catalog.Server.SuperuserURL(s.p.SharedDatabase))
	if err != nil {
		b.Fatal(err)
	}
	_, err = su.Exec(context.Background(), "GRANT USAGE ON SCHEMA app TO "+cfg.ConnConfig.User+"; GRANT SELECT ON ALL TABLES IN SCHEMA app TO "+cfg.ConnConfig.User)
	if err == nil && pathDefault {
		// As the README advises behind a pooler: the app role's default
		// search_path in the shared database names the shared schema, so
		// that the setup finds it in place.
		_, err = su.Exec(context.Background(), "ALTER ROLE "+pgx.Identifier{bootstrap.AppRole}.Sanitize()+" IN DATABASE "+
			pgx.Identifier{s.p.SharedDatabase}.Sanitize()+" SET search_path = "+pgx.Identifier{s.p.Placement(b, "acme").Schema}.Sanitize()+", pg_temp")
	}
	s.p.Catalog.Server.CloseAndWait(b, su)
	if err != nil {
		b.Fatal(err)
	}
	bare, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(bare.Close)
	return &bouncerBench{scopeBench: s, kit: kit, ctx: s.p.Scoped(b, kit, "acme"), bare: bare}
}

// BenchmarkBouncerBareQueryRow is BenchmarkBareQueryRow through PgBouncer.
func BenchmarkBouncerBareQueryRow(b *testing.B) {
	s := newBouncerBench(b, true)
	runBareQueryRow(b, s.scopeBench, s.bare)
}

// BenchmarkBouncerScopedQueryRow is BenchmarkScopedQueryRow through PgBouncer.
func BenchmarkBouncerScopedQueryRow(b *testing.B) {
	s := newBouncerBench(b, true)
	runScopedQueryRow(b, s.scopeBench, s.kit, s.ctx)
}

// BenchmarkBouncerBareTx is BenchmarkBareTx through PgBouncer.
func BenchmarkBouncerBareTx(b *testing.B) {
	s := newBouncerBench(b, true)
	runBareTx(b, s.scopeBench, s.bare)
}

// BenchmarkBouncerScopedTx is BenchmarkScopedTx through PgBouncer.
func BenchmarkBouncerScopedTx(b *testing.B) {
	s := newBouncerBench(b, true)
	runScopedTx(b, s.scopeBench, s.kit, s.ctx)
}

// BenchmarkBouncerBarePage is BenchmarkBarePage through PgBouncer.
func BenchmarkBouncerBarePage(b *testing.B) {
	s := newBouncerBench(b, true)
	runBarePage(b, s.scopeBench, s.bare)
}

// BenchmarkBouncerScopedPage is BenchmarkScopedPage through PgBouncer.
func BenchmarkBouncerScopedPage(b *testing.B) {
	s := newBouncerBench(b, true)
	runScopedPage(b, s.scopeBench, s.kit, s.ctx)
}

// bareOrdersSQL is the example app's GET /api/orders query with the tenant
// filter written out in every table, as an application without tenantkit
// would write it.
const bareOrdersSQL = `SELECT o.id, c.email, c.name, o.status, o.created_at,
	COALESCE((SELECT sum(i.quantity * i.price_cents) FROM app.order_items i WHERE i.tenant_id = $1 AND i.order_id = o.id), 0)::bigint
	FROM app.orders o JOIN app.customers c ON c.tenant_id = o.tenant_id AND c.id = o.customer_id
	WHERE o.tenant_id = $1 ORDER BY o.id DESC LIMIT 100`

// BenchmarkHTTPOrdersScoped is the example app's GET /api/orders (100
// orders with their customers and totals) behind kit.Middleware, as
// tenantkit serve mounts it (tenant from the subdomain, cached context,
// metrics and usage metering), served by net/http on loopback to 8
// concurrent clients. ns/op is the inverse of throughput.
func BenchmarkHTTPOrdersScoped(b *testing.B) {
	s := newScopeBench(b)
	// On the "pro" plan, whose 8 concurrent transactions the 8 clients do
	// not exceed: the free plan's 2 would measure the plan, not scoped
	// access.
	plan := "pro"
	if _, err := s.p.Store().UpdateTenant(context.Background(), "bench", "acme", catalog.UpdateParams{Plan: &plan}); err != nil {
		b.Fatal(err)
	}
	kit := s.p.ListeningKit(b, tenantkit.Config{Resolvers: tenantkit.ResolverConfig{BaseDomain: "example.test"},
		RateLimit: tenantkit.RateLimitConfig{Disabled: true}, Registerer: prometheus.NewRegistry(), PoolSize: httpConns})
	runHTTP(b, kit.Middleware(orders.Handler(kit)))
}

// httpConns is the pool size of both sides of the HTTP pair: one
// connection per concurrent client.
const httpConns = 8

// BenchmarkHTTPOrdersBare is BenchmarkHTTPOrdersScoped's baseline: the same
// handler on a bare pgxpool, the tenant looked up in a map by host and the
// filter written out.
func BenchmarkHTTPOrdersBare(b *testing.B) {
	s := newScopeBench(b)
	cfg, err := pgxpool.ParseConfig(s.p.Catalog.Server.SuperuserURL(s.p.SharedDatabase))
	if err != nil {
		b.Fatal(err)
	}
	cfg.MaxConns = httpConns
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	tenants := map[string]string{"acme.example.test": s.acme}
	runHTTP(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := tenants[r.Host]
		if !ok {
			http.NotFound(w, r)
			return
		}
		rows, err := pool.Query(r.Context(), bareOrdersSQL, id)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (orders.Order, error) {
			var o orders.Order
			err := row.Scan(&o.ID, &o.CustomerEmail, &o.CustomerName, &o.Status, &o.CreatedAt, &o.TotalCents)
			return o, err
		})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"orders": list})
	}))
}

// runHTTP serves h on loopback and has 8 concurrent clients get acme's
// orders from it, b.N requests in all.
func runHTTP(b *testing.B, h http.Handler) {
	srv := httptest.NewServer(h)
	b.Cleanup(srv.Close)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	b.Cleanup(client.CloseIdleConnections)
	get := func() error {
		req, err := http.NewRequest(http.MethodGet, srv.URL+"/api/orders", nil)
		if err != nil {
			return err
		}
		req.Host = "acme.example.test"
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`"customer_email"`)) {
			return fmt.Errorf("GET /api/orders: %d %.200s", resp.StatusCode, body)
		}
		return nil
	}
	if err := get(); err != nil {
		b.Fatal(err)
	}
	b.SetParallelism(8 / runtime.GOMAXPROCS(0))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := get(); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkBouncerPaired measures the PgBouncer pairs alternately in one
// process: 20 rounds of 200 bare operations then 200 scoped ones, each
// round's ratio kept, the median reported (scoped/bare), with the time of
// a scoped operation as ns/op. The machine's speed drifts by up to 1.7×
// between minutes; separate runs of each side, as make bench does, see
// that drift, alternating rounds do not. Run it with -benchtime 1x.
func BenchmarkBouncerPaired(b *testing.B) {
	runBouncerPaired(b, newBouncerBench(b, true), "QueryRow", "Tx", "Page")
}

// BenchmarkBouncerPairedPathSet is BenchmarkBouncerPaired's point query
// where the app role's default search_path does not name the shared
// schema: every transaction sets it.
func BenchmarkBouncerPairedPathSet(b *testing.B) {
	runBouncerPaired(b, newBouncerBench(b, false), "QueryRow")
}

func runBouncerPaired(b *testing.B, s *bouncerBench, names ...string) {
	ctx := context.Background()
	var status string
	pairs := []struct {
		name        string
		bare, scope func() error
	}{
		{"QueryRow",
			func() error { return s.bare.QueryRow(ctx, bareRowSQL, s.acme, s.orderID).Scan(&status) },
			func() error { return s.kit.QueryRow(s.ctx, scopedRowSQL, s.orderID).Scan(&status) }},
		{"Tx",
			func() error {
				return pgx.BeginFunc(ctx, s.bare, func(tx pgx.Tx) error {
					return tx.QueryRow(ctx, bareRowSQL, s.acme, s.orderID).Scan(&status)
				})
			},
			func() error {
				return s.kit.Tx(s.ctx, func(tx pgx.Tx) error { return tx.QueryRow(s.ctx, scopedRowSQL, s.orderID).Scan(&status) })
			}},
		{"Page",
			func() error {
				rows, err := s.bare.Query(ctx, barePageSQL, s.acme, s.regular)
				if err != nil {
					return err
				}
				page, err := pgx.CollectRows(rows, pgx.RowToStructByPos[pageRow])
				checkPage(b, page, err)
				return nil
			},
			func() error {
				page, err := tenantkit.Query(s.ctx, s.kit, scopedPageSQL, []any{s.regular}, pgx.RowToStructByPos[pageRow])
				checkPage(b, page, err)
				return nil
			}},
	}
	for _, p := range pairs {
		if !slices.Contains(names, p.name) {
			continue
		}
		b.Run(p.name, func(b *testing.B) {
			const rounds, n = 20, 200
			var ratios, scoped []float64
			for b.Loop() {
				ratios, scoped = ratios[:0], scoped[:0]
				for range rounds {
					var took [2]time.Duration
					for side, op := range []func() error{p.bare, p.scope} {
						start := time.Now()
						for range n {
							if err := op(); err != nil {
								b.Fatal(err)
							}
						}
						took[side] = time.Since(start)
					}
					ratios = append(ratios, float64(took[1])/float64(took[0]))
					scoped = append(scoped, float64(took[1].Nanoseconds())/n)
				}
			}
			sort.Float64s(ratios)
			sort.Float64s(scoped)
			b.ReportMetric(ratios[len(ratios)/2], "scoped/bare")
			b.ReportMetric(scoped[len(scoped)/2], "ns/op")
		})
	}
}
