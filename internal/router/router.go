package router

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrClosed is returned by Acquire after Close.
var ErrClosed = errors.New("router: closed")

// ErrBudgetExhausted is returned when every pool is busy and a new one would
// exceed the connection budget until ctx ended.
var ErrBudgetExhausted = errors.New("router: connection budget exhausted: every pool is in use")

// Config configures a Router.
type Config struct {
	// URLFunc returns the connection URL of a cluster (as the app role);
	// its database part is replaced by the target database. Required.
	URLFunc func(ctx context.Context, cluster string) (string, error)
	// Budget is the most connections all pools may hold together.
	// Defaults to 50.
	Budget int32
	// PoolSize is the most connections of one pool. Defaults to 10, and
	// to Budget when Budget is smaller.
	PoolSize int32
	// NoPreparedStatements makes pools send every statement unprepared
	// (QueryExecModeExec), as PgBouncer in transaction mode needs.
	// Defaults to false: statements are prepared and cached per connection.
	NoPreparedStatements bool
	// ConfigFunc adjusts each pool's configuration before it is created
	// (tracers, PgBouncer settings). Defaults to nil.
	ConfigFunc func(*pgxpool.Config)
}

// Key names a pool.
type Key struct{ Cluster, Database string }

type entry struct {
	pool     *pgxpool.Pool
	refs     int
	lastUsed time.Time
}

// Router hands out pools under a connection budget.
type Router struct {
	cfg    Config
	mu     sync.Mutex
	pools  map[Key]*entry
	closed bool
	freed  chan struct{} // signalled when a pool's last user releases it
	// closing counts the connections of evicted pools still closing: they
	// count against the budget until their pool's Close has returned, so
	// that no other goroutine connects a new pool meanwhile.
	closing int32
}

// New returns a Router.
func New(cfg Config) (*Router, error) {
	if cfg.URLFunc == nil {
		return nil, errors.New("router: Config.URLFunc is required")
	}
	if cfg.Budget == 0 {
		cfg.Budget = 50
	}
	if cfg.PoolSize == 0 {
		cfg.PoolSize = 10
	}
	if cfg.Budget < 1 || cfg.PoolSize < 1 {
		return nil, errors.New("router: Budget and PoolSize must be positive")
	}
	cfg.PoolSize = min(cfg.PoolSize, cfg.Budget)
	return &Router{cfg: cfg, pools: map[Key]*entry{}, freed: make(chan struct{}, 1)}, nil
}

// Acquire returns the pool of (cluster, database), creating it if needed,
// and a release func the caller must call when done with it. While held,
// the pool is never closed.
func (r *Router) Acquire(ctx context.Context, k Key) (*pgxpool.Pool, func(), error) {
	for {
		p, err := r.tryAcquire(ctx, k)
		if err == nil {
			return p, func() { r.release(k) }, nil
		}
		if !errors.Is(err, ErrBudgetExhausted) {
			return nil, nil, err
		}
		select {
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("%w (%d connections)", ErrBudgetExhausted, r.cfg.Budget)
		case <-r.freed:
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func (r *Router) tryAcquire(ctx context.Context, k Key) (*pgxpool.Pool, error) {
	if p, ok, err := r.acquireExisting(k); ok || err != nil {
		return p, err
	}
	// Build the pool's configuration outside the lock: it may ask the
	// catalog for the cluster's URL. pgxpool connects lazily, so creating
	// the pool below costs no round trip.
	cfg, err := r.poolConfig(ctx, k)
	if err != nil {
		return nil, err
	}
	for {
		pool, victim, err := r.create(ctx, k, cfg)
		if victim == nil {
			return pool, err
		}
		// Close the evicted pool — waiting for its connections to close,
		// never under the lock — before a new pool may connect, then try
		// again: the freed slot may have been taken meanwhile. Until the
		// close returns, its connections still count (closing).
		victim.Close()
		r.mu.Lock()
		r.closing -= r.cfg.PoolSize
		r.mu.Unlock()
		select {
		case r.freed <- struct{}{}:
		default:
		}
	}
}

// create adds the pool of k unless the budget is full; then it evicts the
// least recently used idle pool and returns it for the caller to close.
func (r *Router) create(ctx context.Context, k Key, cfg *pgxpool.Config) (*pgxpool.Pool, *pgxpool.Pool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, nil, ErrClosed
	}
	if e, ok := r.pools[k]; ok { // another goroutine created it meanwhile
		e.refs++
		e.lastUsed = time.Now()
		return e.pool, nil, nil
	}
	if int32(len(r.pools)+1)*r.cfg.PoolSize+r.closing > r.cfg.Budget {
		if v := r.evictOne(); v != nil {
			r.closing += r.cfg.PoolSize
			return nil, v, nil
		}
		return nil, nil, ErrBudgetExhausted
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg.Copy())
	if err != nil {
		return nil, nil, err
	}
	r.pools[k] = &entry{pool: pool, refs: 1, lastUsed: time.Now()}
	return pool, nil, nil
}

func (r *Router) acquireExisting(k Key) (*pgxpool.Pool, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, false, ErrClosed
	}
	e, ok := r.pools[k]
	if !ok {
		return nil, false, nil
	}
	e.refs++
	e.lastUsed = time.Now()
	return e.pool, true, nil
}

// evictOne removes the least recently used pool nobody holds and returns
// it for the caller to close, or nil when every pool is held.
func (r *Router) evictOne() *pgxpool.Pool {
	var (
		victim Key
		oldest *entry
	)
	for k, e := range r.pools {
		if e.refs == 0 && (oldest == nil || e.lastUsed.Before(oldest.lastUsed)) {
			victim, oldest = k, e
		}
	}
	if oldest == nil {
		return nil
	}
	delete(r.pools, victim)
	return oldest.pool
}

func (r *Router) poolConfig(ctx context.Context, k Key) (*pgxpool.Config, error) {
	raw, err := r.cfg.URLFunc(ctx, k.Cluster)
	if err != nil {
		return nil, fmt.Errorf("router: cluster %q: %w", k.Cluster, err)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("router: cluster %q URL: %w", k.Cluster, err)
	}
	u.Path = "/" + k.Database
	cfg, err := pgxpool.ParseConfig(u.String())
	if err != nil {
		return nil, fmt.Errorf("router: cluster %q URL: %w", k.Cluster, err)
	}
	cfg.MaxConns = r.cfg.PoolSize
	cfg.MinConns = 0
	cfg.MaxConnIdleTime = time.Minute
	// Behind PgBouncer in transaction mode no named prepared statement may
	// outlive its transaction. Otherwise statements are prepared — inside a
	// scoped transaction, so that unqualified names resolve in the tenant's
	// schema; PostgreSQL re-parses a prepared statement whenever the
	// search_path differs from the one it was prepared under.
	if r.cfg.NoPreparedStatements {
		cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeExec
	}
	if r.cfg.ConfigFunc != nil {
		r.cfg.ConfigFunc(cfg)
	}
	return cfg, nil
}

func (r *Router) release(k Key) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.pools[k]; ok {
		e.refs--
		e.lastUsed = time.Now()
		if e.refs == 0 {
			select {
			case r.freed <- struct{}{}:
			default:
			}
		}
	}
}

// Stats describes the router's pools.
type Stats struct {
	Pools         int   `json:"pools"`
	Budget        int32 `json:"budget"`
	OpenConns     int32 `json:"open_conns"`
	AcquiredConns int32 `json:"acquired_conns"`
}

// Stats returns the router's current pools and connections.
func (r *Router) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := Stats{Pools: len(r.pools), Budget: r.cfg.Budget}
	for _, e := range r.pools {
		st := e.pool.Stat()
		s.OpenConns += st.TotalConns()
		s.AcquiredConns += st.AcquiredConns()
	}
	return s
}

// Evict closes the pool of k if nobody holds it, so that the next Acquire
// connects again (after a cluster's URL changed, say).
func (r *Router) Evict(k Key) {
	r.mu.Lock()
	e, ok := r.pools[k]
	idle := ok && e.refs == 0
	if idle {
		delete(r.pools, k)
	}
	r.mu.Unlock()
	if idle {
		e.pool.Close()
	}
}

// Reset closes the idle connections of the pool of k, if it is open, and
// the others as they are released; the pool stays open and connects anew.
// For a database that is gone or is about to be dropped (a tenant's
// dedicated database after it moved away): its connections would die with
// it, and one reused within pgxpool's idle-ping threshold would fail its
// first statement.
func (r *Router) Reset(k Key) {
	r.mu.Lock()
	e, ok := r.pools[k]
	r.mu.Unlock()
	if ok {
		e.pool.Reset()
	}
}

// Close closes every pool; Acquire fails with ErrClosed afterwards.
func (r *Router) Close() {
	r.mu.Lock()
	r.closed = true
	pools := r.pools
	r.pools = map[Key]*entry{}
	r.mu.Unlock()
	for _, e := range pools {
		e.pool.Close()
	}
}

// PoolStat is one pool's connections, for metrics.
type PoolStat struct {
	Key
	Stat *pgxpool.Stat
}

// PoolStats returns the statistics of every open pool.
func (r *Router) PoolStats() []PoolStat {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]PoolStat, 0, len(r.pools))
	for k, e := range r.pools {
		out = append(out, PoolStat{Key: k, Stat: e.pool.Stat()})
	}
	return out
}

// Each calls fn with every open pool, which stays open while fn runs.
func (r *Router) Each(fn func(*pgxpool.Pool)) {
	r.mu.Lock()
	var keys []Key
	var pools []*pgxpool.Pool
	for k, e := range r.pools {
		e.refs++
		keys, pools = append(keys, k), append(pools, e.pool)
	}
	r.mu.Unlock()
	for i, p := range pools {
		fn(p)
		r.release(keys[i])
	}
}
