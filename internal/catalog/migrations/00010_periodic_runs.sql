-- tenantkit:phase expand
-- +goose Up
-- One row per periodic declaration, tenant and period whose job was
-- enqueued, written in the transaction that enqueues it: a fan-out that
-- runs twice for a period (a leader change, a retry) enqueues nothing
-- twice. Rows of past periods are pruned by the fan-out.
CREATE TABLE tenantkit.periodic_runs (
    name      text NOT NULL,
    tenant_id uuid NOT NULL,
    period    timestamptz NOT NULL,
    PRIMARY KEY (name, period, tenant_id)
);

-- +goose Down
DROP TABLE tenantkit.periodic_runs;
