package tenantkit_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantkit/tenantkit"
	"github.com/tenantkit/tenantkit/examples/orders"
	"github.com/tenantkit/tenantkit/internal/bootstrap"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

// TestTemporaryTablesAreRefused: the app role may not create temporary
// tables in a tenant database, on any path and any tier.
func TestTemporaryTablesAreRefused(t *testing.T) {
	t.Parallel()
	p := tenantkittest.NewPlatform(t, orders.Migrations())
	for _, tier := range tiers {
		p.Tenant(t, "a-"+tier, tier)
	}
	kit := p.Kit(t, tenantkit.Config{})
	for _, tier := range tiers {
		ctx := p.Scoped(t, kit, "a-"+tier)
		_, err := kit.Exec(ctx, "CREATE TEMP TABLE scratch (x int)")
		if !isCode(err, "42501") {
			t.Fatalf("%s: CREATE TEMP TABLE by Exec: %v, want permission denied", tier, err)
		}
		err = kit.Tx(ctx, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, "CREATE TEMP TABLE scratch (x int) ON COMMIT DROP")
			return err
		})
		if !isCode(err, "42501") {
			t.Fatalf("%s: CREATE TEMP TABLE in Tx: %v, want permission denied", tier, err)
		}
	}
}

func isCode(err error, code string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == code
}

// sessionView is what a scoped transaction can see of the session it runs
// on, beyond its own tenant's tables.
type sessionView struct {
	customers                         int64  // rows "customers" names: the tenant's, unless shadowed
	tempCustomers                     bool   // pg_temp.customers exists
	statementTimeout, secret, workMem string // settings tenant A set for the session
	cursors, sqlPrepared, locks       int64
	channels                          int64
}

const sessionViewSQL = `SELECT (SELECT count(*) FROM customers),
	to_regclass('pg_temp.customers') IS NOT NULL,
	current_setting('statement_timeout'), coalesce(current_setting('app.secret', true), ''), current_setting('work_mem'),
	(SELECT count(*) FROM pg_cursors WHERE is_holdable),
	(SELECT count(*) FROM pg_prepared_statements WHERE from_sql),
	(SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND mode = 'ExclusiveLock'),
	(SELECT count(*) FROM pg_listening_channels())`

func viewSession(ctx context.Context, row pgx.Row) (sessionView, error) {
	var v sessionView
	err := row.Scan(&v.customers, &v.tempCustomers, &v.statementTimeout, &v.secret, &v.workMem,
		&v.cursors, &v.sqlPrepared, &v.locks, &v.channels)
	return v, err
}

// TestNoSessionStateCrossesTenants: tenant A leaves everything a session
// can hold on the one pooled connection — a temporary table named like a
// tenant table and filled (TEMPORARY granted back, as on a database
// provisioned by an earlier release), session settings made by SET and by
// set_config, a cursor WITH HOLD, an SQL-level prepared statement, a
// session advisory lock, a LISTEN. Tenant B, next on that very connection,
// meets none of it on any path, and A's own statements are not shadowed by
// A's temporary table.
func TestNoSessionStateCrossesTenants(t *testing.T) {
	t.Parallel()
	p := tenantkittest.NewPlatform(t, orders.Migrations())
	acmeID := p.Tenant(t, "acme", "shared")
	p.Tenant(t, "globex", "shared")
	super, err := pgx.Connect(context.Background(), p.Catalog.Server.SuperuserURL(p.SharedDatabase))
	if err != nil {
		t.Fatal(err)
	}
	_, err = super.Exec(context.Background(), "GRANT TEMPORARY ON DATABASE "+pgx.Identifier{p.SharedDatabase}.Sanitize()+
		" TO "+pgx.Identifier{bootstrap.AppRole}.Sanitize())
	p.Catalog.Server.CloseAndWait(t, super)
	if err != nil {
		t.Fatal(err)
	}
	seeder := p.Kit(t, tenantkit.Config{})
	seed(t, seeder, p.Scoped(t, seeder, "acme"), "x@acme.test")
	seed(t, seeder, p.Scoped(t, seeder, "globex"), "y@globex.test")
	for _, mode := range []string{"bound", "prepared", "unprepared", "pooled", "pooler-resets"} {
		// Without a pooler, a session is the tenant's until another
		// tenant gets the connection.
		keeps := mode == "bound" || mode == "prepared"
		logs := &tenantkittest.SyncBuffer{}
		kit := kitIn(t, p, mode, tenantkit.Config{ConnBudget: 1, PoolSize: 1, Logger: slog.New(slog.NewTextHandler(logs, nil))})
		a, b := p.Scoped(t, kit, "acme"), p.Scoped(t, kit, "globex")
		var pid [2]int
		err := kit.Tx(a, func(tx pgx.Tx) error {
			for _, q := range []string{
				"CREATE TEMP TABLE customers (id int, email text) ON COMMIT PRESERVE ROWS",
				"INSERT INTO pg_temp.customers SELECT g, 'leak' || g FROM generate_series(1, 5) g",
				"SET statement_timeout = '4321ms'",
				"SELECT set_config('app.secret', 'acme-secret', false)",
				"DECLARE held CURSOR WITH HOLD FOR SELECT email FROM app.customers",
				"PREPARE leaked AS SELECT email FROM app.customers",
				"SELECT pg_advisory_lock(4242)",
				"LISTEN acme_events",
			} {
				if _, err := tx.Exec(a, q); err != nil {
					return err
				}
			}
			return tx.QueryRow(a, "SELECT pg_backend_pid()").Scan(&pid[0])
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, bound := p.Bindings(t, acmeID)[pid[0]]; bound != (mode == "bound") {
			t.Fatalf("%s: tenant A's connection holds its binding: %v", mode, bound)
		}
		if _, err := kit.Exec(a, "SET work_mem = '7MB'"); err != nil {
			t.Fatal(err)
		}
		// A's own unqualified names still mean A's tables.
		own, err := viewSession(a, kit.QueryRow(a, sessionViewSQL))
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case own.customers != 1:
			t.Fatalf("%s: tenant A's own table is shadowed by its temporary table: %+v", mode, own)
		case keeps && (!own.tempCustomers || own.statementTimeout != "4321ms"):
			// A's session is A's until another tenant gets the connection.
			t.Fatalf("%s: tenant A's session state did not hold: %+v", mode, own)
		case !keeps && (own.tempCustomers || own.statementTimeout != "0"):
			// Behind a pooler every transaction meets a reset session.
			t.Fatalf("%s: the session was not reset: %+v", mode, own)
		}
		views := map[string]func() (sessionView, error){
			"QueryRow": func() (sessionView, error) { return viewSession(b, kit.QueryRow(b, sessionViewSQL)) },
			"Tx": func() (v sessionView, err error) {
				err = kit.Tx(b, func(tx pgx.Tx) error {
					v, err = viewSession(b, tx.QueryRow(b, sessionViewSQL))
					if err == nil {
						err = tx.QueryRow(b, "SELECT pg_backend_pid()").Scan(&pid[1])
					}
					return err
				})
				return v, err
			},
		}
		for _, path := range []string{"Tx", "QueryRow"} {
			// A again, then B: each path meets a connection A used last.
			if _, err := kit.Exec(a, "SET work_mem = '7MB'"); err != nil {
				t.Fatal(err)
			}
			got, err := views[path]()
			if err != nil {
				t.Fatalf("%s: tenant B by %s: %v", mode, path, err)
			}
			// A LISTEN ends when the transaction that resets the session
			// commits; it is checked after the loop.
			want := sessionView{customers: 1, statementTimeout: "0", workMem: got.workMem, channels: got.channels}
			if got != want || got.workMem == "7MB" {
				t.Fatalf("%s: tenant B by %s, after tenant A on the same connection, met %+v", mode, path, got)
			}
		}
		after, err := viewSession(b, kit.QueryRow(b, sessionViewSQL))
		if err != nil || after.channels != 0 {
			t.Fatalf("%s: tenant B's connection still listens on tenant A's channels: %+v, %v", mode, after, err)
		}
		if pid[0] != pid[1] {
			t.Fatalf("%s: the tenants ran on different connections (%d, %d): the test proves nothing", mode, pid[0], pid[1])
		}
		var n int64
		if err := kit.QueryRow(b, "SELECT count(*) FROM pg_temp.customers").Scan(&n); err == nil || !strings.Contains(err.Error(), "does not exist") {
			t.Fatalf("%s: tenant B read tenant A's temporary table: %d rows, %v", mode, n, err)
		}
		// Behind a pooler shown to reset sessions the setup leaves no
		// session mark (it has nothing to reset); behind one that does not
		// (or none at all, "unprepared") every transaction marks its session
		// and resets a marked one, and the Kit warns.
		var mark string
		if err := kit.QueryRow(b, "SELECT coalesce(current_setting('tenantkit.pooled', true), '')").Scan(&mark); err != nil {
			t.Fatal(err)
		}
		marks := mode == "pooled" || mode == "unprepared"
		if want := map[bool]string{true: "t"}[marks]; mark != want {
			t.Fatalf("%s: the session mark inside a scoped statement is %q, want %q", mode, mark, want)
		}
		if warned := strings.Contains(logs.String(), "does not reset server sessions"); warned != marks {
			t.Fatalf("%s: warned that the pooler does not reset sessions: %v, want %v\n%s", mode, warned, marks, logs.String())
		}
	}
}

// TestSessionShapeLeftByATenantDoesNotReachTheNext: tenant A makes every
// later transaction on its connection read-only and SERIALIZABLE, at
// session level. Those settings shape the next transaction before any
// reset inside it can run, and a failed transaction would undo its reset:
// the connection would refuse tenant B's writes forever. B's work on every
// path instead succeeds at the role's own defaults, on another connection.
func TestSessionShapeLeftByATenantDoesNotReachTheNext(t *testing.T) {
	t.Parallel()
	p := acmeAndGlobex(t)
	inBothModes(t, func(t *testing.T, mode string) { sessionShape(t, p, mode) })
}

func sessionShape(t *testing.T, p *tenantkittest.Platform, mode string) {
	kit := kitIn(t, p, mode, tenantkit.Config{ConnBudget: 1, PoolSize: 1})
	a, b := p.Scoped(t, kit, "acme"), p.Scoped(t, kit, "globex")
	poison := func() {
		t.Helper()
		for _, q := range []string{"SET default_transaction_read_only = on", "SET default_transaction_isolation = 'serializable'"} {
			if _, err := kit.Exec(a, q); err != nil {
				t.Fatal(err)
			}
		}
	}
	writes := map[string]func(email string) error{
		"Exec": func(email string) error {
			_, err := kit.Exec(b, "INSERT INTO customers (email, name) VALUES ($1, 'B')", email)
			return err
		},
		"QueryRow": func(email string) error {
			var id int64
			return kit.QueryRow(b, "INSERT INTO customers (email, name) VALUES ($1, 'B') RETURNING id", email).Scan(&id)
		},
		"Tx": func(email string) error {
			return kit.Tx(b, func(tx pgx.Tx) error {
				var iso string
				if err := tx.QueryRow(b, "SELECT current_setting('transaction_isolation')").Scan(&iso); err != nil {
					return err
				}
				if iso != "read committed" {
					return errors.New("tenant B's transaction runs at " + iso)
				}
				_, err := tx.Exec(b, "INSERT INTO customers (email, name) VALUES ($1, 'B')", email)
				return err
			})
		},
	}
	for i, path := range []string{"Exec", "QueryRow", "Tx", "Exec"} {
		poison()
		if err := writes[path](fmt.Sprintf("%s-%s-%d@globex.test", mode, path, i)); err != nil {
			t.Fatalf("tenant B's write by %s after tenant A's session settings: %v", path, err)
		}
	}
	// A chose its settings for its own session: they hold for A.
	poison()
	if _, err := kit.Exec(a, "INSERT INTO customers (email, name) VALUES ('a-"+mode+"@acme.test', 'A')"); !isCode(err, "25006") {
		t.Fatalf("tenant A's write in its own read-only session: %v, want read_only_sql_transaction", err)
	}
}

// TestFailedTransactionResetsAgain: the reset runs inside the next
// tenant's transaction, so when that transaction fails the reset is rolled
// back with it and tenant A's session settings are back on the connection.
// Tenant B's next use of that connection — the same tenant now — must
// reset again, not take the connection for its own.
func TestFailedTransactionResetsAgain(t *testing.T) {
	t.Parallel()
	p := acmeAndGlobex(t)
	inBothModes(t, func(t *testing.T, mode string) { failedResets(t, p, mode) })
}

func failedResets(t *testing.T, p *tenantkittest.Platform, mode string) {
	kit := kitIn(t, p, mode, tenantkit.Config{ConnBudget: 1, PoolSize: 1})
	a, b := p.Scoped(t, kit, "acme"), p.Scoped(t, kit, "globex")
	if _, err := kit.Exec(a, "SELECT set_config('app.secret', 'acme-secret', false)"); err != nil {
		t.Fatal(err)
	}
	// B's first statement fails after the reset inside it ran.
	if _, err := kit.Exec(b, "SELECT 1 / 0"); !isCode(err, "22012") {
		t.Fatalf("tenant B's failing statement: %v, want division_by_zero", err)
	}
	for _, path := range []string{"QueryRow", "Tx"} {
		var secret string
		var err error
		if path == "QueryRow" {
			err = kit.QueryRow(b, "SELECT coalesce(current_setting('app.secret', true), '')").Scan(&secret)
		} else {
			err = kit.Tx(b, func(tx pgx.Tx) error {
				return tx.QueryRow(b, "SELECT coalesce(current_setting('app.secret', true), '')").Scan(&secret)
			})
		}
		if err != nil || secret != "" {
			t.Fatalf("tenant B by %s after its failed statement read %q (%v): tenant A's setting came back with the rollback", path, secret, err)
		}
	}
}

// kitIn returns a Kit of p whose pooled connections, by mode, stay bound
// to their tenant ("bound": a listening Kit), set the tenant up per
// transaction ("prepared"), do so unprepared, as behind PgBouncer before
// 1.21 ("unprepared"), or go through a real PgBouncer in transaction mode
// with one server connection, which resets nothing ("pooled") or runs
// DISCARD ALL after every transaction ("pooler-resets").
func kitIn(t *testing.T, p *tenantkittest.Platform, mode string, cfg tenantkit.Config) *tenantkit.Kit {
	t.Helper()
	switch mode {
	case "bound":
		return p.ListeningKit(t, cfg)
	case "unprepared":
		cfg.DisablePreparedStatements = true
	case "pooled", "pooler-resets":
		opts := []tenantkittest.PgBouncerOption{tenantkittest.WithPoolSize(1)}
		if mode == "pooler-resets" {
			opts = append(opts, tenantkittest.WithResetQuery("DISCARD ALL"))
		}
		bouncer := tenantkittest.StartPgBouncer(t, p.Catalog.Addr(), opts...)
		cfg.TransactionPooler = true
		cfg.PoolConfigFunc = func(c *pgxpool.Config) {
			c.ConnConfig.Host, c.ConnConfig.Port = "127.0.0.1", uint16(bouncer.Port())
		}
	}
	return p.Kit(t, cfg)
}

// acmeAndGlobex is a platform with two shared-tier tenants.
func acmeAndGlobex(t *testing.T) *tenantkittest.Platform {
	t.Helper()
	p := tenantkittest.NewPlatform(t, orders.Migrations())
	p.Tenant(t, "acme", "shared")
	p.Tenant(t, "globex", "shared")
	return p
}

// inBothModes runs fn as a subtest on bound connections and on
// connections set up per transaction (see kitIn).
func inBothModes(t *testing.T, fn func(t *testing.T, mode string)) {
	for _, mode := range []string{"bound", "prepared"} {
		t.Run(mode, func(t *testing.T) { fn(t, mode) })
	}
}

// TestSearchPathFoundInPlace: where the app role's default search_path in
// the shared database names the shared schema (then pg_temp), the setup
// leaves it alone instead of setting it. Unqualified names still resolve
// in each tenant's own schema whichever tenant used the connection last —
// a schema-tier tenant in the same database, whose path differs, gets its
// own — and a temporary table named like a tenant table shadows nothing.
// Per transaction on the Kit's own pool and behind a PgBouncer that
// resets, on one connection.
func TestSearchPathFoundInPlace(t *testing.T) {
	t.Parallel()
	p := tenantkittest.NewPlatform(t, orders.Migrations())
	p.Tenant(t, "acme", "shared")
	p.Tenant(t, "globex", "shared")
	p.Tenant(t, "initech", "schema")
	shared := p.Placement(t, "acme").Schema
	super, err := pgx.Connect(context.Background(), p.Catalog.Server.SuperuserURL(p.SharedDatabase))
	if err != nil {
		t.Fatal(err)
	}
	app, db := pgx.Identifier{bootstrap.AppRole}.Sanitize(), pgx.Identifier{p.SharedDatabase}.Sanitize()
	_, err = super.Exec(context.Background(), "GRANT TEMPORARY ON DATABASE "+db+" TO "+app+"; "+
		"ALTER ROLE "+app+" IN DATABASE "+db+" SET search_path = "+pgx.Identifier{shared}.Sanitize()+", pg_temp")
	p.Catalog.Server.CloseAndWait(t, super)
	if err != nil {
		t.Fatal(err)
	}
	// The default reads as the setup writes the path, so the setup finds
	// it in place (internal/scope: searchPath).
	appConn, err := pgx.Connect(context.Background(), p.Catalog.Server.AppURL(p.SharedDatabase))
	if err != nil {
		t.Fatal(err)
	}
	var path string
	err = appConn.QueryRow(context.Background(), "SELECT current_setting('search_path')").Scan(&path)
	p.Catalog.Server.CloseAndWait(t, appConn)
	if err != nil || path != shared+", pg_temp" {
		t.Fatalf("the app role's search_path in the shared database reads %q (%v), want %q", path, err, shared+", pg_temp")
	}
	seeder := p.Kit(t, tenantkit.Config{})
	seed(t, seeder, p.Scoped(t, seeder, "acme"), "x@acme.test")
	for _, email := range []string{"y@globex.test", "z@globex.test"} {
		seed(t, seeder, p.Scoped(t, seeder, "globex"), email)
	}
	for _, email := range []string{"1@initech.test", "2@initech.test", "3@initech.test"} {
		seed(t, seeder, p.Scoped(t, seeder, "initech"), email)
	}
	want := map[string]int64{"acme": 1, "globex": 2, "initech": 3}
	for _, mode := range []string{"prepared", "pooler-resets"} {
		kit := kitIn(t, p, mode, tenantkit.Config{ConnBudget: 1, PoolSize: 1})
		// acme's temporary table, named like its tenant table, stays on
		// its own session (the Kit's pool; a resetting pooler drops it).
		err := kit.Tx(p.Scoped(t, kit, "acme"), func(tx pgx.Tx) error {
			if _, err := tx.Exec(context.Background(), "CREATE TEMP TABLE customers (id int) ON COMMIT PRESERVE ROWS"); err != nil {
				return err
			}
			_, err := tx.Exec(context.Background(), "INSERT INTO pg_temp.customers SELECT generate_series(1, 50)")
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, slug := range []string{"acme", "acme", "initech", "acme", "globex", "initech", "initech", "globex", "acme"} {
			ctx := p.Scoped(t, kit, slug)
			var n int64
			if err := kit.QueryRow(ctx, "SELECT count(*) FROM customers").Scan(&n); err != nil || n != want[slug] {
				t.Fatalf("%s: %s's statement counted %d customers, %v; want %d", mode, slug, n, err, want[slug])
			}
			err := kit.Tx(ctx, func(tx pgx.Tx) error { return tx.QueryRow(ctx, "SELECT count(*) FROM customers").Scan(&n) })
			if err != nil || n != want[slug] {
				t.Fatalf("%s: %s's transaction counted %d customers, %v; want %d", mode, slug, n, err, want[slug])
			}
		}
	}
}
