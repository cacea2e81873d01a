// Package move moves a live tenant between placements — shared tables,
// its own schema, its own database, on any cluster — while its users keep
// writing. A move is a state machine persisted in the catalog: the target
// is built and migrated, a snapshot of the tenant is copied table by table
// from a logical replication slot's exported snapshot, the slot's stream is
// applied to the target until it has caught up, both sides are verified,
// and the cutover fences the tenant on the source, drains the stream, flips
// the placement with a new epoch and releases the fence. The source is kept
// for a confidence period, with a reverse slot, so a rollback can return
// the tenant with the writes made since.
//
// A Runner does the work. Several may run against one catalog: leases in
// the catalog give each move to one runner at a time, and a runner that
// dies leaves its moves to be resumed (or rolled back) by another.
package move
