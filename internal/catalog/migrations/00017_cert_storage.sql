-- tenantkit:phase expand
-- +goose Up
-- TLS certificates, their private keys and the ACME account, kept by
-- certmagic through internal/certstore so that every server instance on
-- this catalog serves the same certificates. Keys are certmagic's slash
-- separated paths; the C collation lets the primary key's index serve the
-- prefix (LIKE 'a/b/%') lookups of List, Exists and Delete.
CREATE TABLE tenantkit.cert_storage (
    key      text COLLATE "C" PRIMARY KEY CHECK (key <> ''),
    value    bytea NOT NULL,
    modified timestamptz NOT NULL DEFAULT now()
);

-- certmagic's named locks, so that one instance orders each certificate.
-- The holder keeps pushing expires_at forward; once it stops (a crash),
-- the lock is taken over after expires_at. owner names the instance and
-- the acquisition, so that only the holder releases or extends it.
CREATE TABLE tenantkit.cert_locks (
    name       text PRIMARY KEY,
    owner      text NOT NULL CHECK (owner <> ''),
    expires_at timestamptz NOT NULL
);

-- +goose Down
DROP TABLE tenantkit.cert_locks;
DROP TABLE tenantkit.cert_storage;
