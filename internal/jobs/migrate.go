package jobs

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

// Schema holds River's tables in the catalog database.
const Schema = "tenantkit_jobs"

// PlatformQueue is the River queue of the platform's own jobs (billing's
// sync, events, overdue checks and usage reports; the re-check of custom
// domains). tenantkit serve works it; it works the default queue, where
// the application's jobs go, only when it runs the application's workers.
const PlatformQueue = "tenantkit_platform"

// Version is where River's migrations of Schema stand.
type Version struct {
	// Current is the newest applied River migration (0: none).
	Current int `json:"current"`
	// Latest is the newest this binary carries.
	Latest int `json:"latest"`
	// Pending are the versions Migrate would apply.
	Pending []int `json:"pending"`
}

// Migrate applies River's pending migrations to Schema in the catalog
// database at connString, creating the schema first. River serialises
// concurrent runs itself. It returns the versions applied.
func Migrate(ctx context.Context, connString string) ([]int, error) {
	return run(ctx, connString, true, func(m *rivermigrate.Migrator[pgx.Tx]) ([]int, error) {
		res, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil)
		if err != nil {
			return nil, err
		}
		out := make([]int, 0, len(res.Versions))
		for _, v := range res.Versions {
			out = append(out, v.Version)
		}
		return out, nil
	})
}

// Status reports River's migrations of Schema. It changes nothing.
func Status(ctx context.Context, connString string) (Version, error) {
	var v Version
	_, err := run(ctx, connString, false, func(m *rivermigrate.Migrator[pgx.Tx]) ([]int, error) {
		all := m.AllVersions()
		if len(all) > 0 {
			v.Latest = all[len(all)-1].Version
		}
		existing, err := m.ExistingVersions(ctx)
		if err != nil {
			return nil, err
		}
		applied := map[int]bool{}
		for _, e := range existing {
			applied[e.Version] = true
			v.Current = max(v.Current, e.Version)
		}
		v.Pending = []int{}
		for _, a := range all {
			if !applied[a.Version] {
				v.Pending = append(v.Pending, a.Version)
			}
		}
		return nil, nil
	})
	return v, err
}

// run hands fn a migrator of Schema, which it creates when create is set.
// Without it, a missing schema reads as a migrator over an empty one.
func run(ctx context.Context, connString string, create bool, fn func(*rivermigrate.Migrator[pgx.Tx]) ([]int, error)) ([]int, error) {
	pool, err := pgxpool.New(ctx, connString)
	if err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	defer pool.Close()
	if create {
		if _, err := pool.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+Schema); err != nil {
			return nil, fmt.Errorf("jobs: create schema %s: %w", Schema, err)
		}
	}
	m, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Schema: Schema, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	out, err := fn(m)
	if err != nil {
		return nil, fmt.Errorf("jobs: river migrations in %s: %w", Schema, err)
	}
	return out, nil
}
