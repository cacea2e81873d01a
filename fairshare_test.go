package tenantkit_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantkit/tenantkit"
	"github.com/tenantkit/tenantkit/examples/orders"
	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

// TestFairShareKeepsAFloodingTenantFromStarvingItsNeighbours: a tenant on
// the shared tier opens far more long transactions than the shared pool
// has connections. Its max_concurrent_tx limit (2 on the free plan) keeps
// two of the pool's four connections free, so a quiet neighbour's
// transactions all finish well inside their deadline, and the flood's own
// surplus waits — bounded by each caller's context.
func TestFairShareKeepsAFloodingTenantFromStarvingItsNeighbours(t *testing.T) {
	t.Parallel()
	p := tenantkittest.NewPlatform(t, orders.Migrations())
	p.Tenant(t, "flood", catalog.TierShared)
	p.Tenant(t, "quiet", catalog.TierShared)
	kit := p.Kit(t, tenantkit.Config{PoolSize: 4})
	flood, quiet := p.Scoped(t, kit, "flood"), p.Scoped(t, kit, "quiet")
	ft, _ := tenantkit.FromContext(flood)
	if limit, _ := ft.Limit(catalog.LimitConcurrentTx); limit != 2 {
		t.Fatalf("free plan's max_concurrent_tx is %d, want 2", limit)
	}

	const flooders = 10
	floodCtx, cancelFlood := context.WithTimeout(flood, 20*time.Second)
	defer cancelFlood()
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		running int
		peak    int
	)
	for range flooders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = kit.Tx(floodCtx, func(tx pgx.Tx) error {
				mu.Lock()
				running++
				peak = max(peak, running)
				mu.Unlock()
				defer func() { mu.Lock(); running--; mu.Unlock() }()
				_, err := tx.Exec(floodCtx, "SELECT pg_sleep(1)")
				return err
			})
		}()
	}
	// Let the flood take what it can.
	waitFor(t, 5*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return running > 0 })

	for i := range 3 {
		ctx, cancel := context.WithTimeout(quiet, 1200*time.Millisecond)
		var n int
		err := kit.Tx(ctx, func(tx pgx.Tx) error { return tx.QueryRow(ctx, "SELECT count(*) FROM orders").Scan(&n) })
		cancel()
		if err != nil {
			t.Fatalf("quiet tenant's transaction %d starved behind the flood: %v", i, err)
		}
	}

	// A flooder whose context ends while waiting for a slot gets the
	// concurrency error, wrapping its context's.
	short, cancel := context.WithTimeout(flood, 100*time.Millisecond)
	defer cancel()
	err := kit.Tx(short, func(pgx.Tx) error { return nil })
	if !errors.Is(err, tenantkit.ErrConcurrencyLimit) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting flooder: %v", err)
	}
	start := time.Now()
	wg.Wait()
	t.Logf("flood drained in %v", time.Since(start))
	if peak != 2 {
		t.Fatalf("the flood ran %d transactions at once, want its limit 2", peak)
	}
}
