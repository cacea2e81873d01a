-- +goose Up
ALTER TABLE orders ADD COLUMN note text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE orders DROP COLUMN note;
