-- tenantkit:phase expand
-- +goose Up
-- Jobs admitted to run under their tenant's max_concurrent_jobs, across
-- every worker process. An admission whose job is no longer running
-- (finished, snoozed, or its process died and River rescued it) no longer
-- counts: admit_job clears those before it counts.
CREATE TABLE tenantkit.job_admissions (
    job_id      bigint PRIMARY KEY,
    tenant_id   uuid NOT NULL,
    admitted_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX job_admissions_tenant ON tenantkit.job_admissions (tenant_id);

-- admit_job admits job of tenant when fewer than cap of the tenant's jobs
-- are admitted, serialised per tenant. Refused, it moves the tenant's
-- other available jobs to the lowest priority, so that its backlog does
-- not stand in front of other tenants' jobs.
-- +goose StatementBegin
CREATE FUNCTION tenantkit.admit_job(p_tenant uuid, p_job bigint, p_cap integer) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    admitted integer;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('tenantkit.jobs:' || p_tenant::text, 0));
    DELETE FROM tenantkit.job_admissions a
    WHERE a.tenant_id = p_tenant
      AND NOT EXISTS (SELECT 1 FROM tenantkit_jobs.river_job j WHERE j.id = a.job_id AND j.state = 'running');
    SELECT count(*) INTO admitted FROM tenantkit.job_admissions WHERE tenant_id = p_tenant;
    IF admitted < p_cap THEN
        INSERT INTO tenantkit.job_admissions (job_id, tenant_id) VALUES (p_job, p_tenant)
        ON CONFLICT (job_id) DO NOTHING;
        RETURN true;
    END IF;
    UPDATE tenantkit_jobs.river_job SET priority = 4
    WHERE state = 'available' AND priority < 4
      AND metadata @> jsonb_build_object('tenant_id', p_tenant::text);
    RETURN false;
END $$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION tenantkit.admit_job(uuid, bigint, integer);
DROP TABLE tenantkit.job_admissions;
