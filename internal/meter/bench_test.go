package meter_test

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tenantkit/tenantkit/internal/meter"
)

// TestRecordingDoesNotAllocate guards the hot path's budget: recording a
// request, database time, a job, a user already seen, and reading the label and
// the throttle allocate nothing.
func TestRecordingDoesNotAllocate(t *testing.T) {
	m := newMeter(t, meter.Config{})
	e := m.Entry(uuid.New())
	e.User(nov, "alice")
	for name, f := range map[string]func(){
		"Request":   func() { e.Request(nov, time.Millisecond, 100, 2000) },
		"DB":        func() { e.DB(nov, time.Millisecond, 1, true) },
		"Job":       func() { e.Job(nov, time.Millisecond) },
		"User":      func() { e.User(nov, "alice") },
		"LabelGen":  func() { _ = e.LabelGen() },
		"Throttled": func() { _ = e.Throttled() },
	} {
		if n := testing.AllocsPerRun(1000, f); n != 0 {
			t.Errorf("%s allocates %v times per call, want 0", name, n)
		}
	}
}

func BenchmarkEntryRequest(b *testing.B) {
	m := newMeter(b, meter.Config{})
	e := m.Entry(uuid.New())
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		e.Request(now, time.Millisecond, 100, 2000)
	}
}

// BenchmarkEntryRequestParallel records into one tenant from every
// processor: the worst case, all cores on one tenant's cache line.
func BenchmarkEntryRequestParallel(b *testing.B) {
	m := newMeter(b, meter.Config{})
	e := m.Entry(uuid.New())
	now := time.Now()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			e.Request(now, time.Millisecond, 100, 2000)
		}
	})
}

func BenchmarkEntryUser(b *testing.B) {
	m := newMeter(b, meter.Config{})
	e := m.Entry(uuid.New())
	now := time.Now()
	const user = "auth0|5f7c8ec7c33c6c004bbafe82"
	for i := range 1000 {
		e.User(now, string(rune('a'+i%26))+user)
	}
	e.User(now, user)
	b.ReportAllocs()
	for b.Loop() {
		e.User(now, user)
	}
}

func BenchmarkEntryDB(b *testing.B) {
	m := newMeter(b, meter.Config{})
	e := m.Entry(uuid.New())
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		e.DB(now, time.Millisecond, 1, true)
	}
}

// BenchmarkTick10000 ticks 10,000 tenants that all had requests in the
// bucket, so that none leaves the scan set.
func BenchmarkTick10000(b *testing.B) {
	m := newMeter(b, meter.Config{})
	es := make([]*meter.Entry, 10_000)
	for i, id := range tenantIDs(len(es)) {
		es[i] = m.Entry(id)
	}
	now := time.Now()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		for j, e := range es {
			if (i+j)%3 == 0 {
				e.Request(now, time.Millisecond, 10, 10)
				e.DB(now, time.Millisecond, 1, j%2 == 0)
			}
		}
		b.StartTimer()
		m.Tick()
	}
}
