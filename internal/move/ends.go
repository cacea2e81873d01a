package move

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tenantkit/tenantkit/internal/catalog"
)

// end is one side of a move: where the tenant's data is or is going.
type end struct {
	cluster  catalog.Cluster
	tier     string
	database string
	schema   string
	tenant   uuid.UUID
}

func (e end) String() string { return e.cluster.Name + "/" + e.database + "/" + e.schema }

// shared reports whether the tenant's rows share their tables with others.
func (e end) shared() bool { return e.tier == catalog.TierShared }

func (e end) placement() catalog.Placement {
	return catalog.Placement{Tier: e.tier, Cluster: e.cluster.Name, Database: e.database, Schema: e.schema}
}

// owner connects as the cluster's owner role to the end's database.
func (e end) owner(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.Connect(ctx, withUTC(catalog.WithDatabase(e.cluster.OwnerURL, e.database)))
	if err != nil {
		return nil, fmt.Errorf("connect to %s as owner: %w", e, err)
	}
	return conn, nil
}

// ownerIfExists is owner, or a nil connection when the end's database
// does not exist (any more).
func (e end) ownerIfExists(ctx context.Context) (*pgx.Conn, error) {
	conn, err := e.owner(ctx)
	if isMissingDatabase(err) {
		return nil, nil
	}
	return conn, err
}

// reader connects as the cluster's replication role for plain queries:
// copies and checks read the tenant's rows with row security off, so that
// a role row-level security would filter fails instead of reading nothing.
func (e end) reader(ctx context.Context) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(withUTC(catalog.WithDatabase(e.replicationURL(), e.database)))
	if err != nil {
		return nil, err
	}
	cfg.RuntimeParams["row_security"] = "off"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to %s as the replication role: %w", e, err)
	}
	return conn, nil
}

// replication opens a logical replication connection to the end's database.
func (e end) replication(ctx context.Context) (*pgconn.PgConn, error) {
	u, err := url.Parse(catalog.WithDatabase(e.replicationURL(), e.database))
	if err != nil {
		return nil, err
	}
	q := u.Query()
	q.Set("replication", "database")
	u.RawQuery = q.Encode()
	conn, err := pgconn.Connect(ctx, u.String())
	if err != nil {
		return nil, fmt.Errorf("open a replication connection to %s: %w", e, err)
	}
	return conn, nil
}

func (e end) replicationURL() string {
	if e.cluster.ReplicationURL != "" {
		return e.cluster.ReplicationURL
	}
	return e.cluster.OwnerURL
}

// replicationRole is the role name in the cluster's replication URL.
func (e end) replicationRole() string {
	u, err := url.Parse(e.replicationURL())
	if err != nil || u.User == nil {
		return ""
	}
	return u.User.Username()
}

// withUTC makes a connection speak UTC, so that the text of timestamptz
// values (hashed by verification) is the same on both ends.
func withUTC(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return dsn
	}
	q := u.Query()
	q.Set("timezone", "UTC")
	u.RawQuery = q.Encode()
	return u.String()
}

// names of what a move creates, derived from its id so that a resumed or
// cleaning runner finds them.
type names struct{ hex string }

func namesOf(id uuid.UUID) names { return names{hex: strings.ReplaceAll(id.String(), "-", "")} }

func (n names) slot() string        { return "tk_move_" + n.hex }
func (n names) publication() string { return "tk_move_" + n.hex }
func (n names) backSlot() string    { return "tk_back_" + n.hex }
func (n names) backPub() string     { return "tk_back_" + n.hex }
func (n names) gid() string         { return "tk_fence_" + n.hex }
func (n names) marker() string      { return "tenantkit.move." + n.hex }

func ident(parts ...string) string { return pgx.Identifier(parts).Sanitize() }

// ownerURL is the cluster's owner URL for another database of the end's
// cluster.
func ownerURL(e end, db string) string { return catalog.WithDatabase(e.cluster.OwnerURL, db) }
