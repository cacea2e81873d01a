package tenantkittest

import (
	"context"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
)

// QueryCounter is a pgx.QueryTracer that counts the statements a
// connection or pool sends: set it as ConnConfig.Tracer to show that a
// path sends no query, or a number that does not grow with its input.
type QueryCounter struct{ n atomic.Int64 }

// N returns the statements counted so far.
func (q *QueryCounter) N() int64 { return q.n.Load() }

// TraceQueryStart counts one statement.
func (q *QueryCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	q.n.Add(1)
	return ctx
}

// TraceQueryEnd does nothing.
func (q *QueryCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
