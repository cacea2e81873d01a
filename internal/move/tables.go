package move

import (
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/tenantkit/tenantkit/internal/rlspolicy"
)

// table is one tenant table as a move sees it on the source.
type table struct {
	Name string
	// Columns are the stored columns, in order (generated ones are left
	// out: the target computes them).
	Columns []string
	// Identity is the replica identity: d(efault, the primary key),
	// i(ndex), f(ull) or n(othing); IdentityColumns its columns.
	Identity        string
	IdentityColumns []string
	Partitioned     bool
	// References are the tables this one has foreign keys to.
	References []string
	// Sequences are the sequences that feed its columns.
	Sequences []string
}

// tablesOf lists the tenant tables of schema, with what the move needs to
// know of each.
func tablesOf(ctx context.Context, conn *pgx.Conn, schema string) ([]table, error) {
	rows, err := conn.Query(ctx, `
SELECT c.relname, c.relreplident::text, c.relkind = 'p',
  ARRAY(SELECT a.attname::text FROM pg_attribute a
        WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
        ORDER BY a.attnum),
  ARRAY(SELECT a.attname::text FROM pg_index i
        JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
        WHERE i.indrelid = c.oid AND ((c.relreplident = 'd' AND i.indisprimary) OR (c.relreplident = 'i' AND i.indisreplident))
        ORDER BY a.attnum),
  ARRAY(SELECT DISTINCT r.relname::text FROM pg_constraint f JOIN pg_class r ON r.oid = f.confrelid
        WHERE f.conrelid = c.oid AND f.contype = 'f' AND f.confrelid <> c.oid),
  ARRAY(SELECT s FROM (SELECT pg_get_serial_sequence(pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname), a.attname) AS s
        FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) q WHERE s IS NOT NULL)
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = $2 AND NOT a.attisdropped)
ORDER BY c.relname`, schema, rlspolicy.TenantColumn)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (table, error) {
		var t table
		err := r.Scan(&t.Name, &t.Identity, &t.Partitioned, &t.Columns, &t.IdentityColumns, &t.References, &t.Sequences)
		if t.Identity == "f" {
			t.IdentityColumns = t.Columns
		}
		return t, err
	})
}

// levels orders tables for the copy: every table after the tables it
// references, and the tables of one level copied in parallel. A cycle of
// references is copied as one last level.
func levels(tables []table) [][]table {
	placed := map[string]bool{}
	known := map[string]bool{}
	for _, t := range tables {
		known[t.Name] = true
	}
	var out [][]table
	rest := slices.Clone(tables)
	for len(rest) > 0 {
		var level, next []table
		for _, t := range rest {
			ready := true
			for _, ref := range t.References {
				if known[ref] && !placed[ref] {
					ready = false
				}
			}
			if ready {
				level = append(level, t)
			} else {
				next = append(next, t)
			}
		}
		if len(level) == 0 {
			level, next = next, nil
		}
		for _, t := range level {
			placed[t.Name] = true
		}
		out = append(out, level)
		rest = next
	}
	return out
}

// where is the filter that selects the tenant's rows of a table on a
// shared end, and nothing elsewhere.
func (e end) where() string {
	if !e.shared() {
		return ""
	}
	return fmt.Sprintf(" WHERE %s = '%s'::uuid", rlspolicy.TenantColumn, e.tenant)
}
