package scope

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// lazyTx is the transaction Tx hands its function when the transaction
// may begin with the function's first statement: BEGIN, the tenant setup
// (none on a bound session) and that statement go in one round trip, so a scoped transaction of n
// statements costs n+1 round trips (the commit) where a bare pgx one costs
// n+2. The first statement joins the begin when it is an Exec, Query or
// QueryRow whose statement the Scoper has prepared on the connection (by
// name, in a scoped transaction, where its names resolve in the tenant's
// schema), or when the connection prepares none (QueryExecModeExec). A
// statement pgx would prepare on its own would be prepared before the
// BEGIN, outside the transaction and its search_path: such a first
// statement begins the transaction on its own round trip, is prepared by
// name inside it, and joins the begin from then on. Anything else (a
// batch, a copy, a savepoint, a statement with pgx options) begins the
// transaction first, as an eager begin does. A transaction whose function
// sent nothing sends nothing: it has nothing to commit.
//
// When the setup fails (the tenant moved), the first statement returns its
// error, the transaction is rolled back, and Commit returns that error
// again, so a function that swallowed it still fails: the Kit runs the
// function once more on the tenant's new placement.
type lazyTx struct {
	s    *Scoper
	ctx  context.Context
	c    *pgx.Conn
	st   *connState
	t    Target
	opts pgx.TxOptions
	// bound says the session is bound to t (see bind): the transaction
	// needs no setup, and begins with BEGIN alone.
	bound bool
	// tx is the transaction once begun; err is the setup's failure.
	tx  pgx.Tx
	err error
}

var _ pgx.Tx = (*lazyTx)(nil)

// begun returns the transaction, beginning it on its own round trip when
// no statement began it yet.
func (l *lazyTx) begun(ctx context.Context) (pgx.Tx, error) {
	if l.err != nil {
		return nil, l.err
	}
	if l.tx == nil && l.bound {
		tx, err := l.c.BeginTx(ctx, l.opts)
		if err != nil {
			l.err = err
			return nil, err
		}
		l.tx = tx
	}
	if l.tx == nil {
		tx, err := l.s.begin(ctx, l.c, l.st, l.t, false, l.opts)
		if err != nil {
			l.err = unwrapSetup(err)
			return nil, l.err
		}
		l.tx = tx
	}
	return l.tx, nil
}

// joins says what to queue for sql, run with args, in the batch that
// begins the transaction: sql itself when the connection prepares nothing
// (QueryExecModeExec), the name of the statement when the Scoper prepared
// it on the connection; ok is false when sql must wait for the begin.
func (l *lazyTx) joins(sql string, args []any) (queue string, ok bool) {
	if l.tx != nil || l.err != nil {
		return "", false
	}
	if hasOptions(args) {
		return "", false
	}
	switch l.st.execMode {
	case pgx.QueryExecModeExec:
		return sql, true
	case pgx.QueryExecModeCacheStatement:
		return l.st.stmts.get(sql)
	}
	return "", false
}

// prepares says whether a first statement that did not join the begin is
// prepared by name inside the transaction, for the next transaction's
// first statement to join its begin.
func (l *lazyTx) prepares(args []any) bool {
	return !hasOptions(args) && l.st.execMode == pgx.QueryExecModeCacheStatement
}

// hasOptions says whether args begin with one of pgx's query options,
// which change how pgx sends the statement.
func hasOptions(args []any) bool {
	if len(args) == 0 {
		return false
	}
	switch args[0].(type) {
	case pgx.QueryExecMode, pgx.QueryResultFormats, pgx.QueryResultFormatsByOID, pgx.QueryRewriter:
		return true
	}
	return false
}

// first runs the transaction's first statement, sql with args, by run:
// queued after BEGIN and the setup when it joins them; otherwise after a
// begin of its own, prepared by name first when prepares says so. A joined
// statement whose result shape changed under it (a migration altered its
// table) is rolled back with its transaction, deallocated, and runs again
// the other way: nothing of it ran.
func (l *lazyTx) first(ctx context.Context, sql string, args []any, run func(pgx.BatchResults) error,
	alone func(tx pgx.Tx, sql string) error) error {
	if queue, ok := l.joins(sql, args); ok {
		err := l.send(ctx, queue, args, run)
		if !resultChanged(err) || l.err != nil || queue == sql {
			return err
		}
		_ = l.tx.Rollback(ctx)
		l.tx = nil
		if derr := forget(ctx, l.c, l.st, sql, queue); derr != nil {
			l.err = errors.Join(err, derr)
			return l.err
		}
	}
	tx, err := l.begun(ctx)
	if err != nil {
		return err
	}
	if _, ok := l.st.stmts.get(sql); !ok && l.prepares(args) {
		if err := makeRoom(ctx, l.c, l.st); err != nil {
			return err
		}
		name := l.st.stmts.name()
		if _, err := l.c.Prepare(ctx, name, sql); err != nil {
			return err
		}
		l.st.stmts.put(sql, name)
		return alone(tx, name)
	}
	return alone(tx, sql)
}

// send begins the transaction with queue (sql or its statement's name):
// BEGIN, the setup (unless bound) and queue in one round trip; run reads
// queue's results.
func (l *lazyTx) send(ctx context.Context, queue string, args []any, run func(pgx.BatchResults) error) error {
	b := &pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, 0, 3)}
	b.BeginTx(l.opts)
	if !l.bound {
		l.s.queueSetup(b, l.st, l.t, false, l.opts)
	}
	b.Queue(queue, args...)
	br := l.c.SendBatch(ctx, b)
	l.tx = br.Tx()
	_, err := br.Exec()
	if err == nil && !l.bound {
		err = readSetup(br, l.t)
	}
	if err != nil {
		_ = br.Close()
		_ = l.tx.Rollback(ctx)
		l.err = err
		return err
	}
	return run(br)
}

func unwrapSetup(err error) error {
	var se *setupError
	if errors.As(err, &se) {
		return se.err
	}
	return err
}

func (l *lazyTx) Exec(ctx context.Context, sql string, args ...any) (tag pgconn.CommandTag, err error) {
	if l.tx != nil || l.err != nil {
		tx, err := l.begun(ctx)
		if err != nil {
			return tag, err
		}
		return tx.Exec(ctx, sql, args...)
	}
	err = l.first(ctx, sql, args, func(br pgx.BatchResults) error {
		var err error
		tag, err = br.Exec()
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		return err
	}, func(tx pgx.Tx, sql string) error {
		var err error
		tag, err = tx.Exec(ctx, sql, args...)
		return err
	})
	return tag, err
}

func (l *lazyTx) Query(ctx context.Context, sql string, args ...any) (rows pgx.Rows, err error) {
	if l.tx != nil || l.err != nil {
		tx, err := l.begun(ctx)
		if err != nil {
			return &errRows{err: err, m: l.c.TypeMap()}, err
		}
		return tx.Query(ctx, sql, args...)
	}
	err = l.first(ctx, sql, args, func(br pgx.BatchResults) error {
		r, err := br.Query()
		if err != nil {
			_ = br.Close()
			return err
		}
		rows = &batchRows{Rows: r, br: br}
		return nil
	}, func(tx pgx.Tx, sql string) error {
		var err error
		rows, err = tx.Query(ctx, sql, args...)
		return err
	})
	if rows == nil {
		rows = &errRows{err: err, m: l.c.TypeMap()}
	}
	return rows, err
}

func (l *lazyTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	rows, err := l.Query(ctx, sql, args...)
	return &lazyRow{rows: rows, err: err}
}

func (l *lazyTx) Begin(ctx context.Context) (pgx.Tx, error) {
	tx, err := l.begun(ctx)
	if err != nil {
		return nil, err
	}
	return tx.Begin(ctx)
}

func (l *lazyTx) Commit(ctx context.Context) error {
	switch {
	case l.err != nil:
		return l.err
	case l.tx == nil:
		return nil
	}
	return l.tx.Commit(ctx)
}

func (l *lazyTx) Rollback(ctx context.Context) error {
	switch {
	case l.err != nil:
		return pgx.ErrTxClosed
	case l.tx == nil:
		return nil
	}
	return l.tx.Rollback(ctx)
}

func (l *lazyTx) CopyFrom(ctx context.Context, tableName pgx.Identifier, columnNames []string, rowSrc pgx.CopyFromSource) (int64, error) {
	tx, err := l.begun(ctx)
	if err != nil {
		return 0, err
	}
	return tx.CopyFrom(ctx, tableName, columnNames, rowSrc)
}

func (l *lazyTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	tx, err := l.begun(ctx)
	if err != nil {
		return pgx.FailedBatchResults(b, err)
	}
	return tx.SendBatch(ctx, b)
}

func (l *lazyTx) LargeObjects() pgx.LargeObjects {
	tx, err := l.begun(l.ctx)
	if err != nil {
		// A closed transaction's large objects fail every call.
		return pgx.LargeObjects{}
	}
	return tx.LargeObjects()
}

func (l *lazyTx) Prepare(ctx context.Context, name, sql string) (*pgconn.StatementDescription, error) {
	tx, err := l.begun(ctx)
	if err != nil {
		return nil, err
	}
	return tx.Prepare(ctx, name, sql)
}

// Conn returns the connection, the transaction begun on it: what the
// caller sends on it directly runs inside the transaction.
func (l *lazyTx) Conn() *pgx.Conn {
	_, _ = l.begun(l.ctx)
	return l.c
}

// batchRows are the rows of the statement that began the transaction;
// closing them reads the rest of the batch.
type batchRows struct {
	pgx.Rows
	br     pgx.BatchResults
	closed bool
	err    error
}

func (r *batchRows) Next() bool {
	if r.Rows.Next() {
		return true
	}
	r.Close()
	return false
}

func (r *batchRows) Close() {
	r.Rows.Close()
	if !r.closed {
		r.closed = true
		r.err = r.br.Close()
	}
}

func (r *batchRows) Err() error {
	if err := r.Rows.Err(); err != nil {
		return err
	}
	return r.err
}

// lazyRow is QueryRow's row: pgx's, on the rows of Query.
type lazyRow struct {
	rows pgx.Rows
	err  error
}

func (r *lazyRow) Scan(dest ...any) error {
	if r.err != nil {
		r.rows.Close()
		return r.err
	}
	defer r.rows.Close()
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	r.rows.Close()
	return r.rows.Err()
}

// errRows are the rows of a query that failed before it was sent.
type errRows struct {
	err error
	m   *pgtype.Map
}

func (r *errRows) TypeMap() *pgtype.Map                         { return r.m }
func (r *errRows) Close()                                       {}
func (r *errRows) Err() error                                   { return r.err }
func (r *errRows) CommandTag() pgconn.CommandTag                { return pgconn.CommandTag{} }
func (r *errRows) FieldDescriptions() []pgconn.FieldDescription { return nil }
func (r *errRows) Next() bool                                   { return false }
func (r *errRows) Scan(...any) error                            { return r.err }
func (r *errRows) Values() ([]any, error)                       { return nil, r.err }
func (r *errRows) RawValues() [][]byte                          { return nil }
func (r *errRows) Conn() *pgx.Conn                              { return nil }
