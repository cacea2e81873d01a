// Package tracing sets up OpenTelemetry tracing for tenantkit: a
// TracerProvider of its own (never the global one) that batches spans and
// exports them over OTLP/HTTP, plus the few helpers the HTTP middleware and
// the transaction layer call to open and close their spans with the
// tenant's id, slug, tier and plan on each. Incoming W3C traceparent
// headers are continued, so a request traced by a caller stays one trace.
// Tracing is optional: New returns a nil *Tracing when no endpoint is
// configured, and every method of a nil *Tracing is a no-op that allocates
// nothing, so call sites need no "is tracing on" branches.
package tracing
