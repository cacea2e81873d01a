package jobs

import (
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
)

// NewClient returns an insert-only River client of Schema over pool, a
// pool of the catalog database: it has no workers and works no queue, so
// it can be made anywhere and never started. Operators' tools use it to
// list, get, retry and cancel jobs, and River's UI to show them.
func NewClient(pool *pgxpool.Pool) (*river.Client[pgx.Tx], error) {
	c, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		Schema: Schema,
		// Nothing runs in it that could log: its callers report errors.
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return nil, fmt.Errorf("jobs: river client: %w", err)
	}
	return c, nil
}
