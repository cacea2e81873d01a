-- name: AddCluster :one
INSERT INTO tenantkit.clusters (name, owner_url, app_url, replication_url, shared_database)
VALUES (@name, @owner_url, @app_url, @replication_url, @shared_database)
RETURNING *;

-- name: ListClusters :many
SELECT * FROM tenantkit.clusters ORDER BY name;

-- name: GetCluster :one
SELECT * FROM tenantkit.clusters WHERE name = @name;

-- name: ForgetClusterTargets :exec
DELETE FROM tenantkit.app_targets a WHERE a.cluster = @cluster
  AND NOT EXISTS (SELECT 1 FROM tenantkit.placements p WHERE p.cluster = a.cluster);

-- name: RemoveCluster :execrows
DELETE FROM tenantkit.clusters c WHERE c.name = @name
  AND NOT EXISTS (SELECT 1 FROM tenantkit.placements p WHERE p.cluster = c.name);

-- name: ClusterTenantCounts :many
SELECT c.name, count(p.tenant_id)::bigint AS tenants
FROM tenantkit.clusters c
LEFT JOIN tenantkit.placements p ON p.cluster = c.name
WHERE c.accepts_tenants
GROUP BY c.name
ORDER BY count(p.tenant_id), c.name;

-- name: InsertPlacement :one
INSERT INTO tenantkit.placements (tenant_id, tier, cluster, database, schema, adopted)
VALUES (@tenant_id, @tier, @cluster, @database, @schema, @adopted)
RETURNING *;

-- name: GetPlacement :one
SELECT * FROM tenantkit.placements WHERE tenant_id = @tenant_id;

-- name: SetPlacementState :one
UPDATE tenantkit.placements SET state = @state, updated_at = now()
WHERE tenant_id = @tenant_id
RETURNING *;

-- name: DeletePlacement :exec
DELETE FROM tenantkit.placements WHERE tenant_id = @tenant_id;

-- name: ListPlacements :many
SELECT p.*, t.slug FROM tenantkit.placements p
JOIN tenantkit.tenants t ON t.id = p.tenant_id
ORDER BY p.cluster, p.database, p.schema, t.slug;

-- name: UpsertAppTarget :exec
INSERT INTO tenantkit.app_targets (cluster, database, schema, tier, version, last_error)
VALUES (@cluster, @database, @schema, @tier, @version, @last_error)
ON CONFLICT (cluster, database, schema) DO UPDATE
SET version = EXCLUDED.version, last_error = EXCLUDED.last_error, updated_at = now();

-- name: ListAppTargets :many
SELECT * FROM tenantkit.app_targets ORDER BY cluster, database, schema;

-- name: DeleteAppTarget :exec
DELETE FROM tenantkit.app_targets WHERE cluster = @cluster AND database = @database AND schema = @schema;
