-- tenantkit:phase contract
-- Contract: the primary key of noisy_tenants changes, so an older writer's
-- ON CONFLICT (tenant_id, dimension) no longer finds a matching constraint.
-- +goose Up
-- A noisy finding per process that made it: each process judges shares of
-- its own traffic, so one may find a tenant calm while another still
-- finds it noisy (and throttles it). A tenant is noisy while any fresh
-- finding of a process says so; it is audited noisy when the first
-- process finds it so, and calm when the last one clears.
ALTER TABLE tenantkit.noisy_tenants DROP CONSTRAINT noisy_tenants_pkey;
ALTER TABLE tenantkit.noisy_tenants ADD PRIMARY KEY (tenant_id, dimension, detected_by);

-- +goose Down
DELETE FROM tenantkit.noisy_tenants a USING tenantkit.noisy_tenants b
WHERE a.tenant_id = b.tenant_id AND a.dimension = b.dimension AND a.detected_by > b.detected_by;
ALTER TABLE tenantkit.noisy_tenants DROP CONSTRAINT noisy_tenants_pkey;
ALTER TABLE tenantkit.noisy_tenants ADD PRIMARY KEY (tenant_id, dimension);
