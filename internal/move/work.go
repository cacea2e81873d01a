package move

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"

	"github.com/tenantkit/tenantkit/internal/appmigrate"
	"github.com/tenantkit/tenantkit/internal/catalog"
)

// Phases of a complete move, in its phase column.
const (
	phaseCommitting = "committing fence"
	phaseRetaining  = "retaining source"
)

// maxAttempts is how many times a move is claimed before a persistent
// error fails it.
const maxAttempts = 20

// job is one runner's hold on one move.
type job struct {
	r        *Runner
	m        catalog.Move
	src, dst end
	prog     *tracker
	names    names
	deferred []string
}

func (r *Runner) work(ctx context.Context, m catalog.Move) error {
	j, err := r.newJob(ctx, m)
	if err != nil {
		return err
	}
	pctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { j.prog.run(pctx, 500*time.Millisecond); close(done) }()
	defer func() { stop(); <-done }()
	if err := j.resolveFences(ctx); err != nil {
		return err
	}
	switch {
	case m.State == catalog.MoveComplete && m.Phase == phaseCommitting:
		return j.finishCutover(ctx)
	case m.State == catalog.MoveComplete && m.RollbackRequested:
		return j.rollback(ctx)
	case m.State == catalog.MoveComplete:
		return j.cleanupSource(ctx)
	case m.State == catalog.MoveFailed || m.State == catalog.MoveRolledBack:
		return j.teardown(ctx, m.State)
	case m.CancelRequested:
		return j.fail(ctx, catalog.MoveRolledBack, "cancelled")
	case m.Attempts > maxAttempts:
		return j.fail(ctx, catalog.MoveFailed, fmt.Sprintf("gave up after %d attempts; last error: %s", m.Attempts-1, m.LastError))
	}
	err = j.forward(ctx)
	var refused *RefusedError
	var diverged *errDiverged
	switch {
	case errors.As(err, &refused), errors.As(err, &diverged), errors.Is(err, errFenceTimeout), errors.Is(err, errCancelled):
		return j.fail(ctx, catalog.MoveFailed, err.Error())
	case err != nil && !errors.Is(err, errCrash) && ctx.Err() == nil:
		_ = r.store.SetMoveError(context.WithoutCancel(ctx), m.ID, err.Error())
	}
	return err
}

func (r *Runner) newJob(ctx context.Context, m catalog.Move) (*job, error) {
	sc, err := r.store.GetCluster(ctx, m.SourceCluster)
	if err != nil {
		return nil, err
	}
	tc, err := r.store.GetCluster(ctx, m.TargetCluster)
	if err != nil {
		return nil, err
	}
	j := &job{r: r, m: m, names: namesOf(m.ID),
		src: end{cluster: sc, tier: m.SourceTier, database: m.SourceDatabase, schema: m.SourceSchema, tenant: m.TenantID},
		dst: end{cluster: tc, tier: m.TargetTier, database: m.TargetDatabase, schema: m.TargetSchema, tenant: m.TenantID}}
	_ = json.Unmarshal(m.DeferredIndexes, &j.deferred)
	j.prog = newTracker(m.Progress, func(ctx context.Context, p Progress) error {
		return r.store.SetMoveProgress(ctx, m.ID, r.cfg.Owner, p)
	})
	return j, nil
}

// state records the move's state and the time its phase began.
func (j *job) state(ctx context.Context, state, phase string) error {
	if err := j.r.hook(j.m, state); err != nil {
		return err
	}
	timings := map[string]any{state + "_started_at": time.Now().UTC()}
	if prev := j.m.State; prev != state && prev != catalog.MovePending {
		timings[prev+"_finished_at"] = time.Now().UTC()
	}
	if err := j.r.store.SetMoveState(ctx, j.m.ID, j.r.cfg.Owner, state, phase, "", timings); err != nil {
		return err
	}
	j.m.State, j.m.Phase = state, phase
	return nil
}

func (j *job) phase(ctx context.Context, phase string) error {
	j.m.Phase = phase
	return j.r.store.SetMovePhase(ctx, j.m.ID, j.r.cfg.Owner, phase)
}

var errCancelled = errors.New("cancelled")

// cancelled reports whether someone asked to cancel the move.
func (j *job) cancelled(ctx context.Context) error {
	m, err := j.r.store.GetMove(ctx, j.m.ID)
	if err != nil {
		return err
	}
	if m.CancelRequested {
		return errCancelled
	}
	return nil
}

// forward runs a move from where it stands to complete.
func (j *job) forward(ctx context.Context) error {
	r := j.r
	srcOwner, err := j.src.owner(ctx)
	if err != nil {
		return err
	}
	defer srcOwner.Close(context.WithoutCancel(ctx))
	tables, err := tablesOf(ctx, srcOwner, j.src.schema)
	if err != nil {
		return err
	}
	if j.m.State == catalog.MovePending {
		if err := j.settlePrevious(ctx); err != nil {
			return err
		}
		if err := r.preflight(ctx, j.src, j.dst, srcOwner, tables); err != nil {
			return err
		}
		if err := targetClean(ctx, j.dst, tables); err != nil {
			return err
		}
	}
	// Migrations wait while the move runs: it holds their lock, shared,
	// on both ends.
	unfreeze, err := freezeDDL(ctx, j.src)
	if err != nil {
		return err
	}
	defer unfreeze()
	if v, err := appVersion(ctx, srcOwner, j.src.schema); err != nil || v != r.latest() {
		if err == nil {
			err = refuse("the source's application migrations changed during the move (now %d, want %d)", v, r.latest())
		}
		return err
	}
	switch j.m.State {
	case catalog.MovePending, catalog.MovePreparing, catalog.MoveCopying:
		// A copy cannot resume: its snapshot died with its session. Remove
		// what an earlier attempt built and start over.
		if err := j.removeForward(ctx); err != nil {
			return err
		}
		if err := j.removeTarget(ctx); err != nil {
			return err
		}
		if err := j.prepareAndCopy(ctx, tables); err != nil {
			return err
		}
	}
	unfreezeTarget, err := freezeDDL(ctx, j.dst)
	if err != nil {
		return err
	}
	defer unfreezeTarget()
	s, err := openStream(ctx, j.names.hex, j.src, j.dst, j.names.slot(), j.names.publication(), j.names.marker(), 0, r.cfg.ApplyFunc)
	if err != nil {
		return err
	}
	defer func() { s.close() }()
	if j.m.State == catalog.MoveCatchingUp {
		if err := j.catchUp(ctx, s); err != nil {
			return err
		}
		if err := j.buildIndexes(ctx); err != nil {
			return err
		}
		if err := j.catchUp(ctx, s); err != nil {
			return err
		}
		if err := j.state(ctx, catalog.MoveVerifying, "verifying while the stream applies"); err != nil {
			return err
		}
	}
	if j.m.State == catalog.MoveVerifying {
		if err := j.baseline(ctx, s, j.src, j.dst, tables); err != nil {
			return err
		}
		if err := j.startReverse(ctx, tables); err != nil {
			return err
		}
		if err := j.catchUp(ctx, s); err != nil {
			return err
		}
		if err := j.state(ctx, catalog.MoveCutover, "fencing the tenant"); err != nil {
			return err
		}
	}
	if err := j.cutover(ctx, s, tables); err != nil {
		return err
	}
	s.close()
	return j.finishCutover(ctx)
}

// prepareAndCopy builds the target, creates the publication and the slot,
// and copies the tenant as of the slot's snapshot.
func (j *job) prepareAndCopy(ctx context.Context, tables []table) error {
	r := j.r
	if err := j.state(ctx, catalog.MovePreparing, "building the target"); err != nil {
		return err
	}
	if err := r.prov.Build(ctx, j.dst.cluster, j.dst.placement()); err != nil {
		return err
	}
	dstOwner, err := j.dst.owner(ctx)
	if err != nil {
		return err
	}
	defer dstOwner.Close(context.WithoutCancel(ctx))
	dstTables, err := tablesOf(ctx, dstOwner, j.dst.schema)
	if err != nil {
		return err
	}
	if err := grantReader(ctx, dstOwner, j.dst, dstTables); err != nil {
		return err
	}
	if v, err := appVersion(ctx, dstOwner, j.dst.schema); err != nil || v != r.latest() {
		if err == nil {
			err = refuse("the target is at application migration %d, not %d", v, r.latest())
		}
		return err
	}
	if j.dst.tier != catalog.TierShared {
		if err := j.deferIndexes(ctx, dstOwner); err != nil {
			return err
		}
	}
	if err := j.phase(ctx, "creating the publication and the slot"); err != nil {
		return err
	}
	if err := createPublication(ctx, j.src, j.names.publication(), tables); err != nil {
		return err
	}
	repl, err := j.src.replication(ctx)
	if err != nil {
		return err
	}
	defer repl.Close(context.WithoutCancel(ctx))
	slot, err := createSlot(ctx, repl, j.names.slot(), true)
	if err != nil {
		return err
	}
	if err := j.state(ctx, catalog.MoveCopying, "copying"); err != nil {
		return err
	}
	names := make([]string, len(tables))
	for i, t := range tables {
		names[i] = t.Name
	}
	j.prog.reset(names)
	if err := grantCopy(ctx, dstOwner, j.dst, dstTables, true); err != nil {
		return err
	}
	if err := r.copyAll(ctx, j.src, j.dst, slot.SnapshotName, tables, j.prog); err != nil {
		return err
	}
	if err := grantCopy(ctx, dstOwner, j.dst, dstTables, false); err != nil {
		return err
	}
	if err := j.prog.flush(ctx); err != nil {
		return err
	}
	return j.state(ctx, catalog.MoveCatchingUp, "applying the changes made during the copy")
}

// catchUp applies the stream until the target is less than CatchUpLag
// behind the source.
func (j *job) catchUp(ctx context.Context, s *stream) error {
	probe, err := s.from.owner(ctx)
	if err != nil {
		return err
	}
	defer probe.Close(context.WithoutCancel(ctx))
	lastCheck := time.Now()
	for {
		lag, err := j.lag(ctx, probe, s)
		if err != nil {
			return err
		}
		if lag < j.r.cfg.CatchUpLag {
			return nil
		}
		if err := s.pump(ctx, 250*time.Millisecond, func() bool { return false }); err != nil {
			return err
		}
		if time.Since(lastCheck) > time.Second {
			lastCheck = time.Now()
			if err := j.cancelled(ctx); err != nil {
				return err
			}
		}
	}
}

// lag measures and records how far the target is behind the source.
func (j *job) lag(ctx context.Context, probe *pgx.Conn, s *stream) (int64, error) {
	var cur string
	if err := probe.QueryRow(ctx, "SELECT pg_current_wal_flush_lsn()::text").Scan(&cur); err != nil {
		return 0, err
	}
	now, err := pglogrepl.ParseLSN(cur)
	if err != nil {
		return 0, err
	}
	pos := s.position()
	lag := int64(0)
	if now > pos {
		lag = int64(now - pos)
	}
	secs := 0.0
	if lag > j.r.cfg.CatchUpLag && !s.lastTx.IsZero() {
		secs = time.Since(s.lastTx).Seconds()
	}
	j.prog.update(func(p *Progress) {
		p.AppliedLSN, p.SourceLSN, p.LagBytes, p.LagSeconds, p.Changes = pos.String(), now.String(), lag, secs, s.changes
	})
	return lag, nil
}

// startReverse publishes the target's tenant tables and creates the slot
// a rollback streams back from. Created before the fence, it sees the
// forward stream's own writes too; the cutover records the target's
// position, and a rollback applies only what committed after it.
func (j *job) startReverse(ctx context.Context, tables []table) error {
	if err := j.phase(ctx, "starting reverse replication"); err != nil {
		return err
	}
	dst := j.dst
	if err := createPublication(ctx, dst, j.names.backPub(), tables); err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, withUTC(replicationDBURL(dst)))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_replication_slots WHERE slot_name = $1)", j.names.backSlot()).Scan(&exists); err != nil || exists {
		return err
	}
	repl, err := dst.replication(ctx)
	if err != nil {
		return err
	}
	defer repl.Close(context.WithoutCancel(ctx))
	_, err = createSlot(ctx, repl, j.names.backSlot(), false)
	return err
}

// cutover tries the switchover up to CutoverAttempts times; a fence that
// timed out leaves the source serving and is tried again after catching up.
func (j *job) cutover(ctx context.Context, s *stream, tables []table) error {
	r := j.r
	var err error
	for attempt := 1; attempt <= r.cfg.CutoverAttempts; attempt++ {
		// Fence with as little as possible left to drain.
		if err := j.catchUp(ctx, s); err != nil {
			return err
		}
		j.prog.update(func(p *Progress) { p.CutoverAttempts++ })
		err = r.switchover(ctx, j.m, j.src, j.dst, s, tables, j.names.gid(), j.m.SourceEpoch+1, j.prog, func(toLSN string) error {
			_, err := r.store.FlipMove(ctx, j.m.ID, r.cfg.Owner, catalog.FlipParams{
				Tier: j.dst.tier, Cluster: j.dst.cluster.Name, Database: j.dst.database, Schema: j.dst.schema,
				Epoch: j.m.SourceEpoch, Retain: r.cfg.Retain, ReverseLSN: toLSN,
				Timings: map[string]any{"cutover_finished_at": time.Now().UTC()}})
			return err
		})
		if !errors.Is(err, errFenceTimeout) {
			break
		}
		r.log.Warn("cutover abandoned; the source serves on", "move", j.m.ID, "attempt", attempt, "err", err)
		if attempt < r.cfg.CutoverAttempts {
			time.Sleep(time.Duration(attempt) * 200 * time.Millisecond)
		}
	}
	if err != nil {
		return err
	}
	j.m.State, j.m.Phase = catalog.MoveComplete, phaseCommitting
	return j.prog.flush(ctx)
}

// finishCutover drops the forward slot and publication of a complete move.
func (j *job) finishCutover(ctx context.Context) error {
	if err := j.removeForward(ctx); err != nil {
		return err
	}
	return j.phase(ctx, phaseRetaining)
}

// resolveFences ends the fences a dead runner left prepared.
func (j *job) resolveFences(ctx context.Context) error {
	flipped := j.m.CutoverAt != nil
	if err := resolvePrepared(ctx, j.src, j.names.gid(), flipped); err != nil {
		return err
	}
	return resolvePrepared(ctx, j.dst, j.names.gid()+"_back", j.m.State == catalog.MoveRolledBack && flipped)
}

// fail ends a move that did not cut over, and removes what it built.
func (j *job) fail(ctx context.Context, state, reason string) error {
	ctx = context.WithoutCancel(ctx)
	if err := j.r.store.SetMoveState(ctx, j.m.ID, j.r.cfg.Owner, state, "removing the target", reason,
		map[string]any{"failed_at": time.Now().UTC()}); err != nil {
		return err
	}
	j.m.State = state
	j.r.log.Warn("move ended", "move", j.m.ID, "tenant", j.m.Slug, "state", state, "reason", reason)
	return j.teardown(ctx, state)
}

// teardown removes everything of a move that ended without its target
// serving: slots, publications, the target's copy.
func (j *job) teardown(ctx context.Context, state string) error {
	if err := j.removeForward(ctx); err != nil {
		return err
	}
	if err := j.removeBack(ctx); err != nil {
		return err
	}
	if err := j.removeTarget(ctx); err != nil {
		return err
	}
	return j.r.store.MarkMoveCleaned(ctx, j.m.ID, j.r.cfg.Owner, "target removed")
}

// cleanupSource removes the source of a complete move once its confidence
// period is over.
func (j *job) cleanupSource(ctx context.Context) error {
	if err := j.phase(ctx, "removing the source"); err != nil {
		return err
	}
	if err := j.removeForward(ctx); err != nil {
		return err
	}
	if err := j.removeBack(ctx); err != nil {
		return err
	}
	if err := j.removeData(ctx, j.src); err != nil {
		return err
	}
	return j.r.store.MarkMoveCleaned(ctx, j.m.ID, j.r.cfg.Owner, "source removed")
}

func (j *job) removeForward(ctx context.Context) error {
	if err := dropSlot(ctx, j.src, j.names.slot()); err != nil {
		return err
	}
	if err := dropPublication(ctx, j.src, j.names.publication()); err != nil {
		return err
	}
	return forgetApplied(ctx, j.dst, j.names.hex)
}

func (j *job) removeBack(ctx context.Context) error {
	if err := dropSlot(ctx, j.dst, j.names.backSlot()); err != nil {
		return err
	}
	if err := dropPublication(ctx, j.dst, j.names.backPub()); err != nil {
		return err
	}
	return forgetApplied(ctx, j.src, j.names.hex+".back")
}

// removeTarget removes the target's copy of the tenant.
func (j *job) removeTarget(ctx context.Context) error { return j.removeData(ctx, j.dst) }

// removeData removes the tenant's data at an end: its database or schema,
// or its rows of shared tables (keeping its fence row, which turns away
// processes that still think the tenant lives there).
func (j *job) removeData(ctx context.Context, e end) error {
	if e.tier == catalog.TierShared {
		if err := j.exists(ctx, e); err != nil {
			if errors.Is(err, errGone) {
				return nil
			}
			return err
		}
	}
	if err := j.r.prov.DropData(ctx, e.cluster, e.placement(), e.tenant, true); err != nil && !isMissingDatabase(err) {
		return fmt.Errorf("remove the tenant's data from %s: %w", e, err)
	}
	if e.tier != catalog.TierShared {
		return j.r.store.ForgetAppTarget(ctx, e.cluster.Name, e.database, e.schema)
	}
	return nil
}

var errGone = errors.New("gone")

// exists reports errGone when an end's database or schema does not exist.
func (j *job) exists(ctx context.Context, e end) error {
	conn, err := e.ownerIfExists(ctx)
	if err != nil {
		return err
	}
	if conn == nil {
		return errGone
	}
	defer conn.Close(ctx)
	var ok bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = $1)", e.schema).Scan(&ok); err != nil {
		return err
	}
	if !ok {
		return errGone
	}
	return nil
}

func forgetApplied(ctx context.Context, e end, stream string) error {
	conn, err := e.ownerIfExists(ctx)
	if err != nil || conn == nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "DELETE FROM tenantkit.move_applied WHERE stream = $1", stream)
	if err != nil && strings.Contains(err.Error(), "does not exist") {
		return nil
	}
	return err
}

// settlePrevious finishes the tenant's earlier moves that still hold
// something: a new move ends their confidence period.
func (j *job) settlePrevious(ctx context.Context) error {
	prev, err := j.r.store.ListMoves(ctx, j.m.TenantID.String(), 20)
	if err != nil {
		return err
	}
	for _, p := range prev {
		if p.ID == j.m.ID || p.CleanedAt != nil || catalog.MoveRunning(p.State) {
			continue
		}
		if err := j.phase(ctx, "removing what move "+p.ID.String()+" kept"); err != nil {
			return err
		}
		m, ok, err := j.r.store.ClaimMove(ctx, j.r.cfg.Owner, j.r.cfg.Lease, 1<<20, &p.ID)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("move %s still holds resources and is busy; this move waits", p.ID)
		}
		pj, err := j.r.newJob(ctx, m)
		if err != nil {
			return err
		}
		switch m.State {
		case catalog.MoveComplete:
			err = pj.cleanupSource(ctx)
		default:
			err = pj.teardown(ctx, m.State)
		}
		_ = j.r.store.ReleaseLease(context.WithoutCancel(ctx), m.ID, j.r.cfg.Owner)
		if err != nil {
			return err
		}
	}
	return nil
}

// freezeDDL holds the application migrations' lock, shared, on both ends
// until the returned function is called: `tenantkit migrate` waits for
// the move to end.
func freezeDDL(ctx context.Context, ends ...end) (func(), error) {
	var conns []*pgx.Conn
	release := func() {
		for _, c := range conns {
			_ = c.Close(context.Background())
		}
	}
	for _, e := range ends {
		conn, err := e.ownerIfExists(ctx)
		if err != nil {
			release()
			return nil, err
		}
		if conn == nil {
			continue // a dedicated target not built yet: nothing to migrate there
		}
		conns = append(conns, conn)
		if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock_shared($1)", appmigrate.LockKey(e.schema)); err != nil {
			release()
			return nil, err
		}
	}
	return release, nil
}

// deferIndexes drops a fresh target's indexes that back no constraint,
// recording their definitions: the copy is faster without them, and they
// are built once after it.
func (j *job) deferIndexes(ctx context.Context, conn *pgx.Conn) error {
	rows, err := conn.Query(ctx, `SELECT pg_get_indexdef(i.indexrelid), quote_ident(n.nspname) || '.' || quote_ident(ic.relname)
		FROM pg_index i
		JOIN pg_class ic ON ic.oid = i.indexrelid
		JOIN pg_class t ON t.oid = i.indrelid
		JOIN pg_namespace n ON n.oid = t.relnamespace
		WHERE n.nspname = $1 AND t.relkind = 'r'
		  AND NOT EXISTS (SELECT FROM pg_constraint c WHERE c.conindid = i.indexrelid)`, j.dst.schema)
	if err != nil {
		return err
	}
	type index struct{ Def, Name string }
	idx, err := pgx.CollectRows(rows, pgx.RowToStructByPos[index])
	if err != nil {
		return err
	}
	j.deferred = j.deferred[:0]
	for _, i := range idx {
		j.deferred = append(j.deferred, i.Def)
	}
	if err := j.r.store.SetDeferredIndexes(ctx, j.m.ID, j.r.cfg.Owner, j.deferred); err != nil {
		return err
	}
	for _, i := range idx {
		if _, err := conn.Exec(ctx, "DROP INDEX "+i.Name); err != nil {
			return fmt.Errorf("defer index %s: %w", i.Name, err)
		}
	}
	return nil
}

// buildIndexes builds the indexes deferred at the copy.
func (j *job) buildIndexes(ctx context.Context) error {
	if len(j.deferred) == 0 {
		return nil
	}
	if err := j.phase(ctx, fmt.Sprintf("building %d indexes", len(j.deferred))); err != nil {
		return err
	}
	conn, err := j.dst.owner(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	for _, def := range j.deferred {
		def = strings.Replace(def, "CREATE INDEX ", "CREATE INDEX IF NOT EXISTS ", 1)
		def = strings.Replace(def, "CREATE UNIQUE INDEX ", "CREATE UNIQUE INDEX IF NOT EXISTS ", 1)
		if _, err := conn.Exec(ctx, def); err != nil {
			return fmt.Errorf("build index: %w", err)
		}
	}
	return j.phase(ctx, "applying the changes made during the index builds")
}

// rollback returns the tenant of a complete move to its source, with the
// writes made on the target since the cutover, and removes the target.
func (j *job) rollback(ctx context.Context) error {
	r := j.r
	if err := j.phase(ctx, "rolling back: applying the target's writes to the source"); err != nil {
		return err
	}
	floor, err := pglogrepl.ParseLSN(j.m.ReverseLsn)
	if err != nil {
		return fmt.Errorf("move %s has no reverse position: %w", j.m.ID, err)
	}
	unfreeze, err := freezeDDL(ctx, j.src, j.dst)
	if err != nil {
		return err
	}
	defer unfreeze()
	dstOwner, err := j.dst.owner(ctx)
	if err != nil {
		return err
	}
	tables, err := tablesOf(ctx, dstOwner, j.dst.schema)
	dstOwner.Close(ctx)
	if err != nil {
		return err
	}
	s, err := openStream(ctx, j.names.hex+".back", j.dst, j.src, j.names.backSlot(), j.names.backPub(), j.names.marker(), floor, r.cfg.ApplyFunc)
	if err != nil {
		return err
	}
	defer func() { s.close() }()
	if err := j.catchUp(ctx, s); err != nil {
		return err
	}
	if err := j.baseline(ctx, s, j.dst, j.src, tables); err != nil {
		return err
	}
	epoch := j.m.SourceEpoch + 1
	for attempt := 1; ; attempt++ {
		err = r.switchover(ctx, j.m, j.dst, j.src, s, tables, j.names.gid()+"_back", epoch+1, j.prog, func(string) error {
			_, err := r.store.UnflipMove(ctx, j.m.ID, r.cfg.Owner, catalog.FlipParams{
				Tier: j.src.tier, Cluster: j.src.cluster.Name, Database: j.src.database, Schema: j.src.schema, Epoch: epoch,
				Timings: map[string]any{"rollback_finished_at": time.Now().UTC()}})
			return err
		})
		if !errors.Is(err, errFenceTimeout) || attempt >= r.cfg.CutoverAttempts {
			break
		}
		if err := j.catchUp(ctx, s); err != nil {
			return err
		}
	}
	if err != nil {
		_ = r.store.SetMoveError(context.WithoutCancel(ctx), j.m.ID, "rollback: "+err.Error())
		return err
	}
	s.close()
	j.m.State = catalog.MoveRolledBack
	return j.teardown(ctx, catalog.MoveRolledBack)
}
