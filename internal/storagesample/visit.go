package storagesample

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/rlspolicy"
)

// Introspection of a tenant database. Only the identifiers of the scanned
// tables are spliced in (sanitized), through the formats below.
const (
	// schemasSQL tells, per schema, whether it exists and the total size
	// of its tenant tables.
	schemasSQL = `SELECT s.name, bool_or(n.oid IS NOT NULL),
	coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint
FROM unnest($1::text[]) AS s(name)
LEFT JOIN pg_namespace n ON n.nspname = s.name
LEFT JOIN pg_class c ON c.relnamespace = n.oid AND c.relkind IN ('r', 'p')
	AND EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = $2 AND NOT a.attisdropped)
GROUP BY s.name`

	// tablesSQL lists the tenant tables of a schema that hold rows (a
	// partitioned table holds none: its partitions are listed instead).
	tablesSQL = `SELECT c.oid, c.relname, coalesce(pg_total_relation_size(c.oid), 0)::bigint, c.reltuples::float8
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relkind = 'r'
	AND EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = $2 AND NOT a.attisdropped)
ORDER BY c.relname`

	// unreadableSQL, run as the replication role, names that role and
	// what of a schema it may not read yet.
	unreadableSQL = `SELECT current_user::text, has_schema_privilege($1::text, 'USAGE'),
	array(SELECT o FROM unnest($2::oid[]) AS o WHERE NOT has_table_privilege(o, 'SELECT'))::oid[]`

	setTenantSQL = `SELECT set_config($1, $2, true)`

	// A row's tuple bytes are pg_column_size(ROW(t.*)), not of t.*: the
	// whole-row value of t.* is sometimes the stored tuple and sometimes one
	// formed again (PostgreSQL 15 gives 3 bytes less for the first row of a
	// filtered scan), so one scan of every tenant and a scan per tenant
	// would disagree. ROW(t.*) is always formed from the row's values.

	// Tuple bytes of every tenant of a table, in one scan; whole or sampled
	// ($1 percent of the pages, $2 the seed).
	allTenantsFormat        = `SELECT t.tenant_id, sum(pg_column_size(ROW(t.*)))::bigint FROM %s AS t GROUP BY t.tenant_id`
	allTenantsSampledFormat = `SELECT t.tenant_id, sum(pg_column_size(ROW(t.*)))::bigint FROM %s AS t
	TABLESAMPLE SYSTEM ($1::float4) REPEATABLE ($2::float8) GROUP BY t.tenant_id`

	// Tuple bytes of tenant $1 of a table, whole or sampled as above ($2
	// percent, $3 seed). The filter repeats what row-level security does.
	oneTenantFormat        = `SELECT coalesce(sum(pg_column_size(ROW(t.*))), 0)::bigint FROM %s AS t WHERE t.tenant_id = $1`
	oneTenantSampledFormat = `SELECT coalesce(sum(pg_column_size(ROW(t.*))), 0)::bigint FROM %s AS t
	TABLESAMPLE SYSTEM ($2::float4) REPEATABLE ($3::float8) WHERE t.tenant_id = $1`
)

// table is a shared tenant table.
type table struct {
	oid       uint32
	name      string
	size      int64   // heap, indexes and TOAST
	reltuples float64 // -1 when never analyzed
}

// scan is how a table is read: whole, or a percentage of its pages.
type scan struct {
	percent float64 // 0: whole
	seed    float64
}

// visit measures the ready tenants of one database.
func (s *Sampler) visit(ctx context.Context, c catalog.Cluster, d *database) ([]Sample, error) {
	start := time.Now()
	fail := func(tenants []uuid.UUID, err error) *DatabaseError {
		return &DatabaseError{Cluster: c.Name, Database: d.name, Tenants: tenants, Err: err}
	}
	owner, err := s.connect(ctx, c.OwnerURL, d.name, nil)
	if err != nil {
		return nil, fail(d.tenants(), fmt.Errorf("connect as the owner role: %w", err))
	}
	defer owner.Close(context.WithoutCancel(ctx))

	schemas := map[string]bool{}
	for _, r := range d.ready {
		schemas[r.Schema] = true
	}
	sizes, exists, err := schemaSizes(ctx, owner, schemas)
	if err != nil {
		return nil, fail(d.tenants(), fmt.Errorf("measure schemas: %w", err))
	}
	estimates := map[string]map[uuid.UUID]float64{}
	var missing []error
	for schema := range schemas {
		if !exists[schema] {
			missing = append(missing, fail(tenantsIn(d.ready, schema), fmt.Errorf("schema %q not found", schema)))
			continue
		}
		if !hasShared(d.ready, schema) {
			continue
		}
		if estimates[schema], err = s.estimate(ctx, c, owner, d, schema); err != nil {
			return nil, fail(d.tenants(), fmt.Errorf("estimate the shares of schema %q: %w", schema, err))
		}
	}
	at := s.cfg.Now()
	var out []Sample
	for _, r := range d.ready {
		if !exists[r.Schema] {
			continue
		}
		smp := Sample{Tenant: r.TenantID, Slug: r.Slug, Tier: r.Tier, Method: MethodRelationSize, Bytes: sizes[r.Schema], At: at}
		if r.Tier == catalog.TierShared {
			smp.Method, smp.Bytes = MethodEstimate, int64(math.Round(estimates[r.Schema][r.TenantID]))
		}
		out = append(out, smp)
	}
	s.log.Debug("storagesample: database measured", "cluster", c.Name, "database", d.name,
		"tenants", len(out), "duration", time.Since(start))
	return out, errors.Join(missing...)
}

func hasShared(rows []catalog.PlacementRow, schema string) bool {
	for _, r := range rows {
		if r.Schema == schema && r.Tier == catalog.TierShared {
			return true
		}
	}
	return false
}

func tenantsIn(rows []catalog.PlacementRow, schema string) []uuid.UUID {
	var ids []uuid.UUID
	for _, r := range rows {
		if r.Schema == schema {
			ids = append(ids, r.TenantID)
		}
	}
	return ids
}

// connect opens a connection to database db of the cluster whose URL (of
// any database) is raw, with params as run-time parameters.
func (s *Sampler) connect(ctx context.Context, raw, db string, params map[string]string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(catalog.WithDatabase(raw, db))
	if err != nil {
		return nil, err
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = s.cfg.ConnectTimeout
	}
	if _, ok := cfg.RuntimeParams["application_name"]; !ok {
		cfg.RuntimeParams["application_name"] = "tenantkit storagesample"
	}
	maps.Copy(cfg.RuntimeParams, params)
	return pgx.ConnectConfig(ctx, cfg)
}

// schemaSizes returns the total size of the tenant tables of each schema,
// and which schemas exist.
func schemaSizes(ctx context.Context, conn *pgx.Conn, schemas map[string]bool) (map[string]int64, map[string]bool, error) {
	rows, err := conn.Query(ctx, schemasSQL, slices.Sorted(maps.Keys(schemas)), rlspolicy.TenantColumn)
	if err != nil {
		return nil, nil, err
	}
	sizes, exists := map[string]int64{}, map[string]bool{}
	var (
		name  string
		found bool
		size  int64
	)
	_, err = pgx.ForEachRow(rows, []any{&name, &found, &size}, func() error {
		sizes[name], exists[name] = size, found
		return nil
	})
	return sizes, exists, err
}
