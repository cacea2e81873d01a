-- tenantkit:phase expand
-- +goose Up
-- Every serving process (tenantkit serve, tenantkit dev) heartbeats here:
-- the binary's version and the newest catalog migration it was built
-- with, so that catalog migrate holds a contract migration back while an
-- instance built for an older catalog still serves. A row not seen for a
-- while is stale: readers ignore it and the next heartbeat deletes it.
-- Releases before this table existed do not heartbeat: they are invisible.
CREATE TABLE tenantkit.instances (
    id             uuid PRIMARY KEY,
    version        text NOT NULL,
    schema_version bigint NOT NULL,
    hostname       text NOT NULL DEFAULT '',
    pid            integer NOT NULL DEFAULT 0,
    addr           text NOT NULL DEFAULT '',
    started_at     timestamptz NOT NULL DEFAULT now(),
    last_seen      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX instances_last_seen ON tenantkit.instances (last_seen);

-- +goose Down
DROP TABLE tenantkit.instances;
