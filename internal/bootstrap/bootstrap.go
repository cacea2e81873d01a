package bootstrap

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Role names used by tenantkit.
const (
	OwnerRole       = "tenantkit_owner"
	AppRole         = "tenantkit_app"
	ReplicationRole = "tenantkit_repl"
)

// Passwords holds the login passwords of the three roles.
type Passwords struct {
	Owner       string `json:"owner"`
	App         string `json:"app"`
	Replication string `json:"replication"`
}

type roleSpec struct {
	name     string
	password string
	attrs    string
}

// EnsureRoles creates the three roles if missing and sets their attributes
// and passwords. conn must be a superuser (or CREATEROLE) connection.
func EnsureRoles(ctx context.Context, conn *pgx.Conn, pw Passwords) error {
	specs := []roleSpec{
		{OwnerRole, pw.Owner, "LOGIN NOSUPERUSER CREATEDB CREATEROLE NOBYPASSRLS"},
		{AppRole, pw.App, "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOREPLICATION"},
		{ReplicationRole, pw.Replication, "LOGIN NOSUPERUSER REPLICATION BYPASSRLS"},
	}
	for _, s := range specs {
		if err := ensureRole(ctx, conn, s); err != nil {
			return err
		}
	}
	// Dropping a moved tenant's old database ends the sessions the
	// application's pools still keep there.
	if _, err := conn.Exec(ctx, "GRANT pg_signal_backend TO "+pgx.Identifier{OwnerRole}.Sanitize()); err != nil {
		return fmt.Errorf("bootstrap: grant pg_signal_backend: %w", err)
	}
	// A move's cutover ends sessions left bound to the tenant and idle
	// (see internal/move): it reads their state in pg_stat_activity.
	if _, err := conn.Exec(ctx, "GRANT pg_read_all_stats TO "+pgx.Identifier{OwnerRole}.Sanitize()); err != nil {
		return fmt.Errorf("bootstrap: grant pg_read_all_stats: %w", err)
	}
	// A move's stream applies changes as replication does: with
	// session_replication_role = replica, so that foreign-key actions and
	// triggers do not fire a second time on rows the stream also carries.
	if _, err := conn.Exec(ctx, "GRANT SET ON PARAMETER session_replication_role TO "+pgx.Identifier{OwnerRole}.Sanitize()+
		", "+pgx.Identifier{ReplicationRole}.Sanitize()); err != nil {
		return fmt.Errorf("bootstrap: grant set on session_replication_role: %w", err)
	}
	return nil
}

func ensureRole(ctx context.Context, conn *pgx.Conn, s roleSpec) error {
	ident := pgx.Identifier{s.name}.Sanitize()
	_, err := conn.Exec(ctx, "CREATE ROLE "+ident)
	if err != nil && !isCode(err, "42710") && !isCode(err, "23505") { // duplicate_object; unique_violation on a concurrent create
		return fmt.Errorf("bootstrap: create role %s: %w", s.name, err)
	}
	// Role attributes and passwords cannot be bound as parameters; the
	// password is quoted as a literal by the server's quote_literal.
	var lit string
	if err := conn.QueryRow(ctx, "SELECT quote_literal($1::text)", s.password).Scan(&lit); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, "ALTER ROLE "+ident+" "+s.attrs+" PASSWORD "+lit); err != nil {
		return fmt.Errorf("bootstrap: alter role %s: %w", s.name, err)
	}
	return nil
}

// CreateDatabase creates database name owned by the owner role unless it
// exists, and lets the app and replication roles connect to it.
func CreateDatabase(ctx context.Context, conn *pgx.Conn, name string) error {
	ident := pgx.Identifier{name}.Sanitize()
	_, err := conn.Exec(ctx, "CREATE DATABASE "+ident+" OWNER "+pgx.Identifier{OwnerRole}.Sanitize())
	if err != nil && !isCode(err, "42P04") { // duplicate_database
		return fmt.Errorf("bootstrap: create database %s: %w", name, err)
	}
	// CONNECT only: a temporary table would outlive the transaction that
	// made it, on a pooled connection another tenant gets next.
	for _, stmt := range []string{
		"GRANT CONNECT ON DATABASE " + ident + " TO " + pgx.Identifier{AppRole}.Sanitize() + ", " + pgx.Identifier{ReplicationRole}.Sanitize(),
		"REVOKE TEMPORARY ON DATABASE " + ident + " FROM PUBLIC, " + pgx.Identifier{AppRole}.Sanitize(),
	} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("bootstrap: grant connect on %s: %w", name, err)
		}
	}
	return nil
}

// DropDatabase drops database name, ending its connections.
func DropDatabase(ctx context.Context, conn *pgx.Conn, name string) error {
	// A database with a replication slot or a prepared transaction (a
	// tenant move's) cannot be dropped: end those first.
	if _, err := conn.Exec(ctx, `SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots
		WHERE database = $1 AND active_pid IS NOT NULL`, name); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
		WHERE database = $1 AND NOT active`, name); err != nil {
		return err
	}
	_, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	return err
}

func isCode(err error, code string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == code
}
