-- name: PlanBillingOf :one
SELECT billing FROM tenantkit.plan_billing WHERE plan = @plan;

-- name: InsertBillingOutbox :exec
INSERT INTO tenantkit.billing_outbox (tenant_id, op, payload) VALUES (@tenant_id, @op, @payload);

-- name: BillingAccountExists :one
SELECT EXISTS (SELECT 1 FROM tenantkit.billing_accounts a WHERE a.tenant_id = @tenant_id::uuid)
    OR EXISTS (SELECT 1 FROM tenantkit.billing_outbox o WHERE o.tenant_id = @tenant_id::uuid);

-- name: ClaimBillingOutbox :one
-- The oldest pending change of a tenant no other sync holds, due now: a
-- tenant's changes are applied one at a time and in order. The advisory
-- lock, held until the claiming transaction ends, keeps other syncs off
-- the tenant's later changes while this one runs.
SELECT o.id, o.tenant_id, o.op, o.payload, o.attempts, o.created_at
FROM tenantkit.billing_outbox o
WHERE o.done_at IS NULL AND o.next_attempt_at <= now()
  AND NOT (o.tenant_id = ANY (@skip_tenants::uuid[]))
  AND o.id = (SELECT min(p.id) FROM tenantkit.billing_outbox p WHERE p.tenant_id = o.tenant_id AND p.done_at IS NULL)
  AND pg_try_advisory_xact_lock(hashtextextended('tenantkit.billing:' || o.tenant_id::text, 0))
ORDER BY o.id
LIMIT 1;

-- name: GetBillingAccount :one
SELECT * FROM tenantkit.billing_accounts WHERE tenant_id = @tenant_id;

-- name: UpsertBillingAccount :exec
INSERT INTO tenantkit.billing_accounts (tenant_id, customer_id, subscription_id, items, synced_at)
VALUES (@tenant_id, @customer_id, @subscription_id, @items, now())
ON CONFLICT (tenant_id) DO UPDATE SET customer_id = EXCLUDED.customer_id, subscription_id = EXCLUDED.subscription_id,
    items = EXCLUDED.items, synced_at = now(), updated_at = now();

-- name: FinishBillingOutbox :exec
UPDATE tenantkit.billing_outbox SET done_at = now(), attempts = attempts + 1, last_error = '' WHERE id = @id;

-- name: FailBillingOutbox :exec
UPDATE tenantkit.billing_outbox
SET attempts = attempts + 1, last_error = @last_error, next_attempt_at = now() + @backoff::interval
WHERE id = @id;

-- name: TenantBillingOutbox :many
SELECT * FROM tenantkit.billing_outbox WHERE tenant_id = @tenant_id ORDER BY id DESC LIMIT @max;

-- name: BillingBacklog :one
SELECT count(*) AS pending, coalesce(min(created_at), now())::timestamptz AS oldest,
       coalesce(max(attempts), 0)::integer AS most_attempts
FROM tenantkit.billing_outbox WHERE done_at IS NULL;

-- name: InsertBillingEvent :one
INSERT INTO tenantkit.billing_events (id, type, created, payload) VALUES (@id, @type, @created, @payload)
ON CONFLICT (id) DO NOTHING
RETURNING id;

-- name: GetBillingEvent :one
SELECT * FROM tenantkit.billing_events WHERE id = @id;

-- name: FinishBillingEvent :exec
UPDATE tenantkit.billing_events SET handled_at = now(), tenant_id = @tenant_id, outcome = @outcome WHERE id = @id;

-- name: TenantByCustomer :one
SELECT tenant_id FROM tenantkit.billing_accounts WHERE customer_id = @customer_id AND customer_id <> '';

-- name: EnsureBillingAccount :exec
INSERT INTO tenantkit.billing_accounts (tenant_id) VALUES (@tenant_id) ON CONFLICT (tenant_id) DO NOTHING;

-- name: SetPastDue :exec
UPDATE tenantkit.billing_accounts
SET past_due_since = coalesce(past_due_since, @since), grace_until = coalesce(grace_until, @grace_until), updated_at = now()
WHERE tenant_id = @tenant_id;

-- name: ClearPastDue :one
UPDATE tenantkit.billing_accounts a
SET past_due_since = NULL, grace_until = NULL, suspended_by_billing = false, updated_at = now()
FROM (SELECT b.tenant_id, b.suspended_by_billing AS was FROM tenantkit.billing_accounts b WHERE b.tenant_id = @tenant_id::uuid FOR UPDATE) old
WHERE a.tenant_id = old.tenant_id
RETURNING old.was;

-- name: SetSuspendedByBilling :exec
UPDATE tenantkit.billing_accounts SET suspended_by_billing = true, updated_at = now() WHERE tenant_id = @tenant_id;

-- name: OverdueTenants :many
SELECT a.tenant_id FROM tenantkit.billing_accounts a JOIN tenantkit.tenants t ON t.id = a.tenant_id
WHERE a.grace_until IS NOT NULL AND a.grace_until <= @now AND t.status = 'active'
ORDER BY a.grace_until LIMIT 500;

-- name: SetSubscriptionEventAt :one
UPDATE tenantkit.billing_accounts SET subscription_event_at = @at, updated_at = now()
WHERE tenant_id = @tenant_id AND (subscription_event_at IS NULL OR subscription_event_at < @at)
RETURNING tenant_id;

-- name: PlanByBasePrice :many
SELECT plan FROM tenantkit.plan_billing WHERE billing->>'base_price' = @price::text;

-- name: BilledUsage :many
-- Each tenant with a customer on Stripe, its plan's prices and its usage
-- in a period.
SELECT t.id, t.slug, a.customer_id, pb.billing, u.api_calls, u.db_us, u.bandwidth_bytes, u.storage_bytes, u.jobs, u.job_us
FROM tenantkit.tenants t
JOIN tenantkit.billing_accounts a ON a.tenant_id = t.id AND a.customer_id <> ''
JOIN tenantkit.plan_billing pb ON pb.plan = t.plan
LEFT JOIN tenantkit.usage_periods u ON u.tenant_id = t.id AND u.period = @period
WHERE (@slug::text = '' OR t.slug = @slug::text)
ORDER BY t.slug;

-- name: UsageReportsOf :many
SELECT * FROM tenantkit.billing_usage_reports WHERE period = @period AND (@tenant_id::uuid = '00000000-0000-0000-0000-000000000000'::uuid OR tenant_id = @tenant_id::uuid)
ORDER BY tenant_id, metric, seq;

-- name: InsertUsageReport :exec
INSERT INTO tenantkit.billing_usage_reports (tenant_id, period, metric, seq, meter, value, total, identifier, final)
VALUES (@tenant_id, @period, @metric, @seq, @meter, @value, @total, @identifier, @final);

-- name: ConfirmUsageReport :exec
UPDATE tenantkit.billing_usage_reports SET reported_at = now() WHERE identifier = @identifier;

-- name: SetInvoiceEventAt :one
UPDATE tenantkit.billing_accounts SET invoice_event_at = @at, updated_at = now()
WHERE tenant_id = @tenant_id AND (invoice_event_at IS NULL OR invoice_event_at < @at)
RETURNING tenant_id;
