package catalog

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// MigrationsTable records the catalog's applied migrations.
const MigrationsTable = "tenantkit.catalog_migrations"

// MigrationStatus is one catalog migration and whether it is applied.
type MigrationStatus struct {
	Version int64  `json:"version"`
	Name    string `json:"name"`
	Applied bool   `json:"applied"`
}

// Migrate brings the catalog at connString up to the newest version. It is
// safe to run from several processes at once: a session advisory lock
// serialises them. It returns the versions it applied.
func Migrate(ctx context.Context, connString string) ([]int64, error) {
	p, db, err := provider(ctx, connString)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	results, err := p.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("catalog: migrate: %w", err)
	}
	applied := make([]int64, 0, len(results))
	for _, r := range results {
		applied = append(applied, r.Source.Version)
	}
	return applied, nil
}

// Status lists every catalog migration and whether it is applied.
func Status(ctx context.Context, connString string) ([]MigrationStatus, error) {
	p, db, err := provider(ctx, connString)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	st, err := p.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("catalog: status: %w", err)
	}
	out := make([]MigrationStatus, 0, len(st))
	for _, s := range st {
		out = append(out, MigrationStatus{Version: s.Source.Version, Name: s.Source.Path, Applied: s.State == goose.StateApplied})
	}
	return out, nil
}

func provider(ctx context.Context, connString string) (*goose.Provider, *sql.DB, error) {
	db, err := sql.Open("pgx", connString)
	if err != nil {
		return nil, nil, err
	}
	// The schema must exist before goose creates its version table in it.
	if _, err := db.ExecContext(ctx, "CREATE SCHEMA IF NOT EXISTS tenantkit"); err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("catalog: create schema: %w", err)
	}
	store, err := database.NewStore(database.DialectPostgres, MigrationsTable)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	sub, _ := fs.Sub(migrationFS, "migrations")
	p, err := goose.NewProvider("", db, sub, goose.WithStore(store), goose.WithSessionLocker(locker),
		goose.WithDisableGlobalRegistry(true))
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return p, db, nil
}

var _ = stdlib.GetDefaultDriver // registers the "pgx" database/sql driver
