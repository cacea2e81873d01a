package appmigrate

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"

	"github.com/tenantkit/tenantkit/internal/rlspolicy"
)

// state is what a target's version table (and, for Up, its RLS) says.
type state struct {
	applied []int64 // ascending, version 0 excluded
	rlsGaps int64   // tenant tables whose RLS or grants are not in place
}

func (s state) current() int64 {
	if len(s.applied) == 0 {
		return 0
	}
	return s.applied[len(s.applied)-1]
}

// readState reads a target's applied versions and, with appRole set, counts
// the tenant tables that lack tenantkit's RLS or the app role's grants; both
// in one round trip. A missing schema or version table reads as a fresh
// target. Identifiers are quoted; every value is a parameter.
func readState(ctx context.Context, conn *pgx.Conn, schema, appRole string) (state, error) {
	var st state
	versions := `SELECT coalesce(array_agg(DISTINCT version_id ORDER BY version_id), '{}') FROM ` +
		pgx.Identifier{schema, VersionTable}.Sanitize() + ` WHERE version_id > 0 AND is_applied`
	var err error
	if appRole == "" {
		err = conn.QueryRow(ctx, versions).Scan(&st.applied)
	} else {
		err = readStateAndRLS(ctx, conn, versions, schema, appRole, &st)
	}
	if isCode(err, "42P01", "3F000") { // undefined_table, invalid_schema_name
		return state{rlsGaps: 1}, nil
	}
	if err != nil {
		return state{}, fmt.Errorf("read version table: %w", err)
	}
	return st, nil
}

// rlsGapsStmt names rlsGapsQuery prepared on a connection: its text is the
// same for every schema, so it is planned once per connection, and it is
// pipelined with the version query, whose text is not.
const rlsGapsStmt = "tenantkit_appmigrate_rls_gaps"

func readStateAndRLS(ctx context.Context, conn *pgx.Conn, versions, schema, appRole string, st *state) error {
	if _, err := conn.Prepare(ctx, rlsGapsStmt, rlsGapsQuery); err != nil { // no round trip once prepared
		return err
	}
	b := &pgx.Batch{}
	b.Queue(versions).QueryRow(func(row pgx.Row) error { return row.Scan(&st.applied) })
	b.Queue(rlsGapsStmt, schema, appRole, rlspolicy.TenantColumn, rlspolicy.TenantPolicy, rlspolicy.AllowPolicy).
		QueryRow(func(row pgx.Row) error { return row.Scan(&st.rlsGaps) })
	return conn.SendBatch(ctx, b).Close()
}

// rlsGapsQuery counts the tenant tables of schema $1 where rlspolicy.Install
// has not left its mark: ENABLE and FORCE, a default on tenant_id, both
// policies for ALL commands, the app role's four grants and no TRUNCATE; plus
// one when the app role cannot use the schema. It is a presence check, not
// the full audit (rls check compares the policy expressions).
//
// The schema's tables are found through pg_depend, whose index leads with
// the referenced object: pg_class has no index on relnamespace, and with
// thousands of tenant schemas in a database a scan of it, or of the
// tenant_id rows of pg_attribute (the planner's pick), costs 10 ms or more
// per target. The CTEs are materialised to keep that order.
const rlsGapsQuery = `WITH nsp AS MATERIALIZED (
		SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = $1::text
	), tables AS MATERIALIZED (
		SELECT d.objid AS oid FROM pg_catalog.pg_depend d
		WHERE d.refclassid = 'pg_catalog.pg_namespace'::pg_catalog.regclass
		AND d.refobjid = (SELECT oid FROM nsp) AND d.refobjsubid = 0
		AND d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.deptype = 'n'
	)
	SELECT count(*) + CASE WHEN has_schema_privilege($2::name, $1::text, 'USAGE') THEN 0 ELSE 1 END
	FROM tables t
	JOIN pg_catalog.pg_class c ON c.oid = t.oid
	JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attname = $3::text AND NOT a.attisdropped
	WHERE c.relkind IN ('r', 'p') AND c.relnamespace = (SELECT oid FROM nsp)
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

// unknown lists the applied versions the migration set does not hold.
func (m *Migrator) unknown(st state) []int64 {
	var out []int64
	for _, v := range st.applied {
		if !m.known[v] {
			out = append(out, v)
		}
	}
	return out
}

func (m *Migrator) checkKnown(st state) error {
	if u := m.unknown(st); len(u) > 0 {
		return fmt.Errorf("%w: %v", ErrUnexpectedVersion, u)
	}
	return nil
}

// complete reports whether every migration of the set is applied; with no
// unknown versions, that is a matter of counting.
func (m *Migrator) complete(st state) bool {
	return len(st.applied) == len(m.versions) && len(m.unknown(st)) == 0
}

// up migrates one target. The fast path is one round trip: a target with every
// migration applied and its RLS in place is left alone, so that a no-op run
// takes no lock on the application's tables.
func (m *Migrator) up(ctx context.Context, pool *connPool, t Target) Result {
	r := Result{Target: t.key()}
	start := time.Now()
	err := withConn(ctx, pool, func(conn *pgxpool.Conn) error {
		st, err := readState(ctx, conn.Conn(), t.Schema, m.appRole)
		if err != nil {
			return err
		}
		r.From, r.To = st.current(), st.current()
		if err := m.checkKnown(st); err != nil {
			return err
		}
		if m.complete(st) && st.rlsGaps == 0 {
			return nil
		}
		return withLock(ctx, conn, t.Schema, func() error { return m.upLocked(ctx, pool, conn, t, &r) })
	})
	return finish(r, start, err)
}

func (m *Migrator) upLocked(ctx context.Context, pool *connPool, conn *pgxpool.Conn, t Target, r *Result) error {
	if err := ensureSchema(ctx, conn, t.Schema); err != nil {
		return err
	}
	// Another run may have moved the target while this one waited.
	st, err := readState(ctx, conn.Conn(), t.Schema, "")
	if err != nil {
		return err
	}
	r.From, r.To = st.current(), st.current()
	if err := m.checkKnown(st); err != nil {
		return err
	}
	p, db, err := m.provider(pool, t.Schema)
	if err != nil {
		return err
	}
	defer db.Close()
	results, upErr := p.Up(ctx)
	if partial, ok := errors.AsType[*goose.PartialError](upErr); ok {
		results = partial.Applied
	}
	for _, res := range results {
		r.Applied = append(r.Applied, res.Source.Version)
		r.To = max(r.To, res.Source.Version)
	}
	if upErr != nil {
		upErr = fmt.Errorf("migrate up: %w", upErr)
	}
	// Tables created before a failure get their RLS too.
	if upErr == nil || len(r.Applied) > 0 {
		upErr = errors.Join(upErr, installRLS(ctx, conn, t.Schema, m.appRole))
	}
	return upErr
}

// down rolls back the last steps migrations of one target.
func (m *Migrator) down(ctx context.Context, pool *connPool, t Target, steps int) Result {
	r := Result{Target: t.key()}
	start := time.Now()
	if steps < 1 {
		return finish(r, start, fmt.Errorf("appmigrate: down: steps is %d, must be at least 1", steps))
	}
	err := withConn(ctx, pool, func(conn *pgxpool.Conn) error {
		st, err := readState(ctx, conn.Conn(), t.Schema, "")
		if err != nil {
			return err
		}
		r.From, r.To = st.current(), st.current()
		if len(st.applied) == 0 {
			return nil
		}
		return withLock(ctx, conn, t.Schema, func() error { return m.downLocked(ctx, pool, conn, t, steps, &r) })
	})
	return finish(r, start, err)
}

func (m *Migrator) downLocked(ctx context.Context, pool *connPool, conn *pgxpool.Conn, t Target, steps int, r *Result) error {
	st, err := readState(ctx, conn.Conn(), t.Schema, "")
	if err != nil {
		return err
	}
	r.From, r.To = st.current(), st.current()
	if err := m.checkKnown(st); err != nil {
		return err
	}
	if len(st.applied) == 0 {
		return nil
	}
	var to int64
	if steps < len(st.applied) {
		to = st.applied[len(st.applied)-1-steps]
	}
	p, db, err := m.provider(pool, t.Schema)
	if err != nil {
		return err
	}
	defer db.Close()
	results, downErr := p.DownTo(ctx, to)
	if partial, ok := errors.AsType[*goose.PartialError](downErr); ok {
		results = partial.Applied
	}
	remaining := slices.Clone(st.applied)
	for _, res := range results {
		r.Applied = append(r.Applied, res.Source.Version)
		remaining = slices.DeleteFunc(remaining, func(v int64) bool { return v == res.Source.Version })
	}
	r.To = state{applied: remaining}.current()
	if downErr != nil {
		downErr = fmt.Errorf("migrate down: %w", downErr)
	}
	// A down migration may recreate a table; it needs RLS like any other.
	if len(r.Applied) > 0 {
		downErr = errors.Join(downErr, installRLS(ctx, conn, t.Schema, m.appRole))
	}
	return downErr
}

// status reads where one target stands; it never writes.
func (m *Migrator) status(ctx context.Context, pool *connPool, t Target) TargetStatus {
	s := TargetStatus{Key: t.key(), Latest: m.Latest()}
	err := withConn(ctx, pool, func(conn *pgxpool.Conn) error {
		st, err := readState(ctx, conn.Conn(), t.Schema, "")
		if err != nil {
			return err
		}
		s.Current = st.current()
		s.Unknown = m.unknown(st)
		s.Unexpected = len(s.Unknown) > 0
		s.Pending = len(m.versions) - (len(st.applied) - len(s.Unknown))
		return nil
	})
	if err != nil {
		s.Err, s.cause = err.Error(), err
	}
	return s
}

func finish(r Result, start time.Time, err error) Result {
	r.Duration = time.Since(start)
	if err != nil {
		r.Err, r.cause = err.Error(), err
	}
	return r
}

func withConn(ctx context.Context, pool *connPool, fn func(*pgxpool.Conn) error) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Release()
	return fn(conn)
}

// LockKey is the session advisory lock id of a schema's migrations. goose's
// own session locker uses one fixed id per database, which would serialise
// every tenant schema of a shared cluster database; advisory locks are
// already scoped to the database, so the schema name is all the key needs.
func LockKey(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("tenantkit/appmigrate\x00"))
	h.Write([]byte(schema))
	return int64(h.Sum64())
}

// withLock runs fn holding the target's advisory lock on conn. The lock is
// taken on the control connection, not goose's, so that it also covers the
// RLS installation after goose is done.
func withLock(ctx context.Context, conn *pgxpool.Conn, schema string, fn func() error) (err error) {
	key := LockKey(schema)
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", key); err != nil {
		return fmt.Errorf("lock target: %w", err)
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, uerr := conn.Exec(uctx, "SELECT pg_advisory_unlock($1)", key); uerr != nil {
			// A connection that may still hold the lock must not go back
			// to the pool; closing it ends the session and the lock.
			_ = conn.Conn().Close(uctx)
			err = errors.Join(err, fmt.Errorf("unlock target: %w", uerr))
		}
	}()
	return fn()
}

func ensureSchema(ctx context.Context, conn *pgxpool.Conn, schema string) error {
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_catalog.pg_namespace WHERE nspname = $1::text)",
		schema).Scan(&exists); err != nil {
		return fmt.Errorf("look up schema: %w", err)
	}
	if exists {
		return nil
	}
	if _, err := conn.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{schema}.Sanitize()); err != nil {
		return fmt.Errorf("create schema: %w", err)
	}
	return nil
}

func installRLS(ctx context.Context, conn *pgxpool.Conn, schema, appRole string) error {
	if err := rlspolicy.Install(ctx, conn.Conn(), schema, appRole); err != nil {
		return fmt.Errorf("install rls: %w", err)
	}
	return nil
}

// provider builds the goose Provider of one target. Its *sql.DB draws
// connections from the DSN's shared pool and hands each back when goose is
// done with it; every connection it hands goose has search_path set to the
// target's schema and is marked for a reset before its next use.
func (m *Migrator) provider(pool *connPool, schema string) (*goose.Provider, *sql.DB, error) {
	db := sql.OpenDB(schemaConnector{
		base:       stdlib.GetPoolConnector(pool.Pool),
		pool:       pool,
		searchPath: "SET search_path TO " + pgx.Identifier{schema}.Sanitize(),
	})
	db.SetMaxIdleConns(0) // idle connections belong to the pgxpool
	store, err := database.NewStore(database.DialectPostgres, pgx.Identifier{schema, VersionTable}.Sanitize())
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	p, err := goose.NewProvider(goose.DialectCustom, db, m.migrations,
		goose.WithStore(versionStore{Store: store, schema: schema}),
		goose.WithDisableGlobalRegistry(true),
		goose.WithSlog(m.logger))
	if err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("appmigrate: migrations: %w", err)
	}
	return p, db, nil
}

// versionStore is goose's Postgres store for a quoted, schema-qualified
// version table, with a TableExists that takes the names as parameters:
// goose's own splits the name on "." and would look for the quoted
// spelling.
type versionStore struct {
	database.Store
	schema string
}

var _ database.StoreExtender = versionStore{}

// TableExists reports whether the target's version table exists.
func (s versionStore) TableExists(ctx context.Context, db database.DBTxConn) (bool, error) {
	var ok bool
	err := db.QueryRowContext(ctx, "SELECT EXISTS (SELECT FROM pg_catalog.pg_tables WHERE schemaname = $1::text AND tablename = $2::text)",
		s.schema, VersionTable).Scan(&ok)
	return ok, err
}

// schemaConnector hands goose connections from a connPool, each pointed at
// one schema. Session-level SET is right here: the connection runs one
// target's migrations and is reset before anyone else uses it.
type schemaConnector struct {
	base       driver.Connector
	pool       *connPool
	searchPath string
}

func (c schemaConnector) Connect(ctx context.Context) (driver.Conn, error) {
	dc, err := c.base.Connect(ctx)
	if err != nil {
		return nil, err
	}
	sc, ok := dc.(*stdlib.Conn)
	if !ok {
		dc.Close()
		return nil, fmt.Errorf("appmigrate: unexpected driver connection %T", dc)
	}
	c.pool.dirty.Store(sc.Conn(), struct{}{})
	if _, err := sc.Conn().Exec(ctx, c.searchPath); err != nil {
		dc.Close()
		return nil, fmt.Errorf("set search_path: %w", err)
	}
	return dc, nil
}

func (c schemaConnector) Driver() driver.Driver { return c.base.Driver() }

func isCode(err error, codes ...string) bool {
	pgErr, ok := errors.AsType[*pgconn.PgError](err)
	return ok && slices.Contains(codes, pgErr.Code)
}
