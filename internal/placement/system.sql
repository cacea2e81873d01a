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

-- fence_lock is the fence check of REPEATABLE READ and SERIALIZABLE
-- transactions, whose snapshot is taken before enter waits on the lock and
-- so cannot see a fence committed while it waited. It locks the tenant's
-- fence row instead: a row updated by a transaction that committed after
-- the snapshot cannot be locked, and the serialization failure that says
-- so becomes TKMOV. Every placement has a fence row for that reason.
CREATE OR REPLACE FUNCTION tenantkit.fence_lock(tenant uuid, expected_epoch bigint)
RETURNS void LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog AS $$
BEGIN
    PERFORM 1 FROM tenantkit.fence f WHERE f.tenant_id = tenant FOR SHARE;
EXCEPTION WHEN serialization_failure THEN
    RAISE EXCEPTION 'tenantkit: tenant % moved (fence changed during a snapshot older than it)', tenant
        USING ERRCODE = 'TKMOV';
END
$$;

-- The cutover counter and the cutovers in progress: what lets a
-- transaction set its tenant up without the shared advisory lock and
-- without reading the fence while no cutover runs (see check_fence).
-- Every cutover of a tenant away from this database first records itself
-- in tenantkit.cutovers, then advances cutover_seq, then waits for every
-- transaction older than that to end, and only then takes the tenant's
-- exclusive advisory lock; it removes its row when it ends, however it
-- ends. A sequence is not transactional: its last value is the latest one
-- whatever the reader's snapshot, which is what a per-transaction check
-- must see.
CREATE SEQUENCE IF NOT EXISTS tenantkit.cutover_seq;
SELECT pg_catalog.nextval('tenantkit.cutover_seq')
WHERE pg_catalog.pg_sequence_last_value('tenantkit.cutover_seq') IS NULL;
CREATE TABLE IF NOT EXISTS tenantkit.cutovers (
    gid        text PRIMARY KEY,
    tenant_id  uuid NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now()
);

-- may_skip_fence says whether sessions of a role may skip the fence check
-- by the cutover counter: not those of a superuser, of a role that
-- bypasses row-level security, or of a member of the owner of the
-- data-plane objects. Those are the mover's and the migrations' roles,
-- which a cutover does not wait for (see internal/move); an application's
-- role is none of them.
CREATE OR REPLACE FUNCTION tenantkit.may_skip_fence(r name)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT NOT a.rolsuper AND NOT a.rolbypassrls
        AND NOT pg_catalog.pg_has_role(a.oid, c.relowner, 'MEMBER')
        FROM pg_catalog.pg_roles a, pg_catalog.pg_class c
        WHERE a.rolname = r AND c.oid = 'tenantkit.fence'::pg_catalog.regclass), false)
$$;

-- check_fence is the fence check of a transaction that could not show,
-- by the cutover counter, that no cutover began since its process last
-- checked this database. It takes the tenant's shared advisory lock,
-- which a cutover takes exclusively (so it waits on one in progress),
-- locks the fence row in a REPEATABLE READ or SERIALIZABLE transaction
-- that may write (see fence_lock), then reads the fence: it is VOLATILE,
-- so under READ COMMITTED the read takes a snapshot after the lock was
-- granted. It returns the counter the caller may skip the check at from
-- now on: the counter read before a later snapshot shows no cutover in
-- progress. It returns NULL when a cutover is in progress, and under
-- REPEATABLE READ or SERIALIZABLE, whose snapshot predates the lock.
CREATE OR REPLACE FUNCTION tenantkit.check_fence(tenant uuid, expected_epoch bigint)
RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    fenced bigint;
    seen bigint;
BEGIN
    PERFORM pg_catalog.pg_advisory_xact_lock_shared(pg_catalog.hashtextextended(tenant::text, 0));
    IF pg_catalog.current_setting('transaction_isolation') <> 'read committed' THEN
        IF pg_catalog.current_setting('transaction_read_only') = 'off' THEN
            PERFORM tenantkit.fence_lock(tenant, expected_epoch);
        END IF;
    END IF;
    SELECT f.epoch INTO fenced FROM tenantkit.fence f WHERE f.tenant_id = tenant;
    IF fenced IS NOT NULL AND fenced > expected_epoch THEN
        PERFORM tenantkit.moved(tenant, fenced, expected_epoch);
    END IF;
    IF pg_catalog.current_setting('transaction_isolation') <> 'read committed'
       OR NOT tenantkit.may_skip_fence(session_user) THEN
        RETURN NULL;
    END IF;
    seen := pg_catalog.pg_sequence_last_value('tenantkit.cutover_seq');
    IF EXISTS (SELECT 1 FROM tenantkit.cutovers) THEN
        RETURN NULL;
    END IF;
    RETURN seen;
END
$$;

-- move_applied is where a move's stream records, in the same transaction
-- as the changes it applied, the source position it applied up to.
CREATE TABLE IF NOT EXISTS tenantkit.move_applied (
    stream     text PRIMARY KEY,
    lsn        pg_lsn NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- reset_session undoes what a statement may have left on the session for
-- the next transaction on the same connection, which may be another
-- tenant's: session settings (SET, set_config(..., false)), cursors WITH
-- HOLD, LISTEN, session-level advisory locks, SQL-level prepared
-- statements, temporary tables (the app role has no TEMPORARY privilege,
-- but a database provisioned before may still grant it) and sequence
-- state (currval, lastval). Statements prepared through the protocol, the
-- client's statement cache, are kept: they hold no tenant's data.
--
-- It runs inside the next transaction, whose isolation level and access
-- mode were fixed when it began, by settings the reset only now undoes.
-- Unless the caller chose them, they must be what the reset settings give;
-- when they are not (another tenant set default_transaction_read_only, say)
-- it raises TKRST: the caller closes the connection and runs again on
-- another, nothing having run. The reset is undone with the transaction
-- when that fails, so scoped access resets again next time.
CREATE OR REPLACE FUNCTION tenantkit.reset_session(isolation_chosen boolean, access_chosen boolean)
RETURNS void LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    r record;
BEGIN
    EXECUTE 'RESET ALL';
    EXECUTE 'CLOSE ALL';
    EXECUTE 'UNLISTEN *';
    PERFORM pg_catalog.pg_advisory_unlock_all();
    EXECUTE 'DISCARD TEMP';
    EXECUTE 'DISCARD SEQUENCES';
    FOR r IN SELECT p.name FROM pg_catalog.pg_prepared_statements p WHERE p.from_sql LOOP
        EXECUTE 'DEALLOCATE ' || pg_catalog.quote_ident(r.name);
    END LOOP;
    IF (NOT isolation_chosen AND pg_catalog.current_setting('transaction_isolation')
            <> pg_catalog.current_setting('default_transaction_isolation'))
       OR (NOT access_chosen AND pg_catalog.current_setting('transaction_read_only')
            <> pg_catalog.current_setting('default_transaction_read_only')) THEN
        RAISE EXCEPTION 'tenantkit: this transaction was shaped by session settings another tenant left on the connection'
            USING ERRCODE = 'TKRST';
    END IF;
END
$$;

-- enter is the tenant setup as one statement: scoped access sends it
-- ahead of the caller's statements when they are not prepared (behind
-- PgBouncer in transaction mode), where every statement is parsed and
-- planned anew but a PL/pgSQL function's plans are kept by the server
-- process; with prepared statements, two plain statements cost less (see
-- internal/scope). It resets the session first when asked (reset_session),
-- sets the transaction-local tenant setting and search_path (path: the
-- tenant's schema, then pg_temp), takes the shared advisory lock a cutover
-- takes exclusively, locks the fence row in a REPEATABLE READ or
-- SERIALIZABLE transaction that may write (its snapshot is older than the
-- lock wait; see fence_lock), then reads the fence: it is VOLATILE, so
-- under READ COMMITTED that read takes a snapshot after the lock was
-- granted. It has no SET clause, since that would undo its set_config
-- calls on return; every name in it is qualified.
CREATE OR REPLACE FUNCTION tenantkit.enter(tenant uuid, expected_epoch bigint, path text, reset boolean,
    isolation_chosen boolean, access_chosen boolean)
RETURNS void LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    fenced bigint;
BEGIN
    IF reset THEN
        PERFORM tenantkit.reset_session(isolation_chosen, access_chosen);
    END IF;
    PERFORM pg_catalog.set_config('tenantkit.tenant_id', tenant::text, true);
    PERFORM pg_catalog.set_config('search_path', path, true);
    PERFORM pg_catalog.pg_advisory_xact_lock_shared(pg_catalog.hashtextextended(tenant::text, 0));
    IF pg_catalog.current_setting('transaction_isolation') <> 'read committed'
       AND pg_catalog.current_setting('transaction_read_only') = 'off' THEN
        PERFORM tenantkit.fence_lock(tenant, expected_epoch);
    END IF;
    SELECT f.epoch INTO fenced FROM tenantkit.fence f WHERE f.tenant_id = tenant;
    IF fenced IS NOT NULL AND fenced > expected_epoch THEN
        PERFORM tenantkit.moved(tenant, fenced, expected_epoch);
    END IF;
END
$$;

-- The three-argument enter that processes of earlier releases call at
-- BEGIN, kept for them while a fleet upgrades.
CREATE OR REPLACE FUNCTION tenantkit.enter(tenant uuid, expected_epoch bigint, app_schema text)
RETURNS void LANGUAGE sql VOLATILE AS $$
    SELECT tenantkit.enter(tenant, expected_epoch, pg_catalog.quote_ident(app_schema) || ', pg_temp', false, false, false);
$$;

-- job_outbox holds the background jobs a tenant's transaction enqueued
-- (Kit.EnqueueTx), written in that transaction: a job exists if and only if
-- the transaction commits, with no round trip to the catalog where River's
-- tables are. The process that committed relays its rows to River at once
-- and deletes them; rows a process left behind (it died, or the relay
-- failed) are relayed by any process working jobs. job_id is the River id
-- the job will have, drawn from River's sequence at enqueue, so a relay
-- that reached River but not this table is not relayed twice.
-- The application's role sees and writes only the current tenant's rows:
-- one tenant's pending jobs (their arguments) are not another's to read or
-- drop.
CREATE TABLE IF NOT EXISTS tenantkit.job_outbox (
    job_id     bigint PRIMARY KEY,
    tenant_id  uuid NOT NULL,
    params     jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE tenantkit.job_outbox ENABLE ROW LEVEL SECURITY;
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_policies
                   WHERE schemaname = 'tenantkit' AND tablename = 'job_outbox' AND policyname = 'job_outbox_tenant') THEN
        CREATE POLICY job_outbox_tenant ON tenantkit.job_outbox
            USING (tenant_id = (SELECT NULLIF(pg_catalog.current_setting('tenantkit.tenant_id', true), '')::uuid))
            WITH CHECK (tenant_id = (SELECT NULLIF(pg_catalog.current_setting('tenantkit.tenant_id', true), '')::uuid));
    END IF;
END
$$;

-- job_outbox_tenants lists the tenants with jobs in job_outbox, for the
-- relay that picks up what a process left behind: it then reads and deletes
-- each tenant's rows under that tenant's setting.
CREATE OR REPLACE FUNCTION tenantkit.job_outbox_tenants()
RETURNS SETOF uuid LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $$
    SELECT DISTINCT o.tenant_id FROM tenantkit.job_outbox o
$$;
