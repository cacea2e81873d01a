-- tenantkit's data-plane objects, in every database that holds tenant data.
-- Idempotent: applied at every provisioning.
CREATE SCHEMA IF NOT EXISTS tenantkit;

-- The move fence: after a move, the source database records the tenant's
-- new epoch here, and transactions that still carry an older epoch fail.
CREATE TABLE IF NOT EXISTS tenantkit.fence (
    tenant_id  uuid PRIMARY KEY,
    epoch      bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- moved fails the current transaction: the tenant's data moved away from
-- this database (the fence holds a newer epoch than the transaction's).
-- Scoped access calls it only for a fence row newer than its epoch, in a
-- statement after the one that took the shared advisory lock, so that under
-- READ COMMITTED the fence is read with a snapshot taken after the lock.
CREATE OR REPLACE FUNCTION tenantkit.moved(tenant uuid, fenced bigint, expected_epoch bigint)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'tenantkit: tenant % moved (epoch % > %)', tenant, fenced, expected_epoch
        USING ERRCODE = 'TKMOV';
END
$$;
DROP FUNCTION IF EXISTS tenantkit.enter(uuid, bigint, text);
