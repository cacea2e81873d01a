package placement

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tenantkit/tenantkit/internal/appmigrate"
	"github.com/tenantkit/tenantkit/internal/bootstrap"
	"github.com/tenantkit/tenantkit/internal/catalog"
)

//go:embed system.sql
var systemSQL string

// Config configures a Provisioner.
type Config struct {
	// Store is the catalog. Required.
	Store *catalog.Store
	// Migrations are the application's migrations. Required.
	Migrations fs.FS
	// AppRole is the role the application connects as. Defaults to
	// tenantkit_app.
	AppRole string
	// StepFunc, when set, is called before each step of provisioning
	// ("database", "system", "migrate", "ready"); an error stops
	// provisioning there, as a crash would. For tests. Defaults to nil.
	StepFunc func(step string) error
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Provisioner creates and removes placements.
type Provisioner struct {
	store   *catalog.Store
	mig     *appmigrate.Migrator
	appRole string
	step    func(string) error
	log     *slog.Logger
}

// New returns a Provisioner.
func New(cfg Config) (*Provisioner, error) {
	if cfg.Store == nil || cfg.Migrations == nil {
		return nil, errors.New("placement: Config.Store and Config.Migrations are required")
	}
	if cfg.AppRole == "" {
		cfg.AppRole = bootstrap.AppRole
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	mig, err := appmigrate.New(appmigrate.Config{Migrations: cfg.Migrations, AppRole: cfg.AppRole, Workers: 1, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	step := cfg.StepFunc
	if step == nil {
		step = func(string) error { return nil }
	}
	return &Provisioner{store: cfg.Store, mig: mig, appRole: cfg.AppRole, step: step, log: cfg.Logger}, nil
}

// Provision places tenant ref on tier and cluster (the least loaded one
// when cluster is empty; the plan's default tier when tier is empty) and
// makes the placement ready. Run again after a crash, it finishes the job;
// on a ready placement it changes nothing.
func (p *Provisioner) Provision(ctx context.Context, actor, ref, tier, cluster string) (catalog.Placement, error) {
	return p.Place(ctx, actor, ref, catalog.PlaceParams{Tier: tier, Cluster: cluster})
}

// Place is Provision with every option, adopting an existing database for
// a dedicated tenant among them.
func (p *Provisioner) Place(ctx context.Context, actor, ref string, pp catalog.PlaceParams) (catalog.Placement, error) {
	pl, err := p.store.Place(ctx, actor, ref, pp)
	if err != nil {
		return pl, err
	}
	if pl.State == catalog.PlacementReady {
		return pl, nil
	}
	if pl.State != catalog.PlacementProvisioning {
		return pl, fmt.Errorf("placement: tenant %q is %s", ref, pl.State)
	}
	c, err := p.store.GetCluster(ctx, pl.Cluster)
	if err != nil {
		return pl, err
	}
	if err := p.Build(ctx, c, pl); err != nil {
		return pl, err
	}
	if err := p.step("ready"); err != nil {
		return pl, err
	}
	t, err := p.store.GetTenant(ctx, ref)
	if err != nil {
		return pl, err
	}
	if err := p.EnsureFence(ctx, c, pl.Database, t.ID, pl.Epoch); err != nil {
		return pl, err
	}
	return p.store.SetPlacementState(ctx, actor, ref, catalog.PlacementReady)
}

// Build creates a placement's database (unless it exists), installs the
// data-plane objects and applies the application's migrations. It is
// idempotent.
func (p *Provisioner) Build(ctx context.Context, c catalog.Cluster, pl catalog.Placement) error {
	steps := []struct {
		name string
		run  func() error
	}{
		{"database", func() error { return p.ensureDatabase(ctx, c, pl.Database) }},
		{"system", func() error { return p.ensureSystem(ctx, c, pl.Database) }},
		{"migrate", func() error { return p.migrate(ctx, c, pl) }},
	}
	for _, s := range steps {
		if err := p.step(s.name); err != nil {
			return err
		}
		if err := s.run(); err != nil {
			return err
		}
	}
	return nil
}

// EnsureFence gives a tenant a fence row in a database, at epoch, unless
// it has one: the row REPEATABLE READ transactions lock (see
// tenantkit.fence_lock).
func (p *Provisioner) EnsureFence(ctx context.Context, c catalog.Cluster, db string, tenant uuid.UUID, epoch int64) error {
	conn, err := pgx.Connect(ctx, catalog.WithDatabase(c.OwnerURL, db))
	if err != nil {
		return fmt.Errorf("placement: connect to %s/%s: %w", c.Name, db, err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "INSERT INTO tenantkit.fence (tenant_id, epoch) VALUES ($1, $2) ON CONFLICT (tenant_id) DO NOTHING", tenant, epoch)
	return err
}

// ensureDatabase creates a database on the cluster unless it exists.
func (p *Provisioner) ensureDatabase(ctx context.Context, c catalog.Cluster, db string) error {
	conn, err := pgx.Connect(ctx, catalog.WithDatabase(c.OwnerURL, "postgres"))
	if err != nil {
		return fmt.Errorf("placement: connect to cluster %s: %w", c.Name, err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", db).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		_, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{db}.Sanitize())
		var pgErr *pgconn.PgError
		if err != nil && !(errors.As(err, &pgErr) && pgErr.Code == "42P04") {
			return fmt.Errorf("placement: create database %s on %s: %w", db, c.Name, err)
		}
	}
	return grantDatabase(ctx, conn, db, p.appRole)
}

// grantDatabase lets the app role connect to db, and no one create
// temporary tables there: a temporary table outlives the transaction that
// made it, on a pooled connection the next tenant gets, where no row-level
// security guards it.
func grantDatabase(ctx context.Context, conn *pgx.Conn, db, appRole string) error {
	dbName, role := pgx.Identifier{db}.Sanitize(), pgx.Identifier{appRole}.Sanitize()
	for _, stmt := range []string{
		"GRANT CONNECT ON DATABASE " + dbName + " TO " + role,
		"REVOKE TEMPORARY ON DATABASE " + dbName + " FROM PUBLIC",
		"REVOKE TEMPORARY ON DATABASE " + dbName + " FROM " + role,
	} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("placement: grant on database %s: %w", db, err)
		}
	}
	return nil
}

// ensureSystem installs the data-plane objects in a database.
func (p *Provisioner) ensureSystem(ctx context.Context, c catalog.Cluster, db string) error {
	conn, err := pgx.Connect(ctx, catalog.WithDatabase(c.OwnerURL, db))
	if err != nil {
		return fmt.Errorf("placement: connect to %s/%s: %w", c.Name, db, err)
	}
	defer conn.Close(ctx)
	return installSystem(ctx, conn, c.Name, db, p.appRole)
}

// installSystem installs the data-plane objects in the database of conn.
func installSystem(ctx context.Context, conn *pgx.Conn, cluster, db, appRole string) error {
	role := pgx.Identifier{appRole}.Sanitize()
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		// One installer at a time per database.
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtextextended('tenantkit.system', 0))"); err != nil {
			return err
		}
		for _, stmt := range []string{
			systemSQL,
			"REVOKE ALL ON SCHEMA tenantkit FROM PUBLIC",
			"GRANT USAGE ON SCHEMA tenantkit TO " + role,
			"GRANT SELECT ON tenantkit.fence TO " + role,
			"GRANT EXECUTE ON FUNCTION tenantkit.moved(uuid, bigint, bigint) TO " + role,
			"GRANT EXECUTE ON FUNCTION tenantkit.enter(uuid, bigint, text) TO " + role,
			"GRANT EXECUTE ON FUNCTION tenantkit.enter(uuid, bigint, text, boolean, boolean, boolean) TO " + role,
			"GRANT EXECUTE ON FUNCTION tenantkit.reset_session(boolean, boolean) TO " + role,
			"REVOKE ALL ON FUNCTION tenantkit.fence_lock(uuid, bigint) FROM PUBLIC",
			"GRANT EXECUTE ON FUNCTION tenantkit.fence_lock(uuid, bigint) TO " + role,
			"GRANT SELECT ON tenantkit.cutover_seq, tenantkit.cutovers TO " + role,
			"GRANT EXECUTE ON FUNCTION tenantkit.check_fence(uuid, bigint) TO " + role,
			"GRANT EXECUTE ON FUNCTION tenantkit.may_skip_fence(name) TO " + role,
			"GRANT SELECT, INSERT, DELETE ON tenantkit.job_outbox TO " + role,
			"REVOKE ALL ON FUNCTION tenantkit.job_outbox_tenants() FROM PUBLIC",
			"GRANT EXECUTE ON FUNCTION tenantkit.job_outbox_tenants() TO " + role,
		} {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("placement: install data-plane objects in %s/%s: %w", cluster, db, err)
			}
		}
		return nil
	})
}

func (p *Provisioner) migrate(ctx context.Context, c catalog.Cluster, pl catalog.Placement) error {
	t := appmigrate.Target{Key: c.Name + "/" + pl.Database + "/" + pl.Schema, DSN: catalog.WithDatabase(c.OwnerURL, pl.Database), Schema: pl.Schema}
	sum := p.mig.Up(ctx, []appmigrate.Target{t})
	for _, r := range sum.Targets {
		errText := ""
		if r.Err != "" {
			errText = r.Err
		}
		if err := p.store.RecordAppTarget(ctx, c.Name, pl.Database, pl.Schema, pl.Tier, r.To, errText); err != nil {
			return err
		}
		if errText != "" {
			return fmt.Errorf("placement: migrate %s: %s", t.Key, errText)
		}
	}
	return nil
}
