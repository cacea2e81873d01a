package cli

import (
	"context"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"sort"

	"github.com/tenantkit/tenantkit/examples/orders"
	"github.com/tenantkit/tenantkit/internal/catalog"
)

// appTarget is a database and schema holding the application's tables.
type appTarget struct {
	key, cluster, database, schema, tier, dsn string
	recorded                                  int64 // version the catalog recorded, -1 when none
}

// appTargets lists every target of the catalog: each placement's, and
// each the catalog recorded migrations for.
func appTargets(ctx context.Context, s *catalog.Store) ([]appTarget, error) {
	clusters, err := s.ListClusters(ctx)
	if err != nil {
		return nil, err
	}
	owner := map[string]string{}
	for _, c := range clusters {
		owner[c.Name] = c.OwnerURL
	}
	byKey := map[string]*appTarget{}
	add := func(cluster, db, schema, tier string, recorded int64) {
		key := cluster + "/" + db + "/" + schema
		if t, ok := byKey[key]; ok {
			if recorded >= 0 {
				t.recorded = recorded
			}
			return
		}
		byKey[key] = &appTarget{key: key, cluster: cluster, database: db, schema: schema, tier: tier,
			dsn: withDatabase(owner[cluster], db), recorded: recorded}
	}
	placements, err := s.ListPlacements(ctx)
	if err != nil {
		return nil, err
	}
	for _, p := range placements {
		add(p.Cluster, p.Database, p.Schema, p.Tier, -1)
	}
	recorded, err := s.ListAppTargets(ctx)
	if err != nil {
		return nil, err
	}
	for _, r := range recorded {
		add(r.Cluster, r.Database, r.Schema, r.Tier, r.Version)
	}
	out := make([]appTarget, 0, len(byKey))
	for _, t := range byKey {
		out = append(out, *t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out, nil
}

func withDatabase(raw, db string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	u.Path = "/" + db
	return u.String()
}

// migrationsFS is the application's migrations: --migrations DIR, or the
// example orders application's when dir is "example".
func migrationsFS(dir string) (fs.FS, error) {
	switch dir {
	case "":
		return nil, usageError{fmt.Errorf("give the application's migrations: --migrations DIR (or TENANTKIT_MIGRATIONS; \"example\" for the bundled orders app)")}
	case "example":
		return orders.Migrations(), nil
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil, usageError{fmt.Errorf("--migrations %s: not a directory", dir)}
	}
	return os.DirFS(dir), nil
}
