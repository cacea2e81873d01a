package appmigrate_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/tenantkit/tenantkit/internal/appmigrate"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

func TestTmpExplain(t *testing.T) {
	b := &testing.B{}
	_ = b
	db := setup(t).db
	targets := benchTargetsT(t, db)
	ctx := context.Background()
	q := `SELECT coalesce((SELECT array_agg(DISTINCT version_id ORDER BY version_id) FROM t_0500.tenantkit_app_migrations WHERE version_id > 0 AND is_applied), '{}'), (` + rlsGaps + `)`
	for _, dsn := range []string{db.SuperuserDSN(), db.OwnerDSN()} {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3; i++ {
			start := time.Now()
			rows, err := conn.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS) "+q, "t_0500", "tenantkit_app", "tenant_id", "tenantkit_tenant_isolation", "tenantkit_allow")
			if err != nil {
				t.Fatal(err)
			}
			lines, _ := pgx.CollectRows(rows, pgx.RowTo[string])
			t.Logf("%v", time.Since(start))
			if i == 1 {
				for _, l := range lines {
					t.Log(l)
				}
			}
		}
		for _, s := range []string{"t_0001", "t_0002", "t_0003"} {
			start := time.Now()
			var v []int64
			if err := conn.QueryRow(ctx, fmt.Sprintf("SELECT coalesce((SELECT array_agg(version_id) FROM %s.tenantkit_app_migrations),'{}')", s)).Scan(&v); err != nil {
				t.Fatal(err)
			}
			t.Logf("status %s cold %v", s, time.Since(start))
			start = time.Now()
			conn.QueryRow(ctx, fmt.Sprintf("SELECT coalesce((SELECT array_agg(version_id) FROM %s.tenantkit_app_migrations),'{}')", s)).Scan(&v)
			t.Logf("status %s warm %v", s, time.Since(start))
		}
		var n int
		conn.QueryRow(ctx, "SELECT count(*) FROM pg_class").Scan(&n)
		t.Logf("pg_class rows %d, targets %d", n, len(targets))
		conn.Close(ctx)
	}
}

const rlsGaps = `SELECT count(*) + CASE WHEN has_schema_privilege($2::name, $1::text, 'USAGE') THEN 0 ELSE 1 END
	FROM pg_catalog.pg_class c
	JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attname = $3::text AND NOT a.attisdropped
	WHERE c.relnamespace = (SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = $1::text)
	AND c.relkind IN ('r', 'p')
	AND NOT (c.relrowsecurity AND c.relforcerowsecurity AND a.atthasdef
		AND EXISTS (SELECT FROM pg_catalog.pg_policy p WHERE p.polrelid = c.oid
			AND p.polname = $4::text AND p.polcmd = '*' AND NOT p.polpermissive)
		AND EXISTS (SELECT FROM pg_catalog.pg_policy p WHERE p.polrelid = c.oid
			AND p.polname = $5::text AND p.polcmd = '*' AND p.polpermissive)
		AND has_table_privilege($2::name, c.oid, 'SELECT')
		AND has_table_privilege($2::name, c.oid, 'INSERT')
		AND has_table_privilege($2::name, c.oid, 'UPDATE')
		AND has_table_privilege($2::name, c.oid, 'DELETE')
		AND NOT has_table_privilege($2::name, c.oid, 'TRUNCATE'))`

func benchTargetsT(t *testing.T, db *tenantkittest.Database) []appmigrate.Target {
	targets := make([]appmigrate.Target, benchSchemas)
	for i := range targets {
		targets[i] = target(db, fmt.Sprintf("t_%04d", i))
	}
	sum := newMigrator(t, appmigrate.Config{Workers: 4}).Up(context.Background(), targets)
	if sum.Failed != 0 {
		t.Fatal(sum.Err())
	}
	return targets
}
