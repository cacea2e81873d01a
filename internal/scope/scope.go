package scope

import (
	"container/list"
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Target is where scoped work runs: the tenant, the placement epoch the
// caller believes current, and the schema that holds the tenant's tables.
type Target struct {
	Tenant uuid.UUID
	Epoch  int64
	Schema string
}

// Config configures a Scoper.
type Config struct {
	// Shared says that connections may have served anyone since this
	// process last used them, as behind PgBouncer in transaction mode:
	// every transaction then resets the session first. Defaults to false:
	// a connection is reset only when it changes tenant.
	Shared bool
	// Unprepared sends every statement unprepared, as PgBouncer in
	// transaction mode needs (before 1.21). Defaults to false.
	Unprepared bool
	// CacheSize bounds the statements prepared per connection; the least
	// recently used is deallocated to make room. Defaults to 512.
	CacheSize int
}

// Scoper runs scoped work on connections it is handed.
type Scoper struct{ cfg Config }

// New returns a Scoper.
func New(cfg Config) *Scoper {
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = 512
	}
	return &Scoper{cfg: cfg}
}

// stateKey holds a connection's state in its custom data.
const stateKey = "tenantkit.scope"

// connState is what a connection carries between scoped uses.
type connState struct {
	// tenant is the tenant whose scoped work last ended well on the
	// connection; uuid.Nil when unknown (never used, or the last use
	// failed, possibly rolling back its reset).
	tenant uuid.UUID
	stmts  stmtCache
}

func (s *Scoper) state(c *pgx.Conn) *connState {
	data := c.PgConn().CustomData()
	st, _ := data[stateKey].(*connState)
	if st == nil {
		st = &connState{stmts: stmtCache{max: s.cfg.CacheSize}}
		data[stateKey] = st
	}
	return st
}

// enter marks the connection as being entered for t, and says whether the
// session must be reset first.
func (s *Scoper) enter(st *connState, t Target) bool {
	reset := s.cfg.Shared || st.tenant != t.Tenant
	st.tenant = uuid.Nil
	return reset
}

// Tx runs fn in a transaction on conn scoped to t, and commits when fn
// returns nil. BEGIN and the tenant setup share one round trip.
func (s *Scoper) Tx(ctx context.Context, conn *pgxpool.Conn, t Target, opts pgx.TxOptions, fn func(pgx.Tx) error) error {
	st := s.state(conn.Conn())
	opts.BeginQuery = BeginSQL(opts, t, s.enter(st, t))
	if err := pgx.BeginTxFunc(ctx, conn, opts, fn); err != nil {
		return err
	}
	st.tenant = t.Tenant
	return nil
}

// Statement runs one statement on conn scoped to t and hands its rows to
// read. The tenant setup and the statement go in one round trip, one
// implicit transaction whose local settings end with it. A statement's
// first run on a connection prepares it inside a scoped
// transaction instead, where its table names resolve in the tenant's
// schema; later runs reuse it. A prepared statement whose result shape
// changed under it (a migration altered its table) is prepared again and
// run once more: the failed run changed nothing.
func (s *Scoper) Statement(ctx context.Context, conn *pgxpool.Conn, t Target, sql string, args []any, read func(pgx.Rows) error) error {
	c := conn.Conn()
	st := s.state(c)
	reset := s.enter(st, t)
	var err error
	switch {
	case s.cfg.Unprepared:
		err = batch(ctx, c, t, reset, sql, args, read)
	default:
		key := sql
		name, ok := st.stmts.get(key)
		if ok {
			err = batch(ctx, c, t, reset, name, args, read)
			if !resultChanged(err) {
				break
			}
			st.stmts.remove(key)
			if derr := c.Deallocate(ctx, name); derr != nil {
				return errors.Join(err, derr)
			}
		}
		err = s.prepareAndRun(ctx, c, st, t, reset, key, args, read)
	}
	if err == nil {
		st.tenant = t.Tenant
	}
	return err
}

// prepareAndRun prepares the statement of key inside a scoped transaction,
// deallocating the least recently used one when the cache is full, and
// runs it.
func (s *Scoper) prepareAndRun(ctx context.Context, c *pgx.Conn, st *connState, t Target, reset bool, key stmtKey,
	args []any, read func(pgx.Rows) error) error {
	if old, ok := st.stmts.evict(); ok {
		if err := c.Deallocate(ctx, old); err != nil {
			return err
		}
	}
	return pgx.BeginTxFunc(ctx, c, pgx.TxOptions{BeginQuery: BeginSQL(pgx.TxOptions{}, t, reset)}, func(tx pgx.Tx) error {
		name := st.stmts.name()
		if _, err := tx.Conn().Prepare(ctx, name, key); err != nil {
			return err
		}
		st.stmts.put(key, name)
		rows, err := tx.Query(ctx, name, args...)
		if err != nil {
			return err
		}
		return read(rows)
	})
}

// EnterSQL is the tenant setup of the single-statement path: its
// arguments are the tenant id, the epoch, the schema and whether to reset
// the session.
const EnterSQL = "SELECT tenantkit.enter($1::uuid, $2::bigint, $3::text, $4::boolean)"

func batch(ctx context.Context, c *pgx.Conn, t Target, reset bool, sql string, args []any, read func(pgx.Rows) error) error {
	b := &pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, 0, 2)}
	b.Queue(EnterSQL, t.Tenant, t.Epoch, t.Schema, reset)
	b.Queue(sql, args...)
	br := c.SendBatch(ctx, b)
	defer br.Close()
	if _, err := br.Exec(); err != nil {
		return err
	}
	rows, err := br.Query()
	if err != nil {
		return err
	}
	if err := read(rows); err != nil {
		return err
	}
	return br.Close()
}

// BeginSQL begins a transaction and scopes it in one simple-protocol round
// trip: BEGIN and tenantkit.enter (each statement of a simple query costs;
// one setup statement is cheapest). The values are ours (a uuid, an
// integer, a generated schema name), quoted all the same.
func BeginSQL(opts pgx.TxOptions, t Target, reset bool) string {
	var b strings.Builder
	b.Grow(128 + len(t.Schema))
	b.WriteString("BEGIN")
	if opts.IsoLevel != "" {
		b.WriteString(" ISOLATION LEVEL ")
		b.WriteString(string(opts.IsoLevel))
	}
	if opts.AccessMode != "" {
		b.WriteString(" ")
		b.WriteString(string(opts.AccessMode))
	}
	if opts.DeferrableMode != "" {
		b.WriteString(" ")
		b.WriteString(string(opts.DeferrableMode))
	}
	b.WriteString("; SELECT tenantkit.enter('")
	b.WriteString(t.Tenant.String())
	b.WriteString("', ")
	b.WriteString(strconv.FormatInt(t.Epoch, 10))
	b.WriteString(", ")
	b.WriteString(literal(t.Schema))
	if reset {
		b.WriteString(", true)")
	} else {
		b.WriteString(", false)")
	}
	return b.String()
}

// literal quotes s as an SQL string literal.
func literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// resultChanged reports PostgreSQL's refusal to run a prepared statement
// whose result columns changed since it was prepared.
func resultChanged(err error) bool {
	var pgErr *pgconn.PgError
	return err != nil && errors.As(err, &pgErr) && pgErr.Code == "0A000" &&
		(pgErr.Routine == "RevalidateCachedQuery" || strings.Contains(pgErr.Message, "cached plan must not change result type"))
}

// stmtKey is a statement's text. Statements are not told apart by
// schema: PostgreSQL plans a prepared statement again when the search_path
// changed, so one serves every tenant, and the rare schema whose tables
// differ in shape (a migration rolling across schemas) costs a prepare
// again, not a cache per schema that a thousand schemas would thrash.
type stmtKey = string

type stmtEntry struct {
	key  stmtKey
	name string
}

// stmtCache is a connection's prepared statements, least recently used
// last.
type stmtCache struct {
	max   int
	seq   uint64
	order list.List
	byKey map[stmtKey]*list.Element
}

func (c *stmtCache) get(k stmtKey) (string, bool) {
	e, ok := c.byKey[k]
	if !ok {
		return "", false
	}
	c.order.MoveToFront(e)
	return e.Value.(*stmtEntry).name, true
}

// name returns a name no statement of the connection has.
func (c *stmtCache) name() string {
	c.seq++
	return "tenantkit_" + strconv.FormatUint(c.seq, 10)
}

func (c *stmtCache) put(k stmtKey, name string) {
	if c.byKey == nil {
		c.byKey = map[stmtKey]*list.Element{}
	}
	c.byKey[k] = c.order.PushFront(&stmtEntry{key: k, name: name})
}

func (c *stmtCache) remove(k stmtKey) {
	if e, ok := c.byKey[k]; ok {
		c.order.Remove(e)
		delete(c.byKey, k)
	}
}

// evict removes the least recently used statement when the cache is full
// and returns its name, for the caller to deallocate.
func (c *stmtCache) evict() (string, bool) {
	if c.order.Len() < c.max {
		return "", false
	}
	e := c.order.Back()
	c.order.Remove(e)
	se := e.Value.(*stmtEntry)
	delete(c.byKey, se.key)
	return se.name, true
}

// Len is the number of statements prepared on conn by the Scoper.
func Len(conn *pgx.Conn) int {
	st, _ := conn.PgConn().CustomData()[stateKey].(*connState)
	if st == nil {
		return 0
	}
	return st.stmts.order.Len()
}
