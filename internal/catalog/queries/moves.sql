-- name: InsertMove :one
INSERT INTO tenantkit.moves (tenant_id, source_tier, source_cluster, source_database, source_schema, source_epoch,
    target_tier, target_cluster, target_database, target_schema, requested_by)
VALUES (@tenant_id, @source_tier, @source_cluster, @source_database, @source_schema, @source_epoch,
    @target_tier, @target_cluster, @target_database, @target_schema, @requested_by)
RETURNING *;

-- name: GetMove :one
SELECT sqlc.embed(m), t.slug FROM tenantkit.moves m JOIN tenantkit.tenants t ON t.id = m.tenant_id WHERE m.id = @id;

-- name: ListMoves :many
SELECT sqlc.embed(m), t.slug FROM tenantkit.moves m JOIN tenantkit.tenants t ON t.id = m.tenant_id
WHERE (sqlc.narg(tenant_id)::uuid IS NULL OR m.tenant_id = sqlc.narg(tenant_id))
ORDER BY m.created_at DESC
LIMIT @max_rows;

-- name: EndRetention :exec
-- A new move of the tenant ends the confidence period of its earlier ones.
UPDATE tenantkit.moves SET retain_until = now(), updated_at = now()
WHERE tenant_id = @tenant_id AND state = 'complete' AND cleaned_at IS NULL AND NOT rollback_requested;

-- name: ClaimMove :one
-- Claims the oldest move with work to do whose lease is free. A pending
-- move waits while its clusters run max_per_cluster moves already.
SELECT sqlc.embed(m), t.slug FROM tenantkit.moves m JOIN tenantkit.tenants t ON t.id = m.tenant_id
WHERE m.cleaned_at IS NULL
  AND (m.lease_until IS NULL OR m.lease_until < now())
  AND (m.state <> 'complete' OR m.rollback_requested OR m.retain_until <= now() OR m.phase = 'committing fence')
  AND (sqlc.narg(only_id)::uuid IS NULL OR m.id = sqlc.narg(only_id))
  AND (m.state <> 'pending' OR (
      SELECT count(*) FROM tenantkit.moves o
      WHERE o.state IN ('preparing', 'copying', 'catching_up', 'verifying', 'cutover')
        AND (o.source_cluster IN (m.source_cluster, m.target_cluster) OR o.target_cluster IN (m.source_cluster, m.target_cluster))
  ) < @max_per_cluster::int)
ORDER BY m.created_at
LIMIT 1
FOR UPDATE OF m SKIP LOCKED;

-- name: TakeLease :one
UPDATE tenantkit.moves SET lease_owner = @owner, lease_until = now() + make_interval(secs => @seconds::float8),
    attempts = attempts + 1, updated_at = now()
WHERE id = @id
RETURNING *;

-- name: RenewLease :execrows
UPDATE tenantkit.moves SET lease_until = now() + make_interval(secs => @seconds::float8)
WHERE id = @id AND lease_owner = @owner;

-- name: ReleaseLease :exec
UPDATE tenantkit.moves SET lease_owner = '', lease_until = NULL WHERE id = @id AND lease_owner = @owner;

-- name: SetMoveState :execrows
UPDATE tenantkit.moves SET state = @state, phase = @phase, last_error = @last_error,
    timings = timings || @timings::jsonb, updated_at = now(),
    finished_at = CASE WHEN @state IN ('complete', 'failed', 'rolled_back') THEN now() ELSE finished_at END
WHERE id = @id AND lease_owner = @owner;

-- name: SetMovePhase :execrows
UPDATE tenantkit.moves SET phase = @phase, updated_at = now() WHERE id = @id AND lease_owner = @owner;

-- name: SetMoveProgress :execrows
UPDATE tenantkit.moves SET progress = @progress, updated_at = now() WHERE id = @id AND lease_owner = @owner;

-- name: SetDeferredIndexes :execrows
UPDATE tenantkit.moves SET deferred_indexes = @deferred_indexes, updated_at = now() WHERE id = @id AND lease_owner = @owner;

-- name: SetMoveError :exec
UPDATE tenantkit.moves SET last_error = @last_error, updated_at = now() WHERE id = @id;

-- name: MarkMoveCleaned :execrows
UPDATE tenantkit.moves SET cleaned_at = now(), phase = @phase, updated_at = now() WHERE id = @id AND lease_owner = @owner;

-- name: RequestMoveCancel :one
UPDATE tenantkit.moves SET cancel_requested = true, updated_at = now() WHERE id = @id RETURNING *;

-- name: RequestMoveRollback :one
UPDATE tenantkit.moves SET rollback_requested = true, updated_at = now() WHERE id = @id RETURNING *;

-- name: FlipMove :execrows
-- The cutover's decision: the move is complete. Runs in one transaction
-- with the placement's flip.
UPDATE tenantkit.moves SET state = 'complete', phase = 'committing fence', cutover_at = now(), finished_at = now(),
    retain_until = now() + make_interval(secs => @retain_seconds::float8), reverse_lsn = @reverse_lsn,
    timings = timings || @timings::jsonb, updated_at = now()
WHERE id = @id AND lease_owner = @owner AND state = 'cutover';

-- name: UnflipMove :execrows
-- A rollback's decision: the tenant is back on the source.
UPDATE tenantkit.moves SET state = 'rolled_back', phase = 'removing target', finished_at = now(),
    timings = timings || @timings::jsonb, updated_at = now()
WHERE id = @id AND lease_owner = @owner AND state = 'complete';

-- name: MovePlacement :one
UPDATE tenantkit.placements SET tier = @tier, cluster = @cluster, database = @database, schema = @schema,
    epoch = epoch + 1, updated_at = now()
WHERE tenant_id = @tenant_id AND epoch = @epoch AND state = 'ready'
RETURNING *;

-- name: ActiveMoveOnTarget :one
-- A running move whose target is this database and schema: migrations
-- wait for it (DDL is frozen during a move).
SELECT count(*) FROM tenantkit.moves
WHERE state IN ('preparing', 'copying', 'catching_up', 'verifying', 'cutover')
  AND ((source_cluster = @cluster AND source_database = @database) OR (target_cluster = @cluster AND target_database = @database));
