package catalog

import (
	"context"
	"net/url"
	"sort"
)

// Target is a database and schema that holds the application's tables:
// a shared database's schema, a tenant's schema, or a dedicated database.
type Target struct {
	Key      string // cluster/database/schema
	Cluster  string
	Database string
	Schema   string
	Tier     string
	// OwnerDSN connects to the target's database as the cluster's owner.
	OwnerDSN string
	// Recorded is the app migration version the catalog recorded for the
	// target, -1 when it recorded none.
	Recorded int64
}

// Targets lists every target: each placement's and each the catalog
// recorded app migrations for, sorted by key.
func (s *Store) Targets(ctx context.Context) ([]Target, error) {
	clusters, err := s.ListClusters(ctx)
	if err != nil {
		return nil, err
	}
	owner := map[string]string{}
	for _, c := range clusters {
		owner[c.Name] = c.OwnerURL
	}
	byKey := map[string]*Target{}
	add := func(cluster, db, schema, tier string, recorded int64) {
		key := cluster + "/" + db + "/" + schema
		if t, ok := byKey[key]; ok {
			if recorded >= 0 {
				t.Recorded = recorded
			}
			return
		}
		byKey[key] = &Target{Key: key, Cluster: cluster, Database: db, Schema: schema, Tier: tier,
			OwnerDSN: WithDatabase(owner[cluster], db), Recorded: recorded}
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
	out := make([]Target, 0, len(byKey))
	for _, t := range byKey {
		out = append(out, *t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// WithDatabase replaces the database of a connection URL.
func WithDatabase(raw, db string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	u.Path = "/" + db
	return u.String()
}
