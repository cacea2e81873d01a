package cli

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

// TestCatalogMigrateDryRunPrintsThePlanAndChangesNothing: --dry-run lists
// each pending migration with its version, name, phase and SQL, in both
// output forms, and applies nothing; catalog status and the dry run list
// the instances that heartbeat.
func TestCatalogMigrateDryRunPrintsThePlanAndChangesNothing(t *testing.T) {
	t.Parallel()
	db := tenantkittest.NewDatabase(t)
	vars := map[string]string{"TENANTKIT_DATABASE_URL": db.OwnerDSN()}

	r := runCLI(t, vars, "catalog", "migrate", "--dry-run")
	if r.exit != exitOK || !strings.Contains(r.stdout, "catalog at 00000; this binary carries migrations up to 00018\n") ||
		!strings.Contains(r.stdout, "would apply 00008 00008_instances.sql (expand)\n    CREATE TABLE tenantkit.instances ( id uuid PRIMARY KEY,") ||
		!strings.Contains(r.stdout, "would apply 00007 00007_noisy_per_process.sql (contract)\n") ||
		!strings.Contains(r.stdout, "would apply River's migrations 1, 2, ") || !strings.Contains(r.stdout, "to schema tenantkit_jobs (jobs)\n") ||
		!strings.Contains(r.stdout, "nothing changed (dry run)\nno instance heartbeats") {
		t.Fatalf("catalog migrate --dry-run: exit %d\n%s%s", r.exit, r.stdout, r.stderr)
	}
	r = runCLI(t, vars, "catalog", "migrate", "--dry-run", "-o", "json")
	var plan struct {
		DryRun         bool  `json:"dry_run"`
		CatalogVersion int64 `json:"catalog_version"`
		Pending        []struct {
			Version int64
			Name    string
			Phase   string
			SQL     string
			Apply   bool
		}
		Instances []catalog.Instance
	}
	if err := json.Unmarshal([]byte(r.stdout), &plan); err != nil || r.exit != exitOK {
		t.Fatalf("catalog migrate --dry-run -o json: exit %d, %v\n%s%s", r.exit, err, r.stdout, r.stderr)
	}
	last := plan.Pending[7]
	if !plan.DryRun || len(plan.Pending) != 18 || last.Version != 8 || last.Name != "00008_instances.sql" || last.Phase != "expand" ||
		!last.Apply || !strings.HasPrefix(last.SQL, "-- Every serving process") || plan.Instances == nil {
		t.Fatalf("dry run plan: %+v", plan)
	}
	if r := runCLI(t, vars, "catalog", "status"); !strings.Contains(r.stdout, "00008  pending  expand    00008_instances.sql") ||
		!strings.Contains(r.stdout, "jobs: River's migrations in schema tenantkit_jobs at version 0 of ") {
		t.Fatalf("after a dry run, catalog status:\n%s", r.stdout)
	}

	if r := runCLI(t, vars, "catalog", "migrate"); r.exit != exitOK || !strings.Contains(r.stdout, "applied 00008\napplied 00009\napplied 00010\napplied 00011\napplied 00012\napplied 00013\napplied 00014\napplied 00015\napplied 00016\napplied 00017\napplied 00018\napplied River's migrations 1, 2, ") {
		t.Fatalf("catalog migrate: exit %d\n%s%s", r.exit, r.stdout, r.stderr)
	}
	if r := runCLI(t, vars, "catalog", "status", "-o", "json"); !strings.Contains(r.stdout, `"pending": []`) {
		t.Fatalf("after catalog migrate, River's migrations are not all applied:\n%s", r.stdout)
	}
	pool, err := pgxpool.New(context.Background(), db.OwnerDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	hb, err := catalog.NewHeartbeat(catalog.HeartbeatConfig{Pool: pool, Version: "v9.9.9 (test)", Addr: "127.0.0.1:8080"})
	if err != nil {
		t.Fatal(err)
	}
	if err := hb.Beat(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"catalog", "status"}, {"catalog", "migrate", "--dry-run"}} {
		r := runCLI(t, vars, args...)
		if r.exit != exitOK || !strings.Contains(r.stdout, "serving instances (heartbeat within 1m0s") ||
			!strings.Contains(r.stdout, hb.ID().String()[:8]) || !strings.Contains(r.stdout, "127.0.0.1:8080  00018    v9.9.9 (test)") {
			t.Fatalf("%s: exit %d\n%s%s", strings.Join(args, " "), r.exit, r.stdout, r.stderr)
		}
	}
	r = runCLI(t, vars, "catalog", "migrate", "--dry-run")
	if !strings.Contains(r.stdout, "catalog at 00018; this binary carries migrations up to 00018\nnothing to apply\n") {
		t.Fatalf("dry run on a migrated catalog:\n%s", r.stdout)
	}
	r = runCLI(t, vars, "catalog", "status", "-o", "json")
	var st catalog.StatusReport
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || len(st.Instances) != 1 || st.Instances[0].ID != hb.ID() ||
		st.Instances[0].SchemaVersion != 18 || len(st.Migrations) != 18 || !st.Migrations[17].Applied {
		t.Fatalf("catalog status -o json: %v\n%s", err, r.stdout)
	}
}

// TestCatalogMigrateHoldsBackAContractMigration: on a catalog an earlier
// build left at 00003, 00004 (contract) is held back without --contract
// and 00005 (expand) behind it, which this release needs: catalog migrate
// fails and says so; the dry run says why, and what --contract would do.
func TestCatalogMigrateHoldsBackAContractMigration(t *testing.T) {
	t.Parallel()
	db := tenantkittest.NewCatalog(t)
	pool, err := pgxpool.New(context.Background(), db.OwnerDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := pool.Exec(context.Background(), "DELETE FROM "+catalog.MigrationsTable+" WHERE version_id > 3"); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"TENANTKIT_DATABASE_URL": db.OwnerDSN()}

	r := runCLI(t, vars, "catalog", "migrate")
	requireOneErrorLine(t, r)
	if !strings.Contains(r.stderr, "catalog: migration held back: expand migration 00005 00005_integrations.sql waits behind 00004;") {
		t.Fatalf("catalog migrate on a catalog at 00003: %s", r.stderr)
	}
	r = runCLI(t, vars, "catalog", "migrate", "--dry-run")
	if r.exit != exitOK || !strings.Contains(r.stdout, "held back   00004 00004_plans_settings_flags.sql (contract): "+
		"a contract migration waits for tenantkit catalog migrate --contract, to be run once no instance of an older release serves\n"+
		"    ALTER TABLE tenantkit.plans ADD COLUMN rank integer NOT NULL DEFAULT 0, ADD COLUMN description") ||
		!strings.Contains(r.stdout, "held back   00005 00005_integrations.sql (expand): waits behind 00004\n") {
		t.Fatalf("catalog migrate --dry-run: exit %d\n%s%s", r.exit, r.stdout, r.stderr)
	}
	r = runCLI(t, vars, "catalog", "migrate", "--dry-run", "--contract")
	if r.exit != exitOK || !strings.Contains(r.stdout, "would apply 00004 00004_plans_settings_flags.sql (contract)\n") ||
		!strings.Contains(r.stdout, "would apply 00008 00008_instances.sql (expand)\n") {
		t.Fatalf("catalog migrate --dry-run --contract: exit %d\n%s%s", r.exit, r.stdout, r.stderr)
	}
}
