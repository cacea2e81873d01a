-- name: QueueDepths :many
-- How many unfinished jobs each queue holds in each state, and how long the
-- oldest available one has waited (0 for the other states). The state
-- predicate leads River's fetching index (state, queue, priority,
-- scheduled_at, id), so finished jobs, however many, are not read.
SELECT queue::text AS queue, state::text AS state, count(*)::bigint AS jobs,
    (CASE WHEN state = 'available'
        THEN GREATEST(0, EXTRACT(EPOCH FROM pg_catalog.now() - min(scheduled_at)))
        ELSE 0 END)::float8 AS oldest_seconds
FROM tenantkit_jobs.river_job
WHERE state IN ('available', 'scheduled', 'retryable', 'pending', 'running')
GROUP BY queue, state;
