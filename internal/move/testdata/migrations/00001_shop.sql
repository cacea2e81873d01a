-- +goose Up
CREATE TABLE customers (
    tenant_id  uuid NOT NULL,
    id         bigint GENERATED ALWAYS AS IDENTITY,
    email      text NOT NULL,
    name       text,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, email)
);

CREATE TABLE orders (
    tenant_id   uuid NOT NULL,
    id          bigserial,
    customer_id bigint NOT NULL,
    status      text NOT NULL DEFAULT 'open',
    total       numeric(14, 2),
    tags        text[],
    meta        jsonb,
    note        text,
    blob        bytea,
    placed_at   timestamptz,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id)
);
CREATE INDEX orders_customer ON orders (tenant_id, customer_id);
CREATE INDEX orders_status ON orders (tenant_id, status);

-- Deleting an order cascades to its lines: the stream carries both
-- deletes, and must not apply the cascade a second time.
CREATE TABLE lines (
    tenant_id uuid NOT NULL,
    order_id  bigint NOT NULL,
    n         int NOT NULL,
    PRIMARY KEY (tenant_id, order_id, n),
    FOREIGN KEY (tenant_id, order_id) REFERENCES orders (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE counters (
    tenant_id uuid NOT NULL,
    name      text NOT NULL,
    value     bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, name)
);

-- +goose Down
DROP TABLE counters;
DROP TABLE lines;
DROP TABLE orders;
DROP TABLE customers;
