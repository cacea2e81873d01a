package tenantkittest

import (
	"context"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantkit/tenantkit"
	"github.com/tenantkit/tenantkit/internal/bootstrap"
	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/placement"
)

// Platform is a catalog with the test server registered as a cluster, ready
// to place tenants on every tier with an application's migrations.
type Platform struct {
	// Catalog is the catalog's database.
	Catalog *Database
	// Cluster is the name the test server is registered under.
	Cluster string
	// SharedDatabase holds the shared tier and the tenant schemas.
	SharedDatabase string

	store *catalog.Store
	prov  *placement.Provisioner
	extra []string // shared databases of added clusters
}

// NewPlatform migrates a catalog, registers the test server as cluster
// "test" with a shared database of the test's own, and prepares to place
// tenants with migrations. Every database it creates is dropped after the
// test.
func NewPlatform(tb testing.TB, migrations fs.FS) *Platform {
	tb.Helper()
	ctx := context.Background()
	db := NewCatalog(tb)
	pool, err := pgxpool.New(ctx, db.OwnerDSN())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pool.Close)
	store, err := catalog.NewStore(catalog.StoreConfig{Pool: pool})
	if err != nil {
		tb.Fatal(err)
	}
	p := &Platform{Catalog: db, Cluster: "test", SharedDatabase: db.Name + "_shared", store: store}
	if _, err := store.AddCluster(ctx, "tenantkittest", catalog.ClusterParams{
		Name: p.Cluster, OwnerURL: db.Server.OwnerURL("postgres"), AppURL: db.Server.AppURL("postgres"),
		ReplicationURL: db.Server.ReplicationURL("postgres"), SharedDatabase: p.SharedDatabase,
	}); err != nil {
		tb.Fatal(err)
	}
	if p.prov, err = placement.New(placement.Config{Store: store, Migrations: migrations}); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { p.dropDatabases(tb) })
	return p
}

// Tenant creates a tenant with slug on tier ("shared", "schema" or
// "dedicated") and provisions its placement. It returns the tenant's id.
func (p *Platform) Tenant(tb testing.TB, slug, tier string) uuid.UUID {
	tb.Helper()
	ctx := context.Background()
	t, err := p.store.CreateTenant(ctx, "tenantkittest", catalog.CreateParams{Slug: slug, Name: slug})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := p.prov.Provision(ctx, "tenantkittest", slug, tier, p.Cluster); err != nil {
		tb.Fatal(err)
	}
	return t.ID
}

// Store is the platform's catalog store.
func (p *Platform) Store() *catalog.Store { return p.store }

// AddCluster registers the test server once more, as another cluster
// called name with a shared database of its own, for tests that move
// tenants between clusters. It returns the shared database's name.
func (p *Platform) AddCluster(tb testing.TB, name string) string {
	tb.Helper()
	shared := p.SharedDatabase + "_" + name
	if _, err := p.store.AddCluster(context.Background(), "tenantkittest", catalog.ClusterParams{
		Name: name, OwnerURL: p.Catalog.Server.OwnerURL("postgres"), AppURL: p.Catalog.Server.AppURL("postgres"),
		ReplicationURL: p.Catalog.Server.ReplicationURL("postgres"), SharedDatabase: shared,
	}); err != nil {
		tb.Fatal(err)
	}
	p.extra = append(p.extra, shared)
	return shared
}

// Kit returns a Kit on the platform's catalog, closed after the test.
// cfg.DatabaseURL and cfg.Pool are filled in.
func (p *Platform) Kit(tb testing.TB, cfg tenantkit.Config) *tenantkit.Kit {
	tb.Helper()
	cfg.DatabaseURL, cfg.Pool = p.Catalog.OwnerDSN(), nil
	kit, err := tenantkit.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(kit.Close)
	return kit
}

// ListeningKit is Kit, started: it listens for catalog changes until the
// test ends, and is listening when ListeningKit returns. Only a listening
// Kit keeps its pooled connections bound to their tenants.
func (p *Platform) ListeningKit(tb testing.TB, cfg tenantkit.Config) *tenantkit.Kit {
	tb.Helper()
	kit := p.Kit(tb, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = kit.Start(ctx) }()
	tb.Cleanup(func() { cancel(); <-done })
	for deadline := time.Now().Add(15 * time.Second); !kit.Listening(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			tb.Fatal("tenantkittest: the Kit is not listening after 15s")
		}
	}
	return kit
}

// Bindings returns the server processes of the shared database that hold
// the tenant's binding — its shared advisory lock, granted, at session
// level or inside a transaction — each with its pg_stat_activity state.
func (p *Platform) Bindings(tb testing.TB, tenant uuid.UUID) map[int]string {
	tb.Helper()
	ctx := context.Background()
	super, err := pgx.Connect(ctx, p.Catalog.Server.SuperuserURL(p.SharedDatabase))
	if err != nil {
		tb.Fatal(err)
	}
	defer p.Catalog.Server.CloseAndWait(tb, super)
	rows, err := super.Query(ctx, `WITH k AS (SELECT hashtextextended($1::text, 0) AS key)
		SELECT l.pid, coalesce(a.state, '') FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid, k
		WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND l.granted AND l.mode = 'ShareLock'
		  AND l.classid = ((k.key >> 32) & 4294967295)::oid AND l.objid = (k.key & 4294967295)::oid
		  AND a.datname = current_database()`, tenant.String())
	if err != nil {
		tb.Fatal(err)
	}
	out := map[int]string{}
	var pid int
	var state string
	_, err = pgx.ForEachRow(rows, []any{&pid, &state}, func() error { out[pid] = state; return nil })
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// Scoped returns a context carrying the tenant slug, loaded through kit,
// as Kit.Middleware would hand it to a handler.
func (p *Platform) Scoped(tb testing.TB, kit *tenantkit.Kit, slug string) context.Context {
	tb.Helper()
	t, err := kit.Lookup(context.Background(), slug)
	if err != nil {
		tb.Fatal(err)
	}
	return tenantkit.WithTenant(context.Background(), t)
}

// Placement returns where a tenant lives.
func (p *Platform) Placement(tb testing.TB, slug string) catalog.Placement {
	tb.Helper()
	pl, err := p.store.GetPlacement(context.Background(), slug)
	if err != nil {
		tb.Fatal(err)
	}
	return pl
}

// OwnerDSN connects to database db on the test server as the owner role.
func (p *Platform) OwnerDSN(db string) string { return p.Catalog.Server.OwnerURL(db) }

// AppDSN connects to database db on the test server as the app role.
func (p *Platform) AppDSN(db string) string { return p.Catalog.Server.AppURL(db) }

func (p *Platform) dropDatabases(tb testing.TB) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, p.Catalog.Server.SuperuserURL("postgres"))
	if err != nil {
		tb.Logf("tenantkittest: drop platform databases: %v", err)
		return
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT datname FROM pg_database WHERE datname = $1 OR datname IN (
		SELECT unnest($2::text[]))`, p.SharedDatabase, append(p.dedicated(ctx), p.extra...))
	if err != nil {
		tb.Logf("tenantkittest: list platform databases: %v", err)
		return
	}
	names, _ := pgx.CollectRows(rows, pgx.RowTo[string])
	for _, n := range names {
		if err := bootstrap.DropDatabase(ctx, conn, n); err != nil {
			tb.Logf("tenantkittest: drop %s: %v", n, err)
		}
	}
}

func (p *Platform) dedicated(ctx context.Context) []string {
	rows, err := p.store.ListPlacements(ctx)
	if err != nil {
		return nil
	}
	var out []string
	for _, r := range rows {
		if strings.HasPrefix(r.Database, "tenant_") {
			out = append(out, r.Database)
		}
	}
	moves, _ := p.store.ListMoves(ctx, "", 500)
	for _, m := range moves {
		for _, db := range []string{m.SourceDatabase, m.TargetDatabase} {
			if strings.HasPrefix(db, "tenant_") {
				out = append(out, db)
			}
		}
	}
	return out
}
