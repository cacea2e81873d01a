// Package settings holds per-tenant settings that a platform declares once as
// a JSON Schema (draft 2020-12) and every tenant fills in as a JSON object.
//
// A tenant's stored document holds only what the tenant set. Defaults live in
// the schema and are filled in on read (Schema.WithDefaults), so adding a
// property with a default to the schema needs no data migration, and removing
// a key with a JSON Merge Patch null (MergePatch) reverts it to the default.
// Writes are checked with Schema.Validate, which reports every failing field
// as a JSON pointer with a human message; Diff lists what a write changed for
// the audit log; ETag and ParseETag carry the stored version through If-Match;
// Values is the parsed, read-only view a request handler consults.
//
// The package does no I/O: storing the document (JSONB) and serving it over
// HTTP belong to its callers.
package settings
