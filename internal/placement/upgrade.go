package placement

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"golang.org/x/sync/errgroup"

	"github.com/tenantkit/tenantkit/internal/bootstrap"
	"github.com/tenantkit/tenantkit/internal/catalog"
)

// UpgradeSystem brings every database that holds tenant data up to this
// release's data-plane objects and grants — the functions scoped access
// calls, no TEMPORARY privilege — as provisioning leaves a new one. The
// objects are installed idempotently; processes of the previous release
// keep working against them. appRole defaults to tenantkit_app. It returns
// how many databases it visited; one the catalog still records but that
// is gone is skipped.
func UpgradeSystem(ctx context.Context, store *catalog.Store, appRole string) (int, error) {
	if appRole == "" {
		appRole = bootstrap.AppRole
	}
	targets, err := store.Targets(ctx)
	if err != nil {
		return 0, err
	}
	type dbKey struct{ cluster, db string }
	seen := map[dbKey]bool{}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(upgradeWorkers)
	for _, t := range targets {
		k := dbKey{t.Cluster, t.Database}
		if seen[k] {
			continue
		}
		seen[k] = true
		g.Go(func() error { return upgradeDatabase(gctx, t, appRole) })
	}
	if err := g.Wait(); err != nil {
		return 0, err
	}
	return len(seen), nil
}

// upgradeWorkers is how many databases UpgradeSystem upgrades at once: a
// fleet of dedicated databases should not hold serve's start for long.
const upgradeWorkers = 8

func upgradeDatabase(ctx context.Context, t catalog.Target, appRole string) error {
	conn, err := pgx.Connect(ctx, t.OwnerDSN)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "3D000" {
		return nil // a target the catalog still records, whose database is gone
	}
	if err != nil {
		return fmt.Errorf("placement: connect to %s/%s: %w", t.Cluster, t.Database, err)
	}
	defer conn.Close(ctx)
	if err := grantDatabase(ctx, conn, t.Database, appRole); err != nil {
		return err
	}
	return installSystem(ctx, conn, t.Cluster, t.Database, appRole)
}
