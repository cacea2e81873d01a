package rlsaudit_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tenantkit/tenantkit/internal/bootstrap"
	"github.com/tenantkit/tenantkit/internal/rlsaudit"
	"github.com/tenantkit/tenantkit/internal/rlspolicy"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

func TestMain(m *testing.M) { tenantkittest.Main(m) }

// appSchema is a correct application schema: tenant tables with composite
// keys and foreign keys, a partitioned tenant table, a lookup table without
// tenant_id, a security_invoker view and a SECURITY DEFINER function that
// pins search_path.
const appSchema = `
CREATE SCHEMA %[1]s;
CREATE TABLE %[1]s.countries (code text PRIMARY KEY, name text NOT NULL);
CREATE TABLE %[1]s.customers (
	tenant_id uuid NOT NULL,
	id bigint GENERATED ALWAYS AS IDENTITY,
	email text NOT NULL,
	country text REFERENCES %[1]s.countries (code),
	PRIMARY KEY (tenant_id, id),
	UNIQUE (tenant_id, email)
);
CREATE TABLE %[1]s.orders (
	tenant_id uuid NOT NULL,
	id bigint GENERATED ALWAYS AS IDENTITY,
	customer_id bigint NOT NULL,
	placed_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, id),
	FOREIGN KEY (tenant_id, customer_id) REFERENCES %[1]s.customers (tenant_id, id)
);
CREATE INDEX ON %[1]s.orders (tenant_id, customer_id);
CREATE TABLE %[1]s.order_items (
	tenant_id uuid NOT NULL,
	order_id bigint NOT NULL,
	line int NOT NULL,
	sku text NOT NULL,
	quantity int NOT NULL,
	PRIMARY KEY (tenant_id, order_id, line),
	FOREIGN KEY (tenant_id, order_id) REFERENCES %[1]s.orders (tenant_id, id)
);
CREATE TABLE %[1]s.events (
	tenant_id uuid NOT NULL,
	id bigint NOT NULL,
	at timestamptz NOT NULL,
	PRIMARY KEY (tenant_id, id, at)
) PARTITION BY RANGE (at);
CREATE TABLE %[1]s.events_2026 PARTITION OF %[1]s.events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE VIEW %[1]s.order_totals WITH (security_invoker = true) AS
	SELECT tenant_id, order_id, sum(quantity) AS quantity FROM %[1]s.order_items GROUP BY tenant_id, order_id;
CREATE FUNCTION %[1]s.customer_count() RETURNS bigint LANGUAGE sql STABLE SECURITY DEFINER
	SET search_path = %[1]s, pg_temp AS 'SELECT count(*) FROM customers';
`

type bundle struct {
	db     *tenantkittest.Database
	owner  *pgx.Conn // the owner role, which ran the migrations
	target rlsaudit.Target
}

// setup creates a database with a correct schema "app" and returns it as
// a target. The target's DSN sets an empty search_path, so that a query
// that forgets its schema fails.
func setup(t *testing.T) bundle {
	t.Helper()
	db := tenantkittest.NewDatabase(t)
	owner := connect(t, db.OwnerDSN())
	createSchema(t, owner, "app")
	return bundle{db: db, owner: owner, target: rlsaudit.Target{
		Key: "shared-1", DSN: db.OwnerDSN() + "&options=-c%20search_path%3D", Schema: "app"}}
}

func createSchema(t *testing.T, owner *pgx.Conn, schema string) {
	t.Helper()
	ctx := context.Background()
	if _, err := owner.Exec(ctx, fmt.Sprintf(appSchema, pgx.Identifier{schema}.Sanitize())); err != nil {
		t.Fatalf("create schema %s: %v", schema, err)
	}
	if err := rlspolicy.Install(ctx, owner, schema, bootstrap.AppRole); err != nil {
		t.Fatalf("install RLS: %v", err)
	}
}

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func exec(t *testing.T, conn *pgx.Conn, sql string) {
	t.Helper()
	if _, err := conn.Exec(context.Background(), sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func check(t *testing.T, target rlsaudit.Target, opts rlsaudit.Options) []rlsaudit.Violation {
	t.Helper()
	vs, err := rlsaudit.Check(context.Background(), []rlsaudit.Target{target}, opts)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	return vs
}

// throwawayRole creates a role with attrs for one test, dropped when
// it ends. Roles are cluster-wide and tests run in parallel, so the tests
// never change the attributes or memberships of tenantkit's own roles.
func throwawayRole(t *testing.T, db *tenantkittest.Database, attrs string) string {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := "rlsaudit_test_" + hex.EncodeToString(b)
	su := connect(t, db.Server.SuperuserURL("postgres"))
	exec(t, su, "CREATE ROLE "+name+" "+attrs)
	t.Cleanup(func() {
		ctx := context.Background()
		su, err := pgx.Connect(ctx, db.Server.SuperuserURL("postgres"))
		if err != nil {
			t.Errorf("drop role %s: %v", name, err)
			return
		}
		defer su.Close(ctx)
		if _, err := su.Exec(ctx, "DROP ROLE "+name); err != nil {
			t.Errorf("drop role %s: %v", name, err)
		}
	})
	return name
}

func TestCheckCorrectTarget(t *testing.T) {
	t.Parallel()
	b := setup(t)
	// A temporary table of an open session (the owner's: the app role may
	// not create one) is no concern of the audit.
	owner := connect(t, b.db.OwnerDSN())
	exec(t, owner, "CREATE TEMP TABLE scratch (id int)")

	if vs := check(t, b.target, rlsaudit.Options{}); len(vs) != 0 {
		t.Fatalf("violations on a correct target:\n%s", list(vs))
	}
	vs, err := rlsaudit.CheckConn(context.Background(), b.owner, "shared-1", "app", rlsaudit.Options{})
	if err != nil || len(vs) != 0 {
		t.Fatalf("CheckConn = %v, %v; want none", list(vs), err)
	}
}

// TestCheckViolations introduces one violation at a time into a correct
// target, each in a database of its own, and expects exactly it back.
func TestCheckViolations(t *testing.T) {
	t.Parallel()
	type want struct{ schema, object, kind, fix string }
	tests := []struct {
		name string
		// owner and superuser SQL, run in that order
		owner, superuser string
		// role returns Options.AppRole and other role names, $0, $1… in
		// want; nil means the default app role.
		role func(t *testing.T, b bundle) []string
		want []want // object "" means the app role; fix "" means the object
	}{
		{name: "rls not forced", owner: "ALTER TABLE app.orders NO FORCE ROW LEVEL SECURITY",
			want: []want{{"app", "orders", rlsaudit.KindRLSNotForced, "ALTER TABLE app.orders FORCE ROW LEVEL SECURITY;"}}},
		{name: "rls disabled", owner: "ALTER TABLE app.orders DISABLE ROW LEVEL SECURITY",
			want: []want{{"app", "orders", rlsaudit.KindRLSDisabled, "ALTER TABLE app.orders ENABLE ROW LEVEL SECURITY;"}}},
		{name: "rls disabled on a partition", owner: "ALTER TABLE app.events_2026 DISABLE ROW LEVEL SECURITY",
			want: []want{{"app", "events_2026", rlsaudit.KindRLSDisabled, ""}}},
		{name: "policy dropped", owner: "DROP POLICY tenantkit_tenant_isolation ON app.orders",
			want: []want{{"app", "orders", rlsaudit.KindPolicyMissing, "CREATE POLICY tenantkit_tenant_isolation ON app.orders AS RESTRICTIVE"}}},
		{name: "policy permissive", owner: `DROP POLICY tenantkit_tenant_isolation ON app.orders;
			CREATE POLICY tenantkit_tenant_isolation ON app.orders AS PERMISSIVE FOR ALL
				USING ` + rlspolicy.Predicate + ` WITH CHECK ` + rlspolicy.Predicate,
			want: []want{{"app", "orders", rlsaudit.KindPolicyPermissive, ""}}},
		{name: "policy for select only", owner: `DROP POLICY tenantkit_tenant_isolation ON app.orders;
			CREATE POLICY tenantkit_tenant_isolation ON app.orders AS RESTRICTIVE FOR SELECT USING ` + rlspolicy.Predicate,
			want: []want{{"app", "orders", rlsaudit.KindPolicyCommand, ""}}},
		{name: "policy for another role", owner: `DROP POLICY tenantkit_tenant_isolation ON app.orders;
			CREATE POLICY tenantkit_tenant_isolation ON app.orders AS RESTRICTIVE FOR ALL TO tenantkit_owner
				USING ` + rlspolicy.Predicate + ` WITH CHECK ` + rlspolicy.Predicate,
			want: []want{{"app", "orders", rlsaudit.KindPolicyRoles, ""}}},
		{name: "policy expression", owner: `DROP POLICY tenantkit_tenant_isolation ON app.orders;
			CREATE POLICY tenantkit_tenant_isolation ON app.orders AS RESTRICTIVE FOR ALL
				USING (tenant_id IS NOT NULL) WITH CHECK (tenant_id IS NOT NULL)`,
			want: []want{{"app", "orders", rlsaudit.KindPolicyExpression, ""}}},
		{name: "policy check expression", owner: `DROP POLICY tenantkit_tenant_isolation ON app.orders;
			CREATE POLICY tenantkit_tenant_isolation ON app.orders AS RESTRICTIVE FOR ALL
				USING ` + rlspolicy.Predicate + ` WITH CHECK (true)`,
			want: []want{{"app", "orders", rlsaudit.KindPolicyExpression, ""}}},
		{name: "tenant default dropped", owner: "ALTER TABLE app.orders ALTER COLUMN tenant_id DROP DEFAULT",
			want: []want{{"app", "orders", rlsaudit.KindTenantDefault, ""}}},
		{name: "tenant default wrong", owner: "ALTER TABLE app.orders ALTER COLUMN tenant_id SET DEFAULT gen_random_uuid()",
			want: []want{{"app", "orders", rlsaudit.KindTenantDefault, ""}}},
		{name: "truncate granted", owner: "GRANT TRUNCATE ON app.orders TO tenantkit_app",
			want: []want{{"app", "orders", rlsaudit.KindTruncateGranted, "REVOKE TRUNCATE ON app.orders FROM tenantkit_app;"}}},
		{name: "truncate granted to public", owner: "GRANT TRUNCATE ON app.orders TO PUBLIC",
			want: []want{{"app", "orders", rlsaudit.KindTruncateGranted, "REVOKE TRUNCATE ON app.orders FROM PUBLIC;"}}},
		{name: "view without security_invoker", owner: "CREATE VIEW app.all_orders AS SELECT * FROM app.orders",
			want: []want{{"app", "all_orders", rlsaudit.KindViewNotInvoker, "ALTER VIEW app.all_orders SET (security_invoker = true);"}}},
		{name: "view security_invoker off", owner: "ALTER VIEW app.order_totals SET (security_invoker = off)",
			want: []want{{"app", "order_totals", rlsaudit.KindViewNotInvoker, ""}}},
		{name: "security definer without search_path", owner: `CREATE FUNCTION app.order_count(since timestamptz) RETURNS bigint
			LANGUAGE sql STABLE SECURITY DEFINER AS 'SELECT count(*) FROM app.orders WHERE placed_at >= since'`,
			want: []want{{"app", "order_count(since timestamp with time zone)", rlsaudit.KindDefinerSearchPath,
				"ALTER FUNCTION app.order_count(since timestamp with time zone) SET search_path"}}},
		{name: "primary key not led by tenant_id", owner: `ALTER TABLE app.order_items DROP CONSTRAINT order_items_pkey,
			ADD CONSTRAINT order_items_pkey PRIMARY KEY (order_id, line, tenant_id)`,
			want: []want{{"app", "order_items", rlsaudit.KindPrimaryKeyTenant, "PRIMARY KEY (tenant_id, order_id, line)"}}},
		{name: "primary key missing", owner: "ALTER TABLE app.order_items DROP CONSTRAINT order_items_pkey",
			want: []want{{"app", "order_items", rlsaudit.KindPrimaryKeyMissing, ""}}},
		{name: "primary key missing and tenant_id nullable", owner: `ALTER TABLE app.order_items DROP CONSTRAINT order_items_pkey;
			ALTER TABLE app.order_items ALTER COLUMN tenant_id DROP NOT NULL`,
			want: []want{
				{"app", "order_items", rlsaudit.KindPrimaryKeyMissing, ""},
				{"app", "order_items", rlsaudit.KindTenantNullable, "ALTER TABLE app.order_items ALTER COLUMN tenant_id SET NOT NULL;"},
			}},
		{name: "unique constraint not led by tenant_id", owner: "ALTER TABLE app.customers ADD CONSTRAINT customers_email_key UNIQUE (email)",
			want: []want{{"app", "customers", rlsaudit.KindUniqueTenant, "ADD CONSTRAINT customers_email_key UNIQUE (tenant_id, email)"}}},
		{name: "unique index not led by tenant_id", owner: "CREATE UNIQUE INDEX customers_lower_email ON app.customers (lower(email))",
			want: []want{{"app", "customers", rlsaudit.KindUniqueTenant,
				"CREATE UNIQUE INDEX customers_lower_email ON app.customers (tenant_id, lower(email));"}}},
		{name: "app role owns a table", superuser: "ALTER TABLE app.order_items OWNER TO tenantkit_app",
			want: []want{{"app", "order_items", rlsaudit.KindAppRoleOwner, "ALTER TABLE app.order_items OWNER TO tenantkit_owner;"}}},
		{name: "app role owns a schema", superuser: "CREATE SCHEMA extra AUTHORIZATION tenantkit_app",
			want: []want{{"", "extra", rlsaudit.KindAppRoleOwner, "ALTER SCHEMA extra OWNER TO tenantkit_owner;"}}},
		{name: "app role superuser",
			role: func(t *testing.T, b bundle) []string {
				return []string{throwawayRole(t, b.db, "LOGIN SUPERUSER NOBYPASSRLS")}
			},
			want: []want{{"", "", rlsaudit.KindAppRoleSuperuser, ""}}},
		{name: "app role bypassrls",
			role: func(t *testing.T, b bundle) []string {
				return []string{throwawayRole(t, b.db, "LOGIN NOSUPERUSER BYPASSRLS")}
			},
			want: []want{{"", "", rlsaudit.KindAppRoleBypassRLS, ""}}},
		{name: "app role member of the owner",
			role: func(t *testing.T, b bundle) []string {
				role := throwawayRole(t, b.db, "LOGIN NOSUPERUSER NOBYPASSRLS")
				exec(t, connect(t, b.db.SuperuserDSN()), "GRANT tenantkit_owner TO "+role)
				return []string{role}
			},
			want: []want{{"", "tenantkit_owner", rlsaudit.KindAppRoleMember, "REVOKE tenantkit_owner FROM "}}},
		{name: "app role member of a bypassrls role through another",
			role: func(t *testing.T, b bundle) []string {
				bypass := throwawayRole(t, b.db, "NOLOGIN BYPASSRLS")
				group := throwawayRole(t, b.db, "NOLOGIN")
				role := throwawayRole(t, b.db, "LOGIN")
				su := connect(t, b.db.SuperuserDSN())
				exec(t, su, "GRANT "+bypass+" TO "+group)
				exec(t, su, "GRANT "+group+" TO "+role)
				return []string{role, bypass, group}
			},
			want: []want{{"", "$1", rlsaudit.KindAppRoleMember, "REVOKE $2 FROM $0;"}}},
		{name: "temporary granted to public",
			role: func(t *testing.T, b bundle) []string {
				exec(t, connect(t, b.db.SuperuserDSN()), "GRANT TEMPORARY ON DATABASE "+b.db.Name+" TO PUBLIC")
				return []string{"tenantkit_app", b.db.Name}
			},
			want: []want{{"", "$1", rlsaudit.KindTemporaryGranted, "REVOKE TEMPORARY ON DATABASE $1 FROM PUBLIC;"}}},
		{name: "temporary granted to a group of the app role",
			role: func(t *testing.T, b bundle) []string {
				group := throwawayRole(t, b.db, "NOLOGIN")
				role := throwawayRole(t, b.db, "LOGIN")
				su := connect(t, b.db.SuperuserDSN())
				exec(t, su, "GRANT "+group+" TO "+role)
				exec(t, su, "GRANT TEMPORARY ON DATABASE "+b.db.Name+" TO "+group)
				t.Cleanup(func() {
					exec(t, connect(t, b.db.Server.SuperuserURL("postgres")), "REVOKE TEMPORARY ON DATABASE "+b.db.Name+" FROM "+group)
				})
				return []string{role, b.db.Name, group}
			},
			want: []want{{"", "$1", rlsaudit.KindTemporaryGranted, "REVOKE TEMPORARY ON DATABASE $1 FROM $2;"}}},
		{name: "app role missing",
			role: func(t *testing.T, b bundle) []string { return []string{"rlsaudit_test_no_such_role"} },
			want: []want{{"", "", rlsaudit.KindAppRoleMissing, ""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			if tt.owner != "" {
				exec(t, b.owner, tt.owner)
			}
			if tt.superuser != "" {
				exec(t, connect(t, b.db.SuperuserDSN()), tt.superuser)
			}
			var opts rlsaudit.Options
			names := strings.NewReplacer()
			if tt.role != nil {
				roles := tt.role(t, b)
				opts.AppRole = roles[0]
				var pairs []string
				for i, r := range roles {
					pairs = append(pairs, fmt.Sprintf("$%d", i), r)
				}
				names = strings.NewReplacer(pairs...)
			}
			vs := check(t, b.target, opts)
			t.Logf("violations:\n%s", list(vs))
			if len(vs) != len(tt.want) {
				t.Fatalf("got %d violations, want %d:\n%s", len(vs), len(tt.want), list(vs))
			}
			for i, w := range tt.want {
				v := vs[i]
				w.object, w.fix = names.Replace(w.object), names.Replace(w.fix)
				if w.object == "" {
					w.object = opts.AppRole
				}
				if w.fix == "" {
					w.fix = w.object
				}
				if v.Target != b.target.Key || v.Schema != w.schema || v.Object != w.object || v.Kind != w.kind {
					t.Errorf("violation %d = %s/%s/%s/%s, want %s/%s/%s/%s", i, v.Target, v.Schema, v.Object, v.Kind,
						b.target.Key, w.schema, w.object, w.kind)
				}
				if !strings.Contains(v.Fix, w.fix) || !strings.Contains(v.Fix, w.object) {
					t.Errorf("fix %q does not contain %q and %q", v.Fix, w.fix, w.object)
				}
				if v.Detail == "" {
					t.Errorf("violation %d has no detail", i)
				}
			}
		})
	}
}

func TestCheckDatabaseOwner(t *testing.T) {
	t.Parallel()
	b := setup(t)
	exec(t, connect(t, b.db.SuperuserDSN()), "ALTER DATABASE "+b.db.Name+" OWNER TO tenantkit_app")
	vs := check(t, b.target, rlsaudit.Options{})
	if len(vs) != 1 || vs[0].Kind != rlsaudit.KindAppRoleOwner || vs[0].Object != b.db.Name || vs[0].Schema != "" ||
		vs[0].Fix != "ALTER DATABASE "+b.db.Name+" OWNER TO tenantkit_owner;" {
		t.Fatalf("violations:\n%s\nwant the app role owning database %s", list(vs), b.db.Name)
	}
}

// TestCheckFixes applies the fixes the audit proposes and audits again.
func TestCheckFixes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	exec(t, b.owner, `ALTER TABLE app.orders NO FORCE ROW LEVEL SECURITY;
		ALTER TABLE app.customers DISABLE ROW LEVEL SECURITY;
		DROP POLICY tenantkit_tenant_isolation ON app.order_items;
		GRANT TRUNCATE ON app.orders TO tenantkit_app;
		ALTER TABLE app.orders ALTER COLUMN tenant_id DROP DEFAULT;
		ALTER VIEW app.order_totals RESET (security_invoker);
		ALTER FUNCTION app.customer_count() RESET search_path;
		ALTER TABLE app.customers ADD CONSTRAINT customers_email_key UNIQUE (email);`)
	vs := check(t, b.target, rlsaudit.Options{})
	t.Logf("violations:\n%s", list(vs))
	if len(vs) != 8 {
		t.Fatalf("got %d violations, want 8:\n%s", len(vs), list(vs))
	}
	for _, v := range vs {
		exec(t, b.owner, v.Fix)
	}
	if vs := check(t, b.target, rlsaudit.Options{}); len(vs) != 0 {
		t.Fatalf("violations after the fixes:\n%s", list(vs))
	}
}

// TestCheckTargets audits several targets at once: two schemas of one
// database, a dedicated database, a target that cannot be reached and one
// whose schema does not exist.
func TestCheckTargets(t *testing.T) {
	t.Parallel()
	shared := setup(t)
	createSchema(t, shared.owner, "tenant_globex")
	exec(t, shared.owner, "ALTER TABLE tenant_globex.orders NO FORCE ROW LEVEL SECURITY")
	dedicated := setup(t)
	exec(t, dedicated.owner, "GRANT TRUNCATE ON app.customers TO tenantkit_app")
	exec(t, connect(t, shared.db.SuperuserDSN()), "ALTER TABLE app.countries OWNER TO tenantkit_app")

	unreachable := rlsaudit.Target{Key: "down", DSN: "postgres://nobody:secret@127.0.0.1:1/none?connect_timeout=1", Schema: "app"}
	targets := []rlsaudit.Target{
		{Key: "globex", DSN: shared.target.DSN, Schema: "tenant_globex"},
		{Key: "initech", DSN: dedicated.target.DSN, Schema: "app"},
		{Key: "acme", DSN: shared.target.DSN, Schema: "app"},
		unreachable,
		{Key: "typo", DSN: dedicated.target.DSN, Schema: "ap"},
	}
	vs, err := rlsaudit.Check(context.Background(), targets, rlsaudit.Options{Concurrency: 2})
	if err == nil || !strings.Contains(err.Error(), "target down") || strings.Contains(err.Error(), "secret") {
		t.Errorf("error = %v, want one naming target down, without its password", err)
	}
	if !errors.Is(err, rlsaudit.ErrSchemaNotFound) || !strings.Contains(err.Error(), "typo") {
		t.Errorf("error = %v, want ErrSchemaNotFound for target typo", err)
	}
	// The ownership is a fact of the shared database, reported once, under
	// its first target.
	want := []string{
		"acme/app/countries/" + rlsaudit.KindAppRoleOwner,
		"globex/tenant_globex/orders/" + rlsaudit.KindRLSNotForced,
		"initech/app/customers/" + rlsaudit.KindTruncateGranted,
	}
	var got []string
	for _, v := range vs {
		got = append(got, strings.Join([]string{v.Target, v.Schema, v.Object, v.Kind}, "/"))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("violations:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestCheckConnSchemaNotFound(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, err := rlsaudit.CheckConn(context.Background(), b.owner, "x", "nope", rlsaudit.Options{})
	if !errors.Is(err, rlsaudit.ErrSchemaNotFound) {
		t.Fatalf("err = %v, want ErrSchemaNotFound", err)
	}
}

func list(vs []rlsaudit.Violation) string {
	var b strings.Builder
	for _, v := range vs {
		b.WriteString(v.String())
		b.WriteByte('\n')
	}
	return b.String()
}
