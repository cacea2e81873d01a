package tenantkit_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantkit/tenantkit"
	"github.com/tenantkit/tenantkit/examples/orders"
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
}

func newScopeBench(b *testing.B) *scopeBench {
	b.Helper()
	p := tenantkittest.NewPlatform(b, orders.Migrations())
	s := &scopeBench{p: p}
	s.acme = p.Tenant(b, "acme", "shared").String()
	p.Tenant(b, "globex", "shared")
	s.kit = p.Kit(b, tenantkit.Config{})
	for _, slug := range []string{"globex", "acme"} {
		ctx := p.Scoped(b, s.kit, slug)
		err := s.kit.Tx(ctx, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO customers (email, name) SELECT 'c' || g || '@x.test', 'c' FROM generate_series(1, 2000) g`); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO orders (customer_id) SELECT c.id FROM customers c, generate_series(1, 5)`); err != nil {
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
	if _, err := conn.Exec(context.Background(), "ANALYZE app.customers, app.orders"); err != nil {
		b.Fatal(err)
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

// BenchmarkBareQueryRow is the baseline: a single-row query on a pgxpool,
// tenant filter written by hand.
func BenchmarkBareQueryRow(b *testing.B) {
	s := newScopeBench(b)
	pool := s.bypassPool(b)
	ctx := context.Background()
	var status string
	b.ResetTimer()
	for b.Loop() {
		if err := pool.QueryRow(ctx, "SELECT status FROM app.orders WHERE tenant_id = $1 AND id = $2", s.acme, s.orderID).Scan(&status); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScopedQueryRow is the same row through kit.QueryRow: tenant
// setup, fence and query in one round trip, RLS doing the filtering.
func BenchmarkScopedQueryRow(b *testing.B) {
	s := newScopeBench(b)
	var status string
	b.ResetTimer()
	for b.Loop() {
		if err := s.kit.QueryRow(s.ctx, "SELECT status FROM orders WHERE id = $1", s.orderID).Scan(&status); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScopedTx is the same row in kit.Tx: BEGIN with the setup, the
// query, COMMIT — three round trips, as a bare transaction takes.
func BenchmarkScopedTx(b *testing.B) {
	s := newScopeBench(b)
	var status string
	b.ResetTimer()
	for b.Loop() {
		err := s.kit.Tx(s.ctx, func(tx pgx.Tx) error {
			return tx.QueryRow(s.ctx, "SELECT status FROM orders WHERE id = $1", s.orderID).Scan(&status)
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBareTx is BenchmarkScopedTx's baseline: a bare pgx transaction.
func BenchmarkBareTx(b *testing.B) {
	s := newScopeBench(b)
	pool := s.bypassPool(b)
	ctx := context.Background()
	var status string
	b.ResetTimer()
	for b.Loop() {
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			return tx.QueryRow(ctx, "SELECT status FROM app.orders WHERE tenant_id = $1 AND id = $2", s.acme, s.orderID).Scan(&status)
		})
		if err != nil {
			b.Fatal(err)
		}
	}
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
