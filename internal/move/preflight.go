package move

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tenantkit/tenantkit/internal/appmigrate"
	"github.com/tenantkit/tenantkit/internal/rlspolicy"
)

// RefusedError is a move refused by its preflight, before anything was
// created: the reason says what to change.
type RefusedError struct{ Reason string }

func (e *RefusedError) Error() string { return "move refused: " + e.Reason }

func refuse(format string, args ...any) error {
	return &RefusedError{Reason: fmt.Sprintf(format, args...)}
}

// preflight checks, before the move creates anything, that it can work:
// the servers are set up for it, every table's replica identity carries
// tenant_id, the replication role reads past row-level security, and both
// ends run the same application migrations.
func (r *Runner) preflight(ctx context.Context, src, dst end, srcOwner *pgx.Conn, tables []table) error {
	for _, e := range []end{src, dst} {
		if err := serverReady(ctx, e); err != nil {
			return err
		}
	}
	if len(tables) == 0 {
		return refuse("%s holds no tenant tables", src)
	}
	for _, t := range tables {
		if t.Partitioned {
			return refuse("table %s is partitioned, which moves do not support yet", ident(src.schema, t.Name))
		}
		if !slices.Contains(t.IdentityColumns, rlspolicy.TenantColumn) {
			return refuse("table %s has a replica identity without %s (%s): give it a primary key that starts with %s, "+
				"or ALTER TABLE … REPLICA IDENTITY FULL", ident(src.schema, t.Name), rlspolicy.TenantColumn,
				identityName(t), rlspolicy.TenantColumn)
		}
	}
	if err := grantReader(ctx, srcOwner, src, tables); err != nil {
		return err
	}
	if err := readsPastRLS(ctx, src, tables); err != nil {
		return err
	}
	v, err := appVersion(ctx, srcOwner, src.schema)
	if err != nil {
		return err
	}
	if latest := r.latest(); v != latest {
		return refuse("%s is at application migration %d and the migrations at %d: run `tenantkit migrate up` first", src, v, latest)
	}
	return nil
}

func identityName(t table) string {
	switch t.Identity {
	case "d":
		if len(t.IdentityColumns) == 0 {
			return "no primary key"
		}
		return fmt.Sprintf("primary key %v", t.IdentityColumns)
	case "i":
		return fmt.Sprintf("index %v", t.IdentityColumns)
	case "n":
		return "REPLICA IDENTITY NOTHING"
	}
	return "FULL"
}

// serverReady checks a cluster's settings: logical WAL for the slots, and
// prepared transactions for the fence that survives the mover's death.
func serverReady(ctx context.Context, e end) error {
	conn, err := pgx.Connect(ctx, ownerURL(e, "postgres"))
	if err != nil {
		return fmt.Errorf("connect to cluster %s: %w", e.cluster.Name, err)
	}
	defer conn.Close(ctx)
	var walLevel, prepared string
	var replica, replCopies, stats bool
	if err := conn.QueryRow(ctx, "SELECT current_setting('wal_level'), current_setting('max_prepared_transactions'), "+
		"has_parameter_privilege('session_replication_role', 'SET'), "+
		"coalesce((SELECT has_parameter_privilege(r.oid, 'session_replication_role', 'SET') FROM pg_roles r WHERE r.rolname = $1), false), "+
		"pg_has_role('pg_read_all_stats', 'USAGE')",
		e.replicationRole()).Scan(&walLevel, &prepared, &replica, &replCopies, &stats); err != nil {
		return err
	}
	if !stats {
		return refuse("the owner role of cluster %s must see every session's transactions, which a cutover waits for: "+
			"GRANT pg_read_all_stats TO %s", e.cluster.Name, ownerRole(e))
	}
	if !replica || !replCopies {
		return refuse("the owner and replication roles of cluster %s must be allowed to set session_replication_role, "+
			"which a move copies and applies changes under: GRANT SET ON PARAMETER session_replication_role TO %s, %s",
			e.cluster.Name, ownerRole(e), e.replicationRole())
	}
	if walLevel != "logical" {
		return refuse("cluster %s runs with wal_level=%s: set wal_level=logical and restart it", e.cluster.Name, walLevel)
	}
	if n, _ := strconv.Atoi(prepared); n == 0 {
		return refuse("cluster %s runs with max_prepared_transactions=0: the cutover's fence is a prepared transaction; set it to at least 4 and restart", e.cluster.Name)
	}
	return nil
}

// grantReader lets the replication role read the tenant tables.
func grantReader(ctx context.Context, owner *pgx.Conn, e end, tables []table) error {
	return grant(ctx, owner, e, tables, "GRANT SELECT ON %s TO %s")
}

// grantCopy lets the replication role copy rows into the target's tables,
// for the copy's duration: COPY FROM is refused under row-level security.
func grantCopy(ctx context.Context, owner *pgx.Conn, e end, tables []table, on bool) error {
	if on {
		return grant(ctx, owner, e, tables, "GRANT INSERT ON %s TO %s")
	}
	return grant(ctx, owner, e, tables, "REVOKE INSERT ON %s FROM %s")
}

func grant(ctx context.Context, owner *pgx.Conn, e end, tables []table, format string) error {
	role := e.replicationRole()
	if role == "" {
		return refuse("cluster %s has no replication URL", e.cluster.Name)
	}
	b := &pgx.Batch{}
	b.Queue("GRANT USAGE ON SCHEMA " + ident(e.schema) + " TO " + ident(role))
	for _, t := range tables {
		b.Queue(fmt.Sprintf(format, ident(e.schema, t.Name), ident(role)))
	}
	if err := owner.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("grant the replication role %s read access on %s: %w", role, e, err)
	}
	return nil
}

// readsPastRLS checks that the replication role reads every tenant table
// whole with row security off. A role that row-level security would filter
// fails there, and the move is refused: never a copy of zero rows.
func readsPastRLS(ctx context.Context, e end, tables []table) error {
	conn, err := e.reader(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	for _, t := range tables {
		_, err := conn.Exec(ctx, "SELECT FROM "+ident(e.schema, t.Name)+" LIMIT 0")
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42501" {
			return refuse("replication role %s cannot read %s past row-level security (%s): give it BYPASSRLS",
				e.replicationRole(), ident(e.schema, t.Name), pgErr.Message)
		}
		if err != nil {
			return fmt.Errorf("read %s as the replication role: %w", ident(e.schema, t.Name), err)
		}
	}
	return nil
}

// appVersion is the application migration version of a schema.
func appVersion(ctx context.Context, conn *pgx.Conn, schema string) (int64, error) {
	var v int64
	err := conn.QueryRow(ctx, "SELECT coalesce(max(version_id), 0) FROM "+ident(schema, appmigrate.VersionTable)+" WHERE is_applied").Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("read the application migration version of %s: %w", schema, err)
	}
	return v, nil
}

// targetClean checks that the target holds nothing of the tenant: no
// schema or database of its own, no rows in shared tables.
func targetClean(ctx context.Context, dst end, tables []table) error {
	switch dst.tier {
	case "dedicated":
		conn, err := pgx.Connect(ctx, withUTC(ownerURL(dst, "postgres")))
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		var exists bool
		if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)", dst.database).Scan(&exists); err != nil {
			return err
		}
		if exists {
			return refuse("target database %s exists already on %s: drop it or move elsewhere", dst.database, dst.cluster.Name)
		}
		return nil
	}
	conn, err := dst.ownerIfExists(ctx)
	if err != nil || conn == nil {
		return err
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = $1)", dst.schema).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		return nil
	}
	if dst.tier == "schema" {
		return refuse("target schema %s exists already: drop it or move elsewhere", dst)
	}
	for _, t := range tables {
		var n int64
		err := withTenant(ctx, conn, dst, func(tx pgx.Tx) error {
			return tx.QueryRow(ctx, "SELECT count(*) FROM "+ident(dst.schema, t.Name)+dst.where()).Scan(&n)
		})
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42P01" { // undefined_table: migrated later
			continue
		}
		if err != nil {
			return err
		}
		if n > 0 {
			return refuse("target %s holds %d rows of the tenant in %s already", dst, n, t.Name)
		}
	}
	return nil
}

func isMissingDatabase(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "3D000"
}

// withTenant runs fn in a transaction on an owner connection scoped to the
// moved tenant: forced row-level security lets the owner see and write
// only that tenant's rows of shared tables.
func withTenant(ctx context.Context, conn *pgx.Conn, e end, fn func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT set_config($1, $2, true)", rlspolicy.Setting, e.tenant.String()); err != nil {
			return err
		}
		return fn(tx)
	})
}

func ownerRole(e end) string {
	u, err := url.Parse(e.cluster.OwnerURL)
	if err != nil || u.User == nil {
		return "the owner role"
	}
	return u.User.Username()
}
