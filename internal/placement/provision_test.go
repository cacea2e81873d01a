package placement_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantkit/tenantkit/examples/orders"
	"github.com/tenantkit/tenantkit/internal/bootstrap"
	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/placement"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

func TestMain(m *testing.M) { tenantkittest.Main(m) }

type bundle struct {
	db    *tenantkittest.Database
	store *catalog.Store
	fail  string // the step at which provisioning "crashes"
	prov  *placement.Provisioner
}

func setup(t *testing.T) *bundle {
	t.Helper()
	ctx := context.Background()
	db := tenantkittest.NewCatalog(t)
	pool, err := pgxpool.New(ctx, db.OwnerDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	b := &bundle{db: db}
	if b.store, err = catalog.NewStore(catalog.StoreConfig{Pool: pool}); err != nil {
		t.Fatal(err)
	}
	shared := db.Name + "_shared"
	if _, err := b.store.AddCluster(ctx, "t", catalog.ClusterParams{Name: "c1", OwnerURL: db.Server.OwnerURL("postgres"),
		AppURL: db.Server.AppURL("postgres"), SharedDatabase: shared}); err != nil {
		t.Fatal(err)
	}
	b.prov, err = placement.New(placement.Config{Store: b.store, Migrations: orders.Migrations(), StepFunc: func(step string) error {
		if step == b.fail {
			return errors.New("crash at " + step)
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dropDatabases(t, db, shared) })
	return b
}

// dropDatabases drops the shared database and any dedicated database of a
// tenant of this catalog a test left behind.
func dropDatabases(t *testing.T, db *tenantkittest.Database, shared string) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db.Server.SuperuserURL("postgres"))
	if err != nil {
		return
	}
	defer conn.Close(ctx)
	_ = bootstrap.DropDatabase(ctx, conn, shared)
}

// tableCount counts the app tables with tenantkit's RLS in a target.
func tableCount(t *testing.T, b *bundle, pl catalog.Placement) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, b.db.Server.OwnerURL(pl.Database))
	if err != nil {
		return -1
	}
	defer conn.Close(ctx)
	var n int
	err = conn.QueryRow(ctx, `SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relkind = 'r' AND c.relrowsecurity AND c.relforcerowsecurity`, pl.Schema).Scan(&n)
	if err != nil {
		return -1
	}
	return n
}

func TestProvisioningKilledHalfWayFinishesOnRerun(t *testing.T) {
	t.Parallel()
	for _, tier := range []string{"shared", "schema", "dedicated"} {
		for _, step := range []string{"database", "system", "migrate", "ready"} {
			t.Run(tier+"/"+step, func(t *testing.T) {
				t.Parallel()
				b := setup(t)
				ctx := context.Background()
				slug := "acme"
				if _, err := b.store.CreateTenant(ctx, "t", catalog.CreateParams{Slug: slug, Name: "Acme"}); err != nil {
					t.Fatal(err)
				}
				b.fail = step
				if _, err := b.prov.Provision(ctx, "t", slug, tier, ""); err == nil {
					t.Fatal("provisioning did not stop at the crash")
				}
				pl, err := b.store.GetPlacement(ctx, slug)
				if err != nil || pl.State != catalog.PlacementProvisioning {
					t.Fatalf("after the crash: %+v %v", pl, err)
				}
				b.fail = ""
				pl, err = b.prov.Provision(ctx, "t", slug, "", "")
				if err != nil || pl.State != catalog.PlacementReady || pl.Tier != tier {
					t.Fatalf("re-run: %+v %v", pl, err)
				}
				if n := tableCount(t, b, pl); n != 3 {
					t.Fatalf("%d app tables with RLS after the re-run, want 3", n)
				}
				again, err := b.prov.Provision(ctx, "t", slug, "", "")
				if err != nil || again != pl {
					t.Fatalf("provisioning a ready tenant changed it: %+v %v", again, err)
				}
				if tier == "dedicated" {
					t.Cleanup(func() { _ = b.prov.Deprovision(context.Background(), "t", slug) })
				}
			})
		}
	}
}

func TestDeprovisionRemovesTheTenantsDataOnly(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	for i, tier := range []string{"shared", "schema", "dedicated"} {
		for _, who := range []string{"gone", "kept"} {
			slug := fmt.Sprintf("%s-%d", who, i)
			if _, err := b.store.CreateTenant(ctx, "t", catalog.CreateParams{Slug: slug, Name: slug}); err != nil {
				t.Fatal(err)
			}
			if _, err := b.prov.Provision(ctx, "t", slug, tier, ""); err != nil {
				t.Fatal(err)
			}
			pl, _ := b.store.GetPlacement(ctx, slug)
			insertRows(t, b, pl, slug, 2500) // over two delete batches
		}
	}
	for i, tier := range []string{"shared", "schema", "dedicated"} {
		gone, kept := fmt.Sprintf("gone-%d", i), fmt.Sprintf("kept-%d", i)
		goneAt, _ := b.store.GetPlacement(ctx, gone)
		if err := b.prov.Deprovision(ctx, "t", gone); err != nil {
			t.Fatalf("%s: %v", tier, err)
		}
		if _, err := b.store.GetPlacement(ctx, gone); !errors.Is(err, catalog.ErrNotPlaced) {
			t.Fatalf("%s: placement still there: %v", tier, err)
		}
		if n := countRows(t, b, goneAt, gone); n != 0 {
			t.Fatalf("%s: %d rows of the deprovisioned tenant left", tier, n)
		}
		keptAt, _ := b.store.GetPlacement(ctx, kept)
		if n := countRows(t, b, keptAt, kept); n != 2500 {
			t.Fatalf("%s: the neighbour has %d rows, want 2500", tier, n)
		}
		if err := b.prov.Deprovision(ctx, "t", gone); err != nil {
			t.Fatalf("%s: deprovisioning twice: %v", tier, err)
		}
		if tier == "dedicated" {
			if err := b.prov.Deprovision(ctx, "t", kept); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func tenantID(t *testing.T, b *bundle, slug string) string {
	tn, err := b.store.GetTenant(context.Background(), slug)
	if err != nil {
		t.Fatal(err)
	}
	return tn.ID.String()
}

func insertRows(t *testing.T, b *bundle, pl catalog.Placement, slug string, n int) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, b.db.Server.OwnerURL(pl.Database))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT set_config('tenantkit.tenant_id', $1, true)", tenantID(t, b, slug)); err != nil {
			return err
		}
		s := pgx.Identifier{pl.Schema}.Sanitize()
		if _, err := tx.Exec(ctx, fmt.Sprintf(`INSERT INTO %s.customers (email, name) SELECT 'c' || g || '@x.test', 'c' FROM generate_series(1, $1) g`, s), n); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, fmt.Sprintf(`INSERT INTO %s.orders (customer_id) SELECT id FROM %s.customers LIMIT 10`, s, s))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func countRows(t *testing.T, b *bundle, pl catalog.Placement, slug string) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, b.db.Server.SuperuserURL(pl.Database))
	if err != nil {
		return 0 // the database is gone
	}
	defer b.db.Server.CloseAndWait(t, conn)
	var n int
	err = conn.QueryRow(ctx, fmt.Sprintf("SELECT count(*) FROM %s.customers WHERE tenant_id = $1", pgx.Identifier{pl.Schema}.Sanitize()),
		tenantID(t, b, slug)).Scan(&n)
	if err != nil {
		return 0 // the schema is gone
	}
	return n
}

func TestAdoptedDatabaseIsUsedAndNeverDropped(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	adopted := b.db.Name + "_byo"
	conn, err := pgx.Connect(ctx, b.db.Server.SuperuserURL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := bootstrap.CreateDatabase(ctx, conn, adopted); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bootstrap.DropDatabase(context.Background(), conn, adopted) })
	if _, err := b.store.CreateTenant(ctx, "t", catalog.CreateParams{Slug: "acme", Name: "Acme"}); err != nil {
		t.Fatal(err)
	}
	var v *catalog.ValidationError
	if _, err := b.prov.Place(ctx, "t", "acme", catalog.PlaceParams{Tier: "schema", Database: adopted}); !errors.As(err, &v) {
		t.Fatalf("adopting for the schema tier: %v", err)
	}
	pl, err := b.prov.Place(ctx, "t", "acme", catalog.PlaceParams{Tier: "dedicated", Database: adopted})
	if err != nil || pl.Database != adopted || !pl.Adopted || pl.State != catalog.PlacementReady {
		t.Fatalf("adopt: %+v %v", pl, err)
	}
	if n := tableCount(t, b, pl); n != 3 {
		t.Fatalf("%d app tables in the adopted database", n)
	}
	if err := b.prov.Deprovision(ctx, "t", "acme"); err != nil {
		t.Fatal(err)
	}
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", adopted).Scan(&exists); err != nil || !exists {
		t.Fatalf("the adopted database was dropped (%v)", err)
	}
	if n := tableCount(t, b, pl); n != 0 {
		t.Fatalf("%d app tables left in the adopted database after deprovisioning", n)
	}
}
