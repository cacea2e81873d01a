-- What the jobs queries (metrics.sql) read of River's job table, for sqlc:
-- River's migrations (rivermigrate, see ../migrate.go) create the real
-- table, in schema tenantkit_jobs of the catalog database.
CREATE SCHEMA tenantkit_jobs;

CREATE TYPE tenantkit_jobs.river_job_state AS ENUM (
    'available', 'cancelled', 'completed', 'discarded', 'pending', 'retryable', 'running', 'scheduled'
);

CREATE TABLE tenantkit_jobs.river_job (
    id bigserial PRIMARY KEY,
    state tenantkit_jobs.river_job_state NOT NULL DEFAULT 'available',
    queue text NOT NULL DEFAULT 'default',
    scheduled_at timestamptz NOT NULL DEFAULT now()
);
