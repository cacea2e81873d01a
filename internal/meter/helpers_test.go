package meter_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tenantkit/tenantkit/internal/meter"
)

// clock is a fake clock for Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *clock { return &clock{t: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

// key names one tenant's period.
type key struct {
	Tenant uuid.UUID
	Period string
}

// counts is what a store holds per tenant and period, users aside.
type counts struct {
	APICalls, ComputeMicros, DBMicros, DBQueries, BandwidthBytes int64
	Jobs, JobMicros                                              int64
}

// totals is what a store holds per tenant and period.
type totals struct {
	counts
	Users map[uint64]int // times each user arrived in an applied batch
}

// memSink is an in-memory store idempotent by batch ID, like the catalog's.
// It can be told to fail its next writes, after applying them or before.
type memSink struct {
	mu          sync.Mutex
	applied     map[uuid.UUID]bool
	calls       []meter.Batch // every WriteUsage call's batch, in order
	batches     map[uuid.UUID]meter.Batch
	sums        map[key]*totals
	failAfter   int // fail this many next writes after applying them
	failBefore  int // fail this many next writes without applying them
	errInjected error
}

func newMemSink() *memSink {
	return &memSink{
		applied:     make(map[uuid.UUID]bool),
		batches:     make(map[uuid.UUID]meter.Batch),
		sums:        make(map[key]*totals),
		errInjected: errors.New("injected write failure"),
	}
}

func (s *memSink) WriteUsage(_ context.Context, b meter.Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, b)
	if s.failBefore > 0 {
		s.failBefore--
		return s.errInjected
	}
	if !s.applied[b.ID] {
		s.applied[b.ID] = true
		s.batches[b.ID] = b
		for _, d := range b.Deltas {
			s.apply(d)
		}
	}
	if s.failAfter > 0 {
		s.failAfter--
		return s.errInjected
	}
	return nil
}

func (s *memSink) apply(d meter.Delta) {
	k := key{d.Tenant, d.Period}
	t := s.sums[k]
	if t == nil {
		t = &totals{Users: make(map[uint64]int)}
		s.sums[k] = t
	}
	t.APICalls += d.APICalls
	t.ComputeMicros += d.ComputeMicros
	t.DBMicros += d.DBMicros
	t.DBQueries += d.DBQueries
	t.BandwidthBytes += d.BandwidthBytes
	t.Jobs += d.Jobs
	t.JobMicros += d.JobMicros
	for _, u := range d.Users {
		t.Users[u]++
	}
}

func (s *memSink) get(tenant uuid.UUID, period string) totals {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.sums[key{tenant, period}]; t != nil {
		return *t
	}
	return totals{}
}

func (s *memSink) callsMade() []meter.Batch {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]meter.Batch(nil), s.calls...)
}

func (s *memSink) setFail(after, before int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failAfter, s.failBefore = after, before
}

func newMeter(t testing.TB, cfg meter.Config) *meter.Meter {
	t.Helper()
	m, err := meter.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return m
}

// tenantIDs returns n distinct, deterministic tenant ids.
func tenantIDs(n int) []uuid.UUID {
	ids := make([]uuid.UUID, n)
	for i := range ids {
		ids[i] = uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "tenant-%d", i))
	}
	return ids
}

func mustFlush(t *testing.T, m *meter.Meter, s meter.Sink) {
	t.Helper()
	if err := m.Flush(context.Background(), s); err != nil {
		t.Fatalf("Flush: %v", err)
	}
}

// nov is a time in November 2026.
var nov = time.Date(2026, time.November, 14, 10, 0, 0, 0, time.UTC)
