// Package storage keeps a tenant's files: a small [Bucket] interface
// (Put, Get, Delete, List) over a local directory or an S3-compatible
// bucket, with every tenant confined to its own part of it.
//
// [New] builds a Bucket from an [integration.Config] after checking it
// against the provider's [integration.Spec]; every Bucket is also an
// [integration.Tester]. Provider "local" keeps a tenant's objects under
// root/<tenant-id>/ and reaches them through an [os.Root], so a symbolic
// link planted there cannot lead a read or a write outside. Provider "s3"
// keeps them under tenants/<tenant-id>/ in the configured bucket (below
// the configured prefix), or directly under the prefix when the bucket is
// the tenant's own. Keys are checked by [CheckKey] before any provider
// sees them: no "." or ".." segment, no empty segment, no leading slash,
// no backslash, no control character.
//
// No error, log line or formatted value of a Bucket holds a credential:
// provider errors are rebuilt from their code and message with every
// credential value removed, and a Bucket prints as its provider and
// location only.
package storage
