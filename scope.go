package tenantkit

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/router"
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

// movedCode is the SQLSTATE tenantkit.enter raises when the transaction's
// placement epoch is older than the fence's: the tenant moved.
const movedCode = "TKMOV"

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
func (k *Kit) TxWithOptions(ctx context.Context, opts pgx.TxOptions, fn func(pgx.Tx) error) error {
	return k.withPlacement(ctx, func(t *Tenant, pool *pgxpool.Pool) error {
		opts.BeginQuery = beginSQL(opts, t)
		return pgx.BeginTxFunc(ctx, pool, opts, fn)
	})
}

// Exec runs one statement scoped to the tenant of ctx, in one round trip.
func (k *Kit) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	var tag pgconn.CommandTag
	err := k.withPlacement(ctx, func(t *Tenant, pool *pgxpool.Pool) error {
		br := pool.SendBatch(ctx, scopedBatch(t, sql, args))
		defer br.Close()
		if _, err := br.Exec(); err != nil {
			return err
		}
		var err error
		tag, err = br.Exec()
		if err != nil {
			return err
		}
		return br.Close()
	})
	return tag, err
}

// QueryRow runs one query scoped to the tenant of ctx, in one round trip,
// and scans its first row.
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
	return r.k.withPlacement(r.ctx, func(t *Tenant, pool *pgxpool.Pool) error {
		br := pool.SendBatch(r.ctx, scopedBatch(t, r.sql, r.args))
		defer br.Close()
		if _, err := br.Exec(); err != nil {
			return err
		}
		if err := br.QueryRow().Scan(dest...); err != nil {
			return err
		}
		return br.Close()
	})
}

// Query runs one query scoped to the tenant of ctx, in one round trip, and
// collects its rows with scan (pgx.RowToStructByName, say).
func Query[T any](ctx context.Context, k *Kit, sql string, args []any, scan pgx.RowToFunc[T]) ([]T, error) {
	var out []T
	err := k.withPlacement(ctx, func(t *Tenant, pool *pgxpool.Pool) error {
		br := pool.SendBatch(ctx, scopedBatch(t, sql, args))
		defer br.Close()
		if _, err := br.Exec(); err != nil {
			return err
		}
		rows, err := br.Query()
		if err != nil {
			return err
		}
		if out, err = pgx.CollectRows(rows, scan); err != nil {
			return err
		}
		return br.Close()
	})
	return out, err
}

// scopedBatch is the tenant setup and one statement. Sent with one Sync,
// they form one implicit transaction: the transaction-local settings
// apply to the statement and end with it.
func scopedBatch(t *Tenant, sql string, args []any) *pgx.Batch {
	b := &pgx.Batch{}
	b.Queue("SELECT tenantkit.enter($1, $2, $3)", t.ID, t.Placement.Epoch, t.Placement.Schema)
	b.Queue(sql, args...)
	return b
}

// beginSQL begins a transaction and scopes it in one simple-protocol
// round trip. The values are ours (a uuid, an integer, a generated schema
// name), quoted as literals all the same.
func beginSQL(opts pgx.TxOptions, t *Tenant) string {
	var b strings.Builder
	b.WriteString("BEGIN")
	if opts.IsoLevel != "" {
		b.WriteString(" ISOLATION LEVEL " + string(opts.IsoLevel))
	}
	if opts.AccessMode != "" {
		b.WriteString(" " + string(opts.AccessMode))
	}
	if opts.DeferrableMode != "" {
		b.WriteString(" " + string(opts.DeferrableMode))
	}
	b.WriteString("; SELECT tenantkit.enter('")
	b.WriteString(t.ID.String())
	b.WriteString("', ")
	b.WriteString(strconv.FormatInt(t.Placement.Epoch, 10))
	b.WriteString(", '")
	b.WriteString(strings.ReplaceAll(t.Placement.Schema, "'", "''"))
	b.WriteString("')")
	return b.String()
}

// withPlacement runs fn with the tenant of ctx and the pool of its
// placement. When the tenant moved under it, fn runs once more on the
// reloaded placement.
func (k *Kit) withPlacement(ctx context.Context, fn func(*Tenant, *pgxpool.Pool) error) error {
	t, ok := FromContext(ctx)
	if !ok {
		return ErrNoTenant
	}
	err := k.onPlacement(ctx, t, fn)
	if !isMoved(err) {
		return err
	}
	k.cache.Invalidate(tenantMessage(t))
	fresh, lerr := k.cache.ByID(ctx, t.ID)
	if lerr != nil {
		return fmt.Errorf("tenantkit: reload moved tenant: %w", lerr)
	}
	return k.onPlacement(ctx, fresh, fn)
}

func (k *Kit) onPlacement(ctx context.Context, t *Tenant, fn func(*Tenant, *pgxpool.Pool) error) error {
	p := t.Placement
	if p == nil || p.State != catalog.PlacementReady {
		return fmt.Errorf("%w: %s", ErrNotPlaced, t.Slug)
	}
	pool, release, err := k.router.Acquire(ctx, router.Key{Cluster: p.Cluster, Database: p.Database})
	if err != nil {
		return err
	}
	defer release()
	return fn(t, pool)
}

func isMoved(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == movedCode
}
