-- +goose Up
CREATE TABLE customers (
    tenant_id uuid NOT NULL,
    id        bigint GENERATED ALWAYS AS IDENTITY,
    email     text NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
-- Its primary key, and so its replica identity, lacks tenant_id: a row
-- filter on tenant_id could not follow its updates and deletes.
CREATE TABLE notes (
    tenant_id uuid NOT NULL,
    id        bigserial PRIMARY KEY,
    body      text
);

-- +goose Down
DROP TABLE notes;
DROP TABLE customers;
