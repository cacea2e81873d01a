package catalog_test

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

// expandViolations lists what in an expand migration's SQL (its up
// section) would break a release that predates it while that release
// still serves: anything that drops, renames or retypes, a TRUNCATE or
// REVOKE, SET SCHEMA, and, on a table the migration did not create
// itself, SET NOT NULL, a NOT NULL column without a default, a new
// constraint or unique index (each may refuse what an older writer
// writes).
//
// It is a careful textual check, not a proof. Its limits:
//   - it reads statements, not meaning: it cannot tell whether CREATE OR
//     REPLACE FUNCTION keeps a function's behaviour, or whether an UPDATE
//     that backfills rewrites values an older reader depends on;
//   - function bodies and DO blocks ($$…$$) are not read, so DDL run by
//     dynamic SQL inside them goes unchecked;
//   - "created by this migration" means a CREATE TABLE earlier in the same
//     file; a table created by an earlier migration counts as in use;
//   - an added column is harmless only because the code names its columns
//     (sqlc expands SELECT * and RETURNING * when it generates);
//   - it does not judge locks: CREATE INDEX without CONCURRENTLY, or an
//     ADD COLUMN that rewrites the table, blocks writers while it runs.
func expandViolations(sqlText string) []string {
	var out []string
	created := map[string]bool{}
	for _, st := range catalog.Statements(sqlText) {
		s := strings.ToUpper(literal.ReplaceAllString(st, "''"))
		if m := createTable.FindStringSubmatch(s); m != nil {
			created[tableName(m[1])] = true
			continue
		}
		for _, r := range anywhere {
			if r.re.MatchString(s) {
				out = append(out, r.why+": "+st)
			}
		}
		if m := uniqueIndex.FindStringSubmatch(s); m != nil && !created[tableName(m[1])] {
			out = append(out, "a unique index on a table in use may refuse an older writer's rows: "+st)
		}
		if m := alterTable.FindStringSubmatch(s); m != nil && !created[tableName(m[1])] {
			for _, action := range topLevel(m[2]) {
				if why := alterViolation(action); why != "" {
					out = append(out, why+": "+st)
				}
			}
		}
	}
	return out
}

var (
	literal     = regexp.MustCompile(`'(?:[^']|'')*'`)
	createTable = regexp.MustCompile(`^CREATE (?:UNLOGGED )?TABLE (?:IF NOT EXISTS )?([\w."]+)`)
	uniqueIndex = regexp.MustCompile(`^CREATE UNIQUE INDEX .*? ON (?:ONLY )?([\w."]+)`)
	alterTable  = regexp.MustCompile(`^ALTER TABLE (?:IF EXISTS )?(?:ONLY )?([\w."]+) (.*)$`)
	anywhere    = []struct {
		re  *regexp.Regexp
		why string
	}{
		{regexp.MustCompile(`\bDROP\b`), "DROP removes what an older release may use"},
		{regexp.MustCompile(`\bRENAME\b`), "RENAME: an older release still uses the old name"},
		{regexp.MustCompile(`\bALTER (?:COLUMN )?[\w"]+ (?:SET DATA )?TYPE\b`), "a new type may not be what an older release reads or writes"},
		{regexp.MustCompile(`\bTRUNCATE\b`), "TRUNCATE deletes what an older release reads"},
		{regexp.MustCompile(`\bREVOKE\b`), "REVOKE takes a privilege an older release may need"},
		{regexp.MustCompile(`\bSET SCHEMA\b`), "SET SCHEMA moves an object from where an older release looks"},
		{regexp.MustCompile(`^ALTER DOMAIN .*\bSET NOT NULL\b`), "SET NOT NULL refuses an older writer's NULLs"},
	}
	addColumn     = regexp.MustCompile(`^ADD (?:COLUMN )?(?:IF NOT EXISTS )?[\w"]+ `)
	addConstraint = regexp.MustCompile(`^ADD (?:CONSTRAINT|PRIMARY KEY|UNIQUE|CHECK|FOREIGN KEY|EXCLUDE)\b`)
)

// alterViolation judges one action of ALTER TABLE on a table in use.
func alterViolation(action string) string {
	switch {
	case strings.Contains(action, "SET NOT NULL"):
		return "SET NOT NULL refuses an older writer's NULLs"
	case addConstraint.MatchString(action):
		return "a new constraint on a table in use may refuse an older writer's rows"
	case addColumn.MatchString(action) && strings.Contains(action, "NOT NULL") &&
		!strings.Contains(action, "DEFAULT") && !strings.Contains(action, "GENERATED"):
		return "a NOT NULL column without a default refuses an older writer, who does not write it"
	}
	return ""
}

// topLevel splits s at the commas outside parentheses.
func topLevel(s string) []string {
	var out []string
	depth, start := 0, 0
	for i, c := range s {
		switch c {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, strings.TrimSpace(s[start:i]))
				start = i + 1
			}
		}
	}
	return append(out, strings.TrimSpace(s[start:]))
}

func tableName(s string) string { return strings.ToLower(strings.ReplaceAll(s, `"`, "")) }

// TestMigrationsDeclareTheirPhaseAndExpandOnlyAdds: every catalog
// migration says whether it is expand or contract, and no expand migration
// holds a statement that breaks a release serving from the catalog before
// it.
func TestMigrationsDeclareTheirPhaseAndExpandOnlyAdds(t *testing.T) {
	t.Parallel()
	ms, err := catalog.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.SQL == "" {
			t.Errorf("%s: no up section", m.Name)
		}
		if m.Phase != catalog.PhaseExpand {
			continue
		}
		for _, v := range expandViolations(m.SQL) {
			t.Errorf("%s is marked expand, but %s\n(move it to a contract migration of a later release)", m.Name, v)
		}
	}
	if last := ms[len(ms)-1].Version; catalog.SchemaVersion() != last {
		t.Fatalf("SchemaVersion %d, newest migration %d", catalog.SchemaVersion(), last)
	}
}

// TestExpandViolations: the textual check refuses what breaks an older
// reader or writer and lets pass what only adds.
func TestExpandViolations(t *testing.T) {
	t.Parallel()
	pass := []string{
		`CREATE TABLE tenantkit.x (id uuid PRIMARY KEY, n int NOT NULL)`,
		`CREATE TABLE tenantkit.x (id int); ALTER TABLE tenantkit.x ADD COLUMN y int NOT NULL, ADD CONSTRAINT c CHECK (y > 0)`,
		`CREATE TABLE tenantkit.x (id int); CREATE UNIQUE INDEX x_id ON tenantkit.x (id)`,
		`ALTER TABLE tenantkit.tenants ADD COLUMN region text NOT NULL DEFAULT '', ADD COLUMN note text`,
		`ALTER TABLE tenantkit.tenants ADD COLUMN total bigint GENERATED ALWAYS AS (1) STORED NOT NULL`,
		`CREATE INDEX tenants_name ON tenantkit.tenants (name)`,
		`COMMENT ON TABLE tenantkit.tenants IS 'do not drop or rename'`,
		"CREATE FUNCTION tenantkit.f() RETURNS void LANGUAGE plpgsql AS $$ BEGIN DROP TABLE x; END $$",
		"-- DROP TABLE tenantkit.tenants;\nSELECT 1",
		`UPDATE tenantkit.plans SET rank = 1 WHERE name = 'free'`,
	}
	for _, s := range pass {
		if v := expandViolations(s); len(v) > 0 {
			t.Errorf("%q refused: %v", s, v)
		}
	}
	refuse := []string{
		`DROP TABLE tenantkit.usage_load`,
		`ALTER TABLE tenantkit.tenants DROP COLUMN suspension_reason`,
		`ALTER TABLE tenantkit.tenants ALTER COLUMN name DROP DEFAULT`,
		`ALTER TABLE tenantkit.tenants RENAME COLUMN name TO title`,
		`ALTER TABLE tenantkit.tenants RENAME TO customers`,
		`ALTER TABLE tenantkit.tenants ALTER COLUMN name TYPE varchar(100)`,
		`ALTER TABLE tenantkit.tenants ALTER name SET DATA TYPE varchar(100)`,
		`ALTER TABLE tenantkit.tenants ALTER COLUMN deleted_at SET NOT NULL`,
		`ALTER TABLE tenantkit.tenants ADD COLUMN region text NOT NULL`,
		`ALTER TABLE ONLY tenantkit.tenants ADD COLUMN a int DEFAULT 0, ADD COLUMN region text NOT NULL`,
		`ALTER TABLE tenantkit.plan_limits ADD CONSTRAINT plan_limits_name CHECK (name ~ '^[a-z]')`,
		`ALTER TABLE tenantkit.noisy_tenants ADD PRIMARY KEY (tenant_id, dimension, detected_by)`,
		`CREATE UNIQUE INDEX tenants_name ON tenantkit.tenants (name)`,
		`DROP FUNCTION tenantkit.notify_invalidation()`,
		`DROP VIEW tenantkit.v`,
		`DROP TRIGGER notify_invalidation ON tenantkit.tenants`,
		`TRUNCATE tenantkit.audit_log`,
		`REVOKE SELECT ON tenantkit.tenants FROM tenantkit_app`,
		`ALTER TABLE tenantkit.tenants SET SCHEMA archive`,
		`ALTER DOMAIN tenantkit.slug SET NOT NULL`,
	}
	for _, s := range refuse {
		if v := expandViolations(s); len(v) == 0 {
			t.Errorf("%q passed as expand", s)
		}
	}
}

// TestParseMigrationWantsOnePhaseBeforeTheUpSection: a migration without
// a phase, with an unknown one, with two, or with one inside its SQL is
// refused.
func TestParseMigrationWantsOnePhaseBeforeTheUpSection(t *testing.T) {
	t.Parallel()
	up := "-- +goose Up\nCREATE TABLE tenantkit.x (id int);\n-- +goose Down\nDROP TABLE tenantkit.x;\n"
	m, err := catalog.ParseMigration("00042_x.sql", "-- tenantkit:phase expand\n"+up)
	if err != nil || m.Version != 42 || m.Phase != catalog.PhaseExpand || m.SQL != "CREATE TABLE tenantkit.x (id int);" {
		t.Fatalf("ParseMigration = %+v, %v", m, err)
	}
	for name, text := range map[string]string{
		"none":    up,
		"unknown": "-- tenantkit:phase migrate\n" + up,
		"twice":   "-- tenantkit:phase expand\n-- tenantkit:phase contract\n" + up,
		"late":    strings.Replace(up, "CREATE", "-- tenantkit:phase expand\nCREATE", 1),
	} {
		if _, err := catalog.ParseMigration("00042_x.sql", text); err == nil {
			t.Errorf("%s: a migration file with that phase header was accepted", name)
		}
	}
}

func TestStatementsSplitsOutsideBodiesAndStrings(t *testing.T) {
	t.Parallel()
	got := catalog.Statements("-- a comment; with a semicolon\nCREATE TABLE x (\n  a text DEFAULT ';' -- why\n);\n" +
		"/* block; */ CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $body$ SELECT 1; $body$;\nSELECT $1, 'it''s';")
	want := []string{"CREATE TABLE x ( a text DEFAULT ';' )", "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $body$…$body$",
		"SELECT $1, 'it''s'"}
	if !slices.Equal(got, want) {
		t.Fatalf("Statements = %q\nwant %q", got, want)
	}
}

// migrationsAfter are migrations of a later release: a contract that
// drops a column this release reads, and an expand after it.
func migrationsAfter() fstest.MapFS {
	return fstest.MapFS{
		"99001_drop_suspension_reason.sql": {Data: []byte("-- tenantkit:phase contract\n-- +goose Up\n" +
			"ALTER TABLE tenantkit.tenants DROP COLUMN suspension_reason;\n-- +goose Down\n" +
			"ALTER TABLE tenantkit.tenants ADD COLUMN suspension_reason text NOT NULL DEFAULT '';\n")},
		"99002_tenant_region.sql": {Data: []byte("-- tenantkit:phase expand\n-- +goose Up\n" +
			"ALTER TABLE tenantkit.tenants ADD COLUMN region text NOT NULL DEFAULT '';\n-- +goose Down\n" +
			"ALTER TABLE tenantkit.tenants DROP COLUMN region;\n")},
	}
}

func newMigrator(t *testing.T, url string) *catalog.Migrator {
	t.Helper()
	m, err := catalog.NewMigratorWith(catalog.MigratorConfig{DatabaseURL: url}, migrationsAfter())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func pool(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	p, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// TestMigrateHoldsBackContractMigrations: on a catalog in use, expand
// migrations are applied and a contract migration is held back, with
// every migration after it, until the operator asks for it; then still
// while an instance built for an older catalog heartbeats; then it is
// applied. A dry run changes nothing; a catalog with nothing applied gets
// everything.
func TestMigrateHoldsBackContractMigrations(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := tenantkittest.NewCatalog(t)
	m := newMigrator(t, db.OwnerDSN())

	res, err := m.Migrate(ctx, catalog.MigrateOpts{})
	if err != nil || len(res.Applied) != 0 || len(res.Pending) != 2 || res.Pending[0].Apply || res.Pending[1].Apply ||
		!strings.Contains(res.Pending[0].HeldBack, "--contract") || !strings.Contains(res.Pending[1].HeldBack, "waits behind 99001") {
		t.Fatalf("Migrate without Contract = %+v, %v; want 99001 held back and 99002 behind it", res, err)
	}

	hb, err := catalog.NewHeartbeat(catalog.HeartbeatConfig{Pool: pool(t, db.OwnerDSN()), Version: "v-this", Addr: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := hb.Beat(ctx); err != nil {
		t.Fatal(err)
	}
	dry, err := m.Migrate(ctx, catalog.MigrateOpts{Contract: true, DryRun: true})
	if err != nil || len(dry.Instances) != 1 || dry.Instances[0].ID != hb.ID() || dry.Instances[0].SchemaVersion != catalog.SchemaVersion() ||
		dry.Pending[0].Apply || !strings.Contains(dry.Pending[0].HeldBack, hb.ID().String()[:8]) {
		t.Fatalf("dry run with a live instance built for %d = %+v, %v; want 99001 held back for it", catalog.SchemaVersion(), dry, err)
	}
	if err := hb.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	dry, err = m.Migrate(ctx, catalog.MigrateOpts{Contract: true, DryRun: true})
	if err != nil || !dry.Pending[0].Apply || !dry.Pending[1].Apply || len(dry.Applied) != 0 ||
		!strings.Contains(dry.Pending[0].SQL, "DROP COLUMN suspension_reason") {
		t.Fatalf("dry run once the instance is gone = %+v, %v; want both to apply", dry, err)
	}
	if st, err := m.Status(ctx); err != nil || st.Migrations[len(st.Migrations)-1].Applied {
		t.Fatalf("a dry run applied something: %+v, %v", st, err)
	}
	res, err = m.Migrate(ctx, catalog.MigrateOpts{Contract: true})
	if err != nil || !slices.Equal(res.Applied, []int64{99001, 99002}) {
		t.Fatalf("Migrate with Contract = %+v, %v", res.Applied, err)
	}

	// This binary does not know 99001 and 99002: the catalog is ahead of it,
	// which it tolerates.
	if applied, err := catalog.Migrate(ctx, db.OwnerDSN()); err != nil || len(applied) != 0 {
		t.Fatalf("Migrate on a catalog ahead of the binary = %v, %v", applied, err)
	}
	st, err := catalog.NewMigrator(catalog.MigratorConfig{DatabaseURL: db.OwnerDSN()})
	if err != nil {
		t.Fatal(err)
	}
	if s, err := st.Status(ctx); err != nil || !slices.Equal(s.Newer, []int64{99001, 99002}) {
		t.Fatalf("Status on a catalog ahead of the binary = %+v, %v", s, err)
	}

	fresh := tenantkittest.NewDatabase(t)
	res, err = newMigrator(t, fresh.OwnerDSN()).Migrate(ctx, catalog.MigrateOpts{})
	if err != nil || !slices.Contains(res.Applied, 99001) || !slices.Contains(res.Applied, 99002) {
		t.Fatalf("Migrate on an empty database = %+v, %v; want every migration", res.Applied, err)
	}
}

// TestMigrateRefusesWhenAnExpandWaitsBehindAContract: the binary needs its
// expand migrations; one held back behind a contract is an error
// (ErrHeldBack) for serve, not a silent start on a catalog it cannot use.
func TestMigrateRefusesWhenAnExpandWaitsBehindAContract(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := tenantkittest.NewDatabase(t)
	// A catalog at 00003, as an earlier build left it: 00004 is a contract
	// migration and 00005 an expand one this binary needs.
	m, err := catalog.NewMigratorWith(catalog.MigratorConfig{DatabaseURL: db.OwnerDSN()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Migrate(ctx, catalog.MigrateOpts{}); err != nil {
		t.Fatal(err)
	}
	p := pool(t, db.OwnerDSN())
	if _, err := p.Exec(ctx, "DELETE FROM "+catalog.MigrationsTable+" WHERE version_id > 3"); err != nil {
		t.Fatal(err)
	}
	_, err = catalog.Migrate(ctx, db.OwnerDSN())
	if !errors.Is(err, catalog.ErrHeldBack) || !strings.Contains(err.Error(), "00005") {
		t.Fatalf("Migrate = %v; want ErrHeldBack naming 00005", err)
	}
}

// TestDryRunOnAnEmptyDatabaseCreatesNothing: not even goose's table.
func TestDryRunOnAnEmptyDatabaseCreatesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := tenantkittest.NewDatabase(t)
	m, err := catalog.NewMigrator(catalog.MigratorConfig{DatabaseURL: db.OwnerDSN()})
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.Migrate(ctx, catalog.MigrateOpts{DryRun: true})
	if err != nil || res.CatalogVersion != 0 || len(res.Pending) != int(catalog.SchemaVersion()) || !res.Pending[6].Apply {
		t.Fatalf("dry run = %+v, %v", res, err)
	}
	var schemas int
	if err := pool(t, db.OwnerDSN()).QueryRow(ctx, "SELECT count(*) FROM pg_namespace WHERE nspname = 'tenantkit'").Scan(&schemas); err != nil || schemas != 0 {
		t.Fatalf("the dry run created the schema (%d, %v)", schemas, err)
	}
}

// TestHeartbeatExpiresStaleInstances: an instance not seen for the TTL is
// not listed, and the next heartbeat of any instance deletes its row.
func TestHeartbeatExpiresStaleInstances(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := tenantkittest.NewCatalog(t)
	p := pool(t, db.OwnerDSN())
	a, _ := catalog.NewHeartbeat(catalog.HeartbeatConfig{Pool: p, Version: "a"})
	b, _ := catalog.NewHeartbeat(catalog.HeartbeatConfig{Pool: p, Version: "b"})
	for _, hb := range []*catalog.Heartbeat{a, b} {
		if err := hb.Beat(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.Exec(ctx, "UPDATE tenantkit.instances SET last_seen = now() - interval '2 minutes' WHERE id = $1", a.ID()); err != nil {
		t.Fatal(err)
	}
	m, _ := catalog.NewMigrator(catalog.MigratorConfig{DatabaseURL: db.OwnerDSN()})
	st, err := m.Status(ctx)
	if err != nil || len(st.Instances) != 1 || st.Instances[0].ID != b.ID() || st.Instances[0].Version != "b" {
		t.Fatalf("instances = %+v, %v; want b alone", st.Instances, err)
	}
	if err := b.Beat(ctx); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := p.QueryRow(ctx, "SELECT count(*) FROM tenantkit.instances").Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d rows after a heartbeat, %v; want the stale one deleted", n, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	run, _ := catalog.NewHeartbeat(catalog.HeartbeatConfig{Pool: p, Interval: 10 * time.Millisecond})
	done := make(chan error, 1)
	runCtx, stop := context.WithCancel(ctx)
	go func() { done <- run.Run(runCtx) }()
	for st, _ = m.Status(ctx); !slices.ContainsFunc(st.Instances, func(in catalog.Instance) bool { return in.ID == run.ID() }); st, _ = m.Status(ctx) {
		if ctx.Err() != nil {
			t.Fatal("Run did not record the instance within 5 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
}
