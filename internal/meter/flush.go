package meter

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Delta is what one tenant used in one period between two cuts.
type Delta struct {
	Tenant uuid.UUID
	Period string // UTC month, "2006-01"

	APICalls       int64
	ComputeMicros  int64
	DBMicros       int64
	DBQueries      int64
	BandwidthBytes int64
	// Jobs counts background job runs; JobMicros is their wall time.
	Jobs      int64
	JobMicros int64

	// Users holds, sorted, the hashes (see UserHash) of the users first
	// seen in the period since the last cut.
	Users []uint64
}

func (d *Delta) empty() bool {
	return d.APICalls == 0 && d.ComputeMicros == 0 && d.DBMicros == 0 &&
		d.DBQueries == 0 && d.BandwidthBytes == 0 && d.Jobs == 0 && d.JobMicros == 0 && len(d.Users) == 0
}

// Batch is one cut of usage, written by a Sink.
type Batch struct {
	// ID identifies the cut: a retried write of the same batch carries the
	// same ID. IDs are UUIDv7, so they sort by the time of the cut.
	ID uuid.UUID

	// Deltas holds the non-empty deltas, in the order the tenants were
	// first seen and then by period.
	Deltas []Delta
}

// Sink writes batches of usage.
type Sink interface {
	// WriteUsage writes b. It must be idempotent by b.ID: writing a batch
	// whose ID was already written changes nothing. It must not modify b,
	// which is written again as it is when the write fails.
	WriteUsage(ctx context.Context, b Batch) error
}

// SinkFunc adapts a function to a Sink.
type SinkFunc func(ctx context.Context, b Batch) error

// WriteUsage calls f(ctx, b).
func (f SinkFunc) WriteUsage(ctx context.Context, b Batch) error { return f(ctx, b) }

// finalFlushTimeout bounds the flush Run makes after its context is done.
const finalFlushTimeout = 5 * time.Second

// Flush writes to s what was counted since the last cut. When an earlier
// batch is pending because its write failed, Flush first writes exactly
// that batch again, same ID and same deltas, and cuts a new one only once
// that succeeded. A batch whose write fails stays pending. Nothing is cut
// when nothing was counted.
//
// Flush is safe against concurrent recording: each count goes into exactly
// one batch. Calls to Flush are serialized.
func (m *Meter) Flush(ctx context.Context, s Sink) error {
	m.flushMu.Lock()
	defer m.flushMu.Unlock()
	if m.pending != nil {
		if err := m.write(ctx, s, m.pending); err != nil {
			return err
		}
	}
	id, err := uuid.NewV7()
	if err != nil {
		return fmt.Errorf("meter: batch id: %w", err)
	}
	b := m.cut(id)
	m.evict(m.cfg.Now())
	if len(b.Deltas) == 0 {
		return nil
	}
	m.pending = &b
	m.hasPending.Store(true)
	return m.write(ctx, s, m.pending)
}

// write writes the pending batch b and clears it on success. m.flushMu is
// held.
func (m *Meter) write(ctx context.Context, s Sink, b *Batch) error {
	if err := s.WriteUsage(ctx, *b); err != nil {
		return fmt.Errorf("meter: write usage batch %s: %w", b.ID, err)
	}
	m.pending = nil
	m.hasPending.Store(false)
	return nil
}

// Pending reports whether a batch awaits a successful write.
func (m *Meter) Pending() bool { return m.hasPending.Load() }

// Run flushes to s every interval until ctx is done, then flushes once more
// under a detached timeout of a few seconds. Flush errors go to errFunc,
// which may be nil. interval must be positive.
func (m *Meter) Run(ctx context.Context, s Sink, interval time.Duration, errFunc func(error)) {
	report := func(err error) {
		if err != nil && errFunc != nil {
			errFunc(err)
		}
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			report(m.Flush(ctx, s))
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finalFlushTimeout)
			defer cancel()
			report(m.Flush(fctx, s))
			return
		}
	}
}

// cut makes batch id of every entry's usage since the last cut. m.flushMu
// is held.
func (m *Meter) cut(id uuid.UUID) Batch {
	b := Batch{ID: id}
	all, orphans := m.entries()
	for _, e := range all {
		b.Deltas = e.cut(b.Deltas)
	}
	if orphans {
		b.Deltas = mergeDeltas(b.Deltas)
	}
	return b
}

// cut appends the entry's deltas to dst and drops the past periods that are
// done with: a cut has flushed them and no record hit them for one more
// full cut. A record that comes later still, stamped in a dropped period,
// opens it again from zero, which the store adds up the same way.
//
// Records into past periods hold e.mu, as cut does, so none is lost to a
// drop. The one record that does not is a fast-path record that loaded the
// period while it was still the newest: it would be lost only if its
// goroutine stalled between that load and its addition across two whole
// cuts after a newer period opened.
func (e *Entry) cut(dst []Delta) []Delta {
	e.mu.Lock()
	defer e.mu.Unlock()
	cur := e.cur.Load()
	kept := e.periods[:0]
	for _, p := range e.periods {
		d, moved := p.cut()
		if !d.empty() {
			d.Tenant = e.id
			dst = append(dst, d)
		}
		if p != cur {
			p.pastCuts++
			if !moved && p.pastCuts >= 2 {
				e.carry.add(p.sinceTick())
				continue
			}
		}
		kept = append(kept, p)
	}
	clear(e.periods[len(kept):])
	e.periods = kept
	return dst
}

// cut returns the period's delta since the last cut and whether any counter
// moved. Times are cut in whole microseconds of the cumulative count, so
// the remainders carry over and nothing drifts. Entry.mu is held.
func (p *period) cut() (Delta, bool) {
	now, was := p.load(), p.cutAt
	p.cutAt = now
	d := Delta{
		Period:         p.name,
		APICalls:       now.req - was.req,
		ComputeMicros:  now.computeNs/1000 - was.computeNs/1000,
		DBMicros:       now.dbNs/1000 - was.dbNs/1000,
		DBQueries:      now.dbQueries - was.dbQueries,
		BandwidthBytes: now.bw - was.bw,
		Jobs:           now.jobs - was.jobs,
		JobMicros:      now.jobNs/1000 - was.jobNs/1000,
		Users:          p.users.take(),
	}
	return d, now != was || len(d.Users) > 0
}
