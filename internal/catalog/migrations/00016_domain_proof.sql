-- tenantkit:phase expand
-- +goose Up
-- A custom domain's proof, checked again after it was verified, and its
-- certificate. status: pending (added, never proven), verified (the TXT
-- record proved it at checked_at), lapsed (the record has gone since
-- lapsed_at; the domain keeps resolving until grace_until, then stops).
-- ssl_status: pending (no certificate yet), active (one valid until
-- ssl_expires_at), expired, failed (ssl_error says why).
ALTER TABLE tenantkit.domains
    ADD COLUMN status         text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'verified', 'lapsed')),
    ADD COLUMN checked_at     timestamptz,
    ADD COLUMN check_error    text NOT NULL DEFAULT '',
    ADD COLUMN lapsed_at      timestamptz,
    ADD COLUMN grace_until    timestamptz,
    ADD COLUMN ssl_status     text NOT NULL DEFAULT 'pending' CHECK (ssl_status IN ('pending', 'active', 'expired', 'failed')),
    ADD COLUMN ssl_error      text NOT NULL DEFAULT '',
    ADD COLUMN ssl_expires_at timestamptz;
UPDATE tenantkit.domains SET status = 'verified', checked_at = verified_at WHERE verified_at IS NOT NULL;
CREATE INDEX domains_recheck ON tenantkit.domains (checked_at) WHERE verified_at IS NOT NULL;

-- +goose Down
DROP INDEX tenantkit.domains_recheck;
ALTER TABLE tenantkit.domains DROP COLUMN status, DROP COLUMN checked_at, DROP COLUMN check_error,
    DROP COLUMN lapsed_at, DROP COLUMN grace_until, DROP COLUMN ssl_status, DROP COLUMN ssl_error,
    DROP COLUMN ssl_expires_at;
