package appmigrate

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// connPool is the pool of one DSN, shared by all its targets for the length
// of a run. A connection goose ran a target's migrations on is marked dirty
// and reset before its next use, so that nothing a migration set for its
// session (search_path, a role, a timeout) reaches another target.
type connPool struct {
	*pgxpool.Pool
	dirty sync.Map // *pgx.Conn → struct{}
}

// prepare is the pool's PrepareConn hook.
func (cp *connPool) prepare(ctx context.Context, c *pgx.Conn) (bool, error) {
	if _, ok := cp.dirty.LoadAndDelete(c); ok {
		if _, err := c.Exec(ctx, "RESET ALL; RESET ROLE"); err != nil {
			return false, nil // destroy it and acquire another
		}
	}
	return true, nil
}

// pools holds one lazily created connPool per DSN for the length of a run.
type pools struct {
	workers int
	mu      sync.Mutex
	byDSN   map[string]*poolEntry
}

type poolEntry struct {
	pool      *connPool
	err       error
	targets   int // of the DSN in the run
	remaining int // of those, not done yet
}

func newPools(targets []Target, workers int) *pools {
	ps := &pools{workers: workers, byDSN: map[string]*poolEntry{}}
	for _, t := range targets {
		if t.validate() != nil {
			continue
		}
		e := ps.byDSN[t.DSN]
		if e == nil {
			e = &poolEntry{}
			ps.byDSN[t.DSN] = e
		}
		e.targets++
		e.remaining++
	}
	return ps
}

func (ps *pools) get(dsn string) (*connPool, error) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	e := ps.byDSN[dsn]
	if e.pool == nil && e.err == nil {
		e.pool, e.err = openPool(dsn, int32(2*min(ps.workers, e.targets)))
	}
	return e.pool, e.err
}

// openPool makes the pool of one DSN. Each worker needs at most two
// connections: one holds the target's lock and reads its state, goose runs
// the migrations on the other. Queries run in exec mode: one round trip, and
// no server-side prepared statement per schema-qualified text.
func openPool(dsn string, maxConns int32) (*connPool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse DSN: %w", err)
	}
	cp := &connPool{}
	cfg.MaxConns = maxConns
	cfg.MinConns = 0
	cfg.PrepareConn = cp.prepare
	cfg.BeforeClose = func(c *pgx.Conn) { cp.dirty.Delete(c) }
	cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeExec
	if cfg.ConnConfig.RuntimeParams["application_name"] == "" {
		cfg.ConnConfig.RuntimeParams["application_name"] = "tenantkit-appmigrate"
	}
	// The pool connects lazily; the context is not kept.
	cp.Pool, err = pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, fmt.Errorf("open pool: %w", err)
	}
	return cp, nil
}

// done closes the DSN's pool after its last target.
func (ps *pools) done(dsn string) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	e := ps.byDSN[dsn]
	e.remaining--
	if e.remaining == 0 && e.pool != nil {
		e.pool.Close()
		e.pool, e.err = nil, errPoolClosed
	}
}

func (ps *pools) closeAll() {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for _, e := range ps.byDSN {
		if e.pool != nil {
			e.pool.Close()
			e.pool = nil
		}
	}
}

var errPoolClosed = errors.New("appmigrate: internal error: pool used after its last target")
