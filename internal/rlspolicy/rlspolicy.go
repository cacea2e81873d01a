package rlspolicy

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Setting is the transaction-local setting that names the current tenant.
// kit.Tx sets it with set_config(Setting, id, true); it is never set for a
// session.
const Setting = "tenantkit.tenant_id"

// CurrentTenant is the SQL expression of the current tenant: NULL when the
// setting is unset or empty, so that nothing matches (fail closed).
const CurrentTenant = "nullif(current_setting('" + Setting + "', true), '')::uuid"

// Predicate is the policy expression. The scalar sub-select makes the
// planner evaluate the setting once per query (an InitPlan), not per row,
// and lets an index on (tenant_id, …) be used.
const Predicate = "(tenant_id = (SELECT " + CurrentTenant + "))"

// Policy names.
const (
	// TenantPolicy is the restrictive FOR ALL policy that confines every
	// command to the current tenant's rows.
	TenantPolicy = "tenantkit_tenant_isolation"
	// AllowPolicy is a permissive FOR ALL policy: PostgreSQL grants no row
	// through restrictive policies alone. Any permissive policy the
	// application adds is still ANDed with TenantPolicy.
	AllowPolicy = "tenantkit_allow"
)

// TenantColumn is the column that marks a tenant table.
const TenantColumn = "tenant_id"

// InstallStatements returns the statements that put tenantkit's RLS on
// schema.table and grant appRole what it may do there: SELECT, INSERT,
// UPDATE, DELETE — never TRUNCATE, which RLS does not filter.
func InstallStatements(schema, table, appRole string) []string {
	t := pgx.Identifier{schema, table}.Sanitize()
	role := pgx.Identifier{appRole}.Sanitize()
	col := pgx.Identifier{TenantColumn}.Sanitize()
	return []string{
		fmt.Sprintf("ALTER TABLE %s ALTER COLUMN %s SET DEFAULT %s", t, col, CurrentTenant),
		fmt.Sprintf("ALTER TABLE %s ENABLE ROW LEVEL SECURITY", t),
		fmt.Sprintf("ALTER TABLE %s FORCE ROW LEVEL SECURITY", t),
		fmt.Sprintf("DROP POLICY IF EXISTS %s ON %s", pgx.Identifier{AllowPolicy}.Sanitize(), t),
		fmt.Sprintf("CREATE POLICY %s ON %s AS PERMISSIVE FOR ALL TO PUBLIC USING (true) WITH CHECK (true)",
			pgx.Identifier{AllowPolicy}.Sanitize(), t),
		fmt.Sprintf("DROP POLICY IF EXISTS %s ON %s", pgx.Identifier{TenantPolicy}.Sanitize(), t),
		fmt.Sprintf("CREATE POLICY %s ON %s AS RESTRICTIVE FOR ALL TO PUBLIC USING %s WITH CHECK %s",
			pgx.Identifier{TenantPolicy}.Sanitize(), t, Predicate, Predicate),
		fmt.Sprintf("REVOKE ALL ON %s FROM %s", t, role),
		fmt.Sprintf("GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO %s", t, role),
	}
}

// SchemaStatements grant appRole the use of schema and of its sequences.
func SchemaStatements(schema, appRole string) []string {
	s := pgx.Identifier{schema}.Sanitize()
	role := pgx.Identifier{appRole}.Sanitize()
	return []string{
		fmt.Sprintf("GRANT USAGE ON SCHEMA %s TO %s", s, role),
		fmt.Sprintf("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %s TO %s", s, role),
	}
}

// TenantTables lists the tables of schema that have a tenant_id column.
func TenantTables(ctx context.Context, q interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}, schema string) ([]string, error) {
	rows, err := q.Query(ctx, `SELECT c.relname FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace
		JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = $2 AND NOT a.attisdropped
		WHERE n.nspname = $1 AND c.relkind IN ('r', 'p')
		ORDER BY c.relname`, schema, TenantColumn)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// Install puts tenantkit's RLS on every tenant table of schema, in one
// transaction, and grants appRole the schema's use. It is idempotent.
func Install(ctx context.Context, conn *pgx.Conn, schema, appRole string) error {
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		tables, err := TenantTables(ctx, tx, schema)
		if err != nil {
			return err
		}
		stmts := SchemaStatements(schema, appRole)
		for _, t := range tables {
			stmts = append(stmts, InstallStatements(schema, t, appRole)...)
		}
		for _, s := range stmts {
			if _, err := tx.Exec(ctx, s); err != nil {
				return fmt.Errorf("rlspolicy: %s: %w", s, err)
			}
		}
		return nil
	})
}
