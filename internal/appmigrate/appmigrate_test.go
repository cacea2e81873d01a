package appmigrate_test

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tenantkit/tenantkit/internal/appmigrate"
	"github.com/tenantkit/tenantkit/internal/bootstrap"
	"github.com/tenantkit/tenantkit/internal/rlspolicy"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

func TestMain(m *testing.M) { tenantkittest.Main(m) }

// goodMigrations is testdata/migrations: 00001 customers and orders
// (composite keys and foreign key), 00002 adds orders.note.
var goodMigrations = func() fs.FS {
	sub, err := fs.Sub(os.DirFS("testdata"), "migrations")
	if err != nil {
		panic(err)
	}
	return sub
}()

type bundle struct {
	ctx context.Context
	db  *tenantkittest.Database
}

func setup(t *testing.T) bundle {
	t.Helper()
	t.Parallel()
	return bundle{ctx: t.Context(), db: tenantkittest.NewDatabase(t)}
}

func newMigrator(t testing.TB, cfg appmigrate.Config) *appmigrate.Migrator {
	t.Helper()
	if cfg.Migrations == nil {
		cfg.Migrations = goodMigrations
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	m, err := appmigrate.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return m
}

func target(db *tenantkittest.Database, schema string) appmigrate.Target {
	return appmigrate.Target{Key: db.Name + "/" + schema, DSN: db.OwnerDSN(), Schema: schema}
}

func connect(t testing.TB, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func exec(t testing.TB, conn *pgx.Conn, sql string, args ...any) {
	t.Helper()
	if _, err := conn.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func scalar[T any](t testing.TB, conn *pgx.Conn, sql string, args ...any) T {
	t.Helper()
	var v T
	if err := conn.QueryRow(context.Background(), sql, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return v
}

func requireSummary(t *testing.T, s appmigrate.Summary, applied, failed, upToDate int) {
	t.Helper()
	if s.Applied != applied || s.Failed != failed || s.UpToDate != upToDate {
		t.Fatalf("summary applied/failed/up-to-date = %d/%d/%d, want %d/%d/%d; errors: %v",
			s.Applied, s.Failed, s.UpToDate, applied, failed, upToDate, s.Err())
	}
}

// versions lists the version rows of a target's version table, duplicates
// included.
func versions(t testing.TB, conn *pgx.Conn, schema string) []int64 {
	t.Helper()
	return scalar[[]int64](t, conn, `SELECT coalesce(array_agg(version_id ORDER BY version_id), '{}') FROM `+
		pgx.Identifier{schema, appmigrate.VersionTable}.Sanitize()+` WHERE version_id > 0`)
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	up := []byte("-- +goose Up\nSELECT 1;\n-- +goose Down\nSELECT 1;\n")
	tests := []struct {
		name    string
		fsys    fs.FS
		wantErr string
	}{
		{"nil", nil, "no migrations"},
		{"empty", fstest.MapFS{}, "no migrations"},
		{"duplicate", fstest.MapFS{"00001_a.sql": {Data: up}, "00001_b.sql": {Data: up}}, "duplicate"},
		{"ok", fstest.MapFS{"00001_a.sql": {Data: up}, "00007_b.sql": {Data: up}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, err := appmigrate.New(appmigrate.Config{Migrations: tt.fsys})
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				if m.Latest() != 7 || !slices.Equal(m.Versions(), []int64{1, 7}) {
					t.Fatalf("Latest %d, Versions %v", m.Latest(), m.Versions())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New: err %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestUpMigratesAndInstallsRLS(t *testing.T) {
	b := setup(t)
	db2 := tenantkittest.NewDatabase(t)
	targets := []appmigrate.Target{target(b.db, "t_a"), target(b.db, "t_b"), target(db2, "app")}
	m := newMigrator(t, appmigrate.Config{Workers: 2})

	sum := m.Up(b.ctx, targets)
	requireSummary(t, sum, 3, 0, 0)
	for i, r := range sum.Targets {
		if r.Target != targets[i].Key || r.From != 0 || r.To != 2 || !slices.Equal(r.Applied, []int64{1, 2}) {
			t.Fatalf("result %d = %+v", i, r)
		}
	}

	for _, tg := range targets {
		dsn := b.db.SuperuserDSN()
		if tg.DSN == db2.OwnerDSN() {
			dsn = db2.SuperuserDSN()
		}
		requireRLS(t, connect(t, dsn), tg.Schema)
	}
	// Nothing leaked into public.
	su := connect(t, b.db.SuperuserDSN())
	if scalar[bool](t, su, "SELECT to_regclass('public.customers') IS NOT NULL") {
		t.Fatal("customers created in public")
	}
	requireIsolation(t, b.db.AppDSN(), "t_a")
	requireIsolation(t, db2.AppDSN(), "app")
}

// requireRLS checks what DESIGN.md "Tenant tables" asks of every tenant
// table of schema.
func requireRLS(t *testing.T, conn *pgx.Conn, schema string) {
	t.Helper()
	for _, table := range []string{"customers", "orders"} {
		qualified := schema + "." + table
		if !scalar[bool](t, conn, "SELECT relrowsecurity AND relforcerowsecurity FROM pg_class WHERE oid = $1::regclass", qualified) {
			t.Fatalf("%s: row security not enabled and forced", qualified)
		}
		n := scalar[int](t, conn, `SELECT count(*) FROM pg_policies WHERE schemaname = $1 AND tablename = $2
			AND cmd = 'ALL' AND policyname = ANY($3)`, schema, table, []string{rlspolicy.TenantPolicy, rlspolicy.AllowPolicy})
		if n != 2 {
			t.Fatalf("%s: %d of the 2 policies for ALL", qualified, n)
		}
		if scalar[string](t, conn, `SELECT permissive FROM pg_policies WHERE schemaname = $1 AND tablename = $2
			AND policyname = $3`, schema, table, rlspolicy.TenantPolicy) != "RESTRICTIVE" {
			t.Fatalf("%s: tenant policy is not restrictive", qualified)
		}
		for _, priv := range []string{"SELECT", "INSERT", "UPDATE", "DELETE"} {
			if !scalar[bool](t, conn, "SELECT has_table_privilege($1::name, $2::regclass, $3)", bootstrap.AppRole, qualified, priv) {
				t.Fatalf("%s: app role lacks %s", qualified, priv)
			}
		}
		if scalar[bool](t, conn, "SELECT has_table_privilege($1::name, $2::regclass, 'TRUNCATE')", bootstrap.AppRole, qualified) {
			t.Fatalf("%s: app role may TRUNCATE", qualified)
		}
		def := scalar[string](t, conn, `SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d
			JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
			WHERE d.adrelid = $1::regclass AND a.attname = 'tenant_id'`, qualified)
		if !strings.Contains(def, rlspolicy.Setting) {
			t.Fatalf("%s: tenant_id default is %q", qualified, def)
		}
	}
}

// requireIsolation writes rows for two tenants as the app role and checks
// that each sees only its own and that no tenant setting sees nothing.
func requireIsolation(t *testing.T, appDSN, schema string) {
	t.Helper()
	ctx := context.Background()
	conn := connect(t, appDSN)
	customers := pgx.Identifier{schema, "customers"}.Sanitize()
	orders := pgx.Identifier{schema, "orders"}.Sanitize()
	a, bID := uuid.NewString(), uuid.NewString()
	asTenant := func(id string, fn func(tx pgx.Tx) error) error {
		return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SELECT set_config($1, $2, true)", rlspolicy.Setting, id); err != nil {
				return err
			}
			return fn(tx)
		})
	}
	for _, id := range []string{a, bID} {
		err := asTenant(id, func(tx pgx.Tx) error {
			var cust string
			if err := tx.QueryRow(ctx, "INSERT INTO "+customers+" (name, email) VALUES ('n', 'same@example.com') RETURNING id").Scan(&cust); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO "+orders+" (customer_id, total_cents) VALUES ($1, 100)", cust)
			return err
		})
		if err != nil {
			t.Fatalf("insert as tenant: %v", err)
		}
	}
	err := asTenant(a, func(tx pgx.Tx) error {
		var n int
		var only bool
		if err := tx.QueryRow(ctx, "SELECT count(*), bool_and(tenant_id = $1) FROM "+customers, a).Scan(&n, &only); err != nil {
			return err
		}
		if n != 1 || !only {
			t.Errorf("tenant A sees %d customers (only its own: %v)", n, only)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// A write for the other tenant is refused by WITH CHECK.
	err = asTenant(a, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "INSERT INTO "+customers+" (tenant_id, name, email) VALUES ($1, 'x', 'x@example.com')", bID)
		return err
	})
	if err == nil {
		t.Fatal("tenant A inserted a row for tenant B")
	}
	if n := scalar[int](t, conn, "SELECT count(*) FROM "+orders); n != 0 {
		t.Fatalf("without a tenant setting the app role sees %d orders", n)
	}
}

func TestUpAgainAppliesNothing(t *testing.T) {
	b := setup(t)
	targets := []appmigrate.Target{target(b.db, "t_a"), target(b.db, "t_b"), target(b.db, "t_c")}
	m := newMigrator(t, appmigrate.Config{})
	requireSummary(t, m.Up(b.ctx, targets), 3, 0, 0)
	su := connect(t, b.db.SuperuserDSN())
	policies := `SELECT array_agg(oid ORDER BY oid) FROM pg_policy`
	before := scalar[[]uint32](t, su, policies)

	sum := m.Up(b.ctx, targets)
	requireSummary(t, sum, 0, 0, 3)
	for _, r := range sum.Targets {
		if r.From != 2 || r.To != 2 || len(r.Applied) != 0 || !r.UpToDate() {
			t.Fatalf("second run: %+v", r)
		}
	}
	// The fast path left the policies alone (no locks on the app's tables).
	if after := scalar[[]uint32](t, su, policies); !slices.Equal(before, after) {
		t.Fatalf("policies re-created by a no-op run: %v → %v", before, after)
	}
	for _, tg := range targets {
		if v := versions(t, su, tg.Schema); !slices.Equal(v, []int64{1, 2}) {
			t.Fatalf("%s versions %v", tg.Schema, v)
		}
	}
}

func TestUpRepairsMissingRLS(t *testing.T) {
	b := setup(t)
	tg := target(b.db, "t_a")
	m := newMigrator(t, appmigrate.Config{})
	requireSummary(t, m.Up(b.ctx, []appmigrate.Target{tg}), 1, 0, 0)
	su := connect(t, b.db.SuperuserDSN())
	exec(t, su, "ALTER TABLE t_a.orders NO FORCE ROW LEVEL SECURITY")
	exec(t, su, "GRANT TRUNCATE ON t_a.customers TO "+bootstrap.AppRole)

	sum := m.Up(b.ctx, []appmigrate.Target{tg})
	requireSummary(t, sum, 0, 0, 1)
	requireRLS(t, su, "t_a")
}

func TestUpBrokenTargetDoesNotStopOthers(t *testing.T) {
	b := setup(t)
	su := connect(t, b.db.SuperuserDSN())
	exec(t, su, "CREATE SCHEMA t_bad AUTHORIZATION "+bootstrap.OwnerRole)
	exec(t, su, "CREATE TABLE t_bad.orders (id int PRIMARY KEY)")
	exec(t, su, "ALTER TABLE t_bad.orders OWNER TO "+bootstrap.OwnerRole)
	targets := []appmigrate.Target{target(b.db, "t_a"), target(b.db, "t_bad"), target(b.db, "t_c")}
	m := newMigrator(t, appmigrate.Config{Workers: 1})

	sum := m.Up(b.ctx, targets)
	requireSummary(t, sum, 2, 1, 0)
	bad := sum.Targets[1]
	if bad.Err == "" || !strings.Contains(bad.Err, "orders") || bad.To != 0 || len(bad.Applied) != 0 {
		t.Fatalf("broken target: %+v", bad)
	}
	if err := sum.Err(); err == nil || !strings.Contains(err.Error(), targets[1].Key) {
		t.Fatalf("Summary.Err() = %v, want the broken target's key", err)
	}
	for _, i := range []int{0, 2} {
		if v := versions(t, su, targets[i].Schema); !slices.Equal(v, []int64{1, 2}) {
			t.Fatalf("%s versions %v", targets[i].Schema, v)
		}
	}
	// The migration's transaction rolled back: no customers table either.
	if scalar[bool](t, su, "SELECT to_regclass('t_bad.customers') IS NOT NULL") {
		t.Fatal("half of the failed migration stayed")
	}

	out, err := json.Marshal(sum)
	if err != nil {
		t.Fatal(err)
	}
	var decoded struct {
		Targets []struct {
			Target string `json:"target"`
			Error  string `json:"error"`
		} `json:"targets"`
		Failed int `json:"failed"`
	}
	if err := json.Unmarshal(out, &decoded); err != nil {
		t.Fatal(err)
	}
	if decoded.Failed != 1 || decoded.Targets[1].Error == "" || decoded.Targets[0].Error != "" {
		t.Fatalf("JSON summary: %s", out)
	}
}

func TestUpUnreachableDatabase(t *testing.T) {
	b := setup(t)
	missing := appmigrate.Target{Key: "nowhere", DSN: b.db.Server.OwnerURL("no_such_database"), Schema: "app"}
	targets := []appmigrate.Target{target(b.db, "t_a"), missing, target(b.db, "t_b")}
	m := newMigrator(t, appmigrate.Config{})

	sum := m.Up(b.ctx, targets)
	requireSummary(t, sum, 2, 1, 0)
	if r := sum.Targets[1]; r.Target != "nowhere" || r.Err == "" {
		t.Fatalf("unreachable target: %+v", r)
	}
}

func TestUpResumesAfterFailedMigration(t *testing.T) {
	b := setup(t)
	first, err := fs.ReadFile(goodMigrations, "00001_orders.sql")
	if err != nil {
		t.Fatal(err)
	}
	broken := fstest.MapFS{
		"00001_orders.sql":     {Data: first},
		"00002_order_note.sql": {Data: []byte("-- +goose Up\nALTER TABLE orders ADD COLUMN note no_such_type;\n-- +goose Down\nSELECT 1;\n")},
	}
	targets := []appmigrate.Target{target(b.db, "t_a"), target(b.db, "t_b")}

	sum := newMigrator(t, appmigrate.Config{Migrations: broken}).Up(b.ctx, targets)
	requireSummary(t, sum, 0, 2, 0)
	su := connect(t, b.db.SuperuserDSN())
	for _, r := range sum.Targets {
		if r.Err == "" || r.To != 1 || !slices.Equal(r.Applied, []int64{1}) {
			t.Fatalf("broken run: %+v", r)
		}
	}
	// What was applied before the failure is guarded already.
	requireRLS(t, su, "t_a")

	sum = newMigrator(t, appmigrate.Config{}).Up(b.ctx, targets)
	requireSummary(t, sum, 2, 0, 0)
	for _, r := range sum.Targets {
		if r.From != 1 || r.To != 2 || !slices.Equal(r.Applied, []int64{2}) {
			t.Fatalf("resumed run: %+v", r)
		}
	}
	if v := versions(t, su, "t_b"); !slices.Equal(v, []int64{1, 2}) {
		t.Fatalf("versions %v", v)
	}
}

func TestDownThenStatus(t *testing.T) {
	b := setup(t)
	targets := []appmigrate.Target{target(b.db, "t_a"), target(b.db, "t_b")}
	m := newMigrator(t, appmigrate.Config{})
	requireSummary(t, m.Up(b.ctx, targets), 2, 0, 0)

	sum := m.Down(b.ctx, targets, 1)
	requireSummary(t, sum, 2, 0, 0)
	for _, r := range sum.Targets {
		if r.From != 2 || r.To != 1 || !slices.Equal(r.Applied, []int64{2}) {
			t.Fatalf("down: %+v", r)
		}
	}
	su := connect(t, b.db.SuperuserDSN())
	if scalar[bool](t, su, "SELECT EXISTS (SELECT FROM pg_attribute WHERE attrelid = 't_a.orders'::regclass AND attname = 'note')") {
		t.Fatal("down left orders.note")
	}
	for _, s := range m.Status(b.ctx, targets) {
		if s.Err != "" || s.Current != 1 || s.Latest != 2 || s.Pending != 1 || s.Unexpected {
			t.Fatalf("status after down: %+v", s)
		}
	}

	requireSummary(t, m.Down(b.ctx, targets[:1], 0), 0, 1, 0) // steps must be positive
	// More steps than applied migrations roll back what there is.
	sum = m.Down(b.ctx, targets[:1], 5)
	requireSummary(t, sum, 1, 0, 0)
	if r := sum.Targets[0]; r.To != 0 || !slices.Equal(r.Applied, []int64{1}) {
		t.Fatalf("down past the start: %+v", r)
	}
	requireSummary(t, m.Down(b.ctx, targets[:1], 1), 0, 0, 1) // nothing left

	sum = m.Up(b.ctx, targets)
	requireSummary(t, sum, 2, 0, 0)
	if !slices.Equal(sum.Targets[0].Applied, []int64{1, 2}) || !slices.Equal(sum.Targets[1].Applied, []int64{2}) {
		t.Fatalf("up after down: %+v", sum.Targets)
	}
}

func TestStatusReportsUnexpectedVersion(t *testing.T) {
	b := setup(t)
	targets := []appmigrate.Target{target(b.db, "t_a"), target(b.db, "t_drift")}
	m := newMigrator(t, appmigrate.Config{})
	requireSummary(t, m.Up(b.ctx, targets), 2, 0, 0)
	su := connect(t, b.db.SuperuserDSN())
	exec(t, su, "INSERT INTO t_drift."+appmigrate.VersionTable+" (version_id, is_applied) VALUES (99, true)")
	fresh := target(b.db, "t_fresh")

	st := m.Status(b.ctx, append(targets, fresh))
	if s := st[0]; s.Err != "" || s.Unexpected || s.Current != 2 || s.Pending != 0 {
		t.Fatalf("in step: %+v", s)
	}
	if s := st[1]; s.Err != "" || !s.Unexpected || s.Current != 99 || !slices.Equal(s.Unknown, []int64{99}) || s.Pending != 0 {
		t.Fatalf("drifted: %+v", s)
	}
	if s := st[2]; s.Err != "" || s.Unexpected || s.Current != 0 || s.Pending != 2 {
		t.Fatalf("fresh: %+v", s)
	}
	if scalar[bool](t, su, "SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = 't_fresh')") {
		t.Fatal("Status created a schema")
	}

	sum := m.Up(b.ctx, targets)
	requireSummary(t, sum, 0, 1, 1)
	if !errors.Is(sum.Targets[1].Cause(), appmigrate.ErrUnexpectedVersion) {
		t.Fatalf("up on a drifted target: %v", sum.Targets[1].Err)
	}
}

func TestConcurrentUp(t *testing.T) {
	b := setup(t)
	db2 := tenantkittest.NewDatabase(t)
	var targets []appmigrate.Target
	for _, s := range []string{"t_a", "t_b", "t_c", "t_d"} {
		targets = append(targets, target(b.db, s))
	}
	targets = append(targets, target(db2, "app"))
	m := newMigrator(t, appmigrate.Config{Workers: 3})

	var wg sync.WaitGroup
	sums := make([]appmigrate.Summary, 2)
	for i := range sums {
		wg.Go(func() { sums[i] = m.Up(b.ctx, targets) })
	}
	wg.Wait()
	for i, tg := range targets {
		var applied []int64
		for _, s := range sums {
			if s.Failed != 0 {
				t.Fatalf("concurrent run failed: %v", s.Err())
			}
			applied = append(applied, s.Targets[i].Applied...)
		}
		slices.Sort(applied)
		if !slices.Equal(applied, []int64{1, 2}) {
			t.Fatalf("%s: applied across both runs %v, want each migration once", tg.Key, applied)
		}
	}
	su := connect(t, b.db.SuperuserDSN())
	for _, tg := range targets[:4] {
		if v := versions(t, su, tg.Schema); !slices.Equal(v, []int64{1, 2}) {
			t.Fatalf("%s version rows %v", tg.Schema, v)
		}
	}
}

func TestProgressFunc(t *testing.T) {
	b := setup(t)
	var targets []appmigrate.Target
	for _, s := range []string{"t_a", "t_b", "t_c", "t_d", "t_e"} {
		targets = append(targets, target(b.db, s))
	}
	targets = append(targets, appmigrate.Target{Key: "invalid", DSN: b.db.OwnerDSN()}) // no schema
	var calls []appmigrate.Progress
	m := newMigrator(t, appmigrate.Config{Workers: 3, ProgressFunc: func(p appmigrate.Progress) {
		calls = append(calls, p) // calls are serialised
	}})

	sum := m.Up(b.ctx, targets)
	requireSummary(t, sum, 5, 1, 0)
	if len(calls) != len(targets) {
		t.Fatalf("%d progress calls, want %d", len(calls), len(targets))
	}
	seen := map[string]bool{}
	for i, p := range calls {
		if p.Done != i+1 || p.Total != len(targets) || p.Result == nil || p.Result.Target != p.Target {
			t.Fatalf("call %d: %+v", i, p)
		}
		seen[p.Target] = true
	}
	if len(seen) != len(targets) || calls[len(calls)-1].Failed != 1 {
		t.Fatalf("progress saw %d targets, last call %+v", len(seen), calls[len(calls)-1])
	}

	calls = nil
	m.Status(b.ctx, targets)
	if len(calls) != len(targets) || calls[0].Status == nil || calls[len(calls)-1].Done != len(targets) {
		t.Fatalf("status progress: %+v", calls)
	}
}

// A migration may change its session; the next target must not inherit it.
func TestMigrationSessionStateDoesNotLeak(t *testing.T) {
	b := setup(t)
	leaky := fstest.MapFS{"00001_leak.sql": {Data: []byte(`-- +goose Up
CREATE TABLE seen AS SELECT current_schema() AS schema, current_setting('tenantkit.leak', true) AS leak;
SET tenantkit.leak = 'leaked';
-- +goose Down
DROP TABLE seen;
`)}}
	targets := []appmigrate.Target{target(b.db, "t_a"), target(b.db, "t_b"), target(b.db, "t_c")}
	sum := newMigrator(t, appmigrate.Config{Migrations: leaky, Workers: 1}).Up(b.ctx, targets)
	requireSummary(t, sum, 3, 0, 0)
	su := connect(t, b.db.SuperuserDSN())
	for _, tg := range targets {
		var schema string
		var leak *string
		if err := su.QueryRow(b.ctx, "SELECT schema, leak FROM "+tg.Schema+".seen").Scan(&schema, &leak); err != nil {
			t.Fatal(err)
		}
		if schema != tg.Schema {
			t.Fatalf("%s: migration ran with current_schema %q", tg.Schema, schema)
		}
		if leak != nil && *leak != "" {
			t.Fatalf("%s: migration ran with tenantkit.leak = %q, set by another target's migration", tg.Schema, *leak)
		}
	}
}
