package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/tenantkit/tenantkit/internal/bus"
	"github.com/tenantkit/tenantkit/internal/catalog/catalogdb"
)

// States of a move. A move goes pending → preparing → copying →
// catching_up → verifying → cutover → complete, or ends failed or
// rolled_back.
const (
	MovePending    = "pending"
	MovePreparing  = "preparing"
	MoveCopying    = "copying"
	MoveCatchingUp = "catching_up"
	MoveVerifying  = "verifying"
	MoveCutover    = "cutover"
	MoveComplete   = "complete"
	MoveFailed     = "failed"
	MoveRolledBack = "rolled_back"
)

// MoveRunning reports whether a move in state still has work before its
// cutover.
func MoveRunning(state string) bool {
	switch state {
	case MovePending, MovePreparing, MoveCopying, MoveCatchingUp, MoveVerifying, MoveCutover:
		return true
	}
	return false
}

// Errors of moves.
var (
	ErrMoveNotFound   = errors.New("catalog: move not found")
	ErrMoveInProgress = errors.New("catalog: the tenant is being moved already")
	ErrSamePlacement  = errors.New("catalog: the tenant is there already")
	ErrMoveState      = errors.New("catalog: the move cannot do that in its state")
	// ErrLeaseLost is returned to a runner whose lease on a move expired
	// and was taken by another: it must stop working on the move.
	ErrLeaseLost = errors.New("catalog: lease on the move lost")
)

// Move is a move and its tenant's slug.
type Move struct {
	catalogdb.TenantkitMove
	Slug string `json:"slug"`
}

// MoveParams request a move.
type MoveParams struct {
	// Tier is the target tier: shared, schema or dedicated.
	Tier string `json:"tier"`
	// Cluster is the target cluster. Defaults to the tenant's current one.
	Cluster string `json:"cluster"`
}

// CreateMove records a pending move of tenant ref. It ends the confidence
// period of the tenant's earlier complete moves: their retained sources
// are removed before the new move starts.
func (s *Store) CreateMove(ctx context.Context, actor, ref string, p MoveParams) (Move, error) {
	var m Move
	err := s.write(ctx, func(q *catalogdb.Queries) (bus.Message, error) {
		t, err := s.get(ctx, q, ref, true)
		if err != nil {
			return bus.Message{}, err
		}
		if t.Status == StatusDeleted {
			return bus.Message{}, fmt.Errorf("%w: %q", ErrTenantDeleted, ref)
		}
		src, err := q.GetPlacement(ctx, t.ID)
		if errors.Is(err, pgx.ErrNoRows) {
			return bus.Message{}, fmt.Errorf("%w: %q", ErrNotPlaced, ref)
		}
		if err != nil {
			return bus.Message{}, err
		}
		if src.State != PlacementReady {
			return bus.Message{}, fmt.Errorf("%w: placement of %q is %s", ErrMoveState, ref, src.State)
		}
		if src.Adopted {
			return bus.Message{}, fmt.Errorf("%w: %q lives in an adopted database, which tenantkit does not move", ErrMoveState, ref)
		}
		v := &ValidationError{}
		if p.Tier != TierShared && p.Tier != TierSchema && p.Tier != TierDedicated {
			v.add("tier", "must be shared, schema or dedicated")
		}
		if p.Cluster == "" {
			p.Cluster = src.Cluster
		}
		if err := v.orNil(); err != nil {
			return bus.Message{}, err
		}
		c, err := q.GetCluster(ctx, p.Cluster)
		if errors.Is(err, pgx.ErrNoRows) {
			return bus.Message{}, fmt.Errorf("%w: %q", ErrClusterNotFound, p.Cluster)
		}
		if err != nil {
			return bus.Message{}, err
		}
		db, schema, err := Location(p.Tier, t.ID, c.SharedDatabase)
		if err != nil {
			return bus.Message{}, err
		}
		if c.Name == src.Cluster && db == src.Database && schema == src.Schema {
			return bus.Message{}, fmt.Errorf("%w: %q is on %s/%s/%s", ErrSamePlacement, ref, c.Name, db, schema)
		}
		if err := q.EndRetention(ctx, t.ID); err != nil {
			return bus.Message{}, err
		}
		row, err := q.InsertMove(ctx, catalogdb.InsertMoveParams{TenantID: t.ID,
			SourceTier: src.Tier, SourceCluster: src.Cluster, SourceDatabase: src.Database, SourceSchema: src.Schema, SourceEpoch: src.Epoch,
			TargetTier: p.Tier, TargetCluster: c.Name, TargetDatabase: db, TargetSchema: schema, RequestedBy: actor})
		if isUnique(err) {
			return bus.Message{}, fmt.Errorf("%w: %q", ErrMoveInProgress, ref)
		}
		if err != nil {
			return bus.Message{}, err
		}
		m = Move{TenantkitMove: row, Slug: t.Slug}
		return bus.Message{}, auditTarget(ctx, q, actor, "move.create", "move", row.ID.String(), nil, p)
	})
	return m, err
}

// GetMove returns a move.
func (s *Store) GetMove(ctx context.Context, id uuid.UUID) (Move, error) {
	row, err := s.q.GetMove(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return Move{}, fmt.Errorf("%w: %s", ErrMoveNotFound, id)
	}
	return Move{TenantkitMove: row.TenantkitMove, Slug: row.Slug}, err
}

// ListMoves returns the newest moves first, of one tenant when ref is not
// empty, at most limit of them (1 to 500; defaults to 50).
func (s *Store) ListMoves(ctx context.Context, ref string, limit int) ([]Move, error) {
	if limit <= 0 || limit > 500 {
		limit = 50
	}
	var tenant pgtype.UUID
	if ref != "" {
		t, err := s.GetTenant(ctx, ref)
		if err != nil {
			return nil, err
		}
		tenant = pgtype.UUID{Bytes: t.ID, Valid: true}
	}
	rows, err := s.q.ListMoves(ctx, catalogdb.ListMovesParams{TenantID: tenant, MaxRows: int32(limit)})
	if err != nil {
		return nil, err
	}
	out := make([]Move, len(rows))
	for i, r := range rows {
		out[i] = Move{TenantkitMove: r.TenantkitMove, Slug: r.Slug}
	}
	return out, nil
}

// ClaimMove leases the oldest move with work to do (only the move id when
// only is not nil) to owner for lease. It reports false when there is
// none.
func (s *Store) ClaimMove(ctx context.Context, owner string, lease time.Duration, maxPerCluster int, only *uuid.UUID) (Move, bool, error) {
	var m Move
	found := false
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		q := s.q.WithTx(tx)
		var onlyID pgtype.UUID
		if only != nil {
			onlyID = pgtype.UUID{Bytes: *only, Valid: true}
		}
		row, err := q.ClaimMove(ctx, catalogdb.ClaimMoveParams{OnlyID: onlyID, MaxPerCluster: int32(maxPerCluster)})
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		mv, err := q.TakeLease(ctx, catalogdb.TakeLeaseParams{ID: row.TenantkitMove.ID, Owner: owner, Seconds: lease.Seconds()})
		if err != nil {
			return err
		}
		m, found = Move{TenantkitMove: mv, Slug: row.Slug}, true
		return nil
	})
	return m, found, err
}

// RenewLease extends owner's lease on a move.
func (s *Store) RenewLease(ctx context.Context, id uuid.UUID, owner string, lease time.Duration) error {
	n, err := s.q.RenewLease(ctx, catalogdb.RenewLeaseParams{ID: id, Owner: owner, Seconds: lease.Seconds()})
	return leased(n, err)
}

// ReleaseLease gives up owner's lease on a move.
func (s *Store) ReleaseLease(ctx context.Context, id uuid.UUID, owner string) error {
	return s.q.ReleaseLease(ctx, catalogdb.ReleaseLeaseParams{ID: id, Owner: owner})
}

func leased(n int64, err error) error {
	if err == nil && n == 0 {
		return ErrLeaseLost
	}
	return err
}

// SetMoveState records a move's state, with phase timings to merge.
func (s *Store) SetMoveState(ctx context.Context, id uuid.UUID, owner, state, phase, lastError string, timings map[string]any) error {
	tj, err := json.Marshal(orEmpty(timings))
	if err != nil {
		return err
	}
	n, err := s.q.SetMoveState(ctx, catalogdb.SetMoveStateParams{ID: id, Owner: owner, State: state, Phase: phase, LastError: lastError, Timings: tj})
	return leased(n, err)
}

func orEmpty(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

// SetMovePhase records what a move is doing.
func (s *Store) SetMovePhase(ctx context.Context, id uuid.UUID, owner, phase string) error {
	n, err := s.q.SetMovePhase(ctx, catalogdb.SetMovePhaseParams{ID: id, Owner: owner, Phase: phase})
	return leased(n, err)
}

// SetMoveProgress records a move's progress document.
func (s *Store) SetMoveProgress(ctx context.Context, id uuid.UUID, owner string, progress any) error {
	b, err := json.Marshal(progress)
	if err != nil {
		return err
	}
	n, err := s.q.SetMoveProgress(ctx, catalogdb.SetMoveProgressParams{ID: id, Owner: owner, Progress: b})
	return leased(n, err)
}

// SetDeferredIndexes records the index definitions a move builds after its
// copy.
func (s *Store) SetDeferredIndexes(ctx context.Context, id uuid.UUID, owner string, defs []string) error {
	b, err := json.Marshal(defs)
	if err != nil {
		return err
	}
	n, err := s.q.SetDeferredIndexes(ctx, catalogdb.SetDeferredIndexesParams{ID: id, Owner: owner, DeferredIndexes: b})
	return leased(n, err)
}

// SetMoveError records a move's last error, whoever holds it.
func (s *Store) SetMoveError(ctx context.Context, id uuid.UUID, msg string) error {
	return s.q.SetMoveError(ctx, catalogdb.SetMoveErrorParams{ID: id, LastError: msg})
}

// MarkMoveCleaned records that nothing of a move is left outside the
// placement.
func (s *Store) MarkMoveCleaned(ctx context.Context, id uuid.UUID, owner, phase string) error {
	n, err := s.q.MarkMoveCleaned(ctx, catalogdb.MarkMoveCleanedParams{ID: id, Owner: owner, Phase: phase})
	return leased(n, err)
}

// RequestMoveCancel asks the runner of a running move to stop it and
// remove what it built.
func (s *Store) RequestMoveCancel(ctx context.Context, actor string, id uuid.UUID) (Move, error) {
	return s.request(ctx, actor, id, "move.cancel", func(m Move) error {
		if !MoveRunning(m.State) {
			return fmt.Errorf("%w: move %s is %s; only a running move can be cancelled", ErrMoveState, id, m.State)
		}
		return nil
	}, func(q *catalogdb.Queries) (catalogdb.TenantkitMove, error) { return q.RequestMoveCancel(ctx, id) })
}

// RequestMoveRollback asks for a complete move to be undone: the tenant
// goes back to the source with the writes made since the cutover.
func (s *Store) RequestMoveRollback(ctx context.Context, actor string, id uuid.UUID) (Move, error) {
	return s.request(ctx, actor, id, "move.rollback", func(m Move) error {
		if m.State != MoveComplete || m.CleanedAt != nil || (m.RetainUntil != nil && m.RetainUntil.Before(time.Now())) {
			return fmt.Errorf("%w: move %s is %s and its source is no longer kept; only a complete move inside its confidence period can be rolled back", ErrMoveState, id, m.State)
		}
		return nil
	}, func(q *catalogdb.Queries) (catalogdb.TenantkitMove, error) { return q.RequestMoveRollback(ctx, id) })
}

func (s *Store) request(ctx context.Context, actor string, id uuid.UUID, action string, check func(Move) error,
	do func(*catalogdb.Queries) (catalogdb.TenantkitMove, error)) (Move, error) {
	var m Move
	err := s.write(ctx, func(q *catalogdb.Queries) (bus.Message, error) {
		row, err := q.GetMove(ctx, id)
		if errors.Is(err, pgx.ErrNoRows) {
			return bus.Message{}, fmt.Errorf("%w: %s", ErrMoveNotFound, id)
		}
		if err != nil {
			return bus.Message{}, err
		}
		if err := check(Move{TenantkitMove: row.TenantkitMove, Slug: row.Slug}); err != nil {
			return bus.Message{}, err
		}
		mv, err := do(q)
		if err != nil {
			return bus.Message{}, err
		}
		m = Move{TenantkitMove: mv, Slug: row.Slug}
		return bus.Message{}, auditTarget(ctx, q, actor, action, "move", id.String(), nil, nil)
	})
	return m, err
}

// FlipParams is where a cutover puts the tenant.
type FlipParams struct {
	Tier, Cluster, Database, Schema string
	// Epoch is the placement's epoch before the flip; the flip fails if it
	// changed.
	Epoch int64
	// Retain is how long the source is kept (cutover) — unused by rollback.
	Retain time.Duration
	// ReverseLSN is the target's WAL position at the flip.
	ReverseLSN string
	Timings    map[string]any
}

// FlipMove is a cutover's decision, in one transaction: the placement
// points at the target with the next epoch and the move is complete.
func (s *Store) FlipMove(ctx context.Context, id uuid.UUID, owner string, f FlipParams) (Placement, error) {
	return s.flip(ctx, id, owner, "move.cutover", f, func(q *catalogdb.Queries, tj []byte) (int64, error) {
		return q.FlipMove(ctx, catalogdb.FlipMoveParams{ID: id, Owner: owner, RetainSeconds: f.Retain.Seconds(), ReverseLsn: f.ReverseLSN, Timings: tj})
	})
}

// UnflipMove is a rollback's decision: the placement points at the source
// again, with the next epoch, and the move is rolled back.
func (s *Store) UnflipMove(ctx context.Context, id uuid.UUID, owner string, f FlipParams) (Placement, error) {
	return s.flip(ctx, id, owner, "move.rollback", f, func(q *catalogdb.Queries, tj []byte) (int64, error) {
		return q.UnflipMove(ctx, catalogdb.UnflipMoveParams{ID: id, Owner: owner, Timings: tj})
	})
}

func (s *Store) flip(ctx context.Context, id uuid.UUID, owner, action string, f FlipParams, mark func(*catalogdb.Queries, []byte) (int64, error)) (Placement, error) {
	var pl Placement
	tj, err := json.Marshal(orEmpty(f.Timings))
	if err != nil {
		return pl, err
	}
	err = s.write(ctx, func(q *catalogdb.Queries) (bus.Message, error) {
		m, err := q.GetMove(ctx, id)
		if err != nil {
			return bus.Message{}, err
		}
		row, err := q.MovePlacement(ctx, catalogdb.MovePlacementParams{TenantID: m.TenantkitMove.TenantID, Epoch: f.Epoch,
			Tier: f.Tier, Cluster: f.Cluster, Database: f.Database, Schema: f.Schema})
		if errors.Is(err, pgx.ErrNoRows) {
			return bus.Message{}, fmt.Errorf("%w: placement of %s changed under the move (epoch %d)", ErrMoveState, m.Slug, f.Epoch)
		}
		if err != nil {
			return bus.Message{}, err
		}
		n, err := mark(q, tj)
		if err := leased(n, err); err != nil {
			return bus.Message{}, err
		}
		pl = placementFrom(row)
		return bus.Message{Tenant: m.TenantkitMove.TenantID.String()}, auditTarget(ctx, q, owner, action, "move", id.String(), nil, pl)
	})
	return pl, err
}

// MovesTouching counts the running moves whose source or target is a
// database of a cluster: DDL there waits for them.
func (s *Store) MovesTouching(ctx context.Context, cluster, database string) (int64, error) {
	return s.q.ActiveMoveOnTarget(ctx, catalogdb.ActiveMoveOnTargetParams{Cluster: cluster, Database: database})
}
