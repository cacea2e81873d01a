-- name: RecordUsageFlush :execrows
INSERT INTO tenantkit.usage_flushes (id, instance) VALUES (@id, @instance)
ON CONFLICT (id) DO NOTHING;

-- name: AddUsage :exec
INSERT INTO tenantkit.usage_periods AS u
    (tenant_id, period, api_calls, compute_us, db_us, db_queries, bandwidth_bytes, jobs, job_us)
SELECT d.tenant_id, d.period, d.api_calls, d.compute_us, d.db_us, d.db_queries, d.bandwidth_bytes, d.jobs, d.job_us
FROM (SELECT unnest(@tenant_ids::uuid[]) AS tenant_id, unnest(@periods::text[]) AS period, unnest(@api_calls::bigint[]) AS api_calls, unnest(@compute_us::bigint[]) AS compute_us, unnest(@db_us::bigint[]) AS db_us, unnest(@db_queries::bigint[]) AS db_queries, unnest(@bandwidth_bytes::bigint[]) AS bandwidth_bytes, unnest(@jobs::bigint[]) AS jobs, unnest(@job_us::bigint[]) AS job_us) AS d
JOIN tenantkit.tenants t ON t.id = d.tenant_id
ON CONFLICT (tenant_id, period) DO UPDATE SET
    api_calls = u.api_calls + EXCLUDED.api_calls,
    compute_us = u.compute_us + EXCLUDED.compute_us,
    db_us = u.db_us + EXCLUDED.db_us,
    db_queries = u.db_queries + EXCLUDED.db_queries,
    bandwidth_bytes = u.bandwidth_bytes + EXCLUDED.bandwidth_bytes,
    jobs = u.jobs + EXCLUDED.jobs,
    job_us = u.job_us + EXCLUDED.job_us,
    updated_at = now();

-- name: AddUsageUsers :exec
WITH ins AS (
    INSERT INTO tenantkit.usage_users (tenant_id, period, user_hash)
    SELECT d.tenant_id, d.period, d.user_hash
    FROM (SELECT unnest(@tenant_ids::uuid[]) AS tenant_id, unnest(@periods::text[]) AS period, unnest(@user_hashes::bigint[]) AS user_hash) AS d
    JOIN tenantkit.usage_periods p ON p.tenant_id = d.tenant_id AND p.period = d.period
    ON CONFLICT DO NOTHING
    RETURNING tenant_id, period
)
UPDATE tenantkit.usage_periods u SET active_users = u.active_users + n.c
FROM (SELECT ins.tenant_id, ins.period, count(*) AS c FROM ins GROUP BY ins.tenant_id, ins.period) n
WHERE u.tenant_id = n.tenant_id AND u.period = n.period;

-- name: AddUsageLoad :exec
INSERT INTO tenantkit.usage_load AS l (tenant_id, bucket, requests, compute_us, db_us, bandwidth_bytes)
SELECT d.tenant_id, @bucket::timestamptz, sum(d.requests), sum(d.compute_us), sum(d.db_us), sum(d.bandwidth_bytes)
FROM (SELECT unnest(@tenant_ids::uuid[]) AS tenant_id, unnest(@requests::bigint[]) AS requests, unnest(@compute_us::bigint[]) AS compute_us, unnest(@db_us::bigint[]) AS db_us, unnest(@bandwidth_bytes::bigint[]) AS bandwidth_bytes) AS d
JOIN tenantkit.tenants t ON t.id = d.tenant_id
GROUP BY d.tenant_id
ON CONFLICT (tenant_id, bucket) DO UPDATE SET
    requests = l.requests + EXCLUDED.requests,
    compute_us = l.compute_us + EXCLUDED.compute_us,
    db_us = l.db_us + EXCLUDED.db_us,
    bandwidth_bytes = l.bandwidth_bytes + EXCLUDED.bandwidth_bytes;

-- name: PruneUsageFlushes :exec
DELETE FROM tenantkit.usage_flushes WHERE flushed_at < @before;

-- name: PruneUsageLoad :exec
DELETE FROM tenantkit.usage_load WHERE bucket < @before;

-- name: GetUsagePeriod :one
SELECT * FROM tenantkit.usage_periods WHERE tenant_id = @tenant_id AND period = @period;

-- name: ListUsagePeriod :many
-- A page of the tenants' usage in a period, by slug after @after.
SELECT u.*, t.slug FROM tenantkit.usage_periods u
JOIN tenantkit.tenants t ON t.id = u.tenant_id
WHERE u.period = @period AND t.slug > @after::text
ORDER BY t.slug
LIMIT @max;

-- name: RecordStorage :exec
INSERT INTO tenantkit.usage_periods AS u (tenant_id, period, storage_bytes, storage_method, storage_sampled_at)
SELECT d.tenant_id, @period, d.bytes, d.method, @sampled_at::timestamptz
FROM (SELECT unnest(@tenant_ids::uuid[]) AS tenant_id, unnest(@bytes::bigint[]) AS bytes, unnest(@methods::text[]) AS method) AS d
JOIN tenantkit.tenants t ON t.id = d.tenant_id
ON CONFLICT (tenant_id, period) DO UPDATE SET
    storage_bytes = EXCLUDED.storage_bytes,
    storage_method = EXCLUDED.storage_method,
    storage_sampled_at = EXCLUDED.storage_sampled_at,
    updated_at = now();

-- name: SetStorageGauges :exec
INSERT INTO tenantkit.tenant_usage AS g (tenant_id, name, value, measured_at)
SELECT d.tenant_id, 'storage_mb', d.mb, now()
FROM (SELECT unnest(@tenant_ids::uuid[]) AS tenant_id, unnest(@mbs::bigint[]) AS mb) AS d
JOIN tenantkit.tenants t ON t.id = d.tenant_id
ON CONFLICT (tenant_id, name) DO UPDATE SET value = EXCLUDED.value, measured_at = now();

-- name: RecentLoad :many
SELECT l.tenant_id,
    sum(l.requests)::bigint AS requests,
    sum(l.compute_us)::bigint AS compute_us,
    sum(l.db_us)::bigint AS db_us,
    sum(l.bandwidth_bytes)::bigint AS bandwidth_bytes
FROM tenantkit.usage_load l
WHERE l.bucket >= @since
GROUP BY l.tenant_id;

-- name: UpsertNoisy :exec
INSERT INTO tenantkit.noisy_tenants
    (tenant_id, dimension, share, since, recommendation, command, throttled, detected_by)
VALUES (@tenant_id, @dimension, @share, @since, @recommendation, @command, @throttled, @detected_by)
ON CONFLICT (tenant_id, dimension, detected_by) DO UPDATE SET
    share = EXCLUDED.share, since = EXCLUDED.since, recommendation = EXCLUDED.recommendation,
    command = EXCLUDED.command, throttled = EXCLUDED.throttled,
    updated_at = now(), cleared_at = NULL;

-- name: ClearNoisy :execrows
UPDATE tenantkit.noisy_tenants SET cleared_at = now(), updated_at = now(), share = @share
WHERE tenant_id = @tenant_id AND dimension = @dimension AND detected_by = @detected_by AND cleared_at IS NULL;

-- name: LockNoisy :exec
-- Serializes the findings of one tenant and dimension, so that exactly one
-- process audits it noisy first and calm last.
SELECT pg_advisory_xact_lock(hashtextextended('tenantkit.noisy:' || sqlc.arg(tenant_id)::uuid::text || ':' || sqlc.arg(dimension)::text, 0));

-- name: LiveNoisy :one
-- The fresh findings that the tenant is noisy: of other processes, and of
-- this one.
SELECT
    count(*) FILTER (WHERE detected_by <> @detected_by)::bigint AS others,
    count(*) FILTER (WHERE detected_by = @detected_by)::bigint AS mine
FROM tenantkit.noisy_tenants
WHERE tenant_id = @tenant_id AND dimension = @dimension
  AND cleared_at IS NULL AND updated_at >= @fresh_since;

-- name: ListNoisy :many
-- The live findings, one per tenant and dimension: the highest share, with
-- how many processes find it so and whether any throttles it.
SELECT DISTINCT ON (n.tenant_id, n.dimension)
    n.tenant_id, n.dimension, n.share, n.since, n.recommendation, n.command, n.detected_by, n.updated_at,
    (bool_or(n.throttled) OVER w)::boolean AS throttled,
    (count(*) OVER w)::bigint AS processes,
    (min(n.since) OVER w)::timestamptz AS first_since,
    t.slug
FROM tenantkit.noisy_tenants n
JOIN tenantkit.tenants t ON t.id = n.tenant_id
WHERE n.cleared_at IS NULL AND n.updated_at >= @fresh_since
WINDOW w AS (PARTITION BY n.tenant_id, n.dimension)
ORDER BY n.tenant_id, n.dimension, n.share DESC;

-- name: DescribeLoads :many
-- The name, plan, placement and usage in a period of each tenant listed,
-- for a load report: one query however many tenants. Deleted tenants are
-- left out.
SELECT t.id, t.slug, t.plan,
    coalesce(p.tier, '')::text AS tier, coalesce(p.cluster, '')::text AS cluster,
    coalesce(u.api_calls, 0)::bigint AS api_calls, coalesce(u.compute_us, 0)::bigint AS compute_us,
    coalesce(u.db_us, 0)::bigint AS db_us, coalesce(u.db_queries, 0)::bigint AS db_queries,
    coalesce(u.bandwidth_bytes, 0)::bigint AS bandwidth_bytes, coalesce(u.active_users, 0)::bigint AS active_users,
    coalesce(u.jobs, 0)::bigint AS jobs, coalesce(u.job_us, 0)::bigint AS job_us,
    coalesce(u.storage_bytes, 0)::bigint AS storage_bytes, coalesce(u.storage_method, '')::text AS storage_method,
    u.storage_sampled_at, u.updated_at AS usage_updated_at
FROM tenantkit.tenants t
LEFT JOIN tenantkit.placements p ON p.tenant_id = t.id
LEFT JOIN tenantkit.usage_periods u ON u.tenant_id = t.id AND u.period = @period
WHERE t.id = ANY(@ids::uuid[]);

-- name: ExpireNoisy :many
-- Clears the findings no process confirmed since @fresh_since (their
-- process is gone) and returns those that leave their tenant calm in their
-- dimension: no fresh finding of another process remains.
WITH stale AS (
    UPDATE tenantkit.noisy_tenants SET cleared_at = now()
    WHERE cleared_at IS NULL AND updated_at < @fresh_since
    RETURNING tenant_id, dimension, detected_by, share
)
SELECT DISTINCT ON (s.tenant_id, s.dimension) s.tenant_id, s.dimension, s.detected_by, s.share
FROM stale s
WHERE NOT EXISTS (
    SELECT 1 FROM tenantkit.noisy_tenants n
    WHERE n.tenant_id = s.tenant_id AND n.dimension = s.dimension
      AND n.cleared_at IS NULL AND n.updated_at >= @fresh_since
)
ORDER BY s.tenant_id, s.dimension, s.share DESC;
