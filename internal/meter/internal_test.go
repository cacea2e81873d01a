package meter

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
)

var nopSink = SinkFunc(func(context.Context, Batch) error { return nil })

// TestPastPeriodIsDropped checks that a past month's counters go once a cut
// flushed them and one more cut found them untouched, and not before.
func TestPastPeriodIsDropped(t *testing.T) {
	m, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	e := m.Entry(uuid.New())
	nov := time.Date(2026, time.November, 30, 12, 0, 0, 0, time.UTC)
	dec := nov.AddDate(0, 0, 2)
	periods := func() int {
		e.mu.Lock()
		defer e.mu.Unlock()
		return len(e.periods)
	}
	flush := func() {
		t.Helper()
		if err := m.Flush(context.Background(), nopSink); err != nil {
			t.Fatal(err)
		}
	}
	e.Request(nov, 0, 0, 0)
	e.Request(dec, 0, 0, 0)
	flush() // flushes November
	e.Request(nov, 0, 0, 0)
	flush() // a record hit it: kept
	if periods() != 2 {
		t.Fatalf("%d periods after a cut with a late record, want 2", periods())
	}
	e.Request(dec, 0, 0, 0)
	flush() // untouched for a full cut: dropped
	if periods() != 1 {
		t.Fatalf("%d periods after a quiet cut, want 1", periods())
	}
}

// TestIdleEntryLeavesScanSet checks that a long idle entry costs Tick
// nothing, and comes back when used.
func TestIdleEntryLeavesScanSet(t *testing.T) {
	m, err := New(Config{Bucket: time.Second, Window: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	e := m.Entry(uuid.New())
	scanned := func() int {
		m.stateMu.Lock()
		defer m.stateMu.Unlock()
		return len(m.scan)
	}
	e.Request(time.Now(), 0, 0, 0)
	for range idleWindows + 1 {
		m.Tick()
	}
	if n := scanned(); n != 0 || !e.parked.Load() {
		t.Fatalf("after %d idle windows %d entries scanned, parked %v; want 0, true", idleWindows, n, e.parked.Load())
	}
	e.Request(time.Now(), 0, 0, 0)
	m.Tick()
	if n := scanned(); n != 1 || e.parked.Load() {
		t.Fatalf("after a record %d entries scanned, parked %v; want 1, false", n, e.parked.Load())
	}
}
