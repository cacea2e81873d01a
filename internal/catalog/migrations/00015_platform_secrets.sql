-- tenantkit:phase expand
-- +goose Up
-- The platform's own credentials (its Stripe secret key and webhook
-- secret), kept here instead of the environment: each sealed by the
-- key-encryption key with its name as associated data (keys.SealedSecret),
-- never in clear. Only the catalog's owner reads it; tenants' databases
-- and the application role have no way to it.
CREATE TABLE tenantkit.platform_secrets (
    name         text PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    kek_id       text NOT NULL CHECK (kek_id <> ''),
    sealed       bytea NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    rewrapped_at timestamptz
);

-- +goose Down
DROP TABLE tenantkit.platform_secrets;
