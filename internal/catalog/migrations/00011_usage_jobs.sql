-- tenantkit:phase expand
-- +goose Up
-- Background jobs in usage: how many of a tenant's jobs ran in the period,
-- and their wall time. No CHECK: with a constant default, adding the
-- columns touches no row, where a CHECK would scan the table under lock.
ALTER TABLE tenantkit.usage_periods
    ADD COLUMN jobs bigint NOT NULL DEFAULT 0,
    ADD COLUMN job_us bigint NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE tenantkit.usage_periods DROP COLUMN job_us, DROP COLUMN jobs;
