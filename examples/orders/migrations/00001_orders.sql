-- +goose Up
-- Every table carries tenant_id first in its keys; tenantkit adds the
-- default from the tenant setting and the row-level security.
CREATE TABLE customers (
    tenant_id  uuid NOT NULL,
    id         bigint GENERATED ALWAYS AS IDENTITY,
    email      text NOT NULL,
    name       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, email)
);

CREATE TABLE orders (
    tenant_id   uuid NOT NULL,
    id          bigint GENERATED ALWAYS AS IDENTITY,
    customer_id bigint NOT NULL,
    status      text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'paid', 'cancelled')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id)
);
CREATE INDEX orders_customer ON orders (tenant_id, customer_id);

CREATE TABLE order_items (
    tenant_id   uuid NOT NULL,
    order_id    bigint NOT NULL,
    line        int NOT NULL CHECK (line > 0),
    sku         text NOT NULL,
    quantity    int NOT NULL CHECK (quantity > 0),
    price_cents bigint NOT NULL CHECK (price_cents >= 0),
    PRIMARY KEY (tenant_id, order_id, line),
    FOREIGN KEY (tenant_id, order_id) REFERENCES orders (tenant_id, id) ON DELETE CASCADE
);

-- +goose Down
DROP TABLE order_items;
DROP TABLE orders;
DROP TABLE customers;
