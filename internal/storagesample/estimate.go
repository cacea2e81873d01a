package storagesample

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/rlspolicy"
)

// tupleBytes is the sum of pg_column_size of the rows of one table, per
// tenant and for the rows read in all.
type tupleBytes struct {
	byTenant map[uuid.UUID]int64
	all      int64
}

func (b *tupleBytes) add(tenant uuid.UUID, n int64) {
	if b.byTenant == nil {
		b.byTenant = map[uuid.UUID]int64{}
	}
	b.byTenant[tenant] += n
	b.all += n
}

// reader reads the tuple bytes of tables, each as its scan says.
type reader func(ctx context.Context, tables []table, scans []scan) ([]tupleBytes, error)

// estimate returns the estimated bytes of every tenant of the shared
// schema of database d: each table's total size split by tuple bytes.
func (s *Sampler) estimate(ctx context.Context, c catalog.Cluster, owner *pgx.Conn, d *database, schema string) (map[uuid.UUID]float64, error) {
	tables, err := listTables(ctx, owner, schema)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	if len(tables) == 0 {
		return nil, nil
	}
	var read reader
	if c.ReplicationURL != "" {
		conn, err := s.connect(ctx, c.ReplicationURL, d.name, map[string]string{"row_security": "off"})
		if err != nil {
			return nil, fmt.Errorf("connect as the replication role: %w", err)
		}
		defer conn.Close(context.WithoutCancel(ctx))
		if err := grantReader(ctx, owner, conn, schema, tables); err != nil {
			return nil, err
		}
		tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
		if err != nil {
			return nil, err
		}
		defer tx.Rollback(context.WithoutCancel(ctx))
		read = func(ctx context.Context, tables []table, scans []scan) ([]tupleBytes, error) {
			return readAll(ctx, tx, schema, tables, scans)
		}
	} else {
		tenants := sharedTenants(d.all, schema)
		read = func(ctx context.Context, tables []table, scans []scan) ([]tupleBytes, error) {
			return readEach(ctx, owner, schema, tables, scans, tenants)
		}
	}
	s.log.Debug("storagesample: shared tables", "cluster", c.Name, "database", d.name, "schema", schema,
		"tables", len(tables), "bypass_rls", c.ReplicationURL != "")
	bytes, err := s.read(ctx, read, c, d, schema, tables)
	if err != nil {
		return nil, err
	}
	return shares(tables, bytes), nil
}

// read reads tables, sampling the big ones; a sample that found no row is
// read again whole (reltuples may be stale).
func (s *Sampler) read(ctx context.Context, read reader, c catalog.Cluster, d *database, schema string, tables []table) ([]tupleBytes, error) {
	scans := make([]scan, len(tables))
	for i, t := range tables {
		if t.reltuples > float64(s.cfg.SampleRowsAbove) {
			scans[i] = scan{percent: samplePercent(t.reltuples, s.cfg.SampleRowsAbove), seed: float64(rand.Int32())}
			s.log.Debug("storagesample: table sampled", "cluster", c.Name, "database", d.name,
				"schema", schema, "table", t.name, "reltuples", t.reltuples, "percent", scans[i].percent)
		}
	}
	bytes, err := read(ctx, tables, scans)
	if err != nil {
		return nil, err
	}
	var again []int
	for i := range tables {
		if scans[i].percent > 0 && bytes[i].all == 0 {
			again = append(again, i)
		}
	}
	if len(again) == 0 {
		return bytes, nil
	}
	retry := make([]table, len(again))
	for j, i := range again {
		retry[j] = tables[i]
	}
	whole, err := read(ctx, retry, make([]scan, len(retry)))
	if err != nil {
		return nil, err
	}
	for j, i := range again {
		bytes[i] = whole[j]
	}
	return bytes, nil
}

// samplePercent is the percentage of a table's pages that holds about a
// tenth of above rows, when the table holds reltuples.
func samplePercent(reltuples float64, above int64) float64 {
	want := max(float64(above)/10, 1)
	return min(100, 100*want/reltuples)
}

// shares splits each table's size among the tenants by their tuple bytes.
// Rows of tenants not placed here keep their share unattributed.
func shares(tables []table, bytes []tupleBytes) map[uuid.UUID]float64 {
	out := map[uuid.UUID]float64{}
	for i, t := range tables {
		if bytes[i].all == 0 {
			continue
		}
		for id, b := range bytes[i].byTenant {
			out[id] += float64(t.size) * float64(b) / float64(bytes[i].all)
		}
	}
	return out
}

func listTables(ctx context.Context, conn *pgx.Conn, schema string) ([]table, error) {
	rows, err := conn.Query(ctx, tablesSQL, schema, rlspolicy.TenantColumn)
	if err != nil {
		return nil, err
	}
	var (
		out []table
		t   table
	)
	_, err = pgx.ForEachRow(rows, []any{&t.oid, &t.name, &t.size, &t.reltuples}, func() error {
		out = append(out, t)
		return nil
	})
	return out, err
}

// grantReader lets the replication role read the tables, as a move does,
// when it cannot yet: the owner grants it USAGE on the schema and SELECT
// on each table.
func grantReader(ctx context.Context, owner, repl *pgx.Conn, schema string, tables []table) error {
	oids := make([]uint32, len(tables))
	for i, t := range tables {
		oids[i] = t.oid
	}
	var (
		role    string
		usage   bool
		missing []uint32
	)
	if err := repl.QueryRow(ctx, unreadableSQL, schema, oids).Scan(&role, &usage, &missing); err != nil {
		return fmt.Errorf("check the replication role's privileges: %w", err)
	}
	b := &pgx.Batch{}
	if !usage {
		b.Queue("GRANT USAGE ON SCHEMA " + pgx.Identifier{schema}.Sanitize() + " TO " + pgx.Identifier{role}.Sanitize())
	}
	for _, t := range tables {
		for _, o := range missing {
			if o == t.oid {
				b.Queue("GRANT SELECT ON " + pgx.Identifier{schema, t.name}.Sanitize() + " TO " + pgx.Identifier{role}.Sanitize())
			}
		}
	}
	if b.Len() == 0 {
		return nil
	}
	if err := owner.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("grant the replication role %s read access on schema %s: %w", role, schema, err)
	}
	return nil
}

// readAll reads every tenant's tuple bytes of each table in one scan,
// past row-level security.
func readAll(ctx context.Context, q pgx.Tx, schema string, tables []table, scans []scan) ([]tupleBytes, error) {
	out := make([]tupleBytes, len(tables))
	for i, t := range tables {
		name := pgx.Identifier{schema, t.name}.Sanitize()
		sql, args := fmt.Sprintf(allTenantsFormat, name), []any(nil)
		if scans[i].percent > 0 {
			sql, args = fmt.Sprintf(allTenantsSampledFormat, name), []any{scans[i].percent, scans[i].seed}
		}
		rows, err := q.Query(ctx, sql, args...)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", name, err)
		}
		var (
			id pgtype.UUID
			n  int64
		)
		_, err = pgx.ForEachRow(rows, []any{&id, &n}, func() error {
			if id.Valid {
				out[i].add(uuid.UUID(id.Bytes), n)
			} else {
				out[i].all += n
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", name, err)
		}
	}
	return out, nil
}

// readEach reads the tuple bytes of each tenant in turn, in a transaction
// scoped to it as the data plane's are, so that row-level security lets
// the owner role see the tenant's rows.
func readEach(ctx context.Context, conn *pgx.Conn, schema string, tables []table, scans []scan, tenants []uuid.UUID) ([]tupleBytes, error) {
	out := make([]tupleBytes, len(tables))
	for _, id := range tenants {
		err := pgx.BeginTxFunc(ctx, conn, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
			b := &pgx.Batch{}
			b.Queue(setTenantSQL, rlspolicy.Setting, id.String())
			for i, t := range tables {
				name := pgx.Identifier{schema, t.name}.Sanitize()
				if scans[i].percent > 0 {
					b.Queue(fmt.Sprintf(oneTenantSampledFormat, name), id, scans[i].percent, scans[i].seed)
				} else {
					b.Queue(fmt.Sprintf(oneTenantFormat, name), id)
				}
			}
			res := tx.SendBatch(ctx, b)
			defer res.Close()
			if _, err := res.Exec(); err != nil {
				return err
			}
			for i := range tables {
				var n int64
				if err := res.QueryRow().Scan(&n); err != nil {
					return fmt.Errorf("read %s: %w", pgx.Identifier{schema, tables[i].name}.Sanitize(), err)
				}
				if n > 0 {
					out[i].add(id, n)
				}
			}
			return res.Close()
		})
		if err != nil {
			return nil, fmt.Errorf("read tenant %s: %w", id, err)
		}
	}
	return out, nil
}

// sharedTenants are the tenants the catalog places in schema of a shared
// database, whatever their placement's state.
func sharedTenants(rows []catalog.PlacementRow, schema string) []uuid.UUID {
	var ids []uuid.UUID
	for _, r := range rows {
		if r.Tier == catalog.TierShared && r.Schema == schema {
			ids = append(ids, r.TenantID)
		}
	}
	return ids
}
