package meter_test

import (
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"weak"

	"github.com/google/uuid"

	"github.com/tenantkit/tenantkit/internal/meter"
)

// idleTicks is enough Ticks, with a one-bucket window, to park an idle
// entry (ten idle windows).
const idleTicks = 11

// TestIdleEntriesAreDropped: entries idle for EvictAfter after parking go
// from memory — the Meter holds none of them and the garbage collector
// reclaims them — once their usage was flushed, exactly.
func TestIdleEntriesAreDropped(t *testing.T) {
	clk := newClock(nov)
	m := newMeter(t, meter.Config{Now: clk.Now, Bucket: time.Second, Window: time.Second, EvictAfter: time.Minute})
	sink := newMemSink()
	ids := tenantIDs(1000)
	var weaks []weak.Pointer[meter.Entry]
	for _, id := range ids {
		e := m.Entry(id)
		e.Request(clk.Now(), time.Millisecond, 10, 20)
		e.User(clk.Now(), "u-"+id.String())
		weaks = append(weaks, weak.Make(e))
	}
	mustFlush(t, m, sink)
	for range idleTicks {
		clk.Add(time.Second)
		m.Tick()
	}
	mustFlush(t, m, sink)
	if n := m.Len(); n != len(ids) {
		t.Fatalf("%d entries held after parking, want all %d (EvictAfter has not passed)", n, len(ids))
	}
	clk.Add(time.Minute)
	mustFlush(t, m, sink)
	if n, ev := m.Len(), m.Evicted(); n != 0 || ev != int64(len(ids)) {
		t.Fatalf("%d entries held and %d dropped, want 0 and %d", n, ev, len(ids))
	}
	runtime.GC()
	alive := 0
	for _, w := range weaks {
		if w.Value() != nil {
			alive++
		}
	}
	if alive != 0 {
		t.Fatalf("%d dropped entries still reachable", alive)
	}
	for _, id := range ids {
		got := sink.get(id, "2026-11")
		if got.APICalls != 1 || got.BandwidthBytes != 30 || len(got.Users) != 1 {
			t.Fatalf("tenant %s: %+v", id, got)
		}
	}
}

// dropped returns e's tenant's entry after it was parked and dropped.
func dropAll(t *testing.T, m *meter.Meter, clk *clock, sink meter.Sink) {
	t.Helper()
	mustFlush(t, m, sink)
	for range idleTicks {
		clk.Add(time.Second)
		m.Tick()
	}
	clk.Add(time.Minute)
	mustFlush(t, m, sink)
	if n := m.Len(); n != 0 {
		t.Fatalf("%d entries held, want none", n)
	}
}

// TestRecordIntoDroppedEntryIsCounted: a holder of a dropped entry (a
// cached tenant context) records into it; the record brings it back and is
// flushed. When a newer entry of the tenant was made meanwhile, both count
// and the batch holds one delta per tenant and period, users merged.
func TestRecordIntoDroppedEntryIsCounted(t *testing.T) {
	clk := newClock(nov)
	m := newMeter(t, meter.Config{Now: clk.Now, Bucket: time.Second, Window: time.Second, EvictAfter: time.Minute})
	sink := newMemSink()
	id := tenantIDs(1)[0]
	old := m.Entry(id)
	old.Request(clk.Now(), 0, 1, 1)
	dropAll(t, m, clk, sink)

	old.Request(clk.Now(), 0, 1, 1)
	old.User(clk.Now(), "ann")
	if n := m.Len(); n != 1 {
		t.Fatalf("%d entries held after a record into a dropped one, want 1", n)
	}
	if m.Entry(id) != old {
		t.Fatal("the index does not hold the entry brought back")
	}
	mustFlush(t, m, sink)
	dropAll(t, m, clk, sink)

	// A newer entry of the tenant, as a reloaded context makes, and a
	// late record into the old one.
	fresh := m.Entry(id)
	if fresh == old {
		t.Fatal("Entry returned the dropped entry")
	}
	fresh.Request(clk.Now(), 0, 1, 1)
	fresh.User(clk.Now(), "ann")
	fresh.User(clk.Now(), "bob")
	old.Request(clk.Now(), 0, 1, 1)
	old.User(clk.Now(), "ann")
	old.User(clk.Now(), "cy")
	if n := m.Len(); n != 2 {
		t.Fatalf("%d entries held, want 2 (the newer and the orphan)", n)
	}
	mustFlush(t, m, sink)
	calls := sink.callsMade()
	last := calls[len(calls)-1]
	if len(last.Deltas) != 1 || last.Deltas[0].APICalls != 2 || len(last.Deltas[0].Users) != 3 {
		t.Fatalf("last batch %+v, want one delta of 2 calls and 3 users", last.Deltas)
	}
	got := sink.get(id, "2026-11")
	if got.APICalls != 4 || got.BandwidthBytes != 8 {
		t.Fatalf("tenant totals %+v, want 4 calls and 8 bytes", got)
	}
	if m.Entry(id) != fresh {
		t.Fatal("the index lost the newer entry")
	}
}

// TestDroppingRacesRecords: recorders keep entries they looked up once
// (sometimes looking them up again, as a reloaded context does) and record
// in bursts, while the clock runs fast enough that entries idle between
// bursts are parked and dropped under them. Every record is counted once.
func TestDroppingRacesRecords(t *testing.T) {
	clk := newClock(nov)
	m := newMeter(t, meter.Config{Now: clk.Now, Bucket: time.Second, Window: time.Second, EvictAfter: time.Nanosecond})
	sink := newMemSink()
	ids := tenantIDs(400)
	const workers, records = 4, 8000
	var recorded atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			held := map[uuid.UUID]*meter.Entry{}
			for i := range records {
				// A hot block of 40 tenants that moves on every 400
				// records: the others idle, are parked and dropped, and
				// come back when their block is hot again.
				id := ids[(i/400)%10*40+rng.IntN(40)]
				e := held[id]
				if e == nil || rng.IntN(50) == 0 {
					e = m.Entry(id)
					held[id] = e
				}
				e.Request(clk.Now(), time.Microsecond, 1, 0)
				if rng.IntN(4) == 0 {
					e.User(clk.Now(), "user")
				}
				recorded.Add(1)
				if i%100 == 0 {
					time.Sleep(500 * time.Microsecond)
				}
			}
		}()
	}
	go func() { wg.Wait(); close(stop) }()
	deadline := time.Now().Add(30 * time.Second)
loop:
	for time.Now().Before(deadline) {
		select {
		case <-stop:
			break loop
		default:
		}
		clk.Add(time.Second)
		m.Tick()
		mustFlush(t, m, sink)
	}
	<-stop
	mustFlush(t, m, sink)
	var calls int64
	users := 0
	for _, id := range ids {
		got := sink.get(id, "2026-11")
		calls += got.APICalls
		if got.BandwidthBytes != got.APICalls {
			t.Fatalf("tenant %s: %+v", id, got)
		}
		users += len(got.Users)
	}
	if calls != recorded.Load() {
		t.Fatalf("%d calls flushed, %d recorded", calls, recorded.Load())
	}
	if m.Evicted() == 0 {
		t.Fatal("no entry was dropped: the test did not exercise eviction")
	}
	t.Logf("%d records, %d drops, %d entries held at the end, %d tenant-user pairs", calls, m.Evicted(), m.Len(), users)
}
