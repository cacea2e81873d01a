-- tenantkit:phase expand
-- +goose Up
-- A move copies one tenant's data from its placement to another while its
-- users keep writing, then flips the placement. Every step is persisted
-- here, so a move survives the death of the process running it: whoever
-- holds the lease resumes it from its state.
CREATE TABLE tenantkit.moves (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id       uuid NOT NULL REFERENCES tenantkit.tenants (id) ON DELETE CASCADE,
    state           text NOT NULL DEFAULT 'pending' CHECK (state IN
        ('pending', 'preparing', 'copying', 'catching_up', 'verifying', 'cutover', 'complete', 'failed', 'rolled_back')),
    -- phase says what the state is doing now, for people ("copying orders").
    phase           text NOT NULL DEFAULT '',
    source_tier     text NOT NULL,
    source_cluster  text NOT NULL REFERENCES tenantkit.clusters (name),
    source_database text NOT NULL,
    source_schema   text NOT NULL,
    source_epoch    bigint NOT NULL,
    target_tier     text NOT NULL CHECK (target_tier IN ('shared', 'schema', 'dedicated')),
    target_cluster  text NOT NULL REFERENCES tenantkit.clusters (name),
    target_database text NOT NULL,
    target_schema   text NOT NULL,
    requested_by    text NOT NULL,
    -- Index definitions dropped on a fresh target before the copy and built after it.
    deferred_indexes jsonb NOT NULL DEFAULT '[]',
    -- Per-table rows and bytes, replication lag, applied LSN; see move.Progress.
    progress        jsonb NOT NULL DEFAULT '{}',
    -- Phase start and end times.
    timings         jsonb NOT NULL DEFAULT '{}',
    -- The target's WAL position at cutover: a rollback replays the target's
    -- changes from here back to the source.
    reverse_lsn     text NOT NULL DEFAULT '',
    cancel_requested   boolean NOT NULL DEFAULT false,
    rollback_requested boolean NOT NULL DEFAULT false,
    last_error      text NOT NULL DEFAULT '',
    attempts        int NOT NULL DEFAULT 0,
    lease_owner     text NOT NULL DEFAULT '',
    lease_until     timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    cutover_at      timestamptz,
    finished_at     timestamptz,
    -- The source of a complete move is kept until then, for a rollback.
    retain_until    timestamptz,
    -- Set once nothing of the move is left outside the placement: no slot,
    -- publication, retained source or half-built target.
    cleaned_at      timestamptz
);

-- One move per tenant at a time.
CREATE UNIQUE INDEX moves_one_active ON tenantkit.moves (tenant_id)
    WHERE state IN ('pending', 'preparing', 'copying', 'catching_up', 'verifying', 'cutover');
CREATE INDEX moves_outstanding ON tenantkit.moves (created_at) WHERE cleaned_at IS NULL;
CREATE INDEX moves_tenant ON tenantkit.moves (tenant_id, created_at);

-- +goose Down
DROP TABLE tenantkit.moves;
