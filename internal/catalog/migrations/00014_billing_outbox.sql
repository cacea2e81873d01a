-- tenantkit:phase expand
-- +goose Up
-- A tenant's account on Stripe, as the billing sync last left it.
CREATE TABLE tenantkit.billing_accounts (
    tenant_id       uuid PRIMARY KEY REFERENCES tenantkit.tenants (id),
    customer_id     text NOT NULL DEFAULT '',
    subscription_id text NOT NULL DEFAULT '',
    -- The subscription's items: Stripe price id → subscription item id.
    items           jsonb NOT NULL DEFAULT '{}',
    synced_at       timestamptz,
    -- Dunning: since when an invoice is unpaid, until when the tenant
    -- keeps working, and whether billing (not an operator) suspended it.
    past_due_since  timestamptz,
    grace_until     timestamptz,
    suspended_by_billing boolean NOT NULL DEFAULT false,
    -- The time of the newest subscription event applied, so an older one
    -- arriving late changes nothing.
    subscription_event_at timestamptz,
    -- The same for invoice events: a failed payment older than the last
    -- paid invoice does not make the tenant past due again.
    invoice_event_at timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX billing_accounts_grace ON tenantkit.billing_accounts (grace_until) WHERE grace_until IS NOT NULL;

-- Stripe's webhook events, each stored once by its id as it arrives (a
-- replay is recognised and not handled again) and handled by a job.
CREATE TABLE tenantkit.billing_events (
    id          text PRIMARY KEY,
    type        text NOT NULL,
    created     timestamptz NOT NULL,
    payload     jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    handled_at  timestamptz,
    tenant_id   uuid,
    outcome     text NOT NULL DEFAULT ''
);

-- The transactional outbox between the catalog and Stripe: each catalog
-- change that Stripe must follow (a tenant subscribes, changes plan, seats,
-- is deleted) writes a row in the change's own transaction. The billing
-- sync applies a tenant's rows one at a time, in order, each with a Stripe
-- idempotency key derived from its id, and retries a failed one with
-- backoff: a change is neither lost nor applied twice.
CREATE TABLE tenantkit.billing_outbox (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id       uuid NOT NULL REFERENCES tenantkit.tenants (id),
    op              text NOT NULL CHECK (op IN ('subscribe', 'change_plan', 'seats', 'cancel')),
    payload         jsonb NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text NOT NULL DEFAULT '',
    done_at         timestamptz
);
CREATE INDEX billing_outbox_pending ON tenantkit.billing_outbox (tenant_id, id) WHERE done_at IS NULL;

-- What was reported of each tenant's metered usage to Stripe's Billing
-- Meters, one row per meter event: the event's identifier is unique to
-- (tenant, metric, period, seq), written here before it is sent, so a
-- report run again sends an event Stripe did not confirm with the same
-- identifier, and Stripe counts it once. value is what the event carries
-- (the usage added since the row before, or the latest value of a
-- last-value metric); total the catalog's total it brings Stripe to.
CREATE TABLE tenantkit.billing_usage_reports (
    tenant_id   uuid NOT NULL REFERENCES tenantkit.tenants (id),
    period      text NOT NULL,
    metric      text NOT NULL,
    seq         integer NOT NULL,
    meter       text NOT NULL,
    value       bigint NOT NULL,
    total       bigint NOT NULL,
    identifier  text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    reported_at timestamptz,
    final       boolean NOT NULL DEFAULT false,
    PRIMARY KEY (tenant_id, period, metric, seq)
);

-- +goose Down
DROP TABLE tenantkit.billing_usage_reports;
DROP TABLE tenantkit.billing_events;
DROP TABLE tenantkit.billing_outbox;
DROP TABLE tenantkit.billing_accounts;
