package tenantkit

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"golang.org/x/sync/semaphore"

	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/dataplane"
	"github.com/tenantkit/tenantkit/internal/fairshare"
	"github.com/tenantkit/tenantkit/internal/scope"
)

// Errors of scoped access.
var (
	// ErrNoTenant is returned by Tx and the single-statement helpers when
	// the context carries no tenant: tenantkit never runs an unscoped query.
	ErrNoTenant = errors.New("tenantkit: no tenant in context")
	// ErrNotPlaced is returned when the tenant's data has no ready
	// placement yet.
	ErrNotPlaced = dataplane.ErrNotPlaced
	// ErrConcurrencyLimit is returned, wrapping the context's error, when
	// a scoped transaction on a shared pool waited for one of its
	// tenant's slots (the max_concurrent_tx limit) until its context
	// ended.
	ErrConcurrencyLimit = fairshare.ErrConcurrencyLimit
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
	if k.jobs != nil {
		return k.withPlacement(ctx, func(conn *pgxpool.Conn, t scope.Target) error {
			return k.jobs.tx(ctx, t, fn, func(fn func(pgx.Tx) error) error {
				return k.scoper.Tx(ctx, conn, t, opts, func(tx pgx.Tx) error {
					ran = true
					return fn(tx)
				})
			})
		}, func() bool { return !ran })
	}
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
	target := scope.NewTarget(t.ID, t.Placement.Epoch, t.Placement.Schema)
	target.Cluster, target.Database = t.Placement.Cluster, t.Placement.Database
	return target
}

// withPlacement runs fn with a pooled connection to the database of the
// placement of the tenant of ctx, and where its work runs there (see
// dataplane.Path.Run: the hot path, with the retry on a move).
func (k *Kit) withPlacement(ctx context.Context, fn dataplane.Work, fresh func() bool) error {
	t, ok := FromContext(ctx)
	if !ok {
		return ErrNoTenant
	}
	return k.path.Run(ctx, t, fn, fresh)
}

// pathConfig wires the hot path to the Kit: its pools, the tenant cache,
// fair share and metrics.
func (k *Kit) pathConfig() dataplane.Config {
	cfg := dataplane.Config{
		Pools:  k.router,
		Target: func(t *Tenant) scope.Target { return k.extra(t).target },
		Reload: func(ctx context.Context, t *Tenant) (*Tenant, error) {
			k.cache.Invalidate(tenantMessage(t))
			return k.cache.ByID(ctx, t.ID)
		},
	}
	if !k.cfg.DisableFairShare {
		cfg.Admit = func(ctx context.Context, t *Tenant) (*semaphore.Weighted, error) {
			var throttle int64
			if k.throttled(t) {
				throttle = k.obs.cfg.ThrottleConcurrency
			}
			return k.fair.Acquire(ctx, t, throttle)
		}
	}
	if k.obs != nil {
		cfg.Done = k.obs.tx
	}
	return cfg
}
