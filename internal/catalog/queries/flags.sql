-- Feature flags and their per-tenant overrides.

-- name: ListFlags :many
SELECT * FROM tenantkit.flags ORDER BY key;

-- name: GetFlag :one
SELECT * FROM tenantkit.flags WHERE key = @key;

-- name: GetFlagForUpdate :one
SELECT * FROM tenantkit.flags WHERE key = @key FOR UPDATE;

-- name: CreateFlag :one
INSERT INTO tenantkit.flags (key, description, kill_switch, default_value, rollout, min_plan, seed)
VALUES (@key, @description, @kill_switch, @default_value, @rollout, sqlc.narg('min_plan'), @seed)
RETURNING *;

-- name: UpdateFlag :one
UPDATE tenantkit.flags
SET description = @description, kill_switch = @kill_switch, default_value = @default_value,
    rollout = @rollout, min_plan = sqlc.narg('min_plan'), seed = @seed, updated_at = now()
WHERE key = @key
RETURNING *;

-- name: DeleteFlag :execrows
DELETE FROM tenantkit.flags WHERE key = @key;

-- name: ListFlagOverrides :many
SELECT * FROM tenantkit.flag_overrides ORDER BY flag, tenant_id;

-- name: FlagOverridesOf :many
SELECT * FROM tenantkit.flag_overrides WHERE flag = @flag ORDER BY tenant_id;

-- name: SetFlagOverride :exec
INSERT INTO tenantkit.flag_overrides (flag, tenant_id, value)
VALUES (@flag, @tenant_id, @value)
ON CONFLICT (flag, tenant_id) DO UPDATE SET value = EXCLUDED.value;

-- name: ClearFlagOverride :execrows
DELETE FROM tenantkit.flag_overrides WHERE flag = @flag AND tenant_id = @tenant_id;

-- name: ListPlanRanks :many
SELECT name, rank FROM tenantkit.plans ORDER BY rank, name;
