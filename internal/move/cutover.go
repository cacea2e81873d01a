package move

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tenantkit/tenantkit/internal/bus"
	"github.com/tenantkit/tenantkit/internal/catalog"
)

// errFenceTimeout is a cutover abandoned because the tenant's transactions
// did not drain within the lock timeout: the source serves on.
var errFenceTimeout = errors.New("the tenant's transactions held the fence past the lock timeout")

// errDiverged is a cutover abandoned because the ends differ under the
// fence.
type errDiverged struct{ detail string }

func (e *errDiverged) Error() string { return "verification failed under the fence: " + e.detail }

// switchover moves the tenant's traffic from one end to the other, which
// the stream s keeps up to date. It fences the tenant on from (new tenant
// transactions wait on the exclusive advisory lock, in-flight ones drain),
// waits until the stream applied everything committed before the fence,
// verifies both ends, syncs the sequences, records the new epoch in from's
// fence row inside a prepared transaction that keeps the lock even if this
// process dies, has flip record the decision in the catalog, and commits
// the prepared transaction, which releases the waiting transactions: they
// fail the epoch check and retry on the new placement.
func (r *Runner) switchover(ctx context.Context, m catalog.Move, from, to end, s *stream, tables []table, gid string,
	newEpoch int64, prog *tracker, flip func(toLSN string) error) error {
	fence, err := from.owner(ctx)
	if err != nil {
		return err
	}
	defer fence.Close(context.WithoutCancel(ctx))
	// What the fenced part needs is looked up and connected before it.
	srcConn, err := from.owner(ctx)
	if err != nil {
		return err
	}
	defer srcConn.Close(context.WithoutCancel(ctx))
	seqs, err := sequencePairs(ctx, srcConn, s.target, from, to, tables)
	if err != nil {
		return err
	}
	readers, err := openReaders(ctx, from, to)
	if err != nil {
		return err
	}
	defer readers.close()
	if err := r.hook(m, "cutover:start"); err != nil {
		return err
	}
	start := time.Now()
	if err := announce(ctx, srcConn, gid, from.tenant); err != nil {
		return fmt.Errorf("announce the cutover on %s: %w", from, err)
	}
	// The announcement stays while a fence is prepared (a runner that
	// resumes resolves both); otherwise it goes when the cutover ends.
	pending := false
	defer func() {
		if !pending {
			if err := withdraw(context.WithoutCancel(ctx), from, gid); err != nil {
				r.log.Warn("withdraw the cutover's announcement", "move", m.ID, "on", from.String(), "err", err)
			}
		}
	}()
	open, err := noteOpen(ctx, srcConn, fence, srcConn, readers.from)
	if err != nil {
		return err
	}
	tx, err := fence.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if _, err := tx.Exec(ctx, fmt.Sprintf("SET LOCAL lock_timeout = %d", r.cfg.LockTimeout.Milliseconds())); err != nil {
		return err
	}
	done, err := r.unbind(ctx, from, newEpoch)
	if err != nil {
		return err
	}
	// Until the flip, a cutover that gives up withdraws its drain notice.
	flipped := false
	defer func() {
		if !flipped {
			r.undrain(ctx, from, newEpoch)
		}
	}()
	if err := r.hook(m, "cutover:fencing"); err != nil {
		done()
		return err
	}
	err = r.waitOpen(ctx, srcConn, open, r.cfg.LockTimeout)
	if err == nil {
		_, err = tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtextextended($1::text, 0))", from.tenant.String())
	}
	done()
	if errors.Is(err, errFenceTimeout) {
		return err
	}
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "55P03" { // lock_not_available
			return errFenceTimeout
		}
		return fmt.Errorf("fence the tenant on %s: %w", from, err)
	}
	if err := r.hook(m, "cutover:fenced"); err != nil {
		return err
	}
	fenced := time.Now()
	if err := r.drain(ctx, from, srcConn, s); err != nil {
		return err
	}
	drained := time.Now()
	changed := s.changedRows()
	checks, err := verifyChanged(ctx, from, to, tables, s, "", readers)
	if err != nil {
		return err
	}
	prog.update(func(p *Progress) { p.FenceChecks = checks })
	if d := mismatch(checks); d != "" {
		return &errDiverged{detail: d}
	}
	verified := time.Now()
	if err := syncSequences(ctx, srcConn, s.target, seqs); err != nil {
		return err
	}
	var toLSN string
	if err := s.target.QueryRow(ctx, "SELECT pg_current_wal_lsn()::text").Scan(&toLSN); err != nil {
		return err
	}
	if _, err := s.target.Exec(ctx, setFenceSQL, to.tenant, newEpoch); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "INSERT INTO tenantkit.fence (tenant_id, epoch) VALUES ($1, $2) "+
		"ON CONFLICT (tenant_id) DO UPDATE SET epoch = EXCLUDED.epoch, updated_at = now()", from.tenant, newEpoch); err != nil {
		return err
	}
	pending = true
	if _, err := tx.Exec(ctx, "PREPARE TRANSACTION "+literal(gid)); err != nil {
		pending = false
		return fmt.Errorf("prepare the fence on %s: %w", from, err)
	}
	if err := r.hook(m, "cutover:prepared"); err != nil {
		return err
	}
	if err := flip(toLSN); err != nil {
		if _, rerr := fence.Exec(context.WithoutCancel(ctx), "ROLLBACK PREPARED "+literal(gid)); rerr != nil {
			err = errors.Join(err, rerr)
		} else {
			pending = false
		}
		return err
	}
	flipped = true
	if err := r.hook(m, "cutover:flipped"); err != nil {
		return err
	}
	if _, err := fence.Exec(ctx, "COMMIT PREPARED "+literal(gid)); err != nil {
		return fmt.Errorf("release the fence on %s: %w", from, err)
	}
	pending = false
	pause := time.Since(start)
	prog.update(func(p *Progress) { p.PauseMillis = float64(pause.Microseconds()) / 1000 })
	r.log.Info("cutover", "move", m.ID, "tenant", m.Slug, "from", from.String(), "to", to.String(), "pause", pause,
		"fence", fenced.Sub(start), "changed_rows", changed, "drain", drained.Sub(fenced), "verify", verified.Sub(drained), "flip", time.Since(verified))
	return nil
}

// drain waits until the stream applied every transaction the source
// committed before the fence: a marker written after the fence was taken
// comes after them in the stream.
func (r *Runner) drain(ctx context.Context, from end, conn *pgx.Conn, s *stream) error {
	token := make([]byte, 8)
	_, _ = rand.Read(token)
	mark := hex.EncodeToString(token)
	err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL synchronous_commit = on"); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "SELECT pg_logical_emit_message(true, $1, $2)", s.marker, mark)
		return err
	})
	if err != nil {
		return fmt.Errorf("mark the stream of %s: %w", from, err)
	}
	if err := s.pump(ctx, 30*time.Second, func() bool { return s.seen[mark] }); err != nil {
		return err
	}
	if !s.seen[mark] {
		return fmt.Errorf("the stream from %s did not reach the fence's marker in 30s", from)
	}
	return nil
}

// setFenceSQL records an epoch as the tenant's fence on an end, unless a
// newer one is there.
const setFenceSQL = "INSERT INTO tenantkit.fence (tenant_id, epoch) VALUES ($1, $2) " +
	"ON CONFLICT (tenant_id) DO UPDATE SET epoch = greatest(tenantkit.fence.epoch, EXCLUDED.epoch), updated_at = now()"

// seqPair is a sequence of a source table and its target counterpart.
type seqPair struct{ src, dst string }

// sequencePairs pairs the sequences feeding the same columns on both ends.
func sequencePairs(ctx context.Context, src, dst *pgx.Conn, from, to end, tables []table) ([]seqPair, error) {
	var out []seqPair
	for _, t := range tables {
		srcSeqs, err := sequencesOf(ctx, src, from.schema, t.Name)
		if err != nil {
			return nil, err
		}
		dstSeqs, err := sequencesOf(ctx, dst, to.schema, t.Name)
		if err != nil {
			return nil, err
		}
		for col, seq := range srcSeqs {
			if target, ok := dstSeqs[col]; ok {
				out = append(out, seqPair{src: seq, dst: target})
			}
		}
	}
	return out, nil
}

// syncSequences sets each target sequence at least as far as its source
// counterpart, so that new rows do not collide with moved ones.
func syncSequences(ctx context.Context, src, dst *pgx.Conn, pairs []seqPair) error {
	for _, p := range pairs {
		var last int64
		var called bool
		if err := src.QueryRow(ctx, "SELECT last_value, is_called FROM "+p.src).Scan(&last, &called); err != nil {
			return fmt.Errorf("read sequence %s: %w", p.src, err)
		}
		if !called {
			continue
		}
		if _, err := dst.Exec(ctx, "SELECT setval($1::regclass, greatest($2::bigint, (SELECT last_value FROM "+p.dst+")), true)", p.dst, last); err != nil {
			return fmt.Errorf("sync sequence %s: %w", p.dst, err)
		}
	}
	return nil
}

// sequencesOf maps a table's columns to the sequences that feed them.
func sequencesOf(ctx context.Context, conn *pgx.Conn, schema, table string) (map[string]string, error) {
	rows, err := conn.Query(ctx, `SELECT a.attname::text, s FROM pg_attribute a,
		LATERAL pg_get_serial_sequence($1, a.attname) s
		WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped AND s IS NOT NULL`, ident(schema, table))
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for rows.Next() {
		var col, seq string
		if err := rows.Scan(&col, &seq); err != nil {
			return nil, err
		}
		out[col] = seq
	}
	return out, rows.Err()
}

// resolvePrepared ends a fence a dead runner left prepared on an end:
// committed when the catalog records the flip it guarded, rolled back
// otherwise; then it withdraws the cutover's announcement.
func resolvePrepared(ctx context.Context, e end, gid string, commit bool) error {
	conn, err := e.ownerIfExists(ctx)
	if err != nil || conn == nil {
		return err
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_prepared_xacts WHERE gid = $1 AND database = current_database()", gid).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		verb := "ROLLBACK PREPARED "
		if commit {
			verb = "COMMIT PREPARED "
		}
		if _, err := conn.Exec(ctx, verb+literal(gid)); err != nil {
			return err
		}
	}
	_, err = conn.Exec(ctx, withdrawSQL, gid)
	return err
}

// Scoped transactions that need not take the tenant's lock. A scoped
// transaction that can show, by the database's cutover counter, that no
// cutover began since its process last checked the fence there takes no
// lock and reads no fence (internal/scope). So a cutover first announces
// itself — a row in tenantkit.cutovers, which keeps every process checking
// the fence until the row goes, then the counter advanced — and then, like
// CREATE INDEX CONCURRENTLY, waits for every transaction open at that
// moment to end: those may have skipped the check. It notes them, by
// session and start time (and prepared transactions by name), right after
// the counter moved, so no clock is compared. Transactions that start
// later read the new counter and check the fence, taking the shared lock
// the cutover then takes exclusively. The wait is bounded by the lock
// timeout, as the lock is. Sessions of roles that may not skip the check
// (tenantkit.may_skip_fence: the mover's, the migrations', which may wait
// on the move's own locks) are not waited for.
const (
	announceSQL = "INSERT INTO tenantkit.cutovers (gid, tenant_id) VALUES ($1, $2) " +
		"ON CONFLICT (gid) DO UPDATE SET started_at = now()"
	advanceSQL  = "SELECT pg_catalog.nextval('tenantkit.cutover_seq')"
	withdrawSQL = "DELETE FROM tenantkit.cutovers WHERE gid = $1"
	// openSQL notes the transactions open in the database but the
	// cutover's own ($1) — sessions by pid and start, prepared
	// transactions by name — of roles that may skip the fence check; no
	// row when the role may not see other roles' sessions.
	openSQL = `SELECT coalesce(array_agg(a.pid) FILTER (WHERE a.pid IS NOT NULL), '{}'),
       coalesce(array_agg(a.xact_start) FILTER (WHERE a.pid IS NOT NULL), '{}'),
       (SELECT coalesce(array_agg(p.gid), '{}') FROM pg_catalog.pg_prepared_xacts p
         WHERE p.database = pg_catalog.current_database() AND tenantkit.may_skip_fence(p.owner))
FROM pg_catalog.pg_stat_activity a
WHERE a.datname = pg_catalog.current_database() AND a.backend_type = 'client backend'
  AND a.pid <> ALL ($1::int[]) AND a.xact_start IS NOT NULL AND tenantkit.may_skip_fence(a.usename)
HAVING pg_catalog.pg_has_role('pg_read_all_stats', 'USAGE')`
	// stillOpenSQL counts those of them still open.
	stillOpenSQL = `SELECT (SELECT count(*) FROM pg_catalog.pg_stat_activity a
        JOIN unnest($1::int[], $2::timestamptz[]) s(pid, xact_start) ON a.pid = s.pid AND a.xact_start = s.xact_start)
  + (SELECT count(*) FROM pg_catalog.pg_prepared_xacts p WHERE p.gid = ANY ($3::text[]))`
	olderPoll = 5 * time.Millisecond
)

// announce records the cutover gid of tenant on conn's database, then
// advances the counter.
func announce(ctx context.Context, conn *pgx.Conn, gid string, tenant uuid.UUID) error {
	if _, err := conn.Exec(ctx, announceSQL, gid, tenant); err != nil {
		return err
	}
	_, err := conn.Exec(ctx, advanceSQL)
	return err
}

// withdraw removes the cutover gid's announcement from e's database.
func withdraw(ctx context.Context, e end, gid string) error {
	conn, err := e.ownerIfExists(ctx)
	if err != nil || conn == nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, withdrawSQL, gid)
	return err
}

// openTransactions are the transactions open in a database at one moment.
type openTransactions struct {
	pids   []uint32
	starts []time.Time
	gids   []string
}

// noteOpen notes the transactions open in conn's database but own's.
func noteOpen(ctx context.Context, conn *pgx.Conn, own ...*pgx.Conn) (openTransactions, error) {
	pids := make([]uint32, 0, len(own))
	for _, c := range own {
		pids = append(pids, c.PgConn().PID())
	}
	var o openTransactions
	err := conn.QueryRow(ctx, openSQL, pids).Scan(&o.pids, &o.starts, &o.gids)
	if errors.Is(err, pgx.ErrNoRows) {
		return o, errors.New("the owner role cannot see other roles' transactions, which the cutover waits for: grant it pg_read_all_stats")
	}
	return o, err
}

// waitOpen waits until the transactions o are all over, or fails with
// errFenceTimeout after limit.
func (r *Runner) waitOpen(ctx context.Context, conn *pgx.Conn, o openTransactions, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		var n int
		if err := conn.QueryRow(ctx, stillOpenSQL, o.pids, o.starts, o.gids).Scan(&n); err != nil {
			return fmt.Errorf("look for transactions older than the cutover: %w", err)
		}
		if n == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			r.log.Info("transactions older than the cutover outlived the lock timeout", "open", n)
			return errFenceTimeout
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(olderPoll):
		}
	}
}

// Sessions bound to the tenant. Applications' pooled connections stay
// bound to the tenant they served last, holding its shared advisory lock
// at session level (internal/scope), so the fence cannot be taken while
// one exists. Before taking it, the cutover tells every process to give
// the bindings up (a drain notice on the catalog's bus: they release idle
// connections' bindings at once and busy ones' as their use ends); while
// it waits, it ends sessions that still hold the tenant's lock and have
// been idle, outside any transaction, for longer than boundIdle: those of
// a process that missed the notice. Ending an idle session loses nothing,
// and pgx pings a connection idle that long before handing it out, so the
// application sees no error either.
const (
	boundIdle       = 1500 * time.Millisecond
	boundSweepEvery = 100 * time.Millisecond
)

// endBoundSQL ends the idle sessions bound to a tenant ($1): those
// holding its shared advisory lock outside a transaction.
const endBoundSQL = `WITH k AS (SELECT pg_catalog.hashtextextended($1::text, 0) AS key)
SELECT count(*) FILTER (WHERE pg_catalog.pg_terminate_backend(l.pid))
FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid, k
WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND l.granted AND l.mode = 'ShareLock'
  AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())
  AND l.classid = ((k.key >> 32) & 4294967295)::oid AND l.objid = (k.key & 4294967295)::oid
  AND l.pid <> pg_catalog.pg_backend_pid()
  AND a.state = 'idle' AND a.state_change < pg_catalog.clock_timestamp() - make_interval(secs => $2)`

// unbind announces the cutover of from's tenant to epoch and, until done
// is called, ends the sessions still bound to it and idle.
func (r *Runner) unbind(ctx context.Context, from end, epoch int64) (done func(), err error) {
	drain := r.cfg.LockTimeout + 30*time.Second
	if err := r.cfg.Store.Publish(ctx, bus.Message{Tenant: from.tenant.String(), DrainEpoch: epoch,
		DrainSeconds: drain.Seconds()}); err != nil {
		return nil, fmt.Errorf("announce the cutover: %w", err)
	}
	conn, err := from.owner(ctx)
	if err != nil {
		return nil, err
	}
	sweepCtx, cancel := context.WithCancel(ctx)
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		defer conn.Close(context.WithoutCancel(ctx))
		tick := time.NewTicker(boundSweepEvery)
		defer tick.Stop()
		for {
			var ended int64
			err := conn.QueryRow(sweepCtx, endBoundSQL, from.tenant.String(), boundIdle.Seconds()).Scan(&ended)
			if err != nil && sweepCtx.Err() == nil {
				r.log.Warn("end idle sessions bound to the tenant", "tenant", from.tenant, "err", err)
			}
			if ended > 0 {
				r.log.Info("ended idle sessions bound to the tenant", "tenant", from.tenant, "on", from.String(), "sessions", ended)
			}
			select {
			case <-sweepCtx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return func() { cancel(); <-finished }, nil
}

// undrain tells every process that the cutover to epoch was abandoned:
// their connections may bind to the tenant again.
func (r *Runner) undrain(ctx context.Context, from end, epoch int64) {
	err := r.cfg.Store.Publish(context.WithoutCancel(ctx), bus.Message{Tenant: from.tenant.String(), DrainEpoch: epoch, DrainSeconds: 0.001})
	if err != nil {
		r.log.Warn("announce the abandoned cutover", "tenant", from.tenant, "err", err)
	}
}
