-- tenantkit:phase expand
-- +goose Up
-- Where each process with background jobs may have left rows in a data
-- database's tenantkit.job_outbox: written before the first job it enqueues
-- there commits, kept fresh while it lives, gone when it stops cleanly. A
-- mark past expires_at is a process that died: any process relays what it
-- left in that database, then removes the mark.
CREATE TABLE tenantkit.job_outbox_marks (
    instance   uuid NOT NULL,
    cluster    text NOT NULL,
    database   text NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (instance, cluster, database)
);
CREATE INDEX job_outbox_marks_expires_at ON tenantkit.job_outbox_marks (expires_at);

-- +goose Down
DROP TABLE tenantkit.job_outbox_marks;
