-- tenantkit:phase expand
-- +goose Up
-- Clusters are PostgreSQL servers that hold tenant data. Their URLs carry
-- the role and password; the database part is replaced per target.
CREATE TABLE tenantkit.clusters (
    name            text PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    owner_url       text NOT NULL,
    app_url         text NOT NULL,
    replication_url text NOT NULL DEFAULT '',
    shared_database text NOT NULL DEFAULT 'tenantkit_shared',
    accepts_tenants boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- Where each tenant's data lives now. The epoch is bumped at every move.
CREATE TABLE tenantkit.placements (
    tenant_id  uuid PRIMARY KEY REFERENCES tenantkit.tenants (id) ON DELETE CASCADE,
    tier       text NOT NULL CHECK (tier IN ('shared', 'schema', 'dedicated')),
    cluster    text NOT NULL REFERENCES tenantkit.clusters (name),
    database   text NOT NULL,
    schema     text NOT NULL,
    epoch      bigint NOT NULL DEFAULT 1,
    state      text NOT NULL DEFAULT 'provisioning' CHECK (state IN ('provisioning', 'ready', 'deprovisioning')),
    -- adopted: a dedicated database the operator gave, never dropped by tenantkit.
    adopted    boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX placements_cluster ON tenantkit.placements (cluster, tier);

-- Every database and schema the application's migrations are applied to,
-- with the version each reached, so a target that drifted is reported.
CREATE TABLE tenantkit.app_targets (
    cluster    text NOT NULL REFERENCES tenantkit.clusters (name),
    database   text NOT NULL,
    schema     text NOT NULL,
    tier       text NOT NULL CHECK (tier IN ('shared', 'schema', 'dedicated')),
    version    bigint NOT NULL DEFAULT 0,
    last_error text NOT NULL DEFAULT '',
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (cluster, database, schema)
);

CREATE TRIGGER notify_invalidation AFTER INSERT OR UPDATE OR DELETE ON tenantkit.placements
    FOR EACH ROW EXECUTE FUNCTION tenantkit.notify_invalidation();
CREATE TRIGGER notify_invalidation AFTER UPDATE OR DELETE ON tenantkit.clusters
    FOR EACH ROW EXECUTE FUNCTION tenantkit.notify_invalidation();

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION tenantkit.notify_invalidation() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    r record;
    msg jsonb;
BEGIN
    IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
    IF TG_TABLE_NAME = 'tenants' THEN
        msg := jsonb_build_object('tenant', r.id,
            'slugs', (SELECT jsonb_agg(DISTINCT s) FROM unnest(ARRAY[OLD.slug, NEW.slug]) s WHERE s IS NOT NULL));
    ELSIF TG_TABLE_NAME = 'domains' THEN
        msg := jsonb_build_object('tenant', r.tenant_id,
            'hosts', (SELECT jsonb_agg(DISTINCT h) FROM unnest(ARRAY[OLD.host, NEW.host]) h WHERE h IS NOT NULL));
    ELSIF TG_TABLE_NAME IN ('plans', 'plan_limits', 'plan_features', 'clusters') THEN
        msg := jsonb_build_object('all', true);
    ELSE
        msg := jsonb_build_object('tenant', r.tenant_id);
    END IF;
    PERFORM pg_notify('tenantkit_invalidate', msg::text);
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER notify_invalidation ON tenantkit.clusters;
DROP TABLE tenantkit.app_targets;
DROP TABLE tenantkit.placements;
DROP TABLE tenantkit.clusters;
