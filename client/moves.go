package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// States of a move. A move goes pending → preparing → copying →
// catching_up → verifying → cutover → complete, or ends failed or
// rolled_back.
const (
	MovePending    = "pending"
	MovePreparing  = "preparing"
	MoveCopying    = "copying"
	MoveCatchingUp = "catching_up"
	MoveVerifying  = "verifying"
	MoveCutover    = "cutover"
	MoveComplete   = "complete"
	MoveFailed     = "failed"
	MoveRolledBack = "rolled_back"
)

// Move is a move of a tenant's data to another tier or cluster, worked by
// the server's move runner.
type Move struct {
	ID       string `json:"id"`
	TenantID string `json:"tenant_id"`
	Slug     string `json:"slug"`
	// State is one of the Move… states; Phase what the runner is doing in
	// it.
	State          string `json:"state"`
	Phase          string `json:"phase"`
	SourceTier     string `json:"source_tier"`
	SourceCluster  string `json:"source_cluster"`
	SourceDatabase string `json:"source_database"`
	SourceSchema   string `json:"source_schema"`
	SourceEpoch    int64  `json:"source_epoch"`
	TargetTier     string `json:"target_tier"`
	TargetCluster  string `json:"target_cluster"`
	TargetDatabase string `json:"target_database"`
	TargetSchema   string `json:"target_schema"`
	// RequestedBy is the actor who asked for the move.
	RequestedBy     string          `json:"requested_by"`
	DeferredIndexes json.RawMessage `json:"deferred_indexes"`
	// Progress and Timings are JSON objects the runner fills in as it
	// goes.
	Progress          json.RawMessage `json:"progress"`
	Timings           json.RawMessage `json:"timings"`
	ReverseLSN        string          `json:"reverse_lsn"`
	CancelRequested   bool            `json:"cancel_requested"`
	RollbackRequested bool            `json:"rollback_requested"`
	// LastError is the runner's last error, with passwords masked.
	LastError   string     `json:"last_error"`
	Attempts    int        `json:"attempts"`
	LeaseOwner  string     `json:"lease_owner"`
	LeaseUntil  *time.Time `json:"lease_until"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
	CutoverAt   *time.Time `json:"cutover_at"`
	FinishedAt  *time.Time `json:"finished_at"`
	RetainUntil *time.Time `json:"retain_until"`
	CleanedAt   *time.Time `json:"cleaned_at"`
}

// MoveParams ask for a move.
type MoveParams struct {
	// Tier is the target tier. Required.
	Tier string `json:"tier"`
	// Cluster is the target cluster. Defaults to the tenant's current one.
	Cluster string `json:"cluster,omitempty"`
}

// MoveListParams select moves, newest first.
type MoveListParams struct {
	// Tenant keeps only the moves of that tenant (id or slug). Defaults
	// to every tenant's.
	Tenant string
	// Limit is how many moves, 1 to 500. Defaults to the server's, 50.
	Limit int
}

func movePath(id string) string { return "/api/v1/moves/" + url.PathEscape(id) }

// CreateMove asks for a tenant's data to be moved. The server answers 202
// at once: its runner works the move; poll GetMove to follow it. It needs
// a server that places data.
func (c *Client) CreateMove(ctx context.Context, ref string, p MoveParams) (Move, error) {
	var m Move
	return m, c.call(ctx, http.MethodPost, tenantPath(ref)+"/moves", nil, p, &m)
}

// ListMoves returns the newest moves. The server pages them no further:
// there is no cursor, only a limit.
func (c *Client) ListMoves(ctx context.Context, p MoveListParams) ([]Move, error) {
	q := query("tenant", p.Tenant)
	if p.Limit != 0 {
		q.Set("limit", strconv.Itoa(p.Limit))
	}
	var out struct {
		Moves []Move `json:"moves"`
	}
	return out.Moves, c.call(ctx, http.MethodGet, "/api/v1/moves", q, nil, &out)
}

// GetMove returns a move by id.
func (c *Client) GetMove(ctx context.Context, id string) (Move, error) {
	var m Move
	return m, c.call(ctx, http.MethodGet, movePath(id), nil, nil, &m)
}

// CancelMove asks the runner of a running move to stop it and remove what
// it built.
func (c *Client) CancelMove(ctx context.Context, id string) (Move, error) {
	var m Move
	return m, c.call(ctx, http.MethodPost, movePath(id)+"/cancel", nil, nil, &m)
}

// RollbackMove asks for a complete move to be undone, while its source is
// retained.
func (c *Client) RollbackMove(ctx context.Context, id string) (Move, error) {
	var m Move
	return m, c.call(ctx, http.MethodPost, movePath(id)+"/rollback", nil, nil, &m)
}
