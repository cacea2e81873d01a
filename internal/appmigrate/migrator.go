package appmigrate

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"

	"github.com/pressly/goose/v3"

	"github.com/tenantkit/tenantkit/internal/bootstrap"
)

// VersionTable is the name of the table, in each target's schema, that
// records the target's applied migrations.
const VersionTable = "tenantkit_app_migrations"

// Target is one place the application's tables live.
type Target struct {
	// Key identifies the target in results and logs, for example
	// "c1/tenantkit_shared/app" or "c1/tenantkit_shared/t_ab12…". Defaults
	// to Schema.
	Key string `json:"key"`
	// DSN connects as the owner role to the target's database. It must be a
	// direct (session) connection, not one through PgBouncer in transaction
	// mode, because the per-target lock is a session advisory lock. Targets
	// with the same DSN share a connection pool. Required.
	DSN string `json:"-"`
	// Schema is the schema the application's tables live in: the shared
	// tier's schema, a tenant's schema, or the schema of a dedicated
	// database. It is created when missing. Required.
	Schema string `json:"schema"`
}

func (t Target) key() string {
	if t.Key != "" {
		return t.Key
	}
	return t.Schema
}

func (t Target) validate() error {
	switch {
	case t.DSN == "":
		return errors.New("appmigrate: target has no DSN")
	case t.Schema == "":
		return errors.New("appmigrate: target has no schema")
	case len(t.Schema) > 63:
		return fmt.Errorf("appmigrate: schema name %q is longer than 63 bytes", t.Schema)
	}
	return nil
}

// Config configures a Migrator.
type Config struct {
	// Migrations holds the application's goose-format .sql files (for
	// example 00001_orders.sql with "-- +goose Up" and "-- +goose Down"
	// sections) at its root; use fs.Sub for a subdirectory. Each file runs
	// with search_path set to the target's schema only, so unqualified
	// names land in it. Required.
	Migrations fs.FS
	// AppRole is the role the data plane connects as; it is granted
	// SELECT, INSERT, UPDATE and DELETE on every tenant table. Defaults to
	// "tenantkit_app".
	AppRole string
	// Workers is how many targets are migrated at once. Each worker uses at
	// most two connections to the target's database. Defaults to 4.
	Workers int
	// Logger receives a line per target that changed or failed. Defaults to
	// slog.Default().
	Logger *slog.Logger
	// ProgressFunc, when set, is called after each target with the counts
	// so far and the target's outcome. Calls come from the workers but are
	// serialised, and Done grows by one with each call, so a progress bar
	// can draw directly. It should return quickly. Defaults to nil.
	ProgressFunc func(Progress)
}

func (c *Config) validate() error {
	if c.Migrations == nil {
		return errors.New("appmigrate: no migrations: Config.Migrations is nil")
	}
	if c.Workers < 0 {
		return fmt.Errorf("appmigrate: Workers is %d, must not be negative", c.Workers)
	}
	return nil
}

// Migrator applies one set of application migrations to many targets. It is
// safe for concurrent use; each call opens the connection pools it needs and
// closes them before returning.
type Migrator struct {
	migrations fs.FS
	appRole    string
	workers    int
	logger     *slog.Logger
	progress   func(Progress)
	versions   []int64 // ascending
	known      map[int64]bool
}

// New checks cfg and the migrations it names: there must be at least one
// migration and no two with the same version.
func New(cfg Config) (*Migrator, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	versions, err := collectVersions(cfg.Migrations)
	if err != nil {
		return nil, err
	}
	m := &Migrator{
		migrations: cfg.Migrations,
		appRole:    cfg.AppRole,
		workers:    cfg.Workers,
		logger:     cfg.Logger,
		progress:   cfg.ProgressFunc,
		versions:   versions,
		known:      make(map[int64]bool, len(versions)),
	}
	if m.appRole == "" {
		m.appRole = bootstrap.AppRole
	}
	if m.workers == 0 {
		m.workers = 4
	}
	if m.logger == nil {
		m.logger = slog.Default()
	}
	for _, v := range versions {
		m.known[v] = true
	}
	return m, nil
}

// Latest is the highest migration version in the set.
func (m *Migrator) Latest() int64 { return m.versions[len(m.versions)-1] }

// Versions lists the migration versions in the set, in ascending order.
func (m *Migrator) Versions() []int64 { return slices.Clone(m.versions) }

// collectVersions lets goose read the migration set exactly as it will when
// migrating, so that New rejects what a run would reject: no migrations,
// duplicate versions, unparsable file names. The database handle is never
// used.
func collectVersions(fsys fs.FS) ([]int64, error) {
	db := sql.OpenDB(unusedConnector{})
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, db, fsys, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return nil, fmt.Errorf("appmigrate: migrations: %w", err)
	}
	var versions []int64
	for _, s := range p.ListSources() {
		versions = append(versions, s.Version)
	}
	slices.Sort(versions)
	return versions, nil
}

type unusedConnector struct{}

func (unusedConnector) Connect(context.Context) (driver.Conn, error) {
	return nil, errors.New("appmigrate: no database")
}

func (unusedConnector) Driver() driver.Driver { return unusedDriver{} }

type unusedDriver struct{}

func (unusedDriver) Open(string) (driver.Conn, error) {
	return nil, errors.New("appmigrate: no database")
}
