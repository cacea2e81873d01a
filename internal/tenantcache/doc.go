// Package tenantcache keeps tenant contexts in process memory so that a warm
// request never queries the catalog. Slugs and verified hosts map to tenant
// ids, ids map to contexts; misses load once per key under concurrency, and
// unknown keys are remembered briefly. Invalidation messages drop exactly
// the entries they name; a reset drops everything.
package tenantcache
