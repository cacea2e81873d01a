package tenantkit_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/tenantkit/tenantkit"
	"github.com/tenantkit/tenantkit/examples/orders"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

// t10Tenant is a tenant of the concurrency test and the emails written as
// it and committed so far.
type t10Tenant struct {
	slug string
	id   uuid.UUID
	ctx  context.Context // set per Kit

	mu      sync.Mutex
	written []string
}

func (tn *t10Tenant) committed(email string) {
	tn.mu.Lock()
	defer tn.mu.Unlock()
	tn.written = append(tn.written, email)
}

func (tn *t10Tenant) snapshot() []string {
	tn.mu.Lock()
	defer tn.mu.Unlock()
	return slices.Clone(tn.written)
}

// owns reports whether email was written as tn: emails encode the slug.
func (tn *t10Tenant) owns(email string) bool { return strings.HasSuffix(email, "@"+tn.slug+".test") }

// TestT10ConcurrentTenantsStayApart: many goroutines write and read as
// random tenants of all three tiers at once, through every entry point,
// directly and through PgBouncer in transaction mode. Every row read
// belongs to the tenant it was read as, every committed write is visible to
// its tenant, and in the end each tenant holds exactly its own rows.
func TestT10ConcurrentTenantsStayApart(t *testing.T) {
	t.Parallel()
	p := tenantkittest.NewPlatform(t, orders.Migrations())
	var tenants []*t10Tenant
	for _, tier := range tiers {
		for i := range 2 {
			slug := fmt.Sprintf("t10-%s-%d", tier, i)
			tenants = append(tenants, &t10Tenant{slug: slug, id: p.Tenant(t, slug, tier)})
		}
	}
	bouncer := tenantkittest.StartPgBouncer(t, p.Catalog.Addr())
	// Where the pools' connections really went, as pgx saw them.
	var (
		mu    sync.Mutex
		peers = map[string]int{}
	)
	countPeer := func(c *pgxpool.Config) {
		c.AfterConnect = func(_ context.Context, conn *pgx.Conn) error {
			mu.Lock()
			defer mu.Unlock()
			peers[conn.PgConn().Conn().RemoteAddr().String()]++
			return nil
		}
	}
	kits := []struct {
		name string
		cfg  tenantkit.Config
	}{
		{"direct", tenantkit.Config{PoolConfigFunc: countPeer}},
		{"pgbouncer", tenantkit.Config{DisablePreparedStatements: true, PoolConfigFunc: func(c *pgxpool.Config) {
			c.ConnConfig.Host = "127.0.0.1"
			c.ConnConfig.Port = uint16(bouncer.Port())
			countPeer(c)
		}}},
	}
	for _, k := range kits {
		t.Run(k.name, func(t *testing.T) {
			kit := p.Kit(t, k.cfg)
			for _, tn := range tenants {
				tn.ctx = p.Scoped(t, kit, tn.slug)
			}
			mu.Lock()
			clear(peers)
			mu.Unlock()
			runT10(t, kit, k.name, tenants)
			want := p.Catalog.Addr()
			if k.name == "pgbouncer" {
				want = bouncer.Addr()
			}
			mu.Lock()
			defer mu.Unlock()
			if len(peers) != 1 || peers[want] == 0 {
				t.Fatalf("pools connected to %v, want only %s", peers, want)
			}
		})
	}
	for _, tn := range tenants {
		got := ownerView(t, p, tn)
		want := tn.snapshot()
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s holds %d customers, wrote %d:\nholds %v\nwrote %v", tn.slug, len(got), len(want), got, want)
		}
	}
}

const (
	t10Workers = 16
	t10Ops     = 60
)

func runT10(t *testing.T, kit *tenantkit.Kit, mode string, tenants []*t10Tenant) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var (
		counter atomic.Int64
		ops     atomic.Int64
	)
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	for w := range t10Workers {
		rnd := rand.New(rand.NewPCG(uint64(seed), uint64(w)))
		g.Go(func() error {
			for range t10Ops {
				if gctx.Err() != nil {
					return nil
				}
				tn := tenants[rnd.IntN(len(tenants))]
				var err error
				if rnd.IntN(2) == 0 {
					email := fmt.Sprintf("%s-%d@%s.test", mode, counter.Add(1), tn.slug)
					err = t10Write(kit, tn, email, rnd.IntN(2) == 0)
				} else {
					err = t10Read(kit, tn, rnd.IntN(3))
				}
				if err != nil {
					return fmt.Errorf("worker %d as %s: %w", w, tn.slug, err)
				}
				ops.Add(1)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	t.Logf("%s: %d operations by %d goroutines in %v: %.0f ops/s", mode, ops.Load(), t10Workers,
		elapsed.Round(time.Millisecond), float64(ops.Load())/elapsed.Seconds())
}

// t10Write inserts a customer as tn, with Tx or Exec, and records it once
// committed.
func t10Write(kit *tenantkit.Kit, tn *t10Tenant, email string, useTx bool) error {
	const insert = "INSERT INTO customers (email, name) VALUES ($1, 'T10')"
	if useTx {
		err := kit.Tx(tn.ctx, func(tx pgx.Tx) error {
			var owner uuid.UUID
			if err := tx.QueryRow(tn.ctx, insert+" RETURNING tenant_id", email).Scan(&owner); err != nil {
				return err
			}
			if owner != tn.id {
				return fmt.Errorf("inserted %s with tenant_id %s, want %s", email, owner, tn.id)
			}
			return nil
		})
		if err != nil {
			return err
		}
	} else {
		tag, err := kit.Exec(tn.ctx, insert, email)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return fmt.Errorf("insert %s: %d rows", email, tag.RowsAffected())
		}
	}
	tn.committed(email)
	return nil
}

type t10Row struct {
	TenantID uuid.UUID `db:"tenant_id"`
	Email    string    `db:"email"`
}

// t10Read lists tn's customers in one of three ways and checks that every
// row is tn's and that every write committed before the read began is
// there.
func t10Read(kit *tenantkit.Kit, tn *t10Tenant, how int) error {
	before := tn.snapshot()
	const list = "SELECT tenant_id, email FROM customers"
	var rows []t10Row
	switch how {
	case 0:
		err := kit.TxWithOptions(tn.ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
			r, err := tx.Query(tn.ctx, list)
			if err != nil {
				return err
			}
			rows, err = pgx.CollectRows(r, pgx.RowToStructByName[t10Row])
			return err
		})
		if err != nil {
			return err
		}
	case 1:
		var err error
		if rows, err = tenantkit.Query(tn.ctx, kit, list, nil, pgx.RowToStructByName[t10Row]); err != nil {
			return err
		}
	default:
		// Counted by the server: foreign rows and the total.
		var foreign, total int
		err := kit.QueryRow(tn.ctx, "SELECT count(*) FILTER (WHERE email NOT LIKE '%@' || $1 || '.test'), count(*) FROM customers",
			tn.slug).Scan(&foreign, &total)
		if err != nil {
			return err
		}
		if foreign != 0 || total < len(before) {
			return fmt.Errorf("count: %d rows of other tenants, %d rows of %d committed", foreign, total, len(before))
		}
		return nil
	}
	seen := make(map[string]bool, len(rows))
	for _, r := range rows {
		if r.TenantID != tn.id || !tn.owns(r.Email) {
			return fmt.Errorf("read %s (tenant_id %s) as %s", r.Email, r.TenantID, tn.slug)
		}
		seen[r.Email] = true
	}
	for _, e := range before {
		if !seen[e] {
			return fmt.Errorf("committed %s is missing from %d rows read", e, len(rows))
		}
	}
	return nil
}

// ownerView lists tn's customers as the owner role, scoped by the tenant
// setting alone (the owner is subject to FORCE ROW LEVEL SECURITY).
func ownerView(t *testing.T, p *tenantkittest.Platform, tn *t10Tenant) []string {
	t.Helper()
	pl := p.Placement(t, tn.slug)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, p.OwnerDSN(pl.Database))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var emails []string
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT set_config('tenantkit.tenant_id', $1, true)", tn.id.String()); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, "SELECT email FROM "+pgx.Identifier{pl.Schema, "customers"}.Sanitize())
		if err != nil {
			return err
		}
		emails, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return emails
}
