// Package storagesample measures how many bytes each tenant's data takes on
// its placement, whatever its tier, for usage metering, plan limits and
// deciding which tenants to move.
//
// A [Sampler] lists the placements of the catalog and visits each (cluster,
// database) once, however many tenants live there:
//
//   - schema and dedicated tenants own their tables, so their figure is
//     exact (Method "relation_size"): the sum of pg_total_relation_size —
//     heap, indexes and TOAST — of the tables of the tenant's schema that
//     have a tenant_id column. tenantkit's own tables (the fence, the
//     migration versions) are not the tenant's data and are left out, so a
//     tenant measures alike on every tier.
//   - shared tenants share their tables, so their figure is an estimate
//     (Method "estimate"): for every table of the shared schema with a
//     tenant_id column, the table's total relation size times the tenant's
//     share of the table's tuple bytes (sum of pg_column_size(ROW(t.*)) of
//     its rows).
//     Every tenant's share of a table is read in one scan grouped by
//     tenant_id, as the cluster's replication role, which bypasses row-level
//     security; the sampler grants that role SELECT on the shared tables
//     when it lacks it, as a move does. A cluster without a replication URL
//     is read tenant by tenant instead, as the owner role in transactions
//     that set the tenant setting, which row-level security reads. A table
//     with more live tuples (reltuples) than Config.SampleRowsAbove is read
//     with TABLESAMPLE SYSTEM for about a tenth of that many rows: shares
//     are ratios, so the sample needs no scaling.
//
// Rows of tenants the catalog does not place there (a moved tenant's source
// rows kept for the confidence period, say) count in the shares of a
// single scan and are attributed to nobody; the per-tenant reading cannot
// see them, and shares the table among the tenants placed there. The size
// of a shared table without rows is attributed to nobody either.
//
// A database that cannot be reached is reported as a [*DatabaseError], and
// the others are still measured.
package storagesample
