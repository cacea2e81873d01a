// Package meter counts what each tenant uses, in process and on the hot path
// of every request: API calls, compute time, bandwidth, database time and
// queries, background jobs and their wall time, and active users, per tenant
// and UTC month. Recording is a few atomic additions on an *Entry the caller
// keeps with its tenant context, so it allocates nothing and takes no lock. Flush cuts what was counted since
// the last cut into a Batch with a stable ID and writes it to a Sink, which
// makes retries idempotent: a failed batch is retried as it was, and a crash
// loses only what was not yet cut and written.
//
// The same counters feed a sliding load window closed by Tick: per tenant
// request rate, database time, and shares of all requests and of shared-tier
// database time. A tenant whose share stays above Config.NoisyShare for
// Config.Sustain is reported as a noisy neighbour, and may be asked to be
// throttled; and the busiest tenants, at most Config.TopK of them, hold their
// own metrics label, assigned with hysteresis so labels do not flap.
package meter
