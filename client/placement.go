package client

import (
	"context"
	"net/http"
	"net/url"
)

// Tiers of isolation of a tenant's data.
const (
	TierShared    = "shared"
	TierSchema    = "schema"
	TierDedicated = "dedicated"
)

// Placement is where a tenant's data lives.
type Placement struct {
	// Tier is TierShared (rows in the shared database), TierSchema (a
	// schema of its own there) or TierDedicated (a database of its own).
	Tier     string `json:"tier"`
	Cluster  string `json:"cluster"`
	Database string `json:"database"`
	Schema   string `json:"schema"`
	// Epoch is bumped at every move.
	Epoch int64 `json:"epoch"`
	// State is provisioning, ready or deprovisioning.
	State string `json:"state"`
	// Adopted marks a dedicated database the operator gave: tenantkit
	// never drops it.
	Adopted bool `json:"adopted,omitempty"`
}

// PlaceParams say where to place a tenant's data. Empty fields take
// defaults.
type PlaceParams struct {
	// Tier defaults to the plan's default tier.
	Tier string `json:"tier,omitempty"`
	// Cluster defaults to the cluster holding the fewest tenants.
	Cluster string `json:"cluster,omitempty"`
	// Database adopts an existing database of the cluster for a dedicated
	// tenant instead of creating one; tenantkit never drops it.
	Database string `json:"database,omitempty"`
}

// Cluster is a PostgreSQL server that holds tenants' data, as the server
// shows it: with the passwords of its URLs masked.
type Cluster struct {
	Name string `json:"name"`
	// SharedDatabase holds the shared tier and the tenant schemas.
	SharedDatabase string `json:"shared_database"`
	OwnerURL       string `json:"owner_url"`
	AppURL         string `json:"app_url"`
	ReplicationURL string `json:"replication_url"`
}

// ClusterParams register a cluster.
type ClusterParams struct {
	// Name is 1 to 63 lowercase letters, digits, '-' or '_'.
	Name string `json:"name"`
	// OwnerURL connects as the role that owns tenants' databases.
	OwnerURL string `json:"owner_url"`
	// AppURL connects as the application's role.
	AppURL string `json:"app_url"`
	// ReplicationURL connects as the replication role, for moves off the
	// cluster. Defaults to none.
	ReplicationURL string `json:"replication_url,omitempty"`
	// SharedDatabase defaults to tenantkit_shared.
	SharedDatabase string `json:"shared_database,omitempty"`
}

// GetPlacement returns where a tenant's data lives: 404 not-placed before
// it is placed.
func (c *Client) GetPlacement(ctx context.Context, ref string) (Placement, error) {
	var pl Placement
	return pl, c.call(ctx, http.MethodGet, tenantPath(ref)+"/placement", nil, nil, &pl)
}

// PlaceTenant places a tenant's data, or finishes placing it after a
// failure; a tenant placed already gets its placement back. It needs a
// server that places data.
func (c *Client) PlaceTenant(ctx context.Context, ref string, p PlaceParams) (Placement, error) {
	var pl Placement
	return pl, c.call(ctx, http.MethodPost, tenantPath(ref)+"/placement", nil, p, &pl)
}

// ListClusters returns the registered clusters.
func (c *Client) ListClusters(ctx context.Context) ([]Cluster, error) {
	var out struct {
		Clusters []Cluster `json:"clusters"`
	}
	return out.Clusters, c.call(ctx, http.MethodGet, "/api/v1/clusters", nil, nil, &out)
}

// AddCluster registers a cluster that accepts tenants.
func (c *Client) AddCluster(ctx context.Context, p ClusterParams) (Cluster, error) {
	var cl Cluster
	return cl, c.call(ctx, http.MethodPost, "/api/v1/clusters", nil, p, &cl)
}

// RemoveCluster unregisters a cluster that holds no tenant.
func (c *Client) RemoveCluster(ctx context.Context, name string) error {
	return c.call(ctx, http.MethodDelete, "/api/v1/clusters/"+url.PathEscape(name), nil, nil, nil)
}
