package adminclient

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/tenantkit/tenantkit/internal/catalog"
)

// CreateMove asks for tenant ref to be moved; the server's runner works
// the move.
func (c *Client) CreateMove(ctx context.Context, ref string, p catalog.MoveParams) (catalog.Move, error) {
	var m catalog.Move
	return m, c.do(ctx, http.MethodPost, tenantPath(ref)+"/moves", p, &m)
}

// ListMoves returns the newest moves first, of one tenant when tenant is
// not empty; limit 0 is the server's default.
func (c *Client) ListMoves(ctx context.Context, tenant string, limit int) ([]catalog.Move, error) {
	q := url.Values{}
	if tenant != "" {
		q.Set("tenant", tenant)
	}
	if limit != 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	path := "/api/v1/moves"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var out struct {
		Moves []catalog.Move `json:"moves"`
	}
	return out.Moves, c.do(ctx, http.MethodGet, path, nil, &out)
}

// GetMove returns a move by id.
func (c *Client) GetMove(ctx context.Context, id string) (catalog.Move, error) {
	var m catalog.Move
	return m, c.do(ctx, http.MethodGet, movePath(id), nil, &m)
}

// CancelMove asks the runner of a running move to stop it and remove what
// it built.
func (c *Client) CancelMove(ctx context.Context, id string) (catalog.Move, error) {
	var m catalog.Move
	return m, c.do(ctx, http.MethodPost, movePath(id)+"/cancel", nil, &m)
}

// RollbackMove asks for a complete move to be undone.
func (c *Client) RollbackMove(ctx context.Context, id string) (catalog.Move, error) {
	var m catalog.Move
	return m, c.do(ctx, http.MethodPost, movePath(id)+"/rollback", nil, &m)
}

func movePath(id string) string { return "/api/v1/moves/" + url.PathEscape(id) }
