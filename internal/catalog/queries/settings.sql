-- Tenant settings: the stored document and its version.

-- name: GetSettings :one
SELECT doc, version FROM tenantkit.tenant_settings WHERE tenant_id = @tenant_id;

-- name: GetSettingsForUpdate :one
SELECT doc, version FROM tenantkit.tenant_settings WHERE tenant_id = @tenant_id FOR UPDATE;

-- name: PutSettings :one
INSERT INTO tenantkit.tenant_settings (tenant_id, doc, version)
VALUES (@tenant_id, @doc, 1)
ON CONFLICT (tenant_id) DO UPDATE
SET doc = EXCLUDED.doc, version = tenantkit.tenant_settings.version + 1, updated_at = now()
RETURNING version;
