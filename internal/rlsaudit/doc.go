// Package rlsaudit checks, from the system catalogs alone, that a database
// holds tenant data the way tenantkit requires (DESIGN.md, "Tenant tables"):
// the app role is neither superuser nor BYPASSRLS, owns nothing and cannot
// act as a role that does; every table with a tenant_id column has row-level
// security enabled and forced, the restrictive fail-closed policy of
// package rlspolicy for all commands, a NOT NULL tenant_id defaulting to the
// current tenant, keys that start with tenant_id and no TRUNCATE grant to
// the app role; views are security_invoker and SECURITY DEFINER functions
// pin search_path. It only reads: each violation names its target, object
// and a fix to run, and `tenantkit rls check` prints them.
//
// The catalog queries live in queries/audit.sql and are compiled by sqlc
// into package auditdb.
package rlsaudit

//go:generate sqlc generate -f ../../sqlc.yaml
