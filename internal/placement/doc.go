// Package placement puts tenants where their tier says: a share of the
// cluster's shared database, a schema of its own in it, or a database of its
// own. Provisioning creates what the tier needs, installs tenantkit's
// data-plane objects (the move fence), applies the application's migrations
// with their row-level security, and marks the placement ready; it is
// idempotent, so a run killed half-way finishes when run again.
// Deprovisioning undoes it.
package placement
