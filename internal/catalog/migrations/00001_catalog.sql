-- tenantkit:phase expand
-- +goose Up
CREATE SCHEMA IF NOT EXISTS tenantkit;

CREATE TABLE tenantkit.plans (
    name         text PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    display_name text NOT NULL,
    default_tier text NOT NULL DEFAULT 'shared' CHECK (default_tier IN ('shared', 'schema', 'dedicated')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE tenantkit.plan_limits (
    plan  text NOT NULL REFERENCES tenantkit.plans (name) ON DELETE CASCADE,
    name  text NOT NULL,
    value bigint NOT NULL,
    PRIMARY KEY (plan, name)
);

CREATE TABLE tenantkit.plan_features (
    plan    text NOT NULL REFERENCES tenantkit.plans (name) ON DELETE CASCADE,
    feature text NOT NULL,
    PRIMARY KEY (plan, feature)
);

CREATE TABLE tenantkit.tenants (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    slug              text NOT NULL UNIQUE,
    name              text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    status            text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended', 'deleted')),
    suspension_reason text NOT NULL DEFAULT '',
    plan              text NOT NULL REFERENCES tenantkit.plans (name),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    deleted_at        timestamptz
);
CREATE INDEX tenants_plan ON tenantkit.tenants (plan);

CREATE TABLE tenantkit.tenant_limits (
    tenant_id uuid NOT NULL REFERENCES tenantkit.tenants (id) ON DELETE CASCADE,
    name      text NOT NULL,
    value     bigint NOT NULL,
    PRIMARY KEY (tenant_id, name)
);

CREATE TABLE tenantkit.tenant_features (
    tenant_id uuid NOT NULL REFERENCES tenantkit.tenants (id) ON DELETE CASCADE,
    feature   text NOT NULL,
    enabled   boolean NOT NULL,
    PRIMARY KEY (tenant_id, feature)
);

CREATE TABLE tenantkit.branding (
    tenant_id     uuid PRIMARY KEY REFERENCES tenantkit.tenants (id) ON DELETE CASCADE,
    display_name  text NOT NULL DEFAULT '',
    logo_url      text NOT NULL DEFAULT '',
    primary_color text NOT NULL DEFAULT '',
    accent_color  text NOT NULL DEFAULT '',
    support_email text NOT NULL DEFAULT '',
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE tenantkit.domains (
    host               text PRIMARY KEY CHECK (host = lower(host)),
    tenant_id          uuid NOT NULL REFERENCES tenantkit.tenants (id) ON DELETE CASCADE,
    verification_token text NOT NULL,
    verified_at        timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX domains_tenant ON tenantkit.domains (tenant_id);

CREATE TABLE tenantkit.audit_log (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text NOT NULL,
    action      text NOT NULL,
    target_type text NOT NULL,
    target_id   text NOT NULL,
    before      jsonb,
    after       jsonb
);
CREATE INDEX audit_log_target ON tenantkit.audit_log (target_type, target_id, id);

-- Every write to a table that feeds the tenant context notifies the
-- invalidation channel inside the writing transaction, so the message is
-- delivered exactly when the write commits, whoever made it.
-- +goose StatementBegin
CREATE FUNCTION tenantkit.notify_invalidation() RETURNS trigger
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
    ELSIF TG_TABLE_NAME IN ('plans', 'plan_limits', 'plan_features') THEN
        msg := jsonb_build_object('all', true);
    ELSE
        msg := jsonb_build_object('tenant', r.tenant_id);
    END IF;
    PERFORM pg_notify('tenantkit_invalidate', msg::text);
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER notify_invalidation AFTER INSERT OR UPDATE OR DELETE ON tenantkit.tenants
    FOR EACH ROW EXECUTE FUNCTION tenantkit.notify_invalidation();
CREATE TRIGGER notify_invalidation AFTER INSERT OR UPDATE OR DELETE ON tenantkit.plans
    FOR EACH ROW EXECUTE FUNCTION tenantkit.notify_invalidation();
CREATE TRIGGER notify_invalidation AFTER INSERT OR UPDATE OR DELETE ON tenantkit.plan_limits
    FOR EACH ROW EXECUTE FUNCTION tenantkit.notify_invalidation();
CREATE TRIGGER notify_invalidation AFTER INSERT OR UPDATE OR DELETE ON tenantkit.plan_features
    FOR EACH ROW EXECUTE FUNCTION tenantkit.notify_invalidation();
CREATE TRIGGER notify_invalidation AFTER INSERT OR UPDATE OR DELETE ON tenantkit.tenant_limits
    FOR EACH ROW EXECUTE FUNCTION tenantkit.notify_invalidation();
CREATE TRIGGER notify_invalidation AFTER INSERT OR UPDATE OR DELETE ON tenantkit.tenant_features
    FOR EACH ROW EXECUTE FUNCTION tenantkit.notify_invalidation();
CREATE TRIGGER notify_invalidation AFTER INSERT OR UPDATE OR DELETE ON tenantkit.branding
    FOR EACH ROW EXECUTE FUNCTION tenantkit.notify_invalidation();
CREATE TRIGGER notify_invalidation AFTER INSERT OR UPDATE OR DELETE ON tenantkit.domains
    FOR EACH ROW EXECUTE FUNCTION tenantkit.notify_invalidation();

INSERT INTO tenantkit.plans (name, display_name, default_tier) VALUES
    ('free', 'Free', 'shared'),
    ('pro', 'Pro', 'schema'),
    ('enterprise', 'Enterprise', 'dedicated');

-- +goose Down
DROP SCHEMA tenantkit CASCADE;
