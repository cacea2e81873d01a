package move

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/tenantkit/tenantkit/internal/rlspolicy"
)

// batchChanges is how many row changes one target transaction applies at
// most; the source transactions in it are applied whole.
const batchChanges = 1000

// batchBytes bounds the values one target transaction carries: a pipeline
// much larger than the socket buffers could stall both ends.
const batchBytes = 512 << 10

// batchAge is how long changes wait to be applied at most while the
// stream keeps bringing more.
const batchAge = 50 * time.Millisecond

// stream applies a slot's changes to the other end. It stores the source
// position it applied up to in tenantkit.move_applied, in the same target
// transaction as the changes, and acknowledges to the source only what is
// stored: after a crash it resumes from there with no change applied twice
// or skipped.
type stream struct {
	name    string // its row in tenantkit.move_applied
	from    end
	to      end
	slot    string
	pub     string
	marker  string
	floor   pglogrepl.LSN // transactions committed before it are not applied (a reverse slot sees the forward stream's writes)
	repl    *pgconn.PgConn
	target  *pgx.Conn
	applied pglogrepl.LSN // stored on the target
	sent    pglogrepl.LSN // how far the source has sent
	rels    map[uint32]*relation
	inTx    bool
	skipTx  bool
	txTime  time.Time
	lastTx  time.Time

	queue      []stmt
	checks     []string // per queued statement: "" or what it must have touched one row of
	pending    int
	endLSN     pglogrepl.LSN // end of the last whole transaction in the batch
	changes    int64
	seen       map[string]bool
	batchStart time.Time
	bytes      int

	// holdAt, when set, stops the stream before the first transaction
	// that commits at or after it (held, kept in backlog): the target
	// then matches a source snapshot taken at that position.
	holdAt  pglogrepl.LSN
	held    bool
	backlog []pglogrepl.Message
	// changed records, once tracking, the keys of every row the stream
	// touched: what the fence's verification compares.
	tracking  bool
	changed   map[string]map[string][][]byte // table → key text → key values
	keyCols   map[string][]string            // table → key column names
	truncated map[string]bool
	prepared  map[string]string // statement text → name on the target
	marker1   string            // a marker whose transaction has not committed yet
	applyFn   func(int64) error
	lastAck   time.Time
	lastPing  time.Time
}

type stmt struct {
	sql  string
	args [][]byte
}

type relation struct {
	name    string
	target  string
	columns []string
	keys    []int // positions of the key columns
	always  map[string]bool
}

// openStream connects both sides and starts streaming the slot from the
// stored position.
func openStream(ctx context.Context, name string, from, to end, slot, pub, marker string, floor pglogrepl.LSN, applyFn func(int64) error) (*stream, error) {
	s := &stream{name: name, from: from, to: to, slot: slot, pub: pub, marker: marker, floor: floor,
		rels: map[uint32]*relation{}, seen: map[string]bool{}, applyFn: applyFn}
	var err error
	if s.target, err = to.owner(ctx); err != nil {
		return nil, err
	}
	var stored *string
	err = s.target.QueryRow(ctx, "SELECT lsn::text FROM tenantkit.move_applied WHERE stream = $1", name).Scan(&stored)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		s.close()
		return nil, fmt.Errorf("read the applied position of %s: %w", name, err)
	}
	if stored != nil {
		if s.applied, err = pglogrepl.ParseLSN(*stored); err != nil {
			s.close()
			return nil, err
		}
	}
	if s.repl, err = from.replication(ctx); err != nil {
		s.close()
		return nil, err
	}
	start := max(s.applied, floor)
	err = pglogrepl.StartReplication(ctx, s.repl, slot, start, pglogrepl.StartReplicationOptions{
		PluginArgs: []string{"proto_version '1'", "publication_names " + literal(pub), "messages 'true'"}})
	if err != nil {
		s.close()
		return nil, fmt.Errorf("start streaming slot %s: %w", slot, err)
	}
	s.sent = start
	return s, nil
}

func (s *stream) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if s.repl != nil {
		_ = s.repl.Close(ctx)
	}
	if s.target != nil {
		_ = s.target.Close(ctx)
	}
}

// position is how far the target has caught up: the stored position, or
// all the source sent when nothing is waiting to be applied.
func (s *stream) position() pglogrepl.LSN {
	if s.inTx || s.pending > 0 || s.endLSN > 0 {
		return s.applied
	}
	return max(s.applied, s.sent)
}

// pump applies the stream until done reports true or d passes.
func (s *stream) pump(ctx context.Context, d time.Duration, done func() bool) error {
	deadline := time.Now().Add(d)
	for !done() && !s.held {
		if time.Now().After(deadline) {
			return nil
		}
		if err := s.receive(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

// receive handles the messages that arrive within wait; when none does, it
// applies what it holds and reports its position to the source.
func (s *stream) receive(ctx context.Context, wait time.Duration) error {
	rctx, cancel := context.WithTimeout(ctx, wait)
	raw, err := s.repl.ReceiveMessage(rctx)
	cancel()
	if err != nil {
		if pgconn.Timeout(err) && ctx.Err() == nil {
			if err := s.flush(ctx); err != nil {
				return err
			}
			return s.ack(ctx, time.Since(s.lastPing) > 100*time.Millisecond)
		}
		return fmt.Errorf("receive from slot %s: %w", s.slot, err)
	}
	switch msg := raw.(type) {
	case *pgproto3.ErrorResponse:
		return fmt.Errorf("slot %s: %w", s.slot, pgconn.ErrorResponseToPgError(msg))
	case *pgproto3.CopyData:
		return s.copyData(ctx, msg.Data)
	}
	return nil
}

func (s *stream) copyData(ctx context.Context, data []byte) error {
	if len(data) == 0 {
		return nil
	}
	switch data[0] {
	case pglogrepl.PrimaryKeepaliveMessageByteID:
		ka, err := pglogrepl.ParsePrimaryKeepaliveMessage(data[1:])
		if err != nil {
			return err
		}
		if !s.inTx {
			s.sent = max(s.sent, ka.ServerWALEnd)
		}
		if ka.ReplyRequested {
			return s.ack(ctx, false)
		}
	case pglogrepl.XLogDataByteID:
		xld, err := pglogrepl.ParseXLogData(data[1:])
		if err != nil {
			return err
		}
		msg, err := pglogrepl.Parse(xld.WALData)
		if err != nil {
			return fmt.Errorf("decode pgoutput: %w", err)
		}
		if s.held {
			s.backlog = append(s.backlog, msg)
			return nil
		}
		return s.apply(ctx, msg)
	}
	return nil
}

func (s *stream) apply(ctx context.Context, msg pglogrepl.Message) error {
	switch m := msg.(type) {
	case *pglogrepl.RelationMessage:
		return s.relation(ctx, m)
	case *pglogrepl.BeginMessage:
		if s.holdAt != 0 && m.FinalLSN >= s.holdAt {
			s.held = true
			s.backlog = append(s.backlog, msg)
			return s.flush(ctx)
		}
		s.inTx, s.txTime = true, m.CommitTime
		s.skipTx = m.FinalLSN < s.applied || m.FinalLSN < s.floor
	case *pglogrepl.CommitMessage:
		s.inTx = false
		if !s.skipTx {
			s.endLSN = m.TransactionEndLSN
			s.lastTx = s.txTime
		}
		s.sent = max(s.sent, m.TransactionEndLSN)
		if s.marker1 != "" {
			if err := s.flush(ctx); err != nil {
				return err
			}
			s.seen[s.marker1], s.marker1 = true, ""
			return nil
		}
		if s.pending >= batchChanges || s.bytes >= batchBytes || (s.pending > 0 && time.Since(s.batchStart) > batchAge) {
			return s.flush(ctx)
		}
	case *pglogrepl.InsertMessage:
		return s.change(func(r *relation) (string, [][]byte, string) { return r.insert(m.Tuple) }, m.RelationID)
	case *pglogrepl.UpdateMessage:
		return s.change(func(r *relation) (string, [][]byte, string) { return r.update(m.OldTuple, m.NewTuple) }, m.RelationID)
	case *pglogrepl.DeleteMessage:
		return s.change(func(r *relation) (string, [][]byte, string) { return r.delete(m.OldTuple) }, m.RelationID)
	case *pglogrepl.TruncateMessage:
		for _, id := range m.RelationIDs {
			if err := s.change(func(r *relation) (string, [][]byte, string) {
				return "DELETE FROM " + r.target, nil, ""
			}, id); err != nil {
				return err
			}
		}
	case *pglogrepl.LogicalDecodingMessage:
		if m.Prefix != s.marker {
			return nil
		}
		// Everything committed before the marker has been received. A
		// transactional marker counts once its transaction commits.
		if m.Transactional && s.inTx {
			s.marker1 = string(m.Content)
			return nil
		}
		if err := s.flush(ctx); err != nil {
			return err
		}
		s.seen[string(m.Content)] = true
	}
	return nil
}

// change queues one row change of the current transaction.
func (s *stream) change(build func(*relation) (string, [][]byte, string), relID uint32) error {
	if s.skipTx {
		return nil
	}
	r, ok := s.rels[relID]
	if !ok {
		return fmt.Errorf("slot %s: change to unknown relation %d", s.slot, relID)
	}
	if s.applyFn != nil {
		if err := s.applyFn(s.changes); err != nil {
			return fmt.Errorf("%w: %v", errCrash, err)
		}
	}
	sql, args, check := build(r)
	if sql == "" {
		return nil
	}
	if s.tracking {
		s.track(r, sql, args)
	}
	if s.pending == 0 {
		s.batchStart = time.Now()
	}
	s.queue = append(s.queue, stmt{sql, args})
	for _, a := range args {
		s.bytes += len(a)
	}
	s.checks = append(s.checks, check)
	s.pending++
	s.changes++
	return nil
}

// flush applies the whole transactions received, and the position they end
// at, in one target transaction, then acknowledges that position.
func (s *stream) flush(ctx context.Context) error {
	if s.endLSN == 0 || s.inTx {
		return nil
	}
	b := &pgconn.Batch{}
	b.ExecParams("SELECT set_config($1, $2, true)", [][]byte{[]byte(rlspolicy.Setting), []byte(s.to.tenant.String())}, nil, nil, nil)
	b.ExecParams("SET LOCAL synchronous_commit = on", nil, nil, nil, nil)
	b.ExecParams("SET LOCAL session_replication_role = replica", nil, nil, nil, nil)
	for _, q := range s.queue {
		name, err := s.prepare(ctx, q.sql)
		if err != nil {
			return err
		}
		b.ExecPrepared(name, q.args, nil, nil)
	}
	b.ExecParams("INSERT INTO tenantkit.move_applied (stream, lsn) VALUES ($1, $2::text::pg_lsn) "+
		"ON CONFLICT (stream) DO UPDATE SET lsn = EXCLUDED.lsn, updated_at = now()",
		[][]byte{[]byte(s.name), []byte(s.endLSN.String())}, nil, nil, nil)
	results, err := s.target.PgConn().ExecBatch(ctx, b).ReadAll()
	if err != nil {
		return fmt.Errorf("apply changes to %s: %w", s.to, err)
	}
	for i, check := range s.checks {
		res := results[3+i]
		if check != "" && res.CommandTag.RowsAffected() != 1 {
			return fmt.Errorf("apply changes to %s: %s touched %d rows, not 1: the target diverged from the source",
				s.to, check, res.CommandTag.RowsAffected())
		}
	}
	s.applied = s.endLSN
	s.endLSN, s.pending, s.checks, s.queue, s.bytes = 0, 0, nil, nil, 0
	return s.ack(ctx, false)
}

// ack reports the stored position (or, with nothing waiting, all that was
// sent) to the source, so that it can recycle the WAL before it.
func (s *stream) ack(ctx context.Context, ping bool) error {
	if !ping && time.Since(s.lastAck) < 10*time.Millisecond {
		return nil
	}
	pos := s.position()
	s.lastAck = time.Now()
	if ping {
		s.lastPing = s.lastAck
	}
	return pglogrepl.SendStandbyStatusUpdate(ctx, s.repl, pglogrepl.StandbyStatusUpdate{WALWritePosition: pos, ReplyRequested: ping})
}

// relation learns a source table's columns and finds its target table.
func (s *stream) relation(ctx context.Context, m *pglogrepl.RelationMessage) error {
	r := &relation{name: m.RelationName, target: ident(s.to.schema, m.RelationName), always: map[string]bool{}}
	for i, c := range m.Columns {
		r.columns = append(r.columns, c.Name)
		if c.Flags&1 == 1 {
			r.keys = append(r.keys, i)
		}
	}
	rows, err := s.target.Query(ctx, `SELECT a.attname::text, a.attidentity = 'a',
		  EXISTS (SELECT FROM pg_index i WHERE i.indrelid = a.attrelid AND i.indisprimary AND a.attnum = ANY (i.indkey))
		FROM pg_attribute a WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped`, r.target)
	if err != nil {
		return fmt.Errorf("look up %s on the target: %w", r.target, err)
	}
	var pk []string
	for rows.Next() {
		var name string
		var always, inPK bool
		if err := rows.Scan(&name, &always, &inPK); err != nil {
			return err
		}
		r.always[name] = always
		if inPK {
			pk = append(pk, name)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	// With REPLICA IDENTITY FULL every column is flagged: the target's
	// primary key is the better key.
	if len(r.keys) == len(r.columns) && len(pk) > 0 {
		r.keys = r.keys[:0]
		for i, c := range r.columns {
			for _, k := range pk {
				if c == k {
					r.keys = append(r.keys, i)
				}
			}
		}
	}
	s.rels[m.RelationID] = r
	return nil
}

func value(c *pglogrepl.TupleDataColumn) []byte {
	if c.DataType == pglogrepl.TupleDataTypeNull {
		return nil
	}
	return c.Data
}

func (r *relation) insert(t *pglogrepl.TupleData) (string, [][]byte, string) {
	var cols, params []string
	var args [][]byte
	for i, c := range t.Columns {
		cols = append(cols, ident(r.columns[i]))
		args = append(args, value(c))
		params = append(params, fmt.Sprintf("$%d", len(args)))
	}
	return "INSERT INTO " + r.target + " (" + strings.Join(cols, ", ") + ") OVERRIDING SYSTEM VALUE VALUES (" +
		strings.Join(params, ", ") + ")", args, ""
}

func (r *relation) update(old, t *pglogrepl.TupleData) (string, [][]byte, string) {
	key := t
	if old != nil {
		key = old
	}
	var sets []string
	var args [][]byte
	for i, c := range t.Columns {
		name := r.columns[i]
		if c.DataType == pglogrepl.TupleDataTypeToast || r.always[name] || (old == nil && r.isKey(i)) {
			continue // unchanged TOAST value, identity column, or unchanged key
		}
		args = append(args, value(c))
		sets = append(sets, fmt.Sprintf("%s = $%d", ident(name), len(args)))
	}
	if len(sets) == 0 {
		return "", nil, ""
	}
	where, args := r.where(key, args)
	return "UPDATE " + r.target + " SET " + strings.Join(sets, ", ") + where, args, "update of " + r.target
}

func (r *relation) delete(old *pglogrepl.TupleData) (string, [][]byte, string) {
	where, args := r.where(old, nil)
	return "DELETE FROM " + r.target + where, args, "delete from " + r.target
}

func (r *relation) isKey(i int) bool {
	for _, k := range r.keys {
		if k == i {
			return true
		}
	}
	return false
}

func (r *relation) where(t *pglogrepl.TupleData, args [][]byte) (string, [][]byte) {
	var conds []string
	for _, k := range r.keys {
		if k >= len(t.Columns) {
			continue
		}
		args = append(args, value(t.Columns[k]))
		conds = append(conds, fmt.Sprintf("%s = $%d", ident(r.columns[k]), len(args)))
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// release ends a hold: the held transactions are applied and, from now on,
// the keys of the rows the stream touches are tracked.
func (s *stream) release(ctx context.Context) error {
	s.holdAt, s.held, s.tracking = 0, false, true
	backlog := s.backlog
	s.backlog = nil
	for _, msg := range backlog {
		if err := s.apply(ctx, msg); err != nil {
			return err
		}
	}
	return nil
}

// track records the key of the row a statement touches: the key values are
// the statement's last arguments (WHERE) or, for an INSERT, its columns.
func (s *stream) track(r *relation, sql string, args [][]byte) {
	if s.changed == nil {
		s.changed, s.keyCols = map[string]map[string][][]byte{}, map[string][]string{}
	}
	name := r.name
	var key [][]byte
	switch {
	case strings.HasPrefix(sql, "INSERT"):
		for _, k := range r.keys {
			key = append(key, args[k])
		}
	case strings.HasPrefix(sql, "DELETE FROM") && len(args) == 0: // a TRUNCATE: check the whole table
		if s.truncated == nil {
			s.truncated = map[string]bool{}
		}
		s.truncated[name] = true
		return
	default:
		key = args[len(args)-len(r.keys):]
	}
	cols := make([]string, len(r.keys))
	for i, k := range r.keys {
		cols[i] = r.columns[k]
	}
	s.keyCols[name] = cols
	m := s.changed[name]
	if m == nil {
		m = map[string][][]byte{}
		s.changed[name] = m
	}
	m[fmt.Sprintf("%q", key)] = key
}

// changedRows is how many rows the stream touched since tracking began or
// was last reset.
func (s *stream) changedRows() int {
	n := 0
	for _, m := range s.changed {
		n += len(m)
	}
	return n
}

// prepare names a statement prepared on the target, preparing it on first
// use: the stream applies the same few statements over and over, and a
// prepared one skips parsing and planning each time. Its parameter types
// are inferred from their columns, so the changes' text values fit.
func (s *stream) prepare(ctx context.Context, sql string) (string, error) {
	if name, ok := s.prepared[sql]; ok {
		return name, nil
	}
	if s.prepared == nil {
		s.prepared = map[string]string{}
	}
	name := fmt.Sprintf("tk_apply_%d", len(s.prepared))
	if _, err := s.target.PgConn().Prepare(ctx, name, sql, nil); err != nil {
		return "", fmt.Errorf("prepare %q on %s: %w", sql, s.to, err)
	}
	s.prepared[sql] = name
	return name, nil
}
