// Package rlspolicy defines the row-level security tenantkit installs on
// every application table that has a tenant_id column, in every tier: the
// setting that names the current tenant, the fail-closed predicate, the two
// policies and the grants. The migrator installs it and the audit checks
// for it, so both read the same definition from here.
package rlspolicy
