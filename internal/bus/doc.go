// Package bus carries cache invalidation messages from catalog writers to
// every process holding a tenant-context cache: PostgreSQL LISTEN/NOTIFY by
// default, Redis pub/sub when configured. A subscriber that reconnects may
// have missed messages, so it asks its owner to drop the whole cache.
package bus
