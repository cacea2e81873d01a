package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantkit/tenantkit"
	"github.com/tenantkit/tenantkit/examples/orders"
	"github.com/tenantkit/tenantkit/internal/appmigrate"
	"github.com/tenantkit/tenantkit/internal/bootstrap"
	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/contract"
	"github.com/tenantkit/tenantkit/internal/server"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

// Fake cluster URLs: clusters add only records them, so the golden output
// does not depend on the test server's port.
const (
	ownerPW = "owner-s3cret"
	appPW   = "app-s3cret"
	replPW  = "repl-s3cret"
	queryPW = "query-s3cret"
)

var clusterSteps = []step{
	{"clusters_list_empty", []string{"clusters", "list"}, exitOK},
	{"clusters_add", []string{"clusters", "add", "c1",
		"--owner-url", "postgres://tenantkit_owner:" + ownerPW + "@db1.example:5432/postgres",
		"--app-url", "postgres://tenantkit_app:" + appPW + "@db1.example:5432/postgres",
		"--replication-url", "postgres://tenantkit_replication:" + replPW + "@db1.example:5432/postgres"}, exitOK},
	{"clusters_add_json", []string{"clusters", "add", "c2", "-o", "json", "--shared-database", "shared_two",
		"--owner-url", "postgresql://tenantkit_owner:" + ownerPW + "@db2.example/postgres?sslmode=require",
		"--app-url", "postgres://tenantkit_app@db2.example/postgres?password=" + queryPW + "&sslmode=require"}, exitOK},
	{"clusters_add_invalid_url", []string{"clusters", "add", "c3",
		"--owner-url", "http://tenantkit_owner:" + ownerPW + "@db3.example/postgres",
		"--app-url", "postgres://tenantkit_app:" + appPW + "@db3.example/postgres"}, exitError},
	{"clusters_add_no_host", []string{"clusters", "add", "c3",
		"--owner-url", "postgres://tenantkit_owner:" + ownerPW + "@db3.example/postgres",
		"--app-url", "postgres:///postgres?password=" + appPW}, exitError},
	{"clusters_add_invalid_name", []string{"clusters", "add", "Bad_Name",
		"--owner-url", "postgres://tenantkit_owner:" + ownerPW + "@db3.example/postgres",
		"--app-url", "postgres://tenantkit_app:" + appPW + "@db3.example/postgres"}, exitError},
	{"clusters_add_duplicate", []string{"clusters", "add", "c1",
		"--owner-url", "postgres://tenantkit_owner:" + ownerPW + "@db9.example/postgres",
		"--app-url", "postgres://tenantkit_app:" + appPW + "@db9.example/postgres"}, exitError},
	{"clusters_add_args", []string{"clusters", "add", "--owner-url", "postgres://db9.example/postgres"}, exitUsage},
	{"clusters_list", []string{"clusters", "list"}, exitOK},
	{"clusters_list_json", []string{"clusters", "list", "-o", "json"}, exitOK},
	{"clusters_remove", []string{"clusters", "remove", "c2"}, exitOK},
	{"clusters_remove_unknown", []string{"clusters", "remove", "c2"}, exitError},
	{"clusters_list_after_remove", []string{"clusters", "list"}, exitOK},
}

func TestClustersGolden(t *testing.T) {
	t.Parallel()
	tg, _ := directTarget(t)
	out := runSteps(t, tg, clusterSteps)
	for i, s := range clusterSteps {
		t.Run(s.name, func(t *testing.T) {
			checkGolden(t, s.name, out[i])
			// The first line is the command, which holds the passwords.
			_, shown, _ := strings.Cut(out[i], "\n")
			for _, pw := range []string{ownerPW, appPW, replPW, queryPW} {
				if strings.Contains(shown, pw) {
					t.Errorf("output shows password %q:\n%s", pw, shown)
				}
			}
		})
	}
}

// platform is a catalog with the test server registered as cluster c1.
type platform struct {
	db     *tenantkittest.Database // the catalog
	shared string                  // c1's shared database
	env    map[string]string       // reaches the catalog directly
}

// newPlatform registers the test server as cluster c1, through the CLI,
// with a shared database of the test's own. Every database the test's
// tenants get is dropped after it.
func newPlatform(t *testing.T) *platform {
	t.Helper()
	tg, db := directTarget(t)
	p := &platform{db: db, shared: db.Name + "_shared", env: tg.env}
	t.Cleanup(func() { p.dropDatabases(t) })
	r := runCLI(t, p.env, "clusters", "add", "c1", "--owner-url", db.Server.OwnerURL("postgres"),
		"--app-url", db.Server.AppURL("postgres"), "--replication-url", db.Server.ReplicationURL("postgres"), "--shared-database", p.shared)
	if r.exit != exitOK {
		t.Fatalf("clusters add c1: %+v", r)
	}
	for _, pw := range []string{tenantkittest.Passwords.Owner, tenantkittest.Passwords.App} {
		if strings.Contains(r.stdout+r.stderr, pw) {
			t.Fatalf("clusters add shows a password:\n%s", r.stdout)
		}
	}
	return p
}

// dropDatabases drops the shared database and the dedicated database any
// tenant of the catalog may have.
func (p *platform) dropDatabases(t *testing.T) {
	ctx := context.Background()
	names := []string{p.shared}
	if conn, err := pgx.Connect(ctx, p.db.OwnerDSN()); err == nil {
		rows, err := conn.Query(ctx, "SELECT 'tenant_' || replace(id::text, '-', '') FROM tenantkit.tenants")
		if err == nil {
			more, _ := pgx.CollectRows(rows, pgx.RowTo[string])
			names = append(names, more...)
		}
		conn.Close(ctx)
	}
	conn, err := pgx.Connect(ctx, p.db.Server.SuperuserURL("postgres"))
	if err != nil {
		t.Logf("drop databases: %v", err)
		return
	}
	defer conn.Close(ctx)
	for _, n := range names {
		if err := bootstrap.DropDatabase(ctx, conn, n); err != nil {
			t.Logf("drop %s: %v", n, err)
		}
	}
}

// tiers are the demo tenants, one per tier.
var tiers = []struct{ slug, name, tier string }{
	{"acme", "Acme", catalog.TierShared},
	{"globex", "Globex", catalog.TierSchema},
	{"initech", "Initech", catalog.TierDedicated},
}

// createOnEveryTier creates the demo tenants directly with the example
// app's migrations and returns their placements by slug.
func (p *platform) createOnEveryTier(t *testing.T) map[string]catalog.Placement {
	t.Helper()
	out := map[string]catalog.Placement{}
	for _, tn := range tiers {
		r := runCLI(t, p.env, "tenants", "create", tn.slug, "--name", tn.name, "--tier", tn.tier, "--migrations", "example")
		if r.exit != exitOK {
			t.Fatalf("create %s on %s: %+v", tn.slug, tn.tier, r)
		}
		if !strings.Contains(r.stdout, "Slug:     "+tn.slug+"\n") {
			t.Errorf("create %s: stdout\n%s", tn.slug, r.stdout)
		}
		pl := p.placement(t, tn.slug)
		want := fmt.Sprintf("placed %s: %s on cluster c1, database %s, schema %s (epoch %d, ready)\n", tn.slug, tn.tier, pl.Database, pl.Schema, pl.Epoch)
		if r.stderr != want {
			t.Errorf("create %s: stderr\n got %q\nwant %q", tn.slug, r.stderr, want)
		}
		out[tn.slug] = pl
	}
	return out
}

// placement reads a tenant's placement from the catalog.
func (p *platform) placement(t *testing.T, slug string) catalog.Placement {
	t.Helper()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, p.db.OwnerDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	s, err := catalog.NewStore(catalog.StoreConfig{Pool: pool})
	if err != nil {
		t.Fatal(err)
	}
	pl, err := s.GetPlacement(ctx, slug)
	if err != nil {
		t.Fatalf("placement of %s: %v", slug, err)
	}
	return pl
}

// key is a placement's migration target key.
func key(pl catalog.Placement) string { return pl.Cluster + "/" + pl.Database + "/" + pl.Schema }

// exec runs sql on database db of the test server as role ("owner" or
// "superuser").
func (p *platform) exec(t *testing.T, role, db, sql string, args ...any) {
	t.Helper()
	dsn := p.db.Server.OwnerURL(db)
	if role == "superuser" {
		dsn = p.db.Server.SuperuserURL(db)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer p.db.Server.CloseAndWait(t, conn)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// count runs a count query as the superuser on database db; -1 when the
// database or the relation is gone.
func (p *platform) count(t *testing.T, db, sql string, args ...any) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, p.db.Server.SuperuserURL(db))
	if err != nil {
		return -1
	}
	defer p.db.Server.CloseAndWait(t, conn)
	var n int
	if err := conn.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
		return -1
	}
	return n
}

// rlsTables counts the app tables with RLS enabled and forced in pl.
func (p *platform) rlsTables(t *testing.T, pl catalog.Placement) int {
	t.Helper()
	return p.count(t, pl.Database, `SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relkind = 'r' AND c.relrowsecurity AND c.relforcerowsecurity`, pl.Schema)
}

func TestTenantsCreatePlacesOnEveryTier(t *testing.T) {
	t.Parallel()
	p := newPlatform(t)
	pls := p.createOnEveryTier(t)
	for _, tn := range tiers {
		pl := pls[tn.slug]
		if pl.Tier != tn.tier || pl.Cluster != "c1" || pl.State != catalog.PlacementReady {
			t.Errorf("%s: placement %+v", tn.slug, pl)
		}
		if n := p.rlsTables(t, pl); n != 3 {
			t.Errorf("%s: %d app tables with forced RLS in %s, want 3", tn.slug, n, key(pl))
		}
	}
	if pls["acme"].Database != p.shared || pls["acme"].Schema != "app" ||
		pls["globex"].Database != p.shared || !strings.HasPrefix(pls["globex"].Schema, "t_") ||
		!strings.HasPrefix(pls["initech"].Database, "tenant_") || pls["initech"].Schema != "app" {
		t.Errorf("placements %+v", pls)
	}

	// Placing again changes nothing, with or without the tier given.
	for _, tn := range tiers {
		want := describePlacement(pls[tn.slug]) + "\n"
		for _, args := range [][]string{{}, {"--tier", tn.tier}, {"--cluster", "c1"}} {
			r := runCLI(t, p.env, append([]string{"tenants", "place", tn.slug, "--migrations", "example"}, args...)...)
			if r.exit != exitOK || r.stdout != want || r.stderr != "" {
				t.Errorf("place %s %v again: %+v, want stdout %q", tn.slug, args, r, want)
			}
		}
		r := runCLI(t, p.env, "tenants", "place", tn.slug, "--migrations", "example", "-o", "json")
		var got catalog.Placement
		if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || r.exit != exitOK || got != pls[tn.slug] {
			t.Errorf("place %s -o json: %+v (%v), want %+v", tn.slug, r, err, pls[tn.slug])
		}
	}

	// Placing elsewhere is a move, not a placement.
	r := runCLI(t, p.env, "tenants", "place", "acme", "--tier", "dedicated", "--migrations", "example")
	requireOneErrorLine(t, r)
	if r.exit != exitError || r.stderr != "tenantkit: the tenant is placed elsewhere already; move it instead\n" {
		t.Errorf("place acme on another tier: %+v", r)
	}
	if got := p.placement(t, "acme"); got != pls["acme"] {
		t.Errorf("refused placement changed acme: %+v", got)
	}

	// A cluster that holds tenants stays.
	r = runCLI(t, p.env, "clusters", "remove", "c1")
	requireOneErrorLine(t, r)
	if r.exit != exitError || r.stderr != "tenantkit: the cluster holds tenants\n" {
		t.Errorf("remove c1: %+v", r)
	}
	if r := runCLI(t, p.env, "clusters", "list"); r.exit != exitOK || !strings.Contains(r.stdout, "\nc1 ") {
		t.Errorf("c1 gone after a refused remove: %+v", r)
	}

	// Placing needs the migrations: a usage error, before anything is
	// written.
	for _, args := range [][]string{
		{"tenants", "create", "hooli", "--name", "Hooli", "--tier", "schema"},
		{"tenants", "create", "hooli", "--name", "Hooli", "--cluster", "c1"},
		{"tenants", "place", "acme"},
		{"tenants", "place", "acme", "--tier", "shared"},
		{"tenants", "delete", "acme", "--hard"},
	} {
		r := runCLI(t, p.env, args...)
		requireOneErrorLine(t, r)
		if r.exit != exitUsage || !strings.Contains(r.stderr, "--migrations") {
			t.Errorf("%s: %+v", shellJoin(args), r)
		}
	}
	if r := runCLI(t, p.env, "tenants", "get", "hooli"); r.exit != exitError || r.stderr != "tenantkit: no such tenant\n" {
		t.Errorf("a refused create left hooli behind: %+v", r)
	}
	if r := runCLI(t, p.env, "tenants", "get", "acme"); r.exit != exitOK || !strings.Contains(r.stdout, "Status:   active\n") {
		t.Errorf("a refused hard delete changed acme: %+v", r)
	}

	// A placement that cannot be made is refused before the tenant is
	// written, as the admin API does.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--tier", "gold"}, "tenantkit: some fields are invalid: tier must be shared, schema or dedicated\n"},
		{[]string{"--cluster", "nosuch"}, "tenantkit: some fields are invalid: cluster no cluster \"nosuch\"\n"},
	} {
		r := runCLI(t, p.env, append([]string{"tenants", "create", "hooli", "--name", "Hooli", "--migrations", "example"}, c.args...)...)
		requireOneErrorLine(t, r)
		if r.exit != exitError || r.stderr != c.want {
			t.Errorf("create hooli %v: %+v, want stderr %q", c.args, r, c.want)
		}
	}
	if r := runCLI(t, p.env, "tenants", "get", "hooli"); r.exit != exitError {
		t.Errorf("a refused create left hooli behind: %+v", r)
	}

	// Without --tier, with the migrations: the plan's tier, placed.
	r = runCLI(t, p.env, "tenants", "create", "hooli", "--name", "Hooli", "--migrations", "example")
	if r.exit != exitOK || !strings.HasPrefix(r.stderr, "placed hooli: shared on cluster c1, database "+p.shared+", schema app (epoch ") {
		t.Errorf("create hooli with the plan's tier: %+v", r)
	}
}

func TestMigrateEveryTarget(t *testing.T) {
	t.Parallel()
	p := newPlatform(t)
	pls := p.createOnEveryTier(t)
	env := map[string]string{"TENANTKIT_DATABASE_URL": p.db.OwnerDSN(), "TENANTKIT_MIGRATIONS": "example"}
	keys := []string{key(pls["acme"]), key(pls["globex"]), key(pls["initech"])}

	// status prints one row per target; rows maps each key to its row.
	status := func(t *testing.T, wantExit int) map[string]string {
		t.Helper()
		r := runCLI(t, env, "migrate", "status")
		if r.exit != wantExit {
			t.Fatalf("migrate status: exit %d, want %d\n%s%s", r.exit, wantExit, r.stdout, r.stderr)
		}
		lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
		if len(lines) != 4 || !strings.HasPrefix(lines[0], "TARGET ") {
			t.Fatalf("migrate status:\n%s", r.stdout)
		}
		rows := map[string]string{}
		for _, l := range lines[1:] {
			k, rest, _ := strings.Cut(l, " ")
			rows[k] = strings.Join(strings.Fields(rest), " ")
		}
		if wantExit == exitOK && r.stderr != "" {
			t.Errorf("migrate status: stderr %q", r.stderr)
		}
		if wantExit != exitOK && strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("migrate status: stderr is not one line: %q", r.stderr)
		}
		return rows
	}
	requireRows := func(t *testing.T, rows map[string]string, want map[string]string) {
		t.Helper()
		for _, k := range keys {
			if rows[k] != want[k] {
				t.Errorf("%s: %q, want %q", k, rows[k], want[k])
			}
		}
	}
	all := func(row string) map[string]string {
		return map[string]string{keys[0]: row, keys[1]: row, keys[2]: row}
	}

	requireRows(t, status(t, exitOK), all("1 1 0 ok"))
	r := runCLI(t, env, "migrate", "status", "-o", "json", "--workers", "2")
	var sts []statusRow
	if err := json.Unmarshal([]byte(r.stdout), &sts); err != nil || r.exit != exitOK || len(sts) != 3 {
		t.Fatalf("migrate status -o json: %+v (%v)", r, err)
	}
	for i, st := range sts {
		if st.Key != keys[i] || st.Current != 1 || st.Latest != 1 || st.Pending != 0 || st.Drift || st.Recorded != 1 || st.Err != "" {
			t.Errorf("status -o json row %d: %+v", i, st)
		}
	}

	r = runCLI(t, env, "migrate", "up")
	if r.exit != exitOK || r.stderr != "" || strings.Count(r.stdout, "up to date") != 4 ||
		!strings.Contains(r.stdout, "3 targets: 0 changed, 3 up to date, 0 failed") {
		t.Fatalf("migrate up with nothing to do: %+v", r)
	}

	// A version the migrations do not know, applied by hand: drift.
	vt := pgx.Identifier{pls["globex"].Schema, appmigrate.VersionTable}.Sanitize()
	p.exec(t, "owner", p.shared, "INSERT INTO "+vt+" (version_id, is_applied) VALUES (99999, true)")
	rows := status(t, exitError)
	if !strings.Contains(rows[keys[1]], "DRIFT") || !strings.Contains(rows[keys[1]], "99999") {
		t.Errorf("drifted target: %q", rows[keys[1]])
	}
	for _, k := range []string{keys[0], keys[2]} {
		if rows[k] != "1 1 0 ok" {
			t.Errorf("%s beside the drifted target: %q", k, rows[k])
		}
	}
	r = runCLI(t, env, "migrate", "up")
	if r.exit != exitError || !strings.Contains(r.stderr, keys[1]) || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("migrate up on a drifted target: %+v", r)
	}
	p.exec(t, "owner", p.shared, "DELETE FROM "+vt+" WHERE version_id = 99999")
	requireRows(t, status(t, exitOK), all("1 1 0 ok"))

	// Down, pending, up again.
	r = runCLI(t, env, "migrate", "down", "--steps", "1")
	if r.exit != exitOK || strings.Count(r.stdout, "applied [1]") != 3 {
		t.Fatalf("migrate down: %+v", r)
	}
	requireRows(t, status(t, exitOK), all("0 1 1 pending"))
	r = runCLI(t, env, "migrate", "up", "-o", "json")
	var sum appmigrate.Summary
	if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil || r.exit != exitOK || sum.Applied != 3 || sum.Failed != 0 {
		t.Fatalf("migrate up -o json: %+v (%v)", r, err)
	}
	requireRows(t, status(t, exitOK), all("1 1 0 ok"))
	for _, pl := range pls {
		if n := p.rlsTables(t, pl); n != 3 {
			t.Errorf("%s: %d tables with forced RLS after down and up, want 3", key(pl), n)
		}
	}

	// One target unreachable: the others are migrated all the same, and
	// the catalog keeps what it knew of the one that failed.
	initech := pgx.Identifier{pls["initech"].Database}.Sanitize()
	reachable := func(ok bool) {
		p.exec(t, "superuser", "postgres", fmt.Sprintf("ALTER DATABASE %s WITH ALLOW_CONNECTIONS %t", initech, ok))
	}
	upWithInitechGone := func(t *testing.T, changed int) {
		t.Helper()
		r := runCLI(t, env, "migrate", "up")
		if r.exit != exitError || !strings.HasPrefix(r.stderr, "tenantkit: 1 of 3 targets failed: "+keys[2]+": ") ||
			strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("migrate up with %s unreachable: %+v", keys[2], r)
		}
		want := fmt.Sprintf("3 targets: %d changed, %d up to date, 1 failed", changed, 2-changed)
		if !strings.Contains(r.stdout, want) || !strings.Contains(r.stdout, keys[2]) || !strings.Contains(r.stdout, "FAILED: ") {
			t.Errorf("migrate up with %s unreachable: stdout\n%s", keys[2], r.stdout)
		}
	}
	if r := runCLI(t, env, "migrate", "down"); r.exit != exitOK {
		t.Fatalf("migrate down: %+v", r)
	}
	reachable(false)
	upWithInitechGone(t, 2)
	rows = status(t, exitError)
	requireRows(t, rows, map[string]string{keys[0]: "1 1 0 ok", keys[1]: "1 1 0 ok", keys[2]: rows[keys[2]]})
	if !strings.Contains(rows[keys[2]], "ERROR: ") {
		t.Errorf("unreachable target: %q", rows[keys[2]])
	}
	reachable(true)
	requireRows(t, status(t, exitOK), map[string]string{keys[0]: "1 1 0 ok", keys[1]: "1 1 0 ok", keys[2]: "0 1 1 pending"})
	if r := runCLI(t, env, "migrate", "up"); r.exit != exitOK {
		t.Fatalf("migrate up: %+v", r)
	}
	reachable(false)
	upWithInitechGone(t, 0)
	reachable(true)
	requireRows(t, status(t, exitOK), all("1 1 0 ok"))

	// Gone for good.
	p.exec(t, "superuser", "postgres", "DROP DATABASE "+initech+" WITH (FORCE)")
	upWithInitechGone(t, 0)
	rows = status(t, exitError)
	if !strings.Contains(rows[keys[2]], "ERROR: ") || rows[keys[0]] != "1 1 0 ok" || rows[keys[1]] != "1 1 0 ok" {
		t.Errorf("status with %s gone: %v", keys[2], rows)
	}
}

func TestRLSCheckEveryTier(t *testing.T) {
	t.Parallel()
	p := newPlatform(t)
	p.createOnEveryTier(t)
	r := runCLI(t, p.env, "rls", "check")
	if r.exit != exitOK || r.stdout != "rls check: 3 targets, no violations\n" || r.stderr != "" {
		t.Fatalf("rls check on three tiers: %+v", r)
	}
	r = runCLI(t, p.env, "rls", "check", "-o", "json")
	if r.exit != exitOK || strings.TrimSpace(r.stdout) != "[]" {
		t.Fatalf("rls check -o json: %+v", r)
	}

	p.exec(t, "owner", p.shared, "ALTER TABLE app.orders NO FORCE ROW LEVEL SECURITY")
	r = runCLI(t, p.env, "rls", "check")
	if r.exit != exitError || r.stderr != "tenantkit: rls check: 1 violations in 3 targets\n" {
		t.Errorf("rls check after NO FORCE: %+v", r)
	}
	want := regexp.MustCompile(`^c1/` + regexp.QuoteMeta(p.shared) + `/app: app\.orders: .+\n  fix: .*ALTER TABLE .*orders.* FORCE ROW LEVEL SECURITY.*\n$`)
	if !want.MatchString(r.stdout) {
		t.Errorf("rls check after NO FORCE: stdout\n%s", r.stdout)
	}
	r = runCLI(t, p.env, "rls", "check", "-o", "json")
	var vs []struct{ Target, Schema, Object, Fix string }
	if err := json.Unmarshal([]byte(r.stdout), &vs); err != nil || r.exit != exitError || len(vs) != 1 ||
		vs[0].Target != "c1/"+p.shared+"/app" || vs[0].Object != "orders" || vs[0].Fix == "" {
		t.Errorf("rls check -o json after NO FORCE: %+v (%v)", r, err)
	}
}

func TestTenantsDeleteHardRemovesTheData(t *testing.T) {
	t.Parallel()
	p := newPlatform(t)
	pls := p.createOnEveryTier(t)
	ids := map[string]string{}
	for _, tn := range tiers {
		r := runCLI(t, p.env, "tenants", "get", tn.slug, "-o", "json")
		var got catalog.Tenant
		if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
			t.Fatal(err)
		}
		ids[tn.slug] = got.ID.String()
		pl := pls[tn.slug]
		s := pgx.Identifier{pl.Schema}.Sanitize()
		p.exec(t, "superuser", pl.Database, "INSERT INTO "+s+".customers (tenant_id, email, name) VALUES ($1, 'a@x.test', 'A'), ($1, 'b@x.test', 'B')", ids[tn.slug])
		p.exec(t, "superuser", pl.Database, "INSERT INTO "+s+".orders (tenant_id, customer_id) SELECT tenant_id, id FROM "+s+".customers WHERE tenant_id = $1", ids[tn.slug])
	}
	// A neighbour in the shared tables.
	const neighbour = "00000000-0000-4000-8000-000000000001"
	p.exec(t, "superuser", p.shared, "INSERT INTO app.customers (tenant_id, email, name) VALUES ($1, 'n@x.test', 'N')", neighbour)

	for _, tn := range tiers {
		pl := pls[tn.slug]
		s := pgx.Identifier{pl.Schema}.Sanitize()
		if n := p.count(t, pl.Database, "SELECT count(*) FROM "+s+".customers WHERE tenant_id = $1", ids[tn.slug]); n != 2 {
			t.Fatalf("%s: %d customers before the delete", tn.slug, n)
		}
		r := runCLI(t, p.env, "tenants", "delete", tn.slug, "--hard", "--migrations", "example")
		if r.exit != exitOK || r.stderr != "" || !strings.Contains(r.stdout, "Status:   deleted\n") {
			t.Fatalf("delete %s --hard: %+v", tn.slug, r)
		}
		if n := p.count(t, pl.Database, "SELECT count(*) FROM "+s+".customers WHERE tenant_id = $1", ids[tn.slug]); n > 0 {
			t.Errorf("%s: %d customers left", tn.slug, n)
		}
		r = runCLI(t, p.env, "tenants", "get", tn.slug)
		if r.exit != exitOK || !strings.Contains(r.stdout, "Status:   deleted\n") {
			t.Errorf("get %s after the delete: %+v", tn.slug, r)
		}
		r = runCLI(t, p.env, "tenants", "place", tn.slug, "--migrations", "example")
		if r.exit != exitError {
			t.Errorf("place %s after the delete: %+v", tn.slug, r)
		}
		// Again: nothing left to remove, and it says so the same way.
		r = runCLI(t, p.env, "tenants", "delete", tn.slug, "--hard", "--migrations", "example")
		if r.exit != exitOK || !strings.Contains(r.stdout, "Status:   deleted\n") {
			t.Errorf("delete %s --hard again: %+v", tn.slug, r)
		}
	}
	if n := p.count(t, p.shared, "SELECT count(*) FROM app.orders"); n != 0 {
		t.Errorf("%d orders left in the shared tables", n)
	}
	if n := p.count(t, p.shared, "SELECT count(*) FROM app.customers WHERE tenant_id = $1", neighbour); n != 1 {
		t.Errorf("the neighbour has %d customers, want 1", n)
	}
	if n := p.count(t, p.shared, "SELECT count(*) FROM pg_namespace WHERE nspname = $1", pls["globex"].Schema); n != 0 {
		t.Errorf("globex's schema is still there")
	}
	if n := p.count(t, "postgres", "SELECT count(*) FROM pg_database WHERE datname = $1", pls["initech"].Database); n != 0 {
		t.Errorf("initech's database is still there")
	}
	// Only the shared target is left to migrate.
	r := runCLI(t, p.env, "migrate", "status", "--migrations", "example")
	if r.exit != exitOK || strings.Count(r.stdout, "\n") != 2 || !strings.Contains(r.stdout, "c1/"+p.shared+"/app ") {
		t.Errorf("migrate status after the deletes: %+v", r)
	}
}

// placingServer serves the admin API, with the example app's migrations,
// on p's catalog.
func placingServer(t *testing.T, p *platform) map[string]string {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), p.db.OwnerDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	log := slog.New(slog.DiscardHandler)
	kit, err := tenantkit.New(tenantkit.Config{Pool: pool, DatabaseURL: p.db.OwnerDSN(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kit.Close)
	srv, err := server.New(server.Config{Pool: pool, Kit: kit, AdminToken: testToken, Logger: log, Migrations: orders.Migrations()})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(contract.Handler(t, srv.Handler()))
	t.Cleanup(ts.Close)
	return map[string]string{"TENANTKIT_SERVER": ts.URL, "TENANTKIT_ADMIN_TOKEN": testToken}
}

var hexIDRE = regexp.MustCompile(`(t|tenant)_[0-9a-f]{32}`)

func TestPlacementThroughServer(t *testing.T) {
	t.Parallel()
	direct, viaHTTP := newPlatform(t), newPlatform(t)
	envs := map[string]map[string]string{
		"direct": {"TENANTKIT_DATABASE_URL": direct.db.OwnerDSN(), "TENANTKIT_MIGRATIONS": "example"},
		"http":   placingServer(t, viaHTTP),
	}
	platforms := map[string]*platform{"direct": direct, "http": viaHTTP}
	steps := []step{
		{"create", []string{"tenants", "create", "globex", "--name", "Globex", "--tier", "schema"}, exitOK},
		{"place", []string{"tenants", "place", "globex"}, exitOK},
		{"place tier", []string{"tenants", "place", "globex", "--tier", "schema", "--cluster", "c1"}, exitOK},
		{"place json", []string{"tenants", "place", "globex", "-o", "json"}, exitOK},
		{"place elsewhere", []string{"tenants", "place", "globex", "--tier", "dedicated"}, exitError},
		{"place unknown", []string{"tenants", "place", "nosuch"}, exitError},
		{"create unknown cluster", []string{"tenants", "create", "hooli", "--name", "Hooli", "--tier", "schema", "--cluster", "nosuch"}, exitError},
	}
	out := map[string][]string{}
	for mode, env := range envs {
		p := platforms[mode]
		n := newNormalizer()
		for _, s := range steps {
			r := runCLI(t, env, s.args...)
			if r.exit != s.exit {
				t.Errorf("%s: %s: exit %d, want %d: %+v", mode, s.name, r.exit, s.exit, r)
			}
			norm := func(s string) string {
				s = strings.ReplaceAll(s, p.shared, "<SHARED>")
				return hexIDRE.ReplaceAllString(n.replace(s), "${1}_<HEX>")
			}
			out[mode] = append(out[mode], transcript(s.args, norm(r.stdout), norm(r.stderr), r.exit))
		}
		pl := p.placement(t, "globex")
		if pl.Tier != catalog.TierSchema || pl.State != catalog.PlacementReady {
			t.Errorf("%s: globex placed %+v", mode, pl)
		}
		if n := p.rlsTables(t, pl); n != 3 {
			t.Errorf("%s: %d tables with forced RLS in globex's schema, want 3", mode, n)
		}
	}
	for i, s := range steps {
		if out["http"][i] != out["direct"][i] {
			t.Errorf("%s: through the server:\n%s\ndirectly:\n%s", s.name, out["http"][i], out["direct"][i])
		}
	}
	if t.Failed() {
		return
	}
	if !strings.Contains(out["direct"][0], "-- stderr --\nplaced globex: schema on cluster c1, database <SHARED>, schema t_<HEX> (epoch ") {
		t.Errorf("create globex:\n%s", out["direct"][0])
	}
}
