-- tenantkit:phase expand
-- +goose Up
-- Tenants' own data keys, stored only wrapped by a key-encryption key
-- from a KMS; a tenant's hard delete removes them (crypto-shredding).
CREATE TABLE tenantkit.tenant_keys (
    tenant_id    uuid NOT NULL REFERENCES tenantkit.tenants (id) ON DELETE CASCADE,
    version      integer NOT NULL CHECK (version > 0),
    kek_id       text NOT NULL CHECK (kek_id <> ''),
    wrapped      bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    rewrapped_at timestamptz,
    PRIMARY KEY (tenant_id, version)
);
CREATE INDEX tenant_keys_kek ON tenantkit.tenant_keys (kek_id, tenant_id, version);

-- A tenant's own account at a provider, one per type. Credentials are
-- ciphertexts under the tenant's data key, by field name; settings are
-- plain. Without a row (or with active false) the platform default serves
-- the tenant.
CREATE TABLE tenantkit.integrations (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id   uuid NOT NULL REFERENCES tenantkit.tenants (id) ON DELETE CASCADE,
    type        text NOT NULL CHECK (type IN ('email', 'storage', 'payment', 'sms')),
    provider    text NOT NULL CHECK (provider ~ '^[a-z0-9_-]{1,40}$'),
    settings    jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(settings) = 'object'),
    credentials jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(credentials) = 'object'),
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, type)
);
CREATE TRIGGER notify_invalidation AFTER INSERT OR UPDATE OR DELETE ON tenantkit.integrations
    FOR EACH ROW EXECUTE FUNCTION tenantkit.notify_invalidation();
-- Only shredding notifies: a re-wrap leaves the data key as it was, so
-- cached unwrapped keys stay right.
CREATE TRIGGER notify_invalidation AFTER DELETE ON tenantkit.tenant_keys
    FOR EACH ROW EXECUTE FUNCTION tenantkit.notify_invalidation();

-- Branded email: who mail comes from and where users get help.
ALTER TABLE tenantkit.branding
    ADD COLUMN from_name   text NOT NULL DEFAULT '',
    ADD COLUMN from_email  text NOT NULL DEFAULT '',
    ADD COLUMN support_url text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE tenantkit.branding DROP COLUMN from_name, DROP COLUMN from_email, DROP COLUMN support_url;
DROP TABLE tenantkit.integrations;
DROP TABLE tenantkit.tenant_keys;
