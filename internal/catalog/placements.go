package catalog

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tenantkit/tenantkit/internal/bus"
	"github.com/tenantkit/tenantkit/internal/catalog/catalogdb"
)

// Errors of clusters and placements.
var (
	ErrClusterNotFound = errors.New("catalog: cluster not found")
	ErrClusterExists   = errors.New("catalog: cluster already registered")
	ErrClusterInUse    = errors.New("catalog: cluster holds tenants")
	ErrNoCluster       = errors.New("catalog: no cluster accepts tenants: register one with `tenantkit clusters add`")
	ErrAlreadyPlaced   = errors.New("catalog: tenant is placed elsewhere already; move it instead")
	ErrNotPlaced       = errors.New("catalog: tenant has no placement")
)

// SharedSchema holds the app tables in shared and dedicated databases.
const SharedSchema = "app"

// Cluster is a PostgreSQL server that holds tenant data.
type Cluster = catalogdb.TenantkitCluster

// ClusterParams registers a cluster.
type ClusterParams struct {
	Name           string `json:"name"`
	OwnerURL       string `json:"owner_url"`
	AppURL         string `json:"app_url"`
	ReplicationURL string `json:"replication_url"`
	// SharedDatabase holds the shared tier and the tenant schemas.
	// Defaults to tenantkit_shared.
	SharedDatabase string `json:"shared_database"`
}

var clusterName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// Location computes the database and schema of a tenant of tier on a
// cluster whose shared database is sharedDB.
func Location(tier string, tenant uuid.UUID, sharedDB string) (database, schema string, err error) {
	hexID := strings.ReplaceAll(tenant.String(), "-", "")
	switch tier {
	case TierShared:
		return sharedDB, SharedSchema, nil
	case TierSchema:
		return sharedDB, "t_" + hexID, nil
	case TierDedicated:
		return "tenant_" + hexID, SharedSchema, nil
	}
	return "", "", fmt.Errorf("catalog: unknown tier %q (want shared, schema or dedicated)", tier)
}

// AddCluster registers a cluster.
func (s *Store) AddCluster(ctx context.Context, actor string, p ClusterParams) (Cluster, error) {
	if p.SharedDatabase == "" {
		p.SharedDatabase = "tenantkit_shared"
	}
	v := &ValidationError{}
	if !clusterName.MatchString(p.Name) {
		v.add("name", "must be 1 to 63 lowercase letters, digits, '-' or '_'")
	}
	for _, f := range [][2]string{{"owner_url", p.OwnerURL}, {"app_url", p.AppURL}, {"replication_url", p.ReplicationURL}} {
		field, raw := f[0], f[1]
		if raw == "" && field == "replication_url" {
			continue
		}
		if u, err := url.Parse(raw); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
			v.add(field, "must be a postgres:// URL with a host")
		}
	}
	if !clusterName.MatchString(p.SharedDatabase) {
		v.add("shared_database", "must be a plain database name")
	}
	if err := v.orNil(); err != nil {
		return Cluster{}, err
	}
	var c Cluster
	err := s.write(ctx, func(q *catalogdb.Queries) (bus.Message, error) {
		var err error
		c, err = q.AddCluster(ctx, catalogdb.AddClusterParams{Name: p.Name, OwnerURL: p.OwnerURL, AppURL: p.AppURL,
			ReplicationURL: p.ReplicationURL, SharedDatabase: p.SharedDatabase})
		if isUnique(err) {
			return bus.Message{}, fmt.Errorf("%w: %q", ErrClusterExists, p.Name)
		}
		if err != nil {
			return bus.Message{}, err
		}
		return bus.Message{}, auditTarget(ctx, q, actor, "cluster.add", "cluster", p.Name, nil, redacted(c))
	})
	return c, err
}

// redacted is a cluster without its passwords, for the audit log.
func redacted(c Cluster) map[string]string { return ClusterView(c) }

// ClusterView is a cluster as people see it: its URLs without passwords.
func ClusterView(c Cluster) map[string]string {
	return map[string]string{"name": c.Name, "shared_database": c.SharedDatabase, "owner_url": RedactURL(c.OwnerURL),
		"app_url": RedactURL(c.AppURL), "replication_url": RedactURL(c.ReplicationURL)}
}

// RedactURL masks a connection URL's password, in its user part or in its
// query (libpq and pgx read it there too).
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// ListClusters lists the registered clusters.
func (s *Store) ListClusters(ctx context.Context) ([]Cluster, error) { return s.q.ListClusters(ctx) }

// GetCluster returns a cluster by name.
func (s *Store) GetCluster(ctx context.Context, name string) (Cluster, error) {
	c, err := s.q.GetCluster(ctx, name)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, fmt.Errorf("%w: %q", ErrClusterNotFound, name)
	}
	return c, err
}

// RemoveCluster unregisters a cluster that holds no tenants.
func (s *Store) RemoveCluster(ctx context.Context, actor, name string) error {
	return s.write(ctx, func(q *catalogdb.Queries) (bus.Message, error) {
		c, err := q.GetCluster(ctx, name)
		if errors.Is(err, pgx.ErrNoRows) {
			return bus.Message{}, fmt.Errorf("%w: %q", ErrClusterNotFound, name)
		}
		if err != nil {
			return bus.Message{}, err
		}
		// The cluster's recorded app targets go with it when it holds no
		// tenants (a shared database that held only deleted tenants).
		if err := q.ForgetClusterTargets(ctx, name); err != nil {
			return bus.Message{}, err
		}
		n, err := q.RemoveCluster(ctx, name)
		if err != nil {
			return bus.Message{}, err
		}
		if n == 0 {
			return bus.Message{}, fmt.Errorf("%w: %q", ErrClusterInUse, name)
		}
		return bus.Message{All: true}, auditTarget(ctx, q, actor, "cluster.remove", "cluster", name, redacted(c), nil)
	})
}

// PlaceParams says where to place a tenant. Empty fields take defaults.
type PlaceParams struct {
	// Tier defaults to the plan's default tier.
	Tier string `json:"tier"`
	// Cluster defaults to the cluster holding the fewest tenants.
	Cluster string `json:"cluster"`
	// Database adopts an existing database of the cluster for a dedicated
	// tenant instead of creating tenant_<id>; tenantkit never drops it.
	Database string `json:"database"`
}

// EnsurePlacement returns the tenant's placement, creating it in state
// provisioning when it has none: on tier (the plan's default tier when
// empty) and cluster (the one holding the fewest tenants when empty).
func (s *Store) EnsurePlacement(ctx context.Context, actor, ref, tier, cluster string) (Placement, error) {
	return s.Place(ctx, actor, ref, PlaceParams{Tier: tier, Cluster: cluster})
}

// Place is EnsurePlacement with every option.
func (s *Store) Place(ctx context.Context, actor, ref string, pp PlaceParams) (Placement, error) {
	tier, cluster := pp.Tier, pp.Cluster
	var pl Placement
	err := s.write(ctx, func(q *catalogdb.Queries) (bus.Message, error) {
		t, err := s.getLive(ctx, q, ref)
		if err != nil {
			return bus.Message{}, err
		}
		row, err := q.GetPlacement(ctx, t.ID)
		if err == nil {
			pl = placementFrom(row)
			if (tier != "" && tier != pl.Tier) || (cluster != "" && cluster != pl.Cluster) || (pp.Database != "" && pp.Database != pl.Database) {
				return bus.Message{}, fmt.Errorf("%w: %s on %s", ErrAlreadyPlaced, pl.Tier, pl.Cluster)
			}
			return bus.Message{}, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return bus.Message{}, err
		}
		if tier == "" {
			plans, err := q.ListPlans(ctx)
			if err != nil {
				return bus.Message{}, err
			}
			for _, p := range plans {
				if p.Name == t.Plan {
					tier = p.DefaultTier
				}
			}
		}
		c, err := s.pickCluster(ctx, q, cluster)
		if err != nil {
			return bus.Message{}, err
		}
		db, schema, err := Location(tier, t.ID, c.SharedDatabase)
		if err != nil {
			return bus.Message{}, &ValidationError{Fields: []FieldError{{"tier", "must be shared, schema or dedicated"}}}
		}
		adopted := pp.Database != ""
		if adopted {
			if tier != TierDedicated || !clusterName.MatchString(pp.Database) || pp.Database == c.SharedDatabase {
				return bus.Message{}, &ValidationError{Fields: []FieldError{{"database", "adopting a database needs tier dedicated and a plain database name other than the shared one"}}}
			}
			db = pp.Database
		}
		row, err = q.InsertPlacement(ctx, catalogdb.InsertPlacementParams{TenantID: t.ID, Tier: tier, Cluster: c.Name, Database: db, Schema: schema, Adopted: adopted})
		if err != nil {
			return bus.Message{}, err
		}
		pl = placementFrom(row)
		return bus.Message{Tenant: t.ID.String()}, audit(ctx, q, actor, "placement.create", t.ID, nil, pl)
	})
	return pl, err
}

func (s *Store) pickCluster(ctx context.Context, q *catalogdb.Queries, name string) (Cluster, error) {
	if name != "" {
		c, err := q.GetCluster(ctx, name)
		if errors.Is(err, pgx.ErrNoRows) {
			return c, &ValidationError{Fields: []FieldError{{"cluster", fmt.Sprintf("no cluster %q", name)}}}
		}
		return c, err
	}
	counts, err := q.ClusterTenantCounts(ctx)
	if err != nil {
		return Cluster{}, err
	}
	if len(counts) == 0 {
		return Cluster{}, ErrNoCluster
	}
	return q.GetCluster(ctx, counts[0].Name)
}

// GetPlacement returns a tenant's placement.
func (s *Store) GetPlacement(ctx context.Context, ref string) (Placement, error) {
	t, err := s.GetTenant(ctx, ref)
	if err != nil {
		return Placement{}, err
	}
	row, err := s.q.GetPlacement(ctx, t.ID)
	if errors.Is(err, pgx.ErrNoRows) {
		return Placement{}, fmt.Errorf("%w: %q", ErrNotPlaced, ref)
	}
	return placementFrom(row), err
}

// SetPlacementState moves a placement to state.
func (s *Store) SetPlacementState(ctx context.Context, actor, ref, state string) (Placement, error) {
	var pl Placement
	err := s.write(ctx, func(q *catalogdb.Queries) (bus.Message, error) {
		t, err := s.get(ctx, q, ref, true)
		if err != nil {
			return bus.Message{}, err
		}
		row, err := q.SetPlacementState(ctx, catalogdb.SetPlacementStateParams{TenantID: t.ID, State: state})
		if errors.Is(err, pgx.ErrNoRows) {
			return bus.Message{}, fmt.Errorf("%w: %q", ErrNotPlaced, ref)
		}
		if err != nil {
			return bus.Message{}, err
		}
		pl = placementFrom(row)
		return bus.Message{Tenant: t.ID.String()}, audit(ctx, q, actor, "placement."+state, t.ID, nil, pl)
	})
	return pl, err
}

// DeletePlacement forgets a tenant's placement (after deprovisioning).
func (s *Store) DeletePlacement(ctx context.Context, actor, ref string) error {
	return s.write(ctx, func(q *catalogdb.Queries) (bus.Message, error) {
		t, err := s.get(ctx, q, ref, true)
		if err != nil {
			return bus.Message{}, err
		}
		if err := q.DeletePlacement(ctx, t.ID); err != nil {
			return bus.Message{}, err
		}
		return bus.Message{Tenant: t.ID.String()}, audit(ctx, q, actor, "placement.delete", t.ID, nil, nil)
	})
}

// PlacementRow is a placement with its tenant's slug.
type PlacementRow = catalogdb.ListPlacementsRow

// ListPlacements lists every placement.
func (s *Store) ListPlacements(ctx context.Context) ([]PlacementRow, error) {
	return s.q.ListPlacements(ctx)
}

// AppTarget is a database and schema the app's migrations are applied to.
type AppTarget = catalogdb.TenantkitAppTarget

// RecordAppTarget records the app migration version a target reached.
func (s *Store) RecordAppTarget(ctx context.Context, cluster, database, schema, tier string, version int64, lastError string) error {
	return s.q.UpsertAppTarget(ctx, catalogdb.UpsertAppTargetParams{Cluster: cluster, Database: database, Schema: schema,
		Tier: tier, Version: version, LastError: lastError})
}

// ListAppTargets lists every app target.
func (s *Store) ListAppTargets(ctx context.Context) ([]AppTarget, error) {
	return s.q.ListAppTargets(ctx)
}

// ForgetAppTarget removes a target (after its schema or database is gone).
func (s *Store) ForgetAppTarget(ctx context.Context, cluster, database, schema string) error {
	return s.q.DeleteAppTarget(ctx, catalogdb.DeleteAppTargetParams{Cluster: cluster, Database: database, Schema: schema})
}

func placementFrom(r catalogdb.TenantkitPlacement) Placement {
	return Placement{Tier: r.Tier, Cluster: r.Cluster, Database: r.Database, Schema: r.Schema, Epoch: r.Epoch, State: r.State, Adopted: r.Adopted}
}
