package scope

import (
	"container/list"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantkit/tenantkit/internal/rlspolicy"
)

// Target is where scoped work runs: the tenant, the placement epoch the
// caller believes current, and the schema that holds the tenant's tables.
// Build it with NewTarget, once per tenant and placement: it holds the
// setup's arguments, boxed for every statement to share, and what the
// setup learned of the placement's database (shared by copies).
type Target struct {
	Tenant uuid.UUID
	Epoch  int64
	Schema string
	// Cluster and Database name the placement's database, for work that
	// must find it again (a job's commit, say).
	Cluster, Database string
	// base holds the setup's arguments but the last, indexed by shape.
	// The search_path they set is the tenant's schema, quoted, then
	// pg_temp, so that a temporary table never shadows a tenant table.
	base [8][]any
	// checked is the cutover counter of the placement's database at
	// which the fence was last checked with no cutover in progress, with
	// the setup's arguments carrying it (see the setup).
	checked *atomic.Pointer[checked]
	// bind holds the text parameters of the binding statement, without
	// and with the session reset; bindFence those of its fence check.
	bind      [2][][]byte
	bindFence [][]byte
}

// checked is a cutover counter value and the setup's arguments, boxed,
// that carry it.
type checked struct {
	at    int64
	setup [8][]any
	// enter holds enterSQL's arguments: the tenant, the epoch, the
	// search_path and the counter.
	enter []any
}

// notChecked is a counter no database has: the sequence starts at 1.
const notChecked = -1

// NewTarget returns the Target of a tenant's placement.
func NewTarget(tenant uuid.UUID, epoch int64, schema string) Target {
	var id, epochArg, path any = tenant.String(), epoch, searchPath(schema)
	t := Target{Tenant: tenant, Epoch: epoch, Schema: schema, checked: new(atomic.Pointer[checked])}
	for i := range t.base {
		t.base[i] = []any{id, epochArg, path, i&4 != 0, i&2 != 0, i&1 != 0}
	}
	t.checked.Store(t.checkedAt(notChecked))
	idText, pathText := []byte(tenant.String()), []byte(path.(string))
	t.bind[0] = [][]byte{idText, pathText, []byte("f")}
	t.bind[1] = [][]byte{idText, pathText, []byte("t")}
	t.bindFence = [][]byte{idText, strconv.AppendInt(nil, epoch, 10)}
	return t
}

// searchPath is the search_path of a tenant whose tables are in schema:
// the schema, then pg_temp, so that a temporary table never shadows a
// tenant table. It is written as PostgreSQL writes a search_path set with
// ALTER ROLE … SET (an identifier of lower-case letters, digits and
// underscores bare, a keyword excepted), so that the setup finds it
// already in place where the role's default names the schema (enterSQL).
func searchPath(schema string) string {
	if plainIdentifier(schema) {
		return schema + ", pg_temp"
	}
	return pgx.Identifier{schema}.Sanitize() + ", pg_temp"
}

// plainIdentifier says whether name needs no quotes in a search_path:
// lower-case letters, digits and underscores, not starting with a digit.
// A keyword (PostgreSQL quotes those in what it writes) only makes the
// setup set a search_path it could have found in place.
func plainIdentifier(name string) bool {
	if name == "" || len(name) > 63 {
		return false
	}
	for i, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r == '_':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// checkedAt boxes the setup's arguments for the counter value at.
func (t Target) checkedAt(at int64) *checked {
	c := &checked{at: at}
	var atArg any = at
	for i, base := range t.base {
		c.setup[i] = append(append(make([]any, 0, len(base)+1), base...), atArg)
	}
	c.enter = []any{t.base[0][0], t.base[0][1], t.base[0][2], atArg}
	return c
}

// learn records the counter value the setup returned (NULL: nothing to
// learn, a cutover being in progress or the snapshot too old).
func (t Target) learn(raw []byte, format int16) {
	if raw == nil {
		return
	}
	var at int64
	if format == pgx.BinaryFormatCode && len(raw) == 8 {
		at = int64(binary.BigEndian.Uint64(raw))
	} else {
		v, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil {
			return
		}
		at = v
	}
	if t.checked.Load().at != at {
		t.checked.Store(t.checkedAt(at))
	}
}

// shape indexes the setup arguments: by whether the session is to be
// reset, and whether the caller chose the isolation level and the access
// mode (the reset checks those it did not: see tenantkit.reset_session).
func shape(reset bool, opts pgx.TxOptions) int {
	i := 0
	if reset {
		i += 4
	}
	if opts.IsoLevel != "" {
		i += 2
	}
	if opts.AccessMode != "" {
		i++
	}
	return i
}

// ErrSessionUnusable wraps the error of a scoped transaction whose setup
// failed while resetting a connection that served another tenant last:
// that session may hold what it cannot shed inside the transaction (an
// access mode or isolation level, a statement timeout another tenant set).
// The connection is closed, nothing of the caller's ran, and the work may
// run again on another connection.
var ErrSessionUnusable = errors.New("scope: the pooled connection's session could not be reset; it was closed")

// setupError is a failure of the tenant setup, before the caller's first
// statement.
type setupError struct{ err error }

func (e *setupError) Error() string { return e.err.Error() }
func (e *setupError) Unwrap() error { return e.err }

// failed closes c when its setup failed while resetting it, and says so in
// the error.
func failed(ctx context.Context, c *pgx.Conn, reset bool, err error) error {
	var se *setupError
	if !errors.As(err, &se) {
		return err
	}
	if !reset || IsMoved(err) {
		return se.err
	}
	_ = c.Close(ctx)
	return fmt.Errorf("%w: %w", ErrSessionUnusable, se.err)
}

// MovedCode is the SQLSTATE tenantkit.moved raises when the transaction's
// placement epoch is older than the fence's: the tenant moved.
const MovedCode = "TKMOV"

// IsMoved reports the fence's refusal (MovedCode): the tenant moved.
func IsMoved(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == MovedCode
}

// Config configures a Scoper.
type Config struct {
	// Shared says that connections may have served anyone since this
	// process last used them, as behind PgBouncer in transaction mode.
	// Each connection's first scoped use then asks the pooler whether it
	// resets server sessions after every transaction (probePooler). If it
	// does, every transaction sets its tenant up and nothing more; if it
	// does not, or cannot be shown to, every transaction resets the
	// session first unless the pooler reset it since a scoped transaction
	// last ran on it (pooledSetupSQL). Defaults to false: a connection is
	// reset only when it changes tenant.
	Shared bool
	// NoPoolerReset, when set, is called when a connection finds that its
	// pooler does not reset server sessions between transactions (Shared).
	NoPoolerReset func()
	// Unprepared sends every statement unprepared, as PgBouncer in
	// transaction mode needs (before 1.21). Defaults to false.
	Unprepared bool
	// CacheSize bounds the statements prepared per connection; the least
	// recently used is deallocated to make room. Defaults to 512.
	CacheSize int
	// Bind keeps each connection bound to the tenant it serves, at
	// session level, so that a connection serving the same tenant again
	// sends the caller's statements and nothing else (see bind). Ignored
	// when Shared. Defaults to false: every transaction sets the tenant up.
	Bind bool
	// Binding says whether work for a tenant at a placement epoch may run
	// on a bound session, and the current binding generation: sessions
	// bound under an older one bind again. It says no for a tenant a move's
	// cutover is about to fence (the cutover waits for every binding), and
	// the generation moves on when such news may have been missed. Work
	// it says no to sets the tenant up per transaction, and a connection
	// whose binding it no longer allows releases it when its use ends.
	// Defaults to always, generation 0.
	Binding func(tenant uuid.UUID, epoch int64) (gen uint64, ok bool)
}

// Scoper runs scoped work on connections it is handed.
type Scoper struct{ cfg Config }

// New returns a Scoper.
func New(cfg Config) *Scoper {
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = 512
	}
	if cfg.Shared {
		cfg.Bind = false
	}
	if cfg.Binding == nil {
		cfg.Binding = func(uuid.UUID, int64) (uint64, bool) { return 0, true }
	}
	return &Scoper{cfg: cfg}
}

// stateKey holds a connection's state in its custom data.
const stateKey = "tenantkit.scope"

// connState is what a connection carries between scoped uses.
type connState struct {
	// tenant is the tenant whose scoped work last ended well on the
	// connection; uuid.Nil when unknown (the last use failed, possibly
	// rolling back its reset).
	tenant uuid.UUID
	// fresh is true until the connection's first scoped use: a new
	// session holds nothing to reset.
	fresh bool
	// bound is the tenant whose binding the session holds (settings and
	// the shared advisory lock, at session level), at boundEpoch; uuid.Nil
	// when none. A session that holds a binding always has bound set, so
	// that it is released; one with bound set always holds it.
	bound      uuid.UUID
	boundEpoch int64
	boundGen   uint64
	// bindPrepared says the binding statements are prepared.
	bindPrepared bool
	// pooler is what the connection's pooler was shown to do (Shared).
	pooler poolerKind
	// execMode is the connection's default query exec mode, read once:
	// pgx copies the whole configuration to tell it.
	execMode pgx.QueryExecMode
	stmts    stmtCache
}

func (s *Scoper) state(c *pgx.Conn) *connState {
	data := c.PgConn().CustomData()
	st, _ := data[stateKey].(*connState)
	if st == nil {
		st = &connState{fresh: true, stmts: stmtCache{max: s.cfg.CacheSize}, execMode: c.Config().DefaultQueryExecMode}
		data[stateKey] = st
	}
	return st
}

// enter marks the connection as being entered for t, and says whether the
// session must be reset first.
func (s *Scoper) enter(st *connState, t Target) bool {
	var reset bool
	if s.cfg.Shared {
		// Behind a pooler that resets sessions there is nothing to reset;
		// behind one that does not, pooledSetupSQL decides.
		reset = st.pooler != poolerResets
	} else {
		reset = (st.tenant != t.Tenant && !st.fresh) || st.bound != uuid.Nil
	}
	st.tenant, st.fresh, st.bound = uuid.Nil, false, uuid.Nil
	return reset
}

// warm says whether work for t may run on a session bound to it, and in
// which binding generation.
func (s *Scoper) warm(t Target) (uint64, bool) {
	if !s.cfg.Bind {
		return 0, false
	}
	return s.cfg.Binding(t.Tenant, t.Epoch)
}

// allowed says whether st's binding may still be used.
func (s *Scoper) allowed(st *connState) bool {
	gen, ok := s.cfg.Binding(st.bound, st.boundEpoch)
	return ok && gen == st.boundGen
}

// Tx runs fn in a transaction on conn scoped to t, and commits when fn
// returns nil. BEGIN, the tenant setup and the fence check go in one round
// trip, as prepared statements; the transaction then costs what a bare one
// does, plus those two statements' server time.
func (s *Scoper) Tx(ctx context.Context, conn *pgxpool.Conn, t Target, opts pgx.TxOptions, fn func(pgx.Tx) error) error {
	st := s.state(conn.Conn())
	if gen, ok := s.warm(t); ok {
		defer s.release(ctx, conn.Conn(), st)
		if err := s.ensureBound(ctx, conn.Conn(), st, t, gen); err != nil {
			return err
		}
		opts.BeginQuery = ""
		return run(ctx, &lazyTx{s: s, ctx: ctx, c: conn.Conn(), st: st, t: t, opts: opts, bound: true}, fn)
	}
	if err := s.probe(ctx, conn.Conn(), st); err != nil {
		return err
	}
	reset := s.enter(st, t)
	if !reset && !conn.Conn().IsClosed() {
		// Nothing to reset: the transaction begins with fn's first
		// statement (lazyTx). A connection known closed begins on its own
		// and fails before fn runs, as nothing was sent: the work goes to
		// another connection.
		opts.BeginQuery = ""
		// The session stays t's whatever the outcome: nothing was reset,
		// and what a failed transaction set rolled back with it.
		st.tenant = t.Tenant
		return run(ctx, &lazyTx{s: s, ctx: ctx, c: conn.Conn(), st: st, t: t, opts: opts}, fn)
	}
	tx, err := s.begin(ctx, conn.Conn(), st, t, reset, opts)
	if err != nil {
		return failed(ctx, conn.Conn(), reset, err)
	}
	if err := run(ctx, tx, fn); err != nil {
		return err
	}
	st.tenant = t.Tenant
	return nil
}

// begin opens a transaction on c scoped to t, in one round trip. Its
// BeginQuery is ignored.
func (s *Scoper) begin(ctx context.Context, c *pgx.Conn, st *connState, t Target, reset bool, opts pgx.TxOptions) (pgx.Tx, error) {
	b := &pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, 0, 2)}
	opts.BeginQuery = ""
	b.BeginTx(opts)
	s.queueSetup(b, st, t, reset, opts)
	br := c.SendBatch(ctx, b)
	tx := br.Tx()
	_, err := br.Exec()
	if err == nil {
		err = readSetup(br, t)
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = tx.Rollback(ctx)
		return nil, &setupError{err}
	}
	return tx, nil
}

// run runs fn in tx, then commits, or rolls back when fn fails or panics.
func run(ctx context.Context, tx pgx.Tx, fn func(pgx.Tx) error) (err error) {
	defer func() {
		if rerr := tx.Rollback(ctx); err == nil && rerr != nil && !errors.Is(rerr, pgx.ErrTxClosed) {
			err = rerr
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
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
	if gen, ok := s.warm(t); ok {
		defer s.release(ctx, c, st)
		if err := s.ensureBound(ctx, c, st, t, gen); err != nil {
			return err
		}
		return s.boundStatement(ctx, c, st, sql, args, read)
	}
	if err := s.probe(ctx, c, st); err != nil {
		return err
	}
	reset := s.enter(st, t)
	var err error
	switch {
	case s.cfg.Unprepared:
		err = s.batch(ctx, c, st, t, reset, sql, args, read)
	default:
		key := sql
		name, ok := st.stmts.get(key)
		if ok {
			err = s.batch(ctx, c, st, t, reset, name, args, read)
			var se *setupError
			if !resultChanged(err) || errors.As(err, &se) {
				break
			}
			if derr := forget(ctx, c, st, key, name); derr != nil {
				return errors.Join(err, derr)
			}
		}
		err = s.prepareAndRun(ctx, c, st, t, reset, key, args, read)
	}
	if err == nil || !reset {
		// Without a reset to roll back, the session stays t's.
		st.tenant = t.Tenant
	}
	if err != nil {
		return failed(ctx, c, reset, err)
	}
	return nil
}

// prepareAndRun prepares the statement of key inside a scoped transaction,
// deallocating the least recently used one when the cache is full, and
// runs it.
func (s *Scoper) prepareAndRun(ctx context.Context, c *pgx.Conn, st *connState, t Target, reset bool, key stmtKey,
	args []any, read func(pgx.Rows) error) error {
	if err := makeRoom(ctx, c, st); err != nil {
		return err
	}
	tx, err := s.begin(ctx, c, st, t, reset, pgx.TxOptions{})
	if err != nil {
		return err
	}
	return run(ctx, tx, func(tx pgx.Tx) error {
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

// The tenant setup: one statement sent ahead of the caller's in the same
// round trip. It may reset the session (when the connection comes from
// another tenant), sets the transaction-local tenant setting and
// search_path, and checks the fence unless it can show that no cutover
// began since this process last checked the database: the cutover
// counter (tenantkit.cutover_seq, read whatever the snapshot: a sequence
// is not transactional) still holds the value the last check returned.
// Then it takes no lock and reads no table. That is safe because a
// cutover advances the counter first and then waits for every
// transaction older than that to end before it fences the tenant (see
// internal/move): a transaction that read the counter before it moved is
// waited for, and one that reads it after checks the fence. The check,
// tenantkit.check_fence, takes the shared advisory lock a cutover takes
// exclusively, so it waits on one in progress, and reads the fence with a
// snapshot taken after the lock (in a REPEATABLE READ or SERIALIZABLE
// transaction that may write, it locks the fence row instead); it returns
// the counter to check against next time, or NULL while a cutover is in
// progress. The last column is that value. Every name is qualified: the
// statement runs before the search_path is set. Nothing is set for the
// session.
const setupSQL = "SELECT CASE WHEN $4::boolean THEN tenantkit.reset_session($5::boolean, $6::boolean) END, " +
	"pg_catalog.set_config('" + rlspolicy.Setting + "', $1::text, true), " +
	"pg_catalog.set_config('search_path', $3::text, true), " + checkSQL

// enterSQL is the setup of a session that needs no reset, the common case:
// setupSQL without the reset and its three parameters (the counter is $4).
// Each parameter costs the server a conversion and the client an encoding.
// It leaves the search_path alone when the session's is the tenant's
// already, as where the role's default names the schema (ALTER ROLE … IN
// DATABASE … SET search_path, for a shared tier behind a pooler that
// resets): setting it costs more than the rest of the setup, since the
// server then computes the path again for the statement and once more
// after the commit. A session whose search_path the tenant itself set is
// one only that tenant uses until it is reset.
// The settings are columns of their own, not conditions of the check's
// CASE: PostgreSQL promises no order, nor any evaluation at all, for the
// operands of AND.
const enterSQL = "SELECT pg_catalog.set_config('" + rlspolicy.Setting + "', $1::text, true), " +
	"CASE WHEN pg_catalog.current_setting('search_path') = $3::text THEN NULL " +
	"ELSE pg_catalog.set_config('search_path', $3::text, true) END, " +
	"CASE WHEN pg_catalog.pg_sequence_last_value('tenantkit.cutover_seq'::regclass) = $4::bigint THEN $4::bigint " +
	"ELSE tenantkit.check_fence($1::text::uuid, $2::bigint) END"

// pooledSetupSQL is the setup behind a pooler in transaction mode, whose
// server connections may have served anyone since this process used them,
// when the pooler was not shown to reset them (probePooler). It resets the session when the session holds the mark that it, or an
// earlier transaction of any process, left on it (a session-level
// setting): a pooler that resets sessions between transactions
// (PgBouncer's server_reset_query_always, with DISCARD ALL or the lighter
// list in the README) removes the mark, and then the reset is its and
// costs nothing here. Against a pooler that does not, every transaction
// resets.
const pooledSetupSQL = "SELECT CASE WHEN $4::boolean OR pg_catalog.current_setting('" + pooledMark + "', true) = 't' " +
	"THEN tenantkit.reset_session($5::boolean, $6::boolean) END, " +
	"pg_catalog.set_config('" + pooledMark + "', 't', false), " +
	"pg_catalog.set_config('" + rlspolicy.Setting + "', $1::text, true), " +
	"pg_catalog.set_config('search_path', $3::text, true), " + checkSQL

// pooledMark is the session setting pooledSetupSQL leaves on a session.
const pooledMark = "tenantkit.pooled"

const checkSQL = "CASE WHEN pg_catalog.pg_sequence_last_value('tenantkit.cutover_seq'::regclass) = $7::bigint THEN $7::bigint " +
	"ELSE tenantkit.check_fence($1::text::uuid, $2::bigint) END"

// queueSetup queues the tenant setup of t on b, for a transaction begun
// with opts on the connection of st.
func (s *Scoper) queueSetup(b *pgx.Batch, st *connState, t Target, reset bool, opts pgx.TxOptions) {
	c := t.checked.Load()
	switch {
	case !s.cfg.Shared && reset:
		b.Queue(setupSQL, c.setup[shape(reset, opts)]...)
	case !s.cfg.Shared, st.pooler == poolerResets:
		// The session is the tenant's own, or the pooler reset it after
		// the transaction that ran on it last, whoever's it was.
		b.Queue(enterSQL, c.enter...)
	default:
		b.Queue(pooledSetupSQL, c.setup[shape(false, opts)]...)
	}
}

// poolerKind is what a connection's pooler was shown to do between
// transactions.
type poolerKind uint8

const (
	poolerUnknown poolerKind = iota
	// poolerResets: the pooler resets the server session after every
	// transaction (PgBouncer's server_reset_query_always).
	poolerResets
	// poolerKeeps: it does not, or could not be shown to.
	poolerKeeps
)

// probeTries bounds the pairs of transactions probePooler sends in search
// of two that met the same server session.
const probeTries = 4

// probe finds out, on a connection's first scoped use behind a pooler,
// what the pooler does between transactions (see probePooler).
func (s *Scoper) probe(ctx context.Context, c *pgx.Conn, st *connState) error {
	if !s.cfg.Shared || st.pooler != poolerUnknown {
		return nil
	}
	kind, err := probePooler(ctx, c)
	if err != nil {
		return fmt.Errorf("scope: ask the pooler whether it resets sessions: %w", err)
	}
	st.pooler = kind
	if kind == poolerKeeps && s.cfg.NoPoolerReset != nil {
		s.cfg.NoPoolerReset()
	}
	return nil
}

// probePooler shows whether the pooler c goes through resets the server
// session after every transaction: one transaction leaves the session
// mark on its server session, and the next, when the pooler gave it the
// same server session (the same backend pid), finds the mark gone or not.
// A pooler that resets (RESET ALL, DISCARD ALL, the README's list) removes
// it. Until two transactions meet the same session, within probeTries,
// the answer is the safe one, poolerKeeps: a mark left there makes the
// next marked setup reset that session, as it would anyway. The answer is
// the connection's for its life: a pooler reconfigured not to reset is
// seen by the connections opened after that.
func probePooler(ctx context.Context, c *pgx.Conn) (poolerKind, error) {
	for range probeTries {
		set, err := c.PgConn().Exec(ctx, "SELECT pg_catalog.set_config('"+pooledMark+"', 't', false), pg_catalog.pg_backend_pid()").ReadAll()
		if err != nil {
			return poolerUnknown, err
		}
		got, err := c.PgConn().Exec(ctx, "SELECT coalesce(pg_catalog.current_setting('"+pooledMark+"', true), ''), pg_catalog.pg_backend_pid()").ReadAll()
		if err != nil {
			return poolerUnknown, err
		}
		first, second := probeRow(set), probeRow(got)
		if first == nil || second == nil {
			return poolerUnknown, errors.New("the probe returned no row")
		}
		if string(first[1]) != string(second[1]) {
			continue
		}
		if string(second[0]) == "t" {
			return poolerKeeps, nil
		}
		return poolerResets, nil
	}
	return poolerKeeps, nil
}

// probeRow is the only row of a one-statement simple query's results.
func probeRow(rs []*pgconn.Result) [][]byte {
	if len(rs) != 1 || len(rs[0].Rows) != 1 || len(rs[0].Rows[0]) != 2 {
		return nil
	}
	return rs[0].Rows[0]
}

// readSetup reads the setup's result from br and keeps the counter it
// returned.
func readSetup(br pgx.BatchResults, t Target) error {
	rows, err := br.Query()
	if err != nil {
		return err
	}
	if rows.Next() {
		vals, fds := rows.RawValues(), rows.FieldDescriptions()
		if last := len(vals) - 1; last >= 0 && last < len(fds) {
			t.learn(vals[last], fds[last].Format)
		}
	}
	rows.Close()
	return rows.Err()
}

func (s *Scoper) batch(ctx context.Context, c *pgx.Conn, st *connState, t Target, reset bool, sql string, args []any, read func(pgx.Rows) error) error {
	b := &pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, 0, 2)}
	s.queueSetup(b, st, t, reset, pgx.TxOptions{})
	b.Queue(sql, args...)
	br := c.SendBatch(ctx, b)
	defer br.Close()
	if err := readSetup(br, t); err != nil {
		return &setupError{err}
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

// forget drops the statement of key, whose result shape changed under it,
// from the connection and its cache.
func forget(ctx context.Context, c *pgx.Conn, st *connState, key stmtKey, name string) error {
	st.stmts.remove(key)
	return c.Deallocate(ctx, name)
}

// makeRoom deallocates the least recently used statement of the
// connection when its cache is full.
func makeRoom(ctx context.Context, c *pgx.Conn, st *connState) error {
	if old, ok := st.stmts.evict(); ok {
		return c.Deallocate(ctx, old)
	}
	return nil
}

// resultChanged reports PostgreSQL's refusal to run a prepared statement
// whose result columns changed since it was prepared.
func resultChanged(err error) bool {
	if err == nil {
		return false
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	switch pgErr.Code {
	case "0A000":
		return pgErr.Routine == "RevalidateCachedQuery" || strings.Contains(pgErr.Message, "cached plan must not change result type")
	case "08P01":
		// Behind PgBouncer, which prepares a client's statement again on
		// whichever server session runs it, in that transaction's
		// search_path: the client's description no longer fits, and the
		// server refuses the Bind before anything ran.
		return strings.Contains(pgErr.Message, "result formats but query has")
	}
	return false
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

// Binding. A connection of the Kit's own pools stays bound to the tenant
// it served last: the tenant setting and search_path are set for the
// session, and the session holds the tenant's shared advisory lock, which
// a move's cutover takes exclusively. While it serves that tenant again,
// its transactions and statements are exactly the caller's: no setup, no
// fence check. The fence holds because the lock does: a cutover cannot
// fence the tenant while a bound session exists, so the Kit gives bindings
// up when told a cutover is coming (Config.Binding), and the cutover
// ends sessions that stay bound and idle past a grace period (see
// internal/move). A session binds with two implicit transactions in one
// round trip: the first resets the session when it served another tenant,
// sets the tenant setting and search_path for the session and takes the
// shared lock at session level, waiting on a cutover in progress; the
// second, whatever the default isolation level, takes a snapshot after
// the lock was granted and checks the fence, releasing the lock before it
// raises TKMOV when the tenant moved.
const (
	bindName      = "tenantkit_bind"
	bindFenceName = "tenantkit_bind_fence"
	bindSQL       = "SELECT CASE WHEN $3::boolean THEN tenantkit.reset_session(true, true) END, " +
		"pg_catalog.set_config('" + rlspolicy.Setting + "', $1::text, false), " +
		"pg_catalog.set_config('search_path', $2::text, false), " +
		"pg_catalog.pg_advisory_lock_shared(pg_catalog.hashtextextended($1::text, 0))"
	bindFenceSQL = "SELECT CASE WHEN pg_catalog.pg_advisory_unlock_shared(pg_catalog.hashtextextended($1::text, 0)) " +
		"THEN tenantkit.moved(f.tenant_id, f.epoch, $2::bigint) END FROM tenantkit.fence f " +
		"WHERE f.tenant_id = $1::text::uuid AND f.epoch > $2::bigint"
	unbindSQL = "SELECT pg_catalog.pg_advisory_unlock_shared(pg_catalog.hashtextextended($1::text, 0))"
)

// ensureBound binds c's session to t unless it is bound to it already.
// When the tenant moved, the binding released its lock and the error says
// so (TKMOV); when binding fails otherwise, c may hold a lock or a half
// reset session, and is closed: nothing of the caller's ran, and the work
// may run again on another connection (ErrSessionUnusable).
func (s *Scoper) ensureBound(ctx context.Context, c *pgx.Conn, st *connState, t Target, gen uint64) error {
	if st.bound == t.Tenant && st.boundEpoch == t.Epoch && st.boundGen == gen && st.tenant == t.Tenant {
		return nil
	}
	reset := s.enter(st, t)
	if err := s.bind(ctx, c, st, t, reset); err != nil {
		if IsMoved(err) {
			return err
		}
		_ = c.Close(ctx)
		return fmt.Errorf("%w: %w", ErrSessionUnusable, err)
	}
	st.tenant, st.bound, st.boundEpoch, st.boundGen = t.Tenant, t.Tenant, t.Epoch, gen
	return nil
}

// bind sends the binding of c's session to t, in one round trip.
func (s *Scoper) bind(ctx context.Context, c *pgx.Conn, st *connState, t Target, reset bool) error {
	args := t.bind[0]
	if reset {
		args = t.bind[1]
	}
	p := c.PgConn().StartPipeline(ctx)
	prepare := !st.bindPrepared
	if prepare {
		p.SendPrepare(bindName, bindSQL, nil)
		p.SendPrepare(bindFenceName, bindFenceSQL, nil)
	}
	p.SendQueryPrepared(bindName, args, nil, nil)
	p.SendPipelineSync()
	p.SendQueryPrepared(bindFenceName, t.bindFence, nil, nil)
	if err := p.Sync(); err != nil {
		_ = p.Close()
		return err
	}
	var first error
	prepared := 0
	for syncs := 0; syncs < 2; {
		res, err := p.GetResults()
		if err != nil {
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) {
				_ = p.Close()
				return err
			}
			if first == nil {
				first = err
			}
			continue
		}
		switch r := res.(type) {
		case *pgconn.StatementDescription:
			prepared++
		case *pgconn.ResultReader:
			if _, err := r.Close(); err != nil && first == nil {
				first = err
			}
		case *pgconn.PipelineSync:
			syncs++
		case nil:
			_ = p.Close()
			return errors.New("scope: the binding pipeline ended early")
		}
	}
	if prepared == 2 {
		st.bindPrepared = true
	}
	if err := p.Close(); err != nil && first == nil {
		first = err
	}
	return first
}

// boundStatement runs one statement on c, bound already, as prepared
// statements of the connection's cache.
func (s *Scoper) boundStatement(ctx context.Context, c *pgx.Conn, st *connState, sql string, args []any, read func(pgx.Rows) error) error {
	name, ok := st.stmts.get(sql)
	if ok {
		err := query(ctx, c, name, args, read)
		if !resultChanged(err) {
			return err
		}
		if derr := forget(ctx, c, st, sql, name); derr != nil {
			return errors.Join(err, derr)
		}
	}
	if err := makeRoom(ctx, c, st); err != nil {
		return err
	}
	name = st.stmts.name()
	if _, err := c.Prepare(ctx, name, sql); err != nil {
		return err
	}
	st.stmts.put(sql, name)
	return query(ctx, c, name, args, read)
}

func query(ctx context.Context, c *pgx.Conn, name string, args []any, read func(pgx.Rows) error) error {
	rows, err := c.Query(ctx, name, args...)
	if err != nil {
		return err
	}
	return read(rows)
}

// release gives up c's binding, as its use ends, when it may no longer be
// used; a connection that cannot do so is closed.
func (s *Scoper) release(ctx context.Context, c *pgx.Conn, st *connState) {
	if st.bound == uuid.Nil || s.allowed(st) || c.IsClosed() {
		return
	}
	id := st.bound
	st.bound = uuid.Nil
	if _, err := c.Exec(ctx, unbindSQL, id.String()); err != nil {
		_ = c.Close(ctx)
	}
}

// Release gives up the binding of a connection idle in its pool when it
// may no longer be used (Config.Binding).
func (s *Scoper) Release(ctx context.Context, c *pgx.Conn) {
	if st, _ := c.PgConn().CustomData()[stateKey].(*connState); st != nil {
		s.release(ctx, c, st)
	}
}
