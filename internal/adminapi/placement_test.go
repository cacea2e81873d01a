package adminapi_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tenantkit/tenantkit/examples/orders"
	"github.com/tenantkit/tenantkit/internal/adminapi"
	"github.com/tenantkit/tenantkit/internal/bootstrap"
	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/placement"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

// withProvisioner gives the API a Provisioner with the example app's
// migrations.
func withProvisioner(t *testing.T) func(*adminapi.Config) {
	return func(c *adminapi.Config) {
		prov, err := placement.New(placement.Config{Store: c.Store, Migrations: orders.Migrations(), Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		c.Provisioner = prov
	}
}

// addTestCluster registers the test server as cluster c1 with a shared
// database of the test's own, and drops it and every dedicated database of
// the catalog's tenants after the test. It returns the shared database.
func (b *bundle) addTestCluster(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	srv := tenantkittest.Start(t)
	shared := b.pool.Config().ConnConfig.Database + "_shared"
	t.Cleanup(func() { b.dropDatabases(t, srv, shared) })
	if _, err := b.store.AddCluster(ctx, "test", catalog.ClusterParams{Name: "c1", OwnerURL: srv.OwnerURL("postgres"),
		AppURL: srv.AppURL("postgres"), SharedDatabase: shared}); err != nil {
		t.Fatal(err)
	}
	return shared
}

func (b *bundle) dropDatabases(t *testing.T, srv *tenantkittest.Server, shared string) {
	ctx := context.Background()
	names := []string{shared}
	rows, err := b.pool.Query(ctx, "SELECT 'tenant_' || replace(id::text, '-', '') FROM tenantkit.tenants")
	if err == nil {
		more, _ := pgx.CollectRows(rows, pgx.RowTo[string])
		names = append(names, more...)
	}
	conn, err := pgx.Connect(ctx, srv.SuperuserURL("postgres"))
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

// placementState digests the clusters, placements and app targets.
func (b *bundle) placementState(t *testing.T) string {
	t.Helper()
	var s string
	err := b.pool.QueryRow(context.Background(), `SELECT
		coalesce((SELECT string_agg(c::text, '|' ORDER BY c.name) FROM tenantkit.clusters c), '') || '#' ||
		coalesce((SELECT string_agg(p::text, '|' ORDER BY p.tenant_id) FROM tenantkit.placements p), '') || '#' ||
		coalesce((SELECT string_agg(a::text, '|' ORDER BY a.cluster, a.database, a.schema) FROM tenantkit.app_targets a), '')`,
	).Scan(&s)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// changesNothing is writesNothing that also checks the clusters,
// placements and app targets.
func (b *bundle) changesNothing(t *testing.T, what string, fn func()) {
	t.Helper()
	before := b.placementState(t)
	b.writesNothing(t, what, fn)
	if after := b.placementState(t); after != before {
		t.Fatalf("%s: clusters or placements changed from\n%s\nto\n%s", what, before, after)
	}
}

// createdTenant is the body of a 201 to POST /api/v1/tenants.
type createdTenant struct {
	catalog.Tenant
	Placement *catalog.Placement `json:"placement"`
}

const (
	ownerPW = "owner-s3cret"
	appPW   = "app-s3cret"
	replPW  = "repl-s3cret"
)

// clusterBody registers a cluster whose URLs carry passwords, the app
// URL's in its query (where libpq and pgx read it too).
func clusterBody(name, host string) string {
	return fmt.Sprintf(`{"name":%q,"owner_url":"postgres://tenantkit_owner:%s@%s:5432/postgres",`+
		`"app_url":"postgres://tenantkit_app@%s:5432/postgres?password=%s&sslmode=require",`+
		`"replication_url":"postgres://tenantkit_replication:%s@%s/postgres","shared_database":"shared_%s"}`,
		name, ownerPW, host, host, appPW, replPW, host, name)
}

// requireNoPasswords fails if a response shows a password.
func requireNoPasswords(t *testing.T, what, body string, except ...string) {
	t.Helper()
	for _, pw := range []string{ownerPW, appPW, replPW, tenantkittest.Passwords.Owner, tenantkittest.Passwords.App} {
		if slices.Contains(except, pw) {
			continue
		}
		if strings.Contains(body, pw) {
			t.Fatalf("%s shows password %q: %s", what, pw, body)
		}
	}
}

func TestClusters(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()

	list := func() []map[string]string {
		t.Helper()
		w := b.do(t, "GET", "/api/v1/clusters", "")
		requireNoPasswords(t, "GET /api/v1/clusters", w.Body.String())
		return decode[struct {
			Clusters []map[string]string `json:"clusters"`
		}](t, w, http.StatusOK).Clusters
	}
	if cs := list(); len(cs) != 0 {
		t.Fatalf("clusters of a new catalog: %v", cs)
	}

	for _, name := range []string{"c1", "c2"} {
		w := b.do(t, "POST", "/api/v1/clusters", clusterBody(name, "db-"+name+".example"))
		requireNoPasswords(t, "POST /api/v1/clusters", w.Body.String())
		got := decode[map[string]string](t, w, http.StatusCreated)
		want := map[string]string{
			"name":            name,
			"shared_database": "shared_" + name,
			"owner_url":       "postgres://tenantkit_owner:xxxxx@db-" + name + ".example:5432/postgres",
			"app_url":         "postgres://tenantkit_app@db-" + name + ".example:5432/postgres?password=xxxxx&sslmode=require",
			"replication_url": "postgres://tenantkit_replication:xxxxx@db-" + name + ".example/postgres",
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("POST %s:\n got %v\nwant %v", name, got, want)
		}
	}
	if cs := list(); len(cs) != 2 || cs[0]["name"] != "c1" || cs[1]["name"] != "c2" {
		t.Fatalf("clusters: %v", cs)
	}
	// The audit log records the cluster without its passwords either.
	var audit string
	if err := b.pool.QueryRow(ctx, "SELECT string_agg(a::text, '|') FROM tenantkit.audit_log a").Scan(&audit); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(audit, "cluster.add") {
		t.Fatalf("audit log without cluster.add: %s", audit)
	}
	requireNoPasswords(t, "the audit log", audit)

	// Refused, writing nothing.
	b.changesNothing(t, "duplicate", func() {
		wantProblem(t, b.do(t, "POST", "/api/v1/clusters", clusterBody("c1", "elsewhere.example")), http.StatusConflict, "cluster-exists")
	})
	invalid := []struct{ body, field string }{
		{`{"name":"c3","owner_url":"http://u:p@h/postgres","app_url":"postgres://u:p@h/postgres"}`, "owner_url"},
		{`{"name":"c3","owner_url":"postgres://u:p@h/postgres","app_url":"postgres:///postgres"}`, "app_url"},
		{`{"name":"c3","owner_url":"postgres://u:p@h/postgres","app_url":"postgres://u:p@h/postgres","replication_url":"mysql://h"}`, "replication_url"},
		{`{"name":"Bad Name","owner_url":"postgres://u:p@h/postgres","app_url":"postgres://u:p@h/postgres"}`, "name"},
		{`{"name":"c3","owner_url":"postgres://u:p@h/postgres","app_url":"postgres://u:p@h/postgres","shared_database":"x;drop"}`, "shared_database"},
	}
	for _, c := range invalid {
		b.changesNothing(t, c.body, func() {
			w := b.do(t, "POST", "/api/v1/clusters", c.body)
			wantFields(t, w, c.field)
			requireNoPasswords(t, "a refused cluster", w.Body.String())
		})
	}
	for _, body := range []string{`{"name":"c3","password":"x"}`, `[]`, ``} {
		b.changesNothing(t, body, func() {
			wantProblem(t, b.do(t, "POST", "/api/v1/clusters", body), http.StatusBadRequest, "malformed-json")
		})
	}
	b.changesNothing(t, "remove unknown", func() {
		wantProblem(t, b.do(t, "DELETE", "/api/v1/clusters/nosuch", ""), http.StatusNotFound, "cluster-not-found")
	})

	// A cluster holding a tenant stays.
	b.create(t, "acme")
	if _, err := b.store.EnsurePlacement(ctx, "test", "acme", catalog.TierShared, "c2"); err != nil {
		t.Fatal(err)
	}
	b.changesNothing(t, "remove in use", func() {
		wantProblem(t, b.do(t, "DELETE", "/api/v1/clusters/c2", ""), http.StatusConflict, "cluster-in-use")
	})

	w := b.do(t, "DELETE", "/api/v1/clusters/c1", "")
	if w.Code != http.StatusNoContent || w.Body.Len() != 0 {
		t.Fatalf("DELETE c1: %d %s", w.Code, w.Body)
	}
	if cs := list(); len(cs) != 1 || cs[0]["name"] != "c2" {
		t.Fatalf("clusters after removing c1: %v", cs)
	}
	b.changesNothing(t, "remove twice", func() {
		wantProblem(t, b.do(t, "DELETE", "/api/v1/clusters/c1", ""), http.StatusNotFound, "cluster-not-found")
	})
}

func TestCreateTenantPlacesIt(t *testing.T) {
	t.Parallel()
	b := setup(t, withProvisioner(t))
	shared := b.addTestCluster(t)
	for _, c := range []struct{ slug, tier, cluster, wantTier string }{
		{"acme", "shared", "", "shared"},
		{"globex", "schema", "c1", "schema"},
		{"initech", "dedicated", "", "dedicated"},
		{"hooli", "", "", "shared"}, // the free plan's tier
	} {
		body := fmt.Sprintf(`{"slug":%q,"name":"Tenant %s","tier":%q,"cluster":%q}`, c.slug, c.slug, c.tier, c.cluster)
		w := b.do(t, "POST", "/api/v1/tenants", body)
		got := decode[createdTenant](t, w, http.StatusCreated)
		if !strings.Contains(w.Body.String(), `"placement":{`) {
			t.Fatalf("%s: no placement in %s", c.slug, w.Body)
		}
		pl := got.Placement
		if got.Slug != c.slug || pl == nil || pl.Tier != c.wantTier || pl.Cluster != "c1" || pl.State != catalog.PlacementReady || pl.Epoch != 1 {
			t.Fatalf("%s: %s", c.slug, w.Body)
		}
		wantDB, wantSchema, _ := catalog.Location(c.wantTier, got.ID, shared)
		if pl.Database != wantDB || pl.Schema != wantSchema {
			t.Fatalf("%s: placed in %s/%s, want %s/%s", c.slug, pl.Database, pl.Schema, wantDB, wantSchema)
		}
		if loc := w.Header().Get("Location"); loc != "/api/v1/tenants/"+got.ID.String() {
			t.Fatalf("%s: Location %q", c.slug, loc)
		}
		if again := decode[catalog.Placement](t, b.do(t, "GET", "/api/v1/tenants/"+c.slug+"/placement", ""), http.StatusOK); again != *pl {
			t.Fatalf("%s: GET placement %+v, want %+v", c.slug, again, *pl)
		}
	}

	// A placement that cannot be made is refused before the tenant is
	// written.
	for _, c := range []struct{ body, kind string }{
		{`{"slug":"umbrella","name":"Umbrella","tier":"gold"}`, "tier"},
		{`{"slug":"umbrella","name":"Umbrella","cluster":"nosuch"}`, "cluster"},
		{`{"slug":"umbrella","name":"Umbrella","tier":"platinum","cluster":"nosuch"}`, "tier,cluster"},
	} {
		b.changesNothing(t, c.body, func() {
			wantFields(t, b.do(t, "POST", "/api/v1/tenants", c.body), strings.Split(c.kind, ",")...)
		})
	}
	b.changesNothing(t, "slug taken", func() {
		wantProblem(t, b.do(t, "POST", "/api/v1/tenants", `{"slug":"acme","name":"Acme","tier":"dedicated"}`), http.StatusConflict, "slug-taken")
	})
	b.changesNothing(t, "tier not a string", func() {
		wantFields(t, b.do(t, "POST", "/api/v1/tenants", `{"slug":"umbrella","name":"Umbrella","tier":3}`), "tier")
	})
}

func TestCreateTenantWithoutAClusterWritesNothing(t *testing.T) {
	t.Parallel()
	b := setup(t, withProvisioner(t))
	for _, body := range []string{`{"slug":"acme","name":"Acme"}`, `{"slug":"acme","name":"Acme","tier":"schema"}`} {
		b.changesNothing(t, body, func() {
			wantProblem(t, b.do(t, "POST", "/api/v1/tenants", body), http.StatusConflict, "no-cluster")
		})
	}
	if _, err := b.store.CreateTenant(context.Background(), "test", catalog.CreateParams{Slug: "acme", Name: "Acme"}); err != nil {
		t.Fatal(err)
	}
	b.changesNothing(t, "place without a cluster", func() {
		wantProblem(t, b.do(t, "POST", "/api/v1/tenants/acme/placement", `{"tier":"schema"}`), http.StatusConflict, "no-cluster")
	})
}

func TestPlacementNeedsAProvisioner(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, body := range []string{
		`{"slug":"acme","name":"Acme","tier":"shared"}`,
		`{"slug":"acme","name":"Acme","cluster":"c1"}`,
	} {
		b.changesNothing(t, body, func() {
			wantProblem(t, b.do(t, "POST", "/api/v1/tenants", body), http.StatusNotImplemented, "not-implemented")
		})
	}
	w := b.do(t, "POST", "/api/v1/tenants", `{"slug":"acme","name":"Acme"}`)
	if decode[catalog.Tenant](t, w, http.StatusCreated); strings.Contains(w.Body.String(), "placement") {
		t.Fatalf("an API without a Provisioner placed the tenant: %s", w.Body)
	}
	wantProblem(t, b.do(t, "GET", "/api/v1/tenants/acme/placement", ""), http.StatusNotFound, "not-placed")
	for _, rq := range []struct{ method, path, body string }{
		{"POST", "/api/v1/tenants/acme/placement", `{"tier":"schema"}`},
		{"POST", "/api/v1/tenants/acme/placement", ""},
		{"DELETE", "/api/v1/tenants/acme?hard=true", ""},
	} {
		b.changesNothing(t, rq.method+" "+rq.path, func() {
			wantProblem(t, b.do(t, rq.method, rq.path, rq.body), http.StatusNotImplemented, "not-implemented")
		})
	}
}

func TestPlaceTenant(t *testing.T) {
	t.Parallel()
	b := setup(t, withProvisioner(t))
	b.addTestCluster(t)
	ctx := context.Background()
	if _, err := b.store.AddCluster(ctx, "test", catalog.ClusterParams{Name: "c2", OwnerURL: "postgres://u:p@c2.invalid/postgres",
		AppURL: "postgres://u:p@c2.invalid/postgres"}); err != nil {
		t.Fatal(err)
	}
	tn, err := b.store.CreateTenant(ctx, "test", catalog.CreateParams{Slug: "acme", Name: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	b.changesNothing(t, "GET unplaced", func() {
		wantProblem(t, b.do(t, "GET", "/api/v1/tenants/acme/placement", ""), http.StatusNotFound, "not-placed")
	})
	b.changesNothing(t, "GET unknown", func() {
		wantProblem(t, b.do(t, "GET", "/api/v1/tenants/nosuch/placement", ""), http.StatusNotFound, "tenant-not-found")
	})

	pl := decode[catalog.Placement](t, b.do(t, "POST", "/api/v1/tenants/acme/placement", `{"tier":"schema","cluster":"c1"}`), http.StatusOK)
	if pl.Tier != catalog.TierSchema || pl.Cluster != "c1" || pl.State != catalog.PlacementReady || pl.Schema != "t_"+strings.ReplaceAll(tn.ID.String(), "-", "") {
		t.Fatalf("placed %+v", pl)
	}
	// Again, by slug or id, with or without the same tier: nothing changes.
	for _, rq := range []struct{ path, body string }{
		{"/api/v1/tenants/acme/placement", ""},
		{"/api/v1/tenants/acme/placement", `{}`},
		{"/api/v1/tenants/" + tn.ID.String() + "/placement", `{"tier":"schema"}`},
		{"/api/v1/tenants/acme/placement", `{"cluster":"c1"}`},
	} {
		var again catalog.Placement
		b.changesNothing(t, "again "+rq.body, func() {
			again = decode[catalog.Placement](t, b.do(t, "POST", rq.path, rq.body), http.StatusOK)
		})
		if again != pl {
			t.Fatalf("POST %s %s: %+v, want %+v", rq.path, rq.body, again, pl)
		}
	}
	if got := decode[catalog.Placement](t, b.do(t, "GET", "/api/v1/tenants/acme/placement", ""), http.StatusOK); got != pl {
		t.Fatalf("GET placement %+v, want %+v", got, pl)
	}

	// Elsewhere is a move, not a placement.
	for _, body := range []string{`{"tier":"dedicated"}`, `{"tier":"shared","cluster":"c1"}`, `{"cluster":"c2"}`} {
		b.changesNothing(t, body, func() {
			wantProblem(t, b.do(t, "POST", "/api/v1/tenants/acme/placement", body), http.StatusConflict, "already-placed")
		})
	}
	b.changesNothing(t, "unknown tenant", func() {
		wantProblem(t, b.do(t, "POST", "/api/v1/tenants/nosuch/placement", `{"tier":"shared"}`), http.StatusNotFound, "tenant-not-found")
	})
	for _, body := range []string{`{"tier":"shared","epoch":2}`, `{"tier":`, `null`} {
		b.changesNothing(t, body, func() {
			wantProblem(t, b.do(t, "POST", "/api/v1/tenants/acme/placement", body), http.StatusBadRequest, "malformed-json")
		})
	}

	// Unplaced tenants: an unknown tier or cluster is an invalid field.
	if _, err := b.store.CreateTenant(ctx, "test", catalog.CreateParams{Slug: "globex", Name: "Globex"}); err != nil {
		t.Fatal(err)
	}
	b.changesNothing(t, "bad tier", func() {
		wantFields(t, b.do(t, "POST", "/api/v1/tenants/globex/placement", `{"tier":"gold"}`), "tier")
	})
	b.changesNothing(t, "unknown cluster", func() {
		wantFields(t, b.do(t, "POST", "/api/v1/tenants/globex/placement", `{"cluster":"nosuch"}`), "cluster")
	})
	if _, err := b.store.DeleteTenant(ctx, "test", "globex"); err != nil {
		t.Fatal(err)
	}
	b.changesNothing(t, "deleted tenant", func() {
		wantProblem(t, b.do(t, "POST", "/api/v1/tenants/globex/placement", `{"tier":"shared"}`), http.StatusConflict, "tenant-deleted")
	})
}

func TestDeleteTenantHard(t *testing.T) {
	t.Parallel()
	b := setup(t, withProvisioner(t))
	shared := b.addTestCluster(t)
	srv := tenantkittest.Start(t)
	ctx := context.Background()
	pls := map[string]catalog.Placement{}
	for slug, tier := range map[string]string{"acme": "shared", "globex": "schema", "initech": "dedicated"} {
		got := decode[createdTenant](t, b.do(t, "POST", "/api/v1/tenants", fmt.Sprintf(`{"slug":%q,"name":"N","tier":%q}`, slug, tier)), http.StatusCreated)
		pls[slug] = *got.Placement
		conn, err := pgx.Connect(ctx, srv.SuperuserURL(got.Placement.Database))
		if err != nil {
			t.Fatal(err)
		}
		s := pgx.Identifier{got.Placement.Schema}.Sanitize()
		_, err = conn.Exec(ctx, "INSERT INTO "+s+".customers (tenant_id, email, name) VALUES ($1, 'a@x.test', 'A')", got.ID)
		srv.CloseAndWait(t, conn)
		if err != nil {
			t.Fatal(err)
		}
	}
	exists := func(db, sql string, args ...any) bool {
		t.Helper()
		conn, err := pgx.Connect(ctx, srv.SuperuserURL(db))
		if err != nil {
			return false
		}
		defer srv.CloseAndWait(t, conn)
		var ok bool
		if err := conn.QueryRow(ctx, sql, args...).Scan(&ok); err != nil {
			t.Fatal(err)
		}
		return ok
	}

	b.changesNothing(t, "hard delete unknown", func() {
		wantProblem(t, b.do(t, "DELETE", "/api/v1/tenants/nosuch?hard=true", ""), http.StatusNotFound, "tenant-not-found")
	})
	for _, slug := range []string{"acme", "globex", "initech"} {
		got := decode[catalog.Tenant](t, b.do(t, "DELETE", "/api/v1/tenants/"+slug+"?hard=true", ""), http.StatusOK)
		if got.Status != catalog.StatusDeleted {
			t.Fatalf("%s: %+v", slug, got)
		}
		wantProblem(t, b.do(t, "GET", "/api/v1/tenants/"+slug+"/placement", ""), http.StatusNotFound, "not-placed")
		// Again: nothing left to remove.
		decode[catalog.Tenant](t, b.do(t, "DELETE", "/api/v1/tenants/"+slug+"?hard=true", ""), http.StatusOK)
	}
	if exists(shared, "SELECT EXISTS (SELECT 1 FROM app.customers)") {
		t.Error("acme's rows are still in the shared tables")
	}
	if exists(shared, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", pls["globex"].Schema) {
		t.Error("globex's schema is still there")
	}
	if exists("postgres", "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", pls["initech"].Database) {
		t.Error("initech's database is still there")
	}
}

func TestPlacementRoutesNeedTheToken(t *testing.T) {
	t.Parallel()
	b := setup(t, withProvisioner(t))
	b.addTestCluster(t)
	b.create(t, "acme")
	routes := []struct{ method, path, body string }{
		{"GET", "/api/v1/clusters", ""},
		{"POST", "/api/v1/clusters", clusterBody("c9", "db9.example")},
		{"DELETE", "/api/v1/clusters/c1", ""},
		{"GET", "/api/v1/tenants/acme/placement", ""},
		{"POST", "/api/v1/tenants/acme/placement", `{"tier":"dedicated"}`},
		{"POST", "/api/v1/tenants", `{"slug":"globex","name":"Globex","tier":"schema"}`},
		{"DELETE", "/api/v1/tenants/acme?hard=true", ""},
	}
	for _, rt := range routes {
		b.changesNothing(t, rt.method+" "+rt.path, func() {
			w := b.do(t, rt.method, rt.path, rt.body, "Authorization", "Bearer wrong-token-0123456789abcd")
			wantProblem(t, w, http.StatusUnauthorized, "unauthorized")
			if strings.Contains(w.Body.String(), "tenantkit_owner") {
				t.Fatalf("401 shows a cluster: %s", w.Body)
			}
		})
	}
	for _, c := range []struct{ method, path, allow string }{
		{"PUT", "/api/v1/clusters", "GET, POST"},
		{"GET", "/api/v1/clusters/c1", "DELETE"},
		{"DELETE", "/api/v1/tenants/acme/placement", "GET, POST"},
	} {
		b.changesNothing(t, c.method+" "+c.path, func() {
			w := b.do(t, c.method, c.path, "")
			wantProblem(t, w, http.StatusMethodNotAllowed, "method-not-allowed")
			if got := w.Header().Get("Allow"); got != c.allow {
				t.Fatalf("%s %s: Allow %q, want %q", c.method, c.path, got, c.allow)
			}
		})
	}
}
