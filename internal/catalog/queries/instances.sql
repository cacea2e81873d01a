-- name: BeatInstance :exec
INSERT INTO tenantkit.instances (id, version, schema_version, hostname, pid, addr)
VALUES (@id, @version, @schema_version, @hostname, @pid, @addr)
ON CONFLICT (id) DO UPDATE SET last_seen = now();

-- name: ExpireInstances :execrows
DELETE FROM tenantkit.instances WHERE last_seen < now() - make_interval(secs => @ttl_seconds::float8);

-- name: RemoveInstance :exec
DELETE FROM tenantkit.instances WHERE id = @id;

-- name: LiveInstances :many
SELECT id, version, schema_version, hostname, pid, addr, started_at, last_seen
FROM tenantkit.instances
WHERE last_seen >= now() - make_interval(secs => @ttl_seconds::float8)
ORDER BY schema_version, started_at, id;
