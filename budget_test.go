package tenantkit_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"

	"github.com/tenantkit/tenantkit"
	"github.com/tenantkit/tenantkit/examples/orders"
	"github.com/tenantkit/tenantkit/internal/bootstrap"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

// TestConnBudgetBoundsConnectionsToDedicatedDatabases: with more dedicated
// databases than the budget has connections for, busy tenants on all of
// them at once never hold more server connections than the budget, and
// every query is served — waiting for an idle pool rather than failing.
func TestConnBudgetBoundsConnectionsToDedicatedDatabases(t *testing.T) {
	t.Parallel()
	const (
		tenants  = 40
		budget   = 6
		poolSize = 2
		workers  = 24
		ops      = 40
	)
	p := tenantkittest.NewPlatform(t, orders.Migrations())
	slugs := make([]string, tenants)
	provisioned := t.Run("provision", func(t *testing.T) {
		for i := range slugs {
			slugs[i] = fmt.Sprintf("budget-%02d", i)
			t.Run(slugs[i], func(t *testing.T) {
				t.Parallel()
				p.Tenant(t, slugs[i], "dedicated")
			})
		}
	})
	if !provisioned {
		t.FailNow()
	}
	databases := make([]string, tenants)
	for i, slug := range slugs {
		databases[i] = p.Placement(t, slug).Database
	}
	kit := p.Kit(t, tenantkit.Config{ConnBudget: budget, PoolSize: poolSize})
	loaded := make([]*tenantkit.Tenant, tenants)
	for i, slug := range slugs {
		loaded[i], _ = tenantkit.FromContext(p.Scoped(t, kit, slug))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sampler := sampleConnections(t, ctx, databases)
	var served atomic.Int64
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	for w := range workers {
		g.Go(func() error {
			for i := range ops {
				n := (w*ops + i) % tenants // every tenant, from many workers at once
				if err := budgetOp(tenantkit.WithTenant(gctx, loaded[n]), kit, w, i); err != nil {
					return fmt.Errorf("worker %d as %s: %w", w, slugs[n], err)
				}
				served.Add(1)
			}
			return nil
		})
	}
	err := g.Wait()
	elapsed := time.Since(start)
	peak, samples := sampler.stop(t)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d scoped operations on %d dedicated databases in %v; %d samples of pg_stat_activity, at most %d connections (budget %d)",
		served.Load(), tenants, elapsed.Round(time.Millisecond), samples, peak, budget)
	if peak > budget {
		t.Fatalf("the server saw %d connections to the tenants' databases at once, budget %d", peak, budget)
	}
	if peak < poolSize {
		t.Fatalf("at most %d connections seen: the sampler missed the load", peak)
	}
}

// budgetOp writes or counts as the tenant of ctx.
func budgetOp(ctx context.Context, kit *tenantkit.Kit, worker, i int) error {
	if i%2 == 0 {
		_, err := kit.Exec(ctx, "INSERT INTO customers (email, name) VALUES ($1, 'B')", fmt.Sprintf("w%d-%d@x.test", worker, i))
		return err
	}
	return kit.Tx(ctx, func(tx pgx.Tx) error {
		var n int
		return tx.QueryRow(ctx, "SELECT count(*) FROM customers").Scan(&n)
	})
}

type connSampler struct {
	done    chan struct{}
	stopped chan struct{}
	peak    atomic.Int64
	samples atomic.Int64
	err     error
}

// sampleConnections counts, every few milliseconds, the server's sessions
// on databases — only this test's, since other tests of the process connect
// as the app role too.
func sampleConnections(t *testing.T, ctx context.Context, databases []string) *connSampler {
	t.Helper()
	conn, err := pgx.Connect(ctx, tenantkittest.Start(t).SuperuserURL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	s := &connSampler{done: make(chan struct{}), stopped: make(chan struct{})}
	go func() {
		defer close(s.stopped)
		defer conn.Close(context.Background())
		// A connection the pool has closed leaves pg_stat_activity only
		// once its backend has exited, a moment later (longer on a loaded
		// machine): a count is taken as held only when the next sample,
		// 2 ms on, is as high.
		prev := int64(0)
		for {
			var n int64
			if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE datname = ANY($1) AND usename = $2", databases, bootstrap.AppRole).Scan(&n); err != nil {
				s.err = err
				return
			}
			s.samples.Add(1)
			if held := min(prev, n); held > s.peak.Load() {
				s.peak.Store(held)
			}
			prev = n
			select {
			case <-s.done:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	return s
}

func (s *connSampler) stop(t *testing.T) (peak, samples int64) {
	t.Helper()
	close(s.done)
	<-s.stopped
	if s.err != nil {
		t.Fatalf("sample pg_stat_activity: %v", s.err)
	}
	return s.peak.Load(), s.samples.Load()
}
