package tenantkit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/router"
	"github.com/tenantkit/tenantkit/internal/scope"
)

// Errors of scoped access.
var (
	// ErrNoTenant is returned by Tx and the single-statement helpers when
	// the context carries no tenant: tenantkit never runs an unscoped query.
	ErrNoTenant = errors.New("tenantkit: no tenant in context")
	// ErrNotPlaced is returned when the tenant's data has no ready
	// placement yet.
	ErrNotPlaced = errors.New("tenantkit: tenant has no ready placement")
)

// Tx runs fn in a transaction scoped to the tenant of ctx, on the database
// of its placement, and commits when fn returns nil. Inside, every
// statement sees only that tenant's rows (row-level security reads the
// transaction-local tenant setting) and resolves table names in the
// tenant's schema, whatever its tier. The scoping travels in the same round
// trip as BEGIN and lasts until the transaction ends, so connections go
// back to the pool clean. If the tenant moved since its placement was
// cached, Tx reloads it and runs again on the new placement.
func (k *Kit) Tx(ctx context.Context, fn func(pgx.Tx) error) error {
	return k.TxWithOptions(ctx, pgx.TxOptions{}, fn)
}

// TxWithOptions is Tx with an isolation level and access mode. Its
// BeginQuery is ignored.
func (k *Kit) TxWithOptions(ctx context.Context, opts pgx.TxOptions, fn func(pgx.Tx) error) (err error) {
	if k.obs != nil && k.obs.tracing != nil {
		if t, ok := FromContext(ctx); ok {
			var end func(error)
			ctx, end = k.obs.tracing.StartTx(ctx, k.extra(t).traceAttrs)
			defer func() { end(err) }()
		}
	}
	ran := false
	return k.withPlacement(ctx, func(conn *pgxpool.Conn, t scope.Target) error {
		return k.scoper.Tx(ctx, conn, t, opts, func(tx pgx.Tx) error {
			ran = true
			return fn(tx)
		})
	}, func() bool { return !ran })
}

// Exec runs one statement scoped to the tenant of ctx, in one round trip.
func (k *Kit) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	var tag pgconn.CommandTag
	err := k.oneStatement(ctx, sql, args, func(rows pgx.Rows) error {
		rows.Close()
		tag = rows.CommandTag()
		return rows.Err()
	})
	return tag, err
}

// QueryRow runs one query scoped to the tenant of ctx, in one round trip,
// and scans its first row. It returns pgx.ErrNoRows when there is none.
func (k *Kit) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return &scopedRow{k: k, ctx: ctx, sql: sql, args: args}
}

type scopedRow struct {
	k    *Kit
	ctx  context.Context
	sql  string
	args []any
}

func (r *scopedRow) Scan(dest ...any) error {
	return r.k.oneStatement(r.ctx, r.sql, r.args, func(rows pgx.Rows) error {
		defer rows.Close()
		if !rows.Next() {
			if err := rows.Err(); err != nil {
				return err
			}
			return pgx.ErrNoRows
		}
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		rows.Close()
		return rows.Err()
	})
}

// Query runs one query scoped to the tenant of ctx, in one round trip, and
// collects its rows with scan (pgx.RowToStructByName, say).
func Query[T any](ctx context.Context, k *Kit, sql string, args []any, scan pgx.RowToFunc[T]) ([]T, error) {
	var out []T
	err := k.oneStatement(ctx, sql, args, func(rows pgx.Rows) error {
		var err error
		out, err = pgx.CollectRows(rows, scan)
		return err
	})
	return out, err
}

// oneStatement runs one statement scoped to the tenant of ctx and hands its
// rows to read (see scope.Scoper.Statement).
func (k *Kit) oneStatement(ctx context.Context, sql string, args []any, read func(pgx.Rows) error) error {
	return k.withPlacement(ctx, func(conn *pgxpool.Conn, t scope.Target) error {
		return k.scoper.Statement(ctx, conn, t, sql, args, read)
	}, func() bool { return true })
}

// targetOf is where the scoped work of a tenant runs, built with its
// context (see tenantExtra).
func targetOf(t *catalog.TenantContext) scope.Target {
	if t.Placement == nil {
		return scope.Target{}
	}
	return scope.NewTarget(t.ID, t.Placement.Epoch, t.Placement.Schema)
}

// withPlacement runs fn with a pooled connection to the database of the
// placement of the tenant of ctx, and where its work runs there. fn runs once more, on the reloaded placement, when the tenant
// moved under it, or when it failed on a connection before sending anything
// (pgconn.SafeToRetry: a pooled connection that died, as those to a
// database dropped under them do) and fresh says nothing of the caller's
// ran yet. A dedicated database the tenant moved away from has its pooled
// connections closed: it is retained for a while, but may be dropped or
// become a move's target again.
func (k *Kit) withPlacement(ctx context.Context, fn func(*pgxpool.Conn, scope.Target) error, fresh func() bool) error {
	t, ok := FromContext(ctx)
	if !ok {
		return ErrNoTenant
	}
	err := k.onPlacement(ctx, t, fn)
	// A connection whose session another tenant left in a state the reset
	// cannot undo inside a transaction is closed; the work, none of which
	// ran, goes to another (a few times: that tenant may have left several).
	for i := 0; i < 3 && errors.Is(err, scope.ErrSessionUnusable) && fresh() && ctx.Err() == nil; i++ {
		err = k.onPlacement(ctx, t, fn)
	}
	if err == nil {
		return nil
	}
	moved := isMoved(err)
	if !moved && !(pgconn.SafeToRetry(err) && fresh() && ctx.Err() == nil) {
		return err
	}
	k.cache.Invalidate(tenantMessage(t))
	now, lerr := k.cache.ByID(ctx, t.ID)
	if lerr != nil {
		return fmt.Errorf("tenantkit: reload tenant %s after %w: %w", t.Slug, err, lerr)
	}
	if old := t.Placement; moved && old != nil && old.Tier == catalog.TierDedicated &&
		(now.Placement == nil || now.Placement.Cluster != old.Cluster || now.Placement.Database != old.Database) {
		k.router.Reset(router.Key{Cluster: old.Cluster, Database: old.Database})
	}
	return k.onPlacement(ctx, now, fn)
}

// onPlacement runs fn on a pooled connection to the database of t's
// placement, once t may start one more transaction there (fair share).
func (k *Kit) onPlacement(ctx context.Context, t *Tenant, fn func(*pgxpool.Conn, scope.Target) error) error {
	p := t.Placement
	if p == nil || p.State != catalog.PlacementReady {
		return fmt.Errorf("%w: %s", ErrNotPlaced, t.Slug)
	}
	if !k.cfg.DisableFairShare {
		var throttle int64
		if k.throttled(t) {
			throttle = k.obs.cfg.ThrottleConcurrency
		}
		sem, err := k.fair.acquire(ctx, t, throttle)
		if err != nil {
			return err
		}
		if sem != nil {
			defer sem.Release(1)
		}
	}
	pool, release, err := k.router.Acquire(ctx, router.Key{Cluster: p.Cluster, Database: p.Database})
	if err != nil {
		return err
	}
	defer release()
	x := k.extra(t)
	if k.obs != nil {
		defer k.obs.tx(t, time.Now())
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	return fn(conn, x.target)
}

func isMoved(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == scope.MovedCode
}
