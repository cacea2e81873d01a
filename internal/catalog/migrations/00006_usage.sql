-- tenantkit:phase expand
-- +goose Up
-- Usage metering. Each process counts usage in memory and flushes the
-- deltas in batches; a batch's id is recorded in the transaction that adds
-- its deltas, so a retried batch adds nothing the second time.
CREATE TABLE tenantkit.usage_flushes (
    id         uuid PRIMARY KEY,
    instance   text NOT NULL DEFAULT '',
    flushed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX usage_flushes_at ON tenantkit.usage_flushes (flushed_at);

-- A tenant's usage in a billing period (a UTC month, "2026-11").
-- storage_bytes is the latest sample of the period; active_users counts
-- the distinct users of usage_users.
CREATE TABLE tenantkit.usage_periods (
    tenant_id          uuid NOT NULL REFERENCES tenantkit.tenants (id) ON DELETE CASCADE,
    period             text NOT NULL CHECK (period ~ '^[0-9]{4}-(0[1-9]|1[0-2])$'),
    api_calls          bigint NOT NULL DEFAULT 0 CHECK (api_calls >= 0),
    compute_us         bigint NOT NULL DEFAULT 0 CHECK (compute_us >= 0),
    db_us              bigint NOT NULL DEFAULT 0 CHECK (db_us >= 0),
    db_queries         bigint NOT NULL DEFAULT 0 CHECK (db_queries >= 0),
    bandwidth_bytes    bigint NOT NULL DEFAULT 0 CHECK (bandwidth_bytes >= 0),
    active_users       bigint NOT NULL DEFAULT 0 CHECK (active_users >= 0),
    storage_bytes      bigint NOT NULL DEFAULT 0 CHECK (storage_bytes >= 0),
    storage_method     text NOT NULL DEFAULT '',
    storage_sampled_at timestamptz,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, period)
);

-- The users seen in a period, as 64-bit hashes of the token's subject:
-- distinct across processes and retries.
CREATE TABLE tenantkit.usage_users (
    tenant_id uuid NOT NULL,
    period    text NOT NULL,
    user_hash bigint NOT NULL,
    PRIMARY KEY (tenant_id, period, user_hash),
    FOREIGN KEY (tenant_id, period) REFERENCES tenantkit.usage_periods (tenant_id, period) ON DELETE CASCADE
);

-- Recent load in buckets of 10 seconds, summed over every process: what
-- `tenantkit top` ranks. Kept for an hour.
CREATE TABLE tenantkit.usage_load (
    tenant_id       uuid NOT NULL REFERENCES tenantkit.tenants (id) ON DELETE CASCADE,
    bucket          timestamptz NOT NULL,
    requests        bigint NOT NULL DEFAULT 0,
    compute_us      bigint NOT NULL DEFAULT 0,
    db_us           bigint NOT NULL DEFAULT 0,
    bandwidth_bytes bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, bucket)
);
CREATE INDEX usage_load_bucket ON tenantkit.usage_load (bucket);

-- Tenants found taking more than their share of a shared tier, with what
-- to do about it. cleared_at is set when the tenant calmed down.
CREATE TABLE tenantkit.noisy_tenants (
    tenant_id      uuid NOT NULL REFERENCES tenantkit.tenants (id) ON DELETE CASCADE,
    dimension      text NOT NULL CHECK (dimension IN ('db_time', 'requests')),
    share          double precision NOT NULL,
    since          timestamptz NOT NULL,
    recommendation text NOT NULL,
    command        text NOT NULL DEFAULT '',
    throttled      boolean NOT NULL DEFAULT false,
    detected_by    text NOT NULL DEFAULT '',
    updated_at     timestamptz NOT NULL DEFAULT now(),
    cleared_at     timestamptz,
    PRIMARY KEY (tenant_id, dimension)
);

-- +goose Down
DROP TABLE tenantkit.noisy_tenants;
DROP TABLE tenantkit.usage_load;
DROP TABLE tenantkit.usage_users;
DROP TABLE tenantkit.usage_periods;
DROP TABLE tenantkit.usage_flushes;
