-- Tenants' data keys and integrations.

-- name: TenantKeys :many
SELECT * FROM tenantkit.tenant_keys WHERE tenant_id = @tenant_id ORDER BY version;

-- name: InsertTenantKey :execrows
INSERT INTO tenantkit.tenant_keys (tenant_id, version, kek_id, wrapped, created_at)
VALUES (@tenant_id, @version, @kek_id, @wrapped, @created_at)
ON CONFLICT (tenant_id, version) DO NOTHING;

-- name: RewrapTenantKey :execrows
UPDATE tenantkit.tenant_keys SET kek_id = @to_kek, wrapped = @wrapped, rewrapped_at = now()
WHERE tenant_id = @tenant_id AND version = @version AND kek_id = @from_kek;

-- name: KeysNotWrappedBy :many
SELECT * FROM tenantkit.tenant_keys
WHERE kek_id <> @kek_id AND (tenant_id, version) > (@after_tenant::uuid, @after_version::integer)
ORDER BY tenant_id, version
LIMIT @max;

-- name: CountKeys :one
SELECT count(*) AS total, count(*) FILTER (WHERE kek_id = @kek_id) AS wrapped_by FROM tenantkit.tenant_keys;

-- name: DestroyTenantKeys :execrows
DELETE FROM tenantkit.tenant_keys WHERE tenant_id = @tenant_id;

-- name: GetIntegration :one
SELECT * FROM tenantkit.integrations WHERE tenant_id = @tenant_id AND type = @type;

-- name: TenantIntegrations :many
SELECT * FROM tenantkit.integrations WHERE tenant_id = @tenant_id ORDER BY type;

-- name: UpsertIntegration :one
INSERT INTO tenantkit.integrations (id, tenant_id, type, provider, settings, credentials, active)
VALUES (@id, @tenant_id, @type, @provider, @settings, @credentials, @active)
ON CONFLICT (tenant_id, type) DO UPDATE
SET id = EXCLUDED.id, provider = EXCLUDED.provider, settings = EXCLUDED.settings,
    credentials = EXCLUDED.credentials, active = EXCLUDED.active, updated_at = now()
RETURNING *;

-- name: DeleteIntegration :execrows
DELETE FROM tenantkit.integrations WHERE tenant_id = @tenant_id AND type = @type;

-- name: VerifiedDomains :many
SELECT host FROM tenantkit.domains WHERE tenant_id = @tenant_id AND verified_at IS NOT NULL
    AND (grace_until IS NULL OR grace_until > now()) ORDER BY host;

-- name: DeleteTenantIntegrations :execrows
DELETE FROM tenantkit.integrations WHERE tenant_id = @tenant_id;

-- name: PlatformSecret :one
SELECT * FROM tenantkit.platform_secrets WHERE name = @name;

-- name: PlatformSecrets :many
SELECT * FROM tenantkit.platform_secrets ORDER BY name;

-- name: PutPlatformSecret :exec
INSERT INTO tenantkit.platform_secrets (name, kek_id, sealed) VALUES (@name, @kek_id, @sealed)
ON CONFLICT (name) DO UPDATE SET kek_id = excluded.kek_id, sealed = excluded.sealed, updated_at = now(), rewrapped_at = NULL;

-- name: DeletePlatformSecret :execrows
DELETE FROM tenantkit.platform_secrets WHERE name = @name;

-- name: RewrapPlatformSecret :execrows
UPDATE tenantkit.platform_secrets SET kek_id = @to_kek, sealed = @sealed, rewrapped_at = now()
WHERE name = @name AND kek_id = @from_kek;
