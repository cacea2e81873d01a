package tenantkittest

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
)

// QueryCounter is a pgx.QueryTracer that counts the statements a
// connection or pool sends: set it as ConnConfig.Tracer to show that a
// path sends no query, or a number that does not grow with its input.
type QueryCounter struct {
	n   atomic.Int64
	mu  sync.Mutex
	sql []string // the first maxKept statements' text, for failure messages
}

const maxKept = 4096

// N returns the statements counted so far.
func (q *QueryCounter) N() int64 { return q.n.Load() }

// TraceQueryStart counts one statement.
func (q *QueryCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	q.n.Add(1)
	q.mu.Lock()
	if len(q.sql) < maxKept {
		q.sql = append(q.sql, data.SQL)
	}
	q.mu.Unlock()
	return ctx
}

// Since returns the text of the statements counted after the first n.
func (q *QueryCounter) Since(n int64) []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	if n >= int64(len(q.sql)) {
		return nil
	}
	return append([]string(nil), q.sql[n:]...)
}

// TraceQueryEnd does nothing.
func (q *QueryCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
