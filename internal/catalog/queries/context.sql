-- The tenant context in one round trip: the tenant, its plan, the plan's
-- features merged with the tenant's overrides, limits likewise, branding.

-- name: LoadContextByID :one
SELECT sqlc.embed(t),
    p.display_name AS plan_display_name,
    COALESCE((SELECT jsonb_object_agg(f.feature, f.enabled) FROM (
        SELECT pf.feature, true AS enabled FROM tenantkit.plan_features pf
        WHERE pf.plan = t.plan AND NOT EXISTS (
            SELECT 1 FROM tenantkit.tenant_features o WHERE o.tenant_id = t.id AND o.feature = pf.feature)
        UNION ALL
        SELECT o.feature, o.enabled FROM tenantkit.tenant_features o WHERE o.tenant_id = t.id
    ) f), '{}')::jsonb AS features,
    COALESCE((SELECT jsonb_object_agg(l.name, l.value) FROM (
        SELECT pl.name, pl.value FROM tenantkit.plan_limits pl
        WHERE pl.plan = t.plan AND NOT EXISTS (
            SELECT 1 FROM tenantkit.tenant_limits o WHERE o.tenant_id = t.id AND o.name = pl.name)
        UNION ALL
        SELECT o.name, o.value FROM tenantkit.tenant_limits o WHERE o.tenant_id = t.id
    ) l), '{}')::jsonb AS limits,
    COALESCE((SELECT to_jsonb(b) - 'tenant_id' - 'updated_at' FROM tenantkit.branding b WHERE b.tenant_id = t.id), '{}')::jsonb AS branding,
    COALESCE((SELECT to_jsonb(pl) - 'tenant_id' - 'created_at' - 'updated_at' FROM tenantkit.placements pl WHERE pl.tenant_id = t.id), 'null')::jsonb AS placement,
    COALESCE((SELECT s.doc FROM tenantkit.tenant_settings s WHERE s.tenant_id = t.id), '{}')::jsonb AS settings,
    COALESCE((SELECT s.version FROM tenantkit.tenant_settings s WHERE s.tenant_id = t.id), 0)::bigint AS settings_version,
    p.rank AS plan_rank,
    COALESCE((SELECT jsonb_build_object('past_due_since', a.past_due_since, 'grace_until', a.grace_until)
        FROM tenantkit.billing_accounts a WHERE a.tenant_id = t.id AND a.past_due_since IS NOT NULL), 'null')::jsonb AS past_due
FROM tenantkit.tenants t
JOIN tenantkit.plans p ON p.name = t.plan
WHERE t.id = @id;

-- name: TenantIDBySlug :one
SELECT id FROM tenantkit.tenants WHERE slug = @slug;

-- name: TenantIDByVerifiedHost :one
SELECT tenant_id FROM tenantkit.domains WHERE host = @host AND verified_at IS NOT NULL
    AND (grace_until IS NULL OR grace_until > now());
