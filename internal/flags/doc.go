// Package flags decides boolean feature flags per tenant. A Snapshot is an
// immutable, validated set of flags that evaluates in well under a
// microsecond without allocating: a per-tenant override, then the kill
// switch, then a minimum plan, then a percentage rollout hashed from the
// tenant id, then the flag's default. An Engine holds the live Snapshot of
// a process and reloads it when told the catalog changed; a Provider puts
// the same decisions behind the OpenFeature Go SDK.
//
// Rollouts hash with 32-bit MurmurHash3 over the flag's seed (its key
// unless set), a ':' and the tenant id's 36-character text, and keep
// hash % 10000 as the tenant's bucket: a tenant is in a rollout of r basis
// points when its bucket is below r. Buckets do not depend on the
// percentage, so raising it only adds tenants; flags with different seeds
// pick independent cohorts, flags sharing a seed pick the same one.
//
// This package does not read the catalog: whoever stores flags builds
// Snapshots from its rows and hands them over through EngineConfig.LoadFunc.
package flags
