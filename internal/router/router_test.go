package router_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantkit/tenantkit/internal/router"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

func TestMain(m *testing.M) { tenantkittest.Main(m) }

type bundle struct {
	r        *router.Router
	keys     []router.Key // one per database of its own
	urlCalls atomic.Int32
}

// setup returns a router over n fresh databases of the test server,
// connecting as the app role.
func setup(t *testing.T, n int, cfg router.Config) *bundle {
	t.Helper()
	b := &bundle{}
	var server *tenantkittest.Server
	for range n {
		db := tenantkittest.NewDatabase(t)
		server = db.Server
		b.keys = append(b.keys, router.Key{Cluster: "test", Database: db.Name})
	}
	cfg.URLFunc = func(_ context.Context, cluster string) (string, error) {
		b.urlCalls.Add(1)
		if cluster != "test" {
			return "", errors.New("no such cluster")
		}
		return server.AppURL("postgres"), nil
	}
	var err error
	if b.r, err = router.New(cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.r.Close)
	return b
}

// acquire acquires the pool of k or fails the test.
func (b *bundle) acquire(t *testing.T, k router.Key) (*pgxpool.Pool, func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pool, release, err := b.r.Acquire(ctx, k)
	if err != nil {
		t.Fatalf("acquire %s: %v", k.Database, err)
	}
	return pool, release
}

// use acquires and at once releases the pool of k, making it the most
// recently used.
func (b *bundle) use(t *testing.T, k router.Key) *pgxpool.Pool {
	t.Helper()
	pool, release := b.acquire(t, k)
	release()
	time.Sleep(time.Millisecond) // distinct last-use times
	return pool
}

// requireOpen checks that pool works and serves database db as the app role.
func requireOpen(t *testing.T, pool *pgxpool.Pool, db string) {
	t.Helper()
	var got, user string
	if err := pool.QueryRow(context.Background(), "SELECT current_database(), current_user").Scan(&got, &user); err != nil {
		t.Fatalf("pool of %s: %v", db, err)
	}
	if got != db || user != "tenantkit_app" {
		t.Fatalf("pool of %s is connected to %s as %s", db, got, user)
	}
}

// requireClosed checks that pool was closed.
func requireClosed(t *testing.T, pool *pgxpool.Pool, what string) {
	t.Helper()
	if err := pool.Ping(context.Background()); err == nil {
		t.Fatalf("%s: pool still open", what)
	}
}

func TestNewValidatesConfig(t *testing.T) {
	t.Parallel()
	url := func(context.Context, string) (string, error) { return "postgres://x@127.0.0.1/x", nil }
	for _, tc := range []struct {
		name string
		cfg  router.Config
	}{
		{"no URLFunc", router.Config{}},
		{"negative budget", router.Config{URLFunc: url, Budget: -1}},
		{"negative pool size", router.Config{URLFunc: url, PoolSize: -1}},
	} {
		if _, err := router.New(tc.cfg); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}

func TestPoolsAreCreatedLazilyOncePerKey(t *testing.T) {
	t.Parallel()
	b := setup(t, 2, router.Config{})
	if s := b.r.Stats(); s.Pools != 0 || b.urlCalls.Load() != 0 {
		t.Fatalf("before use: %+v, %d URL look-ups", s, b.urlCalls.Load())
	}
	first := b.use(t, b.keys[0])
	requireOpen(t, first, b.keys[0].Database)
	if again := b.use(t, b.keys[0]); again != first {
		t.Fatal("the same key got a second pool")
	}
	if s := b.r.Stats(); s.Pools != 1 || b.urlCalls.Load() != 1 {
		t.Fatalf("after using one key twice: %+v, %d URL look-ups", s, b.urlCalls.Load())
	}
	other := b.use(t, b.keys[1])
	if other == first {
		t.Fatal("two databases share a pool")
	}
	requireOpen(t, other, b.keys[1].Database)
	if s := b.r.Stats(); s.Pools != 2 {
		t.Fatalf("after two keys: %+v", s)
	}
}

func TestConcurrentAcquiresShareOnePool(t *testing.T) {
	t.Parallel()
	b := setup(t, 1, router.Config{Budget: 4, PoolSize: 4})
	const n = 32
	pools := make([]*pgxpool.Pool, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			pool, release, err := b.r.Acquire(context.Background(), b.keys[0])
			if err != nil {
				t.Error(err)
				return
			}
			defer release()
			pools[i] = pool
			var one int
			if err := pool.QueryRow(context.Background(), "SELECT 1").Scan(&one); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for i, p := range pools {
		if p != pools[0] {
			t.Fatalf("acquire %d got another pool", i)
		}
	}
	// Concurrent first acquires may each look the URL up (outside the
	// lock); only one pool results.
	if s := b.r.Stats(); s.Pools != 1 || s.OpenConns > 4 || b.urlCalls.Load() < 1 {
		t.Fatalf("%+v, %d URL look-ups", s, b.urlCalls.Load())
	}
}

func TestPoolSizeIsCappedByTheBudgetAndConfigFuncApplies(t *testing.T) {
	t.Parallel()
	var seen atomic.Int32
	b := setup(t, 1, router.Config{Budget: 3, PoolSize: 10, NoPreparedStatements: true, ConfigFunc: func(c *pgxpool.Config) {
		seen.Add(1)
		c.ConnConfig.RuntimeParams["application_name"] = "router-test"
	}})
	pool := b.use(t, b.keys[0])
	cfg := pool.Config()
	if cfg.MaxConns != 3 {
		t.Errorf("MaxConns %d, want the budget 3", cfg.MaxConns)
	}
	if cfg.ConnConfig.DefaultQueryExecMode != pgx.QueryExecModeExec {
		t.Errorf("query exec mode %v with NoPreparedStatements, want QueryExecModeExec (no named statements, PgBouncer-safe)", cfg.ConnConfig.DefaultQueryExecMode)
	}
	var app string
	if err := pool.QueryRow(context.Background(), "SELECT current_setting('application_name')").Scan(&app); err != nil || app != "router-test" || seen.Load() != 1 {
		t.Fatalf("ConfigFunc: application_name %q (%v), called %d times", app, err, seen.Load())
	}
}

// TestEvictsTheLeastRecentlyUsedIdlePool: at the budget, a new pool
// replaces the idle pool used longest ago — not the oldest created.
func TestEvictsTheLeastRecentlyUsedIdlePool(t *testing.T) {
	t.Parallel()
	b := setup(t, 4, router.Config{Budget: 3, PoolSize: 1})
	a, bk, c, d := b.keys[0], b.keys[1], b.keys[2], b.keys[3]
	poolA, poolB, poolC := b.use(t, a), b.use(t, bk), b.use(t, c)
	b.use(t, a) // now b is the least recently used
	poolD := b.use(t, d)
	requireOpen(t, poolD, d.Database)
	requireClosed(t, poolB, "the least recently used pool")
	requireOpen(t, poolA, a.Database)
	requireOpen(t, poolC, c.Database)
	if s := b.r.Stats(); s.Pools != 3 || s.OpenConns > 3 {
		t.Fatalf("over budget: %+v", s)
	}
	if b.use(t, a) != poolA || b.use(t, c) != poolC {
		t.Fatal("a pool that was not the least recently used was replaced")
	}
}

// TestHeldPoolIsNeverEvicted: however long ago it was acquired, a pool
// still held is not closed under its user.
func TestHeldPoolIsNeverEvicted(t *testing.T) {
	t.Parallel()
	b := setup(t, 3, router.Config{Budget: 2, PoolSize: 1})
	a, bk, c := b.keys[0], b.keys[1], b.keys[2]
	held, releaseA := b.acquire(t, a) // the oldest, but held
	poolB := b.use(t, bk)
	poolC := b.use(t, c) // must evict b, not a
	requireOpen(t, held, a.Database)
	requireClosed(t, poolB, "the idle pool")
	requireOpen(t, poolC, c.Database)
	releaseA()
	if b.use(t, a) != held {
		t.Fatal("the held pool was replaced")
	}
}

func TestAcquireWaitsForARelease(t *testing.T) {
	t.Parallel()
	b := setup(t, 2, router.Config{Budget: 1, PoolSize: 1})
	held, release := b.acquire(t, b.keys[0])
	got := make(chan error, 1)
	var served atomic.Int64 // when Acquire returned, in Unix nanoseconds
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		pool, rel, err := b.r.Acquire(ctx, b.keys[1])
		served.Store(time.Now().UnixNano())
		if err == nil {
			requireOpen(t, pool, b.keys[1].Database)
			rel()
		}
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("Acquire returned while every pool was held: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	requireOpen(t, held, b.keys[0].Database) // still usable while the other waits
	released := time.Now()
	release()
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("served %v after the release", time.Unix(0, served.Load()).Sub(released).Round(time.Microsecond))
	case <-time.After(5 * time.Second):
		t.Fatal("Acquire still waiting after the release")
	}
	requireClosed(t, held, "the released pool, evicted for the waiter")
}

func TestAcquireFailsWithErrBudgetExhaustedWhenCtxEnds(t *testing.T) {
	t.Parallel()
	b := setup(t, 2, router.Config{Budget: 2, PoolSize: 2})
	held, release := b.acquire(t, b.keys[0])
	defer release()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err := b.r.Acquire(ctx, b.keys[1])
	if !errors.Is(err, router.ErrBudgetExhausted) {
		t.Fatalf("Acquire with every pool held: %v, want ErrBudgetExhausted", err)
	}
	if waited := time.Since(start); waited < 90*time.Millisecond {
		t.Fatalf("gave up after %v, before ctx ended", waited)
	}
	requireOpen(t, held, b.keys[0].Database)
	// The held pool itself is still handed out: only new pools wait.
	again, rel, err := b.r.Acquire(ctx, b.keys[0])
	if err != nil || again != held {
		t.Fatalf("re-acquire the held pool: %v", err)
	}
	rel()
}

func TestAcquireReportsURLErrors(t *testing.T) {
	t.Parallel()
	b := setup(t, 0, router.Config{})
	if _, _, err := b.r.Acquire(context.Background(), router.Key{Cluster: "nope", Database: "x"}); err == nil {
		t.Fatal("no error for an unknown cluster")
	}
	if s := b.r.Stats(); s.Pools != 0 {
		t.Fatalf("a failed Acquire left a pool: %+v", s)
	}
}

func TestStats(t *testing.T) {
	t.Parallel()
	b := setup(t, 2, router.Config{Budget: 7, PoolSize: 3})
	ctx := context.Background()
	poolA, releaseA := b.acquire(t, b.keys[0])
	defer releaseA()
	b.use(t, b.keys[1])
	conn, err := poolA.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s := b.r.Stats()
	conn.Release()
	want := router.Stats{Pools: 2, Budget: 7, OpenConns: 1, AcquiredConns: 1}
	if s != want {
		t.Fatalf("Stats %+v, want %+v", s, want)
	}
	if s := b.r.Stats(); s.AcquiredConns != 0 || s.OpenConns != 1 {
		t.Fatalf("after the release: %+v", s)
	}
}

func TestEvictClosesOnlyAnIdlePool(t *testing.T) {
	t.Parallel()
	b := setup(t, 1, router.Config{})
	k := b.keys[0]
	held, release := b.acquire(t, k)
	b.r.Evict(k)
	requireOpen(t, held, k.Database)
	if s := b.r.Stats(); s.Pools != 1 {
		t.Fatalf("Evict of a held pool removed it: %+v", s)
	}
	release()
	b.r.Evict(k)
	requireClosed(t, held, "the evicted pool")
	if s := b.r.Stats(); s.Pools != 0 {
		t.Fatalf("after Evict: %+v", s)
	}
	fresh := b.use(t, k)
	if fresh == held || b.urlCalls.Load() != 2 {
		t.Fatalf("after Evict the key reuses its pool or its URL (%d look-ups)", b.urlCalls.Load())
	}
	requireOpen(t, fresh, k.Database)
	b.r.Evict(router.Key{Cluster: "test", Database: "never-used"}) // a no-op
}

func TestCloseClosesEveryPool(t *testing.T) {
	t.Parallel()
	b := setup(t, 2, router.Config{})
	pa, pb := b.use(t, b.keys[0]), b.use(t, b.keys[1])
	requireOpen(t, pa, b.keys[0].Database)
	requireOpen(t, pb, b.keys[1].Database)
	b.r.Close()
	requireClosed(t, pa, "pool a after Close")
	requireClosed(t, pb, "pool b after Close")
	if s := b.r.Stats(); s.Pools != 0 || s.OpenConns != 0 {
		t.Fatalf("after Close: %+v", s)
	}
}
