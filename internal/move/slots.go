package move

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tenantkit/tenantkit/internal/catalog"
)

// createPublication publishes the tenant's tables of an end: with a row
// filter on tenant_id where the tables are shared (and no TRUNCATE, which
// would reach every tenant), all of each table otherwise.
func createPublication(ctx context.Context, e end, name string, tables []table) error {
	conn, err := e.owner(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_publication WHERE pubname = $1)", name).Scan(&exists); err != nil || exists {
		return err
	}
	parts := make([]string, len(tables))
	for i, t := range tables {
		parts[i] = ident(e.schema, t.Name)
		if e.shared() {
			parts[i] += " WHERE (tenant_id = '" + e.tenant.String() + "'::uuid)"
		}
	}
	publish := "insert, update, delete, truncate"
	if e.shared() {
		publish = "insert, update, delete"
	}
	_, err = conn.Exec(ctx, "CREATE PUBLICATION "+ident(name)+" FOR TABLE "+strings.Join(parts, ", ")+" WITH (publish = '"+publish+"')")
	if err != nil {
		return fmt.Errorf("create publication %s on %s: %w", name, e, err)
	}
	return nil
}

func dropPublication(ctx context.Context, e end, name string) error {
	conn, err := e.ownerIfExists(ctx)
	if err != nil || conn == nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "DROP PUBLICATION IF EXISTS "+ident(name))
	return err
}

// createSlot creates a permanent pgoutput slot on repl. With export, the
// slot's snapshot stays usable until the next command on repl.
func createSlot(ctx context.Context, repl *pgconn.PgConn, name string, export bool) (pglogrepl.CreateReplicationSlotResult, error) {
	action := "NOEXPORT_SNAPSHOT"
	if export {
		action = "EXPORT_SNAPSHOT"
	}
	res, err := pglogrepl.CreateReplicationSlot(ctx, repl, name, "pgoutput",
		pglogrepl.CreateReplicationSlotOptions{Mode: pglogrepl.LogicalReplication, SnapshotAction: action})
	if err != nil {
		return res, fmt.Errorf("create replication slot %s: %w", name, err)
	}
	return res, nil
}

// dropSlot drops a slot of the end's cluster if it exists, ending the
// session that still streams it (a runner that lost its lease).
func dropSlot(ctx context.Context, e end, name string) error {
	conn, err := pgx.Connect(ctx, withUTC(replicationDBURL(e)))
	if err != nil {
		return fmt.Errorf("connect to %s to drop slot %s: %w", e.cluster.Name, name, err)
	}
	defer conn.Close(ctx)
	for range 50 {
		var pid *int32
		err := conn.QueryRow(ctx, "SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1", name).Scan(&pid)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if pid != nil {
			_, _ = conn.Exec(ctx, "SELECT pg_terminate_backend($1)", *pid)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		_, err = conn.Exec(ctx, "SELECT pg_drop_replication_slot($1)", name)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && (pgErr.Code == "42704" || pgErr.Code == "55006") { // gone, or taken again
			continue
		}
		return err
	}
	return fmt.Errorf("slot %s on %s stays in use", name, e.cluster.Name)
}

// replicationDBURL connects as the replication role to a database that
// always exists.
func replicationDBURL(e end) string {
	return catalog.WithDatabase(e.replicationURL(), "postgres")
}
