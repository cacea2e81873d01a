-- tenantkit:phase expand
-- +goose Up
-- The Stripe prices of a plan (see catalog.PlanBilling): a flat base price,
-- a per-seat price and its usage gauge, metered prices with the Billing
-- Meter each reports to, and the trial days of a new subscription. Kept
-- beside tenantkit.plans, not in it: processes of the previous release
-- read plans with SELECT *, and a new column would break them mid-upgrade.
CREATE TABLE tenantkit.plan_billing (
    plan       text PRIMARY KEY REFERENCES tenantkit.plans (name) ON DELETE CASCADE,
    billing    jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE tenantkit.plan_billing;
