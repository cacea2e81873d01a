-- Plans, their features and limits, tenants' overrides and usage.

-- name: GetPlan :one
SELECT * FROM tenantkit.plans WHERE name = @name;

-- name: GetPlanForUpdate :one
SELECT * FROM tenantkit.plans WHERE name = @name FOR UPDATE;

-- name: CreatePlan :one
INSERT INTO tenantkit.plans (name, display_name, default_tier, rank, description)
VALUES (@name, @display_name, @default_tier, @rank, @description)
RETURNING *;

-- name: UpdatePlan :one
UPDATE tenantkit.plans
SET display_name = @display_name, default_tier = @default_tier, rank = @rank,
    description = @description, updated_at = now()
WHERE name = @name
RETURNING *;

-- name: DeletePlan :exec
DELETE FROM tenantkit.plans WHERE name = @name;

-- name: PlanTenantCount :one
SELECT count(*) FROM tenantkit.tenants WHERE plan = @plan AND status <> 'deleted';

-- name: PlanFeatures :many
SELECT plan, feature FROM tenantkit.plan_features ORDER BY plan, feature;

-- name: PlanLimits :many
SELECT plan, name, value FROM tenantkit.plan_limits ORDER BY plan, name;

-- name: DeletePlanFeatures :exec
DELETE FROM tenantkit.plan_features WHERE plan = @plan;

-- name: DeletePlanLimits :exec
DELETE FROM tenantkit.plan_limits WHERE plan = @plan;

-- name: UnsetPlanLimit :execrows
DELETE FROM tenantkit.plan_limits WHERE plan = @plan AND name = @name;

-- name: UnsetPlanFeature :execrows
DELETE FROM tenantkit.plan_features WHERE plan = @plan AND feature = @feature;

-- name: SetTenantLimit :exec
INSERT INTO tenantkit.tenant_limits (tenant_id, name, value)
VALUES (@tenant_id, @name, @value)
ON CONFLICT (tenant_id, name) DO UPDATE SET value = EXCLUDED.value;

-- name: UnsetTenantLimit :execrows
DELETE FROM tenantkit.tenant_limits WHERE tenant_id = @tenant_id AND name = @name;

-- name: UnsetTenantFeature :execrows
DELETE FROM tenantkit.tenant_features WHERE tenant_id = @tenant_id AND feature = @feature;

-- name: TenantLimitOverrides :many
SELECT name, value FROM tenantkit.tenant_limits WHERE tenant_id = @tenant_id ORDER BY name;

-- name: TenantFeatureOverrides :many
SELECT feature, enabled FROM tenantkit.tenant_features WHERE tenant_id = @tenant_id ORDER BY feature;

-- EffectiveLimits are the limits tenant @tenant_id would have on plan
-- @plan: the plan's, then the tenant's overrides.
-- name: EffectiveLimits :many
SELECT l.name, l.value FROM (
    SELECT pl.name, pl.value FROM tenantkit.plan_limits pl
    WHERE pl.plan = @plan AND NOT EXISTS (
        SELECT 1 FROM tenantkit.tenant_limits o WHERE o.tenant_id = @tenant_id AND o.name = pl.name)
    UNION ALL
    SELECT o.name, o.value FROM tenantkit.tenant_limits o WHERE o.tenant_id = @tenant_id
) l ORDER BY l.name;

-- name: SetUsage :exec
INSERT INTO tenantkit.tenant_usage (tenant_id, name, value, measured_at)
VALUES (@tenant_id, @name, @value, now())
ON CONFLICT (tenant_id, name) DO UPDATE SET value = EXCLUDED.value, measured_at = now();

-- name: TenantUsage :many
SELECT * FROM tenantkit.tenant_usage WHERE tenant_id = @tenant_id ORDER BY name;

-- name: PlanBillings :many
SELECT plan, billing FROM tenantkit.plan_billing;

-- name: SetPlanBilling :exec
INSERT INTO tenantkit.plan_billing (plan, billing) VALUES (@plan, @billing)
ON CONFLICT (plan) DO UPDATE SET billing = EXCLUDED.billing, updated_at = now();

-- name: DeletePlanBilling :exec
DELETE FROM tenantkit.plan_billing WHERE plan = @plan;
