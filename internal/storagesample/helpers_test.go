package storagesample_test

import (
	"context"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tenantkit/tenantkit"
	"github.com/tenantkit/tenantkit/examples/orders"
	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/storagesample"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

func TestMain(m *testing.M) { tenantkittest.Main(m) }

// appTables are the tables of the example application's migrations.
var appTables = []string{"customers", "orders", "order_items"}

// at is the time stamped on samples.
var at = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// bundle is a platform with tenants on every tier holding orders:
// big (200 orders), small (20) and empty (none) on the shared tier, iso
// (50) on the schema tier and own (30) on the dedicated tier.
type bundle struct {
	p   *tenantkittest.Platform
	kit *tenantkit.Kit
	ids map[string]uuid.UUID
}

var tenants = []struct {
	slug, tier string
	orders     int
}{
	{"big", catalog.TierShared, 200},
	{"small", catalog.TierShared, 20},
	{"empty", catalog.TierShared, 0},
	{"iso", catalog.TierSchema, 50},
	{"own", catalog.TierDedicated, 30},
}

func setup(tb testing.TB) *bundle {
	tb.Helper()
	p := tenantkittest.NewPlatform(tb, orders.Migrations())
	b := &bundle{p: p, ids: map[string]uuid.UUID{}}
	for _, tn := range tenants {
		b.ids[tn.slug] = p.Tenant(tb, tn.slug, tn.tier)
	}
	b.kit = p.Kit(tb, tenantkit.Config{})
	for _, tn := range tenants {
		b.insertOrders(tb, tn.slug, tn.orders)
	}
	// Settle the sizes: vacuum writes the free space and visibility maps,
	// which autovacuum would otherwise add between a Sample and the
	// test's own measure.
	for _, tn := range tenants {
		b.vacuum(tb, p.Placement(tb, tn.slug).Database)
	}
	return b
}

// insertOrders writes n customers, an order each and two lines per order
// as tenant slug, through the Kit's scoped transactions.
func (b *bundle) insertOrders(tb testing.TB, slug string, n int) {
	tb.Helper()
	if n == 0 {
		return
	}
	ctx := b.p.Scoped(tb, b.kit, slug)
	err := b.kit.Tx(ctx, func(tx pgx.Tx) error {
		for _, sql := range []string{
			`INSERT INTO customers (email, name) SELECT 'customer' || g || '@example.test', 'Customer number ' || g
				FROM generate_series(1, $1::int) g`,
			`INSERT INTO orders (customer_id) SELECT id FROM customers WHERE $1::int > 0`,
			`INSERT INTO order_items (order_id, line, sku, quantity, price_cents)
				SELECT o.id, l, 'sku-' || l, l, 100 * l FROM orders o, generate_series(1, 2) l WHERE $1::int > 0`,
		} {
			if _, err := tx.Exec(ctx, sql, n); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatalf("insert %d orders for %s: %v", n, slug, err)
	}
}

func (b *bundle) vacuum(tb testing.TB, db string) {
	tb.Helper()
	conn := b.superuser(tb, db)
	if _, err := conn.Exec(context.Background(), "VACUUM (ANALYZE)"); err != nil {
		tb.Fatalf("vacuum %s: %v", db, err)
	}
}

func (b *bundle) superuser(tb testing.TB, db string) *pgx.Conn {
	tb.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, b.p.Catalog.Server.SuperuserURL(db))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close(ctx) })
	return conn
}

// relationSize is the sum of pg_total_relation_size of the application's
// tables in schema of database db, measured through pg_tables.
func (b *bundle) relationSize(tb testing.TB, db, schema string) int64 {
	tb.Helper()
	var n int64
	err := b.superuser(tb, db).QueryRow(context.Background(), `SELECT coalesce(sum(pg_total_relation_size(
		format('%I.%I', schemaname, tablename)::regclass)), 0)::bigint
		FROM pg_tables WHERE schemaname = $1 AND tablename = ANY($2)`, schema, appTables).Scan(&n)
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// sharedExpectation computes, as the superuser, what each tenant of the
// shared schema should be estimated at: every table's total size split by
// the tenants' sum of pg_column_size. It also returns the tables' total.
func (b *bundle) sharedExpectation(tb testing.TB) (map[uuid.UUID]float64, int64) {
	tb.Helper()
	ctx := context.Background()
	conn := b.superuser(tb, b.p.SharedDatabase)
	want := map[uuid.UUID]float64{}
	var total int64
	for _, table := range appTables {
		name := pgx.Identifier{catalog.SharedSchema, table}.Sanitize()
		var size int64
		if err := conn.QueryRow(ctx, "SELECT pg_total_relation_size($1::regclass)", name).Scan(&size); err != nil {
			tb.Fatal(err)
		}
		total += size
		rows, err := conn.Query(ctx, "SELECT tenant_id, sum(pg_column_size(ROW(t.*)))::bigint FROM "+name+" t GROUP BY 1")
		if err != nil {
			tb.Fatal(err)
		}
		per := map[uuid.UUID]int64{}
		var all int64
		var (
			id uuid.UUID
			n  int64
		)
		if _, err := pgx.ForEachRow(rows, []any{&id, &n}, func() error { per[id] += n; all += n; return nil }); err != nil {
			tb.Fatal(err)
		}
		for id, n := range per {
			want[id] += float64(size) * float64(n) / float64(all)
		}
	}
	return want, total
}

func (b *bundle) sampler(tb testing.TB, cfg storagesample.Config) *storagesample.Sampler {
	tb.Helper()
	if cfg.Placements == nil {
		cfg.Placements = b.p.Store()
	}
	cfg.Now = func() time.Time { return at }
	s, err := storagesample.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// bySlug indexes samples by slug, failing on a duplicate.
func bySlug(tb testing.TB, samples []storagesample.Sample) map[string]storagesample.Sample {
	tb.Helper()
	m := map[string]storagesample.Sample{}
	for _, s := range samples {
		if _, dup := m[s.Slug]; dup {
			tb.Fatalf("two samples of %s: %+v", s.Slug, samples)
		}
		m[s.Slug] = s
	}
	return m
}

func near(got int64, want float64, tolerance float64) bool {
	return math.Abs(float64(got)-want) <= tolerance
}

// noReplication is the catalog with every cluster's replication URL
// forgotten, as on a cluster registered without one.
type noReplication struct{ *catalog.Store }

func (n noReplication) GetCluster(ctx context.Context, name string) (catalog.Cluster, error) {
	c, err := n.Store.GetCluster(ctx, name)
	c.ReplicationURL = ""
	return c, err
}

// logs collects a logger's lines.
type logs struct{ tenantkittest.SyncBuffer }

func (l *logs) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// lines returns the lines holding every one of parts.
func (l *logs) lines(parts ...string) []string {
	var out []string
	for line := range strings.Lines(l.String()) {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if ok {
			out = append(out, line)
		}
	}
	return out
}
