-- name: CreateTenant :one
INSERT INTO tenantkit.tenants (slug, name, plan)
VALUES (@slug, @name, @plan)
RETURNING *;

-- name: GetTenantByID :one
SELECT * FROM tenantkit.tenants WHERE id = @id;

-- name: GetTenantBySlug :one
SELECT * FROM tenantkit.tenants WHERE slug = @slug;

-- name: GetTenantByIDForUpdate :one
SELECT * FROM tenantkit.tenants WHERE id = @id FOR UPDATE;

-- name: ListTenants :many
SELECT * FROM tenantkit.tenants
WHERE slug > @after
  AND (@status::text = '' OR status = @status::text)
ORDER BY slug
LIMIT @max;

-- name: UpdateTenant :one
UPDATE tenantkit.tenants
SET name = @name, plan = @plan, updated_at = now()
WHERE id = @id
RETURNING *;

-- name: SetTenantStatus :one
UPDATE tenantkit.tenants
SET status = @status,
    suspension_reason = @suspension_reason,
    deleted_at = CASE WHEN @status::text = 'deleted' THEN now() ELSE NULL END,
    updated_at = now()
WHERE id = @id
RETURNING *;

-- name: PlanExists :one
SELECT EXISTS (SELECT 1 FROM tenantkit.plans WHERE name = @name);

-- name: ListPlans :many
SELECT * FROM tenantkit.plans ORDER BY rank, name;

-- name: InsertAudit :exec
INSERT INTO tenantkit.audit_log (actor, action, target_type, target_id, before, after)
VALUES (@actor, @action, @target_type, @target_id, @before, @after);

-- name: ListAudit :many
SELECT * FROM tenantkit.audit_log
WHERE target_type = @target_type AND target_id = @target_id
ORDER BY id;

-- name: AddDomain :one
INSERT INTO tenantkit.domains (host, tenant_id, verification_token)
VALUES (@host, @tenant_id, @verification_token)
RETURNING *;

-- name: VerifyDomain :one
UPDATE tenantkit.domains SET verified_at = coalesce(verified_at, now()), status = 'verified', checked_at = now(),
    check_error = '', lapsed_at = NULL, grace_until = NULL
WHERE host = @host
RETURNING *;

-- name: LapseDomain :one
UPDATE tenantkit.domains SET status = 'lapsed', checked_at = now(), check_error = @check_error,
    lapsed_at = coalesce(lapsed_at, now()), grace_until = coalesce(grace_until, now() + @grace::interval)
WHERE host = @host AND verified_at IS NOT NULL
RETURNING *;

-- name: UnbindLapsedDomain :one
UPDATE tenantkit.domains SET verified_at = NULL, checked_at = now(), check_error = @check_error
WHERE host = @host AND status = 'lapsed' AND verified_at IS NOT NULL AND grace_until <= now()
RETURNING *;

-- name: DomainsToRecheck :many
SELECT * FROM tenantkit.domains
WHERE verified_at IS NOT NULL AND (checked_at IS NULL OR checked_at < @checked_before)
ORDER BY checked_at NULLS FIRST, host
LIMIT @max;

-- name: ListDomains :many
SELECT * FROM tenantkit.domains WHERE tenant_id = @tenant_id ORDER BY host;

-- name: DeleteDomain :one
DELETE FROM tenantkit.domains WHERE host = @host RETURNING *;

-- name: SetDomainSSL :one
UPDATE tenantkit.domains SET ssl_status = @ssl_status, ssl_error = @ssl_error,
    ssl_expires_at = coalesce(sqlc.narg(ssl_expires_at), ssl_expires_at)
WHERE host = @host
RETURNING *;

-- name: ServableDomains :many
SELECT d.host FROM tenantkit.domains d JOIN tenantkit.tenants t ON t.id = d.tenant_id
WHERE d.verified_at IS NOT NULL AND (d.grace_until IS NULL OR d.grace_until > now()) AND t.status = 'active'
ORDER BY d.host;

-- name: GetDomain :one
SELECT * FROM tenantkit.domains WHERE host = @host;

-- name: UpsertBranding :one
INSERT INTO tenantkit.branding (tenant_id, display_name, logo_url, primary_color, accent_color, support_email,
    from_name, from_email, support_url, favicon_url, secondary_color, font_family, custom_css, terms_url, privacy_url)
VALUES (@tenant_id, @display_name, @logo_url, @primary_color, @accent_color, @support_email,
    @from_name, @from_email, @support_url, @favicon_url, @secondary_color, @font_family, @custom_css, @terms_url, @privacy_url)
ON CONFLICT (tenant_id) DO UPDATE
SET display_name = EXCLUDED.display_name, logo_url = EXCLUDED.logo_url,
    primary_color = EXCLUDED.primary_color, accent_color = EXCLUDED.accent_color,
    support_email = EXCLUDED.support_email, from_name = EXCLUDED.from_name,
    from_email = EXCLUDED.from_email, support_url = EXCLUDED.support_url,
    favicon_url = EXCLUDED.favicon_url, secondary_color = EXCLUDED.secondary_color,
    font_family = EXCLUDED.font_family, custom_css = EXCLUDED.custom_css,
    terms_url = EXCLUDED.terms_url, privacy_url = EXCLUDED.privacy_url,
    version = tenantkit.branding.version + 1, updated_at = now()
WHERE sqlc.narg(if_version)::bigint IS NULL OR tenantkit.branding.version = sqlc.narg(if_version)::bigint
RETURNING *;

-- name: GetBranding :one
SELECT * FROM tenantkit.branding WHERE tenant_id = @tenant_id;

-- name: SetTenantFeature :exec
INSERT INTO tenantkit.tenant_features (tenant_id, feature, enabled)
VALUES (@tenant_id, @feature, @enabled)
ON CONFLICT (tenant_id, feature) DO UPDATE SET enabled = EXCLUDED.enabled;

-- name: SetPlanLimit :exec
INSERT INTO tenantkit.plan_limits (plan, name, value)
VALUES (@plan, @name, @value)
ON CONFLICT (plan, name) DO UPDATE SET value = EXCLUDED.value;

-- name: SetPlanFeature :exec
INSERT INTO tenantkit.plan_features (plan, feature) VALUES (@plan, @feature)
ON CONFLICT DO NOTHING;

-- name: ExpireDomainCertificates :many
UPDATE tenantkit.domains SET ssl_status = 'expired'
WHERE ssl_status = 'active' AND ssl_expires_at <= now()
RETURNING host;
