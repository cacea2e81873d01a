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

-- enter scopes the current transaction to a tenant: the setting every RLS
-- policy reads, the search_path of its placement, a shared advisory lock
-- that a move's cutover takes exclusively, then the epoch check. It is
-- VOLATILE, so under READ COMMITTED the fence is read with a snapshot taken
-- after the lock was granted. It has no SET clause, since that would undo
-- its set_config calls on return; every name in it is qualified.
CREATE OR REPLACE FUNCTION tenantkit.enter(tenant uuid, expected_epoch bigint, app_schema text)
RETURNS void LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    fenced bigint;
BEGIN
    PERFORM pg_catalog.set_config('tenantkit.tenant_id', tenant::text, true);
    PERFORM pg_catalog.set_config('search_path', pg_catalog.quote_ident(app_schema), true);
    PERFORM pg_catalog.pg_advisory_xact_lock_shared(pg_catalog.hashtextextended(tenant::text, 0));
    SELECT f.epoch INTO fenced FROM tenantkit.fence f WHERE f.tenant_id = tenant;
    IF fenced IS NOT NULL AND fenced > expected_epoch THEN
        RAISE EXCEPTION 'tenantkit: tenant % moved (epoch % > %)', tenant, fenced, expected_epoch
            USING ERRCODE = 'TKMOV';
    END IF;
END
$$;
