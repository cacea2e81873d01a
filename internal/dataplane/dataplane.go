// Package dataplane is the hot path of scoped access, in one line: a
// tenant's cached context → its placement → a pooled connection to that
// placement's database → the statement, run by internal/scope. Fair share
// and metrics hang off it as hooks; a tenant that moved under the
// statement is reloaded and the statement runs once more on its new
// placement.
package dataplane

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/semaphore"

	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/router"
	"github.com/tenantkit/tenantkit/internal/scope"
)

// ErrNotPlaced is returned when the tenant's data has no ready placement
// yet.
var ErrNotPlaced = errors.New("tenantkit: tenant has no ready placement")

// Config wires a Path.
type Config struct {
	// Pools hands out the pool of a placement's database.
	Pools *router.Router
	// Target is where a tenant's scoped work runs (cached with its
	// context: see scope.NewTarget).
	Target func(t *catalog.TenantContext) scope.Target
	// Reload drops a tenant's cached context and loads it again.
	Reload func(ctx context.Context, t *catalog.TenantContext) (*catalog.TenantContext, error)
	// Admit, when set, is asked before a tenant's work takes a connection
	// (fair share); the slot it returns, when not nil, is released when
	// the work ends.
	Admit func(ctx context.Context, t *catalog.TenantContext) (*semaphore.Weighted, error)
	// Done, when set, is told when a tenant's work that began at start
	// ended (metrics).
	Done func(t *catalog.TenantContext, start time.Time)
}

// Path runs scoped work.
type Path struct{ cfg Config }

// New returns a Path.
func New(cfg Config) *Path { return &Path{cfg: cfg} }

// Work is scoped work on a pooled connection to the tenant's placement.
type Work func(*pgxpool.Conn, scope.Target) error

// Run runs fn for tenant t. fn runs once more, on the reloaded placement,
// when the tenant moved under it, or when it failed on a connection
// before sending anything (pgconn.SafeToRetry: a pooled connection that
// died, as those to a database dropped under them do) and fresh says
// nothing of the caller's ran yet. A connection whose session could not be
// reset (scope.ErrSessionUnusable) was closed: the work goes to another,
// a few times. A dedicated database the tenant moved away from has its
// pooled connections closed: it is retained for a while, but may be
// dropped or become a move's target again.
func (p *Path) Run(ctx context.Context, t *catalog.TenantContext, fn Work, fresh func() bool) error {
	err := p.on(ctx, t, fn)
	for i := 0; i < 3 && errors.Is(err, scope.ErrSessionUnusable) && fresh() && ctx.Err() == nil; i++ {
		err = p.on(ctx, t, fn)
	}
	if err == nil {
		return nil
	}
	moved := scope.IsMoved(err)
	if !moved && !(pgconn.SafeToRetry(err) && fresh() && ctx.Err() == nil) {
		return err
	}
	now, lerr := p.cfg.Reload(ctx, t)
	if lerr != nil {
		return fmt.Errorf("tenantkit: reload tenant %s after %w: %w", t.Slug, err, lerr)
	}
	if old := t.Placement; moved && old != nil && old.Tier == catalog.TierDedicated &&
		(now.Placement == nil || now.Placement.Cluster != old.Cluster || now.Placement.Database != old.Database) {
		p.cfg.Pools.Reset(router.Key{Cluster: old.Cluster, Database: old.Database})
	}
	return p.on(ctx, now, fn)
}

// on runs fn on a pooled connection to the database of t's placement,
// once t is admitted.
func (p *Path) on(ctx context.Context, t *catalog.TenantContext, fn Work) error {
	pl := t.Placement
	if pl == nil || pl.State != catalog.PlacementReady {
		return fmt.Errorf("%w: %s", ErrNotPlaced, t.Slug)
	}
	if p.cfg.Admit != nil {
		slot, err := p.cfg.Admit(ctx, t)
		if err != nil {
			return err
		}
		if slot != nil {
			defer slot.Release(1)
		}
	}
	pool, release, err := p.cfg.Pools.Acquire(ctx, router.Key{Cluster: pl.Cluster, Database: pl.Database})
	if err != nil {
		return err
	}
	defer release()
	if p.cfg.Done != nil {
		defer p.cfg.Done(t, time.Now())
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	return fn(conn, p.cfg.Target(t))
}

// SweepBindings releases the bindings that idle connections of every pool
// may no longer keep, now and twice shortly after: a connection whose use
// ended just before the news is back in its pool only a moment later.
// Connections in use release theirs when their use ends.
func SweepBindings(pools *router.Router, s *scope.Scoper) {
	go func() {
		for _, wait := range []time.Duration{0, 50 * time.Millisecond, 250 * time.Millisecond} {
			time.Sleep(wait)
			pools.Each(func(p *pgxpool.Pool) {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				for _, c := range p.AcquireAllIdle(ctx) {
					s.Release(ctx, c.Conn())
					c.Release()
				}
			})
		}
	}()
}
