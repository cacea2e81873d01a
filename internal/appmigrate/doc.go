// Package appmigrate applies the application's own migrations — plain
// goose-format SQL files declaring tables with a tenant_id column — to every
// target that holds tenant data: each shared database, every tenant schema
// and every dedicated database. After migrating a target it installs
// tenantkit's row-level security (package rlspolicy) on every tenant table of
// the target's schema, so that a table cannot reach the app role without it.
//
// Each target is migrated by a goose Provider with its own version table,
// <schema>.tenantkit_app_migrations, under a session advisory lock keyed by
// the schema, so concurrent runs never race on a target while different
// schemas of one database migrate in parallel. Workers share one small pool
// per DSN; a target that is already up to date costs a single query. A
// failing target is reported in the Summary and does not stop the others;
// running again resumes where each target stopped.
package appmigrate
