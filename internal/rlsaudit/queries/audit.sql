-- name: AppRole :many
-- The app role's attributes; no row when the role does not exist.
SELECT r.oid::oid AS oid, r.rolsuper::bool AS superuser, r.rolbypassrls::bool AS bypassrls
FROM pg_catalog.pg_roles r
WHERE r.rolname = @role_name::text;

-- name: PrivilegedMemberships :many
-- The roles the app role can act as (transitively, through SET ROLE or
-- inheritance) that are superuser, BYPASSRLS or own objects in this
-- database: membership in them is as good as being them. via lists the
-- roles granted to the app role itself through which it reaches them.
WITH RECURSIVE up (oid, via) AS (
    SELECT m.roleid, m.roleid FROM pg_catalog.pg_auth_members m WHERE m.member = @role_oid::oid
    UNION
    SELECT m.roleid, up.via FROM pg_catalog.pg_auth_members m JOIN up ON m.member = up.oid
), owners AS (
    SELECT DISTINCT d.refobjid AS oid
    FROM pg_catalog.pg_shdepend d
    CROSS JOIN (SELECT db.oid FROM pg_catalog.pg_database db WHERE db.datname = pg_catalog.current_database()) cur
    WHERE d.refclassid = 'pg_catalog.pg_authid'::pg_catalog.regclass AND d.deptype = 'o'
      AND (d.dbid = cur.oid OR (d.classid = 'pg_catalog.pg_database'::pg_catalog.regclass AND d.objid = cur.oid))
)
SELECT r.rolname::text AS role_name, pg_catalog.quote_ident(r.rolname)::text AS quoted_role,
    r.rolsuper::bool AS superuser, r.rolbypassrls::bool AS bypassrls, (o.oid IS NOT NULL)::bool AS owns,
    ARRAY(SELECT DISTINCT pg_catalog.quote_ident(v.rolname)
        FROM up u JOIN pg_catalog.pg_roles v ON v.oid = u.via
        WHERE u.oid = r.oid ORDER BY 1)::text[] AS via
FROM (SELECT DISTINCT up.oid FROM up) reach
JOIN pg_catalog.pg_roles r ON r.oid = reach.oid
LEFT JOIN owners o ON o.oid = r.oid
WHERE r.rolsuper OR r.rolbypassrls OR o.oid IS NOT NULL
ORDER BY r.rolname;

-- name: OwnedObjects :many
-- The objects of this database, and the database itself, that a role
-- owns, from the ownership dependencies in pg_shdepend. Temporary objects
-- of open sessions are left out.
SELECT o.type::text AS object_type, COALESCE(o.schema, '')::text AS schema_name,
    COALESCE(o.name, CASE WHEN o.schema IS NULL THEN o.identity
        ELSE pg_catalog.substr(o.identity, pg_catalog.length(pg_catalog.quote_ident(o.schema)) + 2) END)::text AS object_name,
    o.identity::text AS identity
FROM pg_catalog.pg_shdepend d
CROSS JOIN (SELECT db.oid FROM pg_catalog.pg_database db WHERE db.datname = pg_catalog.current_database()) cur
CROSS JOIN LATERAL pg_catalog.pg_identify_object(d.classid, d.objid, d.objsubid) o
WHERE d.refclassid = 'pg_catalog.pg_authid'::pg_catalog.regclass AND d.refobjid = @role_oid::oid AND d.deptype = 'o'
  AND (d.dbid = cur.oid OR (d.classid = 'pg_catalog.pg_database'::pg_catalog.regclass AND d.objid = cur.oid))
  AND COALESCE(o.schema, '') !~ '^pg_(toast_)?temp_'
ORDER BY 2, 3, 1;

-- name: TenantTables :many
-- The tenant tables of a schema with their row-level security switches,
-- the tenant_id column's nullability and default, and their keys.
SELECT c.relname::text AS table_name,
    pg_catalog.format('%I.%I', n.nspname, c.relname)::text AS qualified,
    c.relrowsecurity::bool AS rls_enabled, c.relforcerowsecurity::bool AS rls_forced,
    a.attnotnull::bool AS tenant_not_null,
    COALESCE(pg_catalog.pg_get_expr(ad.adbin, ad.adrelid), '')::text AS tenant_default,
    EXISTS (SELECT 1 FROM pg_catalog.pg_index x WHERE x.indrelid = c.oid AND x.indisprimary)::bool AS has_primary_key,
    EXISTS (SELECT 1 FROM pg_catalog.pg_attribute ia WHERE ia.attrelid = c.oid AND ia.attname = 'id'
        AND ia.attnum > 0 AND NOT ia.attisdropped)::bool AS has_id
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attname = @tenant_column::text AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
WHERE n.nspname = @schema_name::text AND c.relkind IN ('r', 'p')
ORDER BY c.relname;

-- name: TenantPolicies :many
-- The policies of the tenant tables of a schema. applies_to_role tells
-- whether the policy applies to the app role: to PUBLIC, or to a role the
-- app role is a member of.
SELECT c.relname::text AS table_name, p.polname::text AS policy_name,
    pg_catalog.quote_ident(p.polname)::text AS quoted_policy,
    p.polpermissive::bool AS permissive, p.polcmd::text AS command,
    (0::oid = ANY (p.polroles) OR EXISTS (
        SELECT 1 FROM pg_catalog.pg_roles ar, pg_catalog.unnest(p.polroles) AS pr (oid)
        WHERE ar.rolname = @role_name::text AND pg_catalog.pg_has_role(ar.oid, pr.oid, 'MEMBER')))::bool AS applies_to_role,
    COALESCE(pg_catalog.pg_get_expr(p.polqual, p.polrelid), '')::text AS using_expr,
    COALESCE(pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid), '')::text AS check_expr
FROM pg_catalog.pg_policy p
JOIN pg_catalog.pg_class c ON c.oid = p.polrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = @schema_name::text AND c.relkind IN ('r', 'p')
  AND EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attname = @tenant_column::text
      AND a.attnum > 0 AND NOT a.attisdropped)
ORDER BY c.relname, p.polname;

-- name: TruncatableTenantTables :many
-- The tenant tables of a schema the app role may TRUNCATE through a grant
-- (to it, to a role it inherits from, or to PUBLIC), with those grantees.
-- Ownership is left out: the ownership checks report it.
SELECT c.relname::text AS table_name,
    pg_catalog.format('%I.%I', n.nspname, c.relname)::text AS qualified,
    ARRAY(SELECT DISTINCT CASE WHEN g.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(gr.rolname) END
        FROM pg_catalog.aclexplode(c.relacl) g
        LEFT JOIN pg_catalog.pg_roles gr ON gr.oid = g.grantee
        WHERE g.privilege_type = 'TRUNCATE'
          AND (g.grantee = 0 OR pg_catalog.pg_has_role(@role_oid::oid, g.grantee, 'USAGE'))
        ORDER BY 1)::text[] AS grantees
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = @schema_name::text AND c.relkind IN ('r', 'p')
  AND EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attname = @tenant_column::text
      AND a.attnum > 0 AND NOT a.attisdropped)
  AND pg_catalog.has_table_privilege(@role_oid::oid, c.oid, 'TRUNCATE')
  AND NOT pg_catalog.pg_has_role(@role_oid::oid, c.relowner, 'USAGE')
ORDER BY c.relname;

-- name: UniqueKeys :many
-- The primary keys, unique constraints and unique indexes of the tenant
-- tables of a schema, with whether their first column is tenant_id.
SELECT c.relname::text AS table_name,
    pg_catalog.format('%I.%I', n.nspname, c.relname)::text AS qualified,
    i.relname::text AS index_name,
    pg_catalog.format('%I.%I', n.nspname, i.relname)::text AS qualified_index,
    pg_catalog.quote_ident(i.relname)::text AS quoted_index,
    x.indisprimary::bool AS is_primary,
    COALESCE(con.conname, '')::text AS constraint_name,
    COALESCE(pg_catalog.quote_ident(con.conname), '')::text AS quoted_constraint,
    (x.indkey[0] = a.attnum)::bool AS leads_with_tenant,
    ARRAY(SELECT pg_catalog.pg_get_indexdef(x.indexrelid, k, true)
        FROM pg_catalog.generate_series(1, x.indnkeyatts::int) AS k ORDER BY k)::text[] AS key_columns,
    COALESCE(pg_catalog.pg_get_expr(x.indpred, x.indrelid, true), '')::text AS predicate,
    pg_catalog.pg_get_indexdef(x.indexrelid)::text AS definition
FROM pg_catalog.pg_index x
JOIN pg_catalog.pg_class i ON i.oid = x.indexrelid
JOIN pg_catalog.pg_class c ON c.oid = x.indrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attname = @tenant_column::text AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_catalog.pg_constraint con ON con.conindid = x.indexrelid AND con.conrelid = c.oid AND con.contype IN ('p', 'u')
WHERE n.nspname = @schema_name::text AND c.relkind IN ('r', 'p') AND x.indisunique
ORDER BY c.relname, i.relname;

-- name: Views :many
-- The views of a schema with their options.
SELECT c.relname::text AS view_name,
    pg_catalog.format('%I.%I', n.nspname, c.relname)::text AS qualified,
    COALESCE(c.reloptions, '{}')::text[] AS options
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = @schema_name::text AND c.relkind = 'v'
ORDER BY c.relname;

-- name: SecurityDefinerFunctions :many
-- The SECURITY DEFINER functions and procedures of a schema with their
-- SET clauses.
SELECT (p.proname || '(' || pg_catalog.pg_get_function_identity_arguments(p.oid) || ')')::text AS function_name,
    pg_catalog.format('%I.%I(%s)', n.nspname, p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid))::text AS qualified,
    pg_catalog.quote_ident(n.nspname)::text AS quoted_schema,
    (p.prokind = 'p')::bool AS is_procedure,
    COALESCE(p.proconfig, '{}')::text[] AS config
FROM pg_catalog.pg_proc p
JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = @schema_name::text AND p.prosecdef
ORDER BY 1;

-- name: SchemaExists :one
SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace n WHERE n.nspname = @schema_name::text)::bool AS found;

-- name: QuoteIdent :one
-- An identifier quoted, where it needs it, for the fixes.
SELECT pg_catalog.quote_ident(@name::text)::text AS quoted;

-- name: TemporaryGranted :one
-- Who gives the app role TEMPORARY on this database: PUBLIC (the default
-- of CREATE DATABASE), the app role itself, or a role it belongs to other
-- than the database's owner (membership in the owner is reported apart).
-- Empty when no one does.
SELECT pg_catalog.current_database()::text AS database,
       pg_catalog.quote_ident(pg_catalog.current_database())::text AS quoted,
       coalesce((
           SELECT pg_catalog.string_agg(CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(r.rolname) END,
                                        ', ' ORDER BY a.grantee <> 0, r.rolname)
           FROM pg_catalog.pg_database d
           CROSS JOIN LATERAL pg_catalog.aclexplode(coalesce(d.datacl, pg_catalog.acldefault('d', d.datdba))) a
           LEFT JOIN pg_catalog.pg_roles r ON r.oid = a.grantee
           WHERE d.datname = pg_catalog.current_database()
             AND a.privilege_type = 'TEMPORARY'
             AND a.grantee <> d.datdba
             AND (a.grantee = 0 OR pg_catalog.pg_has_role(@role_oid::oid, a.grantee, 'USAGE'))
       ), '')::text AS grantees;
