-- tenantkit:phase contract
-- Contract: the CHECK constraints added to plan_limits and tenant_limits
-- refuse rows an older writer was free to write.
-- +goose Up
-- Plans gain a rank (an upgrade goes to a higher rank; flags gate on it)
-- and a description. Absent limits mean "unlimited".
ALTER TABLE tenantkit.plans
    ADD COLUMN rank integer NOT NULL DEFAULT 0,
    ADD COLUMN description text NOT NULL DEFAULT '';
ALTER TABLE tenantkit.plan_limits ADD CONSTRAINT plan_limits_name CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$');
ALTER TABLE tenantkit.plan_limits ADD CONSTRAINT plan_limits_value CHECK (value >= 0);
ALTER TABLE tenantkit.tenant_limits ADD CONSTRAINT tenant_limits_name CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$');
ALTER TABLE tenantkit.tenant_limits ADD CONSTRAINT tenant_limits_value CHECK (value >= 0);

UPDATE tenantkit.plans SET rank = 0, description = 'For trying things out' WHERE name = 'free';
UPDATE tenantkit.plans SET rank = 10, description = 'For growing teams' WHERE name = 'pro';
UPDATE tenantkit.plans SET rank = 20, description = 'Isolation, scale and support' WHERE name = 'enterprise';

INSERT INTO tenantkit.plan_limits (plan, name, value) VALUES
    ('free', 'max_users', 5), ('free', 'storage_mb', 500),
    ('free', 'api_rps', 10), ('free', 'api_burst', 20), ('free', 'max_concurrent_tx', 2),
    ('pro', 'max_users', 50), ('pro', 'storage_mb', 20000),
    ('pro', 'api_rps', 100), ('pro', 'api_burst', 200), ('pro', 'max_concurrent_tx', 8),
    ('enterprise', 'storage_mb', 1000000),
    ('enterprise', 'api_rps', 1000), ('enterprise', 'api_burst', 2000), ('enterprise', 'max_concurrent_tx', 32)
ON CONFLICT (plan, name) DO NOTHING;

INSERT INTO tenantkit.plan_features (plan, feature) VALUES
    ('free', 'orders'),
    ('pro', 'orders'), ('pro', 'api_access'), ('pro', 'custom_domain'), ('pro', 'sso'),
    ('enterprise', 'orders'), ('enterprise', 'api_access'), ('enterprise', 'custom_domain'),
    ('enterprise', 'sso'), ('enterprise', 'audit_export')
ON CONFLICT DO NOTHING;

-- Current usage of what plans limit (users, storage_mb, …), reported by the
-- application or measured by tenantkit. A limit named max_X is checked
-- against usage X; any other limit against usage of the same name.
CREATE TABLE tenantkit.tenant_usage (
    tenant_id   uuid NOT NULL REFERENCES tenantkit.tenants (id) ON DELETE CASCADE,
    name        text NOT NULL CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$'),
    value       bigint NOT NULL CHECK (value >= 0),
    measured_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, name)
);

-- Settings: the stored document (defaults are filled on read, from the
-- platform's schema) and a version for optimistic concurrency.
CREATE TABLE tenantkit.tenant_settings (
    tenant_id  uuid PRIMARY KEY REFERENCES tenantkit.tenants (id) ON DELETE CASCADE,
    doc        jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(doc) = 'object'),
    version    bigint NOT NULL DEFAULT 1,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER notify_invalidation AFTER INSERT OR UPDATE OR DELETE ON tenantkit.tenant_settings
    FOR EACH ROW EXECUTE FUNCTION tenantkit.notify_invalidation();

-- Feature flags. Evaluation: override, kill switch, plan gate, rollout,
-- default. rollout is in basis points (0.01 % steps).
CREATE TABLE tenantkit.flags (
    key           text PRIMARY KEY CHECK (key ~ '^[a-z0-9][a-z0-9._-]{0,99}$'),
    description   text NOT NULL DEFAULT '',
    kill_switch   boolean NOT NULL DEFAULT false,
    default_value boolean NOT NULL DEFAULT false,
    rollout       integer NOT NULL DEFAULT 0 CHECK (rollout BETWEEN 0 AND 10000),
    min_plan      text REFERENCES tenantkit.plans (name),
    seed          text NOT NULL DEFAULT '' CHECK (length(seed) <= 100),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE tenantkit.flag_overrides (
    flag      text NOT NULL REFERENCES tenantkit.flags (key) ON DELETE CASCADE,
    tenant_id uuid NOT NULL REFERENCES tenantkit.tenants (id) ON DELETE CASCADE,
    value     boolean NOT NULL,
    PRIMARY KEY (flag, tenant_id)
);
CREATE INDEX flag_overrides_tenant ON tenantkit.flag_overrides (tenant_id);

-- Flags are evaluated from an in-process snapshot of these tables: any
-- change reloads every snapshot. Plans feed both the tenant contexts and
-- the flags' plan gates.
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
    ELSIF TG_TABLE_NAME = 'plans' THEN
        msg := jsonb_build_object('all', true, 'flags', true);
    ELSIF TG_TABLE_NAME IN ('plan_limits', 'plan_features', 'clusters') THEN
        msg := jsonb_build_object('all', true);
    ELSIF TG_TABLE_NAME IN ('flags', 'flag_overrides') THEN
        msg := jsonb_build_object('flags', true);
    ELSE
        msg := jsonb_build_object('tenant', r.tenant_id);
    END IF;
    PERFORM pg_notify('tenantkit_invalidate', msg::text);
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER notify_invalidation AFTER INSERT OR UPDATE OR DELETE ON tenantkit.flags
    FOR EACH ROW EXECUTE FUNCTION tenantkit.notify_invalidation();
CREATE TRIGGER notify_invalidation AFTER INSERT OR UPDATE OR DELETE ON tenantkit.flag_overrides
    FOR EACH ROW EXECUTE FUNCTION tenantkit.notify_invalidation();

-- +goose Down
DROP TABLE tenantkit.flag_overrides;
DROP TABLE tenantkit.flags;
DROP TABLE tenantkit.tenant_settings;
DROP TABLE tenantkit.tenant_usage;
DELETE FROM tenantkit.plan_features WHERE feature IN ('orders', 'api_access', 'custom_domain', 'sso', 'audit_export');
DELETE FROM tenantkit.plan_limits WHERE name IN ('max_users', 'storage_mb', 'api_rps', 'api_burst', 'max_concurrent_tx');
ALTER TABLE tenantkit.tenant_limits DROP CONSTRAINT tenant_limits_name, DROP CONSTRAINT tenant_limits_value;
ALTER TABLE tenantkit.plan_limits DROP CONSTRAINT plan_limits_name, DROP CONSTRAINT plan_limits_value;
ALTER TABLE tenantkit.plans DROP COLUMN rank, DROP COLUMN description;
