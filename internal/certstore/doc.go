// Package certstore keeps certmagic's certificates, private keys and ACME
// account in the catalog database (tenantkit.cert_storage), so that every
// server instance on one catalog serves the same certificates, and holds
// certmagic's named locks there (tenantkit.cert_locks), so that only one
// instance orders each certificate. A lock outlives a crashed holder by at
// most its TTL: the holder keeps extending it while it runs.
package certstore
