package tenantkit_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tenantkit/tenantkit"
	"github.com/tenantkit/tenantkit/examples/orders"
	"github.com/tenantkit/tenantkit/internal/bootstrap"
	"github.com/tenantkit/tenantkit/internal/placement"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

// TestUpgradeSystemBringsEarlierDatabasesUpToDate: databases provisioned
// by an earlier release lack the session reset, the six-argument enter,
// the cutover counter and announcements and the fence check that uses
// them, and grant TEMPORARY to PUBLIC. Scoped access fails there until
// placement.UpgradeSystem (which serve runs at start) installs them; then
// it works and the grant is gone. A database the catalog records but
// that is gone does not stop it.
func TestUpgradeSystemBringsEarlierDatabasesUpToDate(t *testing.T) {
	t.Parallel()
	p := tenantkittest.NewPlatform(t, orders.Migrations())
	p.Tenant(t, "acme", "shared")
	p.Tenant(t, "dedi", "dedicated")
	ctx := context.Background()
	databases := []string{p.SharedDatabase, p.Placement(t, "dedi").Database}
	for _, db := range databases {
		su, err := pgx.Connect(ctx, p.Catalog.Server.SuperuserURL(db))
		if err != nil {
			t.Fatal(err)
		}
		_, err = su.Exec(ctx, `DROP FUNCTION tenantkit.reset_session(boolean, boolean); DROP FUNCTION tenantkit.enter(uuid, bigint, text, boolean, boolean, boolean);
			DROP FUNCTION tenantkit.check_fence(uuid, bigint); DROP FUNCTION tenantkit.may_skip_fence(name);
			DROP SEQUENCE tenantkit.cutover_seq; DROP TABLE tenantkit.cutovers;
			GRANT TEMPORARY ON DATABASE `+pgx.Identifier{db}.Sanitize()+` TO PUBLIC`)
		p.Catalog.Server.CloseAndWait(t, su)
		if err != nil {
			t.Fatal(err)
		}
	}
	before := p.Kit(t, tenantkit.Config{})
	var n int
	if err := before.QueryRow(p.Scoped(t, before, "acme"), "SELECT count(*) FROM customers").Scan(&n); err == nil {
		t.Fatal("scoped access worked on a database without this release's objects: the test proves nothing")
	}
	// A target the catalog still records whose database is gone is skipped.
	if err := p.Store().RecordAppTarget(ctx, p.Cluster, p.SharedDatabase+"_gone", "app", "dedicated", 1, ""); err != nil {
		t.Fatal(err)
	}
	visited, err := placement.UpgradeSystem(ctx, p.Store(), "")
	if err != nil || visited != len(databases)+1 {
		t.Fatalf("UpgradeSystem visited %d databases, %v; want %d", visited, err, len(databases)+1)
	}
	for _, cfg := range []tenantkit.Config{{}, {DisablePreparedStatements: true}, {TransactionPooler: true}} {
		kit := p.Kit(t, cfg)
		for _, slug := range []string{"acme", "dedi"} {
			if err := kit.QueryRow(p.Scoped(t, kit, slug), "SELECT count(*) FROM customers").Scan(&n); err != nil {
				t.Fatalf("%s after the upgrade (prepared=%v): %v", slug, !cfg.DisablePreparedStatements, err)
			}
		}
	}
	owner, err := pgx.Connect(ctx, p.OwnerDSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close(ctx)
	for _, db := range databases {
		var temp bool
		if err := owner.QueryRow(ctx, "SELECT has_database_privilege($1, $2, 'TEMPORARY')", bootstrap.AppRole, db).Scan(&temp); err != nil || temp {
			t.Fatalf("after the upgrade the app role may create temporary tables in %s (%v)", db, err)
		}
	}
}
