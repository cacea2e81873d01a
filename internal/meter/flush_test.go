package meter_test

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/uuid"

	"github.com/tenantkit/tenantkit/internal/meter"
)

// expected is what a test recorded for one tenant and period.
type expected struct {
	requests, computeNs, dbNs, queries, bytes int64
	users                                     map[uint64]bool
}

func (x *expected) check(t *testing.T, k key, got totals) {
	t.Helper()
	want := counts{
		APICalls:       x.requests,
		ComputeMicros:  x.computeNs / 1000,
		DBMicros:       x.dbNs / 1000,
		DBQueries:      x.queries,
		BandwidthBytes: x.bytes,
	}
	if got.counts != want {
		t.Errorf("%v %s: stored %+v, recorded %+v", k.Tenant, k.Period, got.counts, want)
	}
	if len(got.Users) != len(x.users) {
		t.Errorf("%v %s: %d users stored, %d recorded", k.Tenant, k.Period, len(got.Users), len(x.users))
	}
	for u, n := range got.Users {
		if !x.users[u] || n != 1 {
			t.Errorf("%v %s: user %x stored %d times, recorded: %v", k.Tenant, k.Period, u, n, x.users[u])
		}
	}
}

// TestConcurrentFlushIsExact records from 8 goroutines into 50 tenants and
// two months while Flush and Tick run in a loop, and checks that the store
// holds exactly what was recorded: no count lost, none counted twice, each
// user once per period.
func TestConcurrentFlushIsExact(t *testing.T) {
	t.Parallel()
	const (
		workers = 8
		calls   = 10_000
		tenants = 50
	)
	m := newMeter(t, meter.Config{Now: newClock(nov).Now, Bucket: time.Millisecond, Window: 4 * time.Millisecond})
	ids := tenantIDs(tenants)
	users := make([]string, 300)
	for i := range users {
		users[i] = fmt.Sprintf("user-%d", i)
	}
	dec := nov.AddDate(0, 1, 0)

	s := newMemSink()
	done := make(chan struct{})
	var flusher sync.WaitGroup
	flusher.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			if err := m.Flush(context.Background(), s); err != nil {
				t.Errorf("Flush: %v", err)
			}
			m.Tick()
		}
	})

	want := make([]map[key]*expected, workers)
	var wg sync.WaitGroup
	for w := range workers {
		want[w] = make(map[key]*expected)
		wg.Go(func() {
			for i := range calls {
				id := ids[(w*calls+i)%tenants]
				e := m.Entry(id)
				at, period := nov, "2026-11"
				if i%10 == 0 {
					at, period = dec, "2026-12"
				}
				dur := time.Duration(1500 + i%7)
				dbd := time.Duration(700 + i%3)
				user := users[(w*7+i)%len(users)]
				e.Request(at, dur, 100, int64(i%5))
				e.DB(at, dbd, 2, i%2 == 0)
				e.User(at, user)

				x := want[w][key{id, period}]
				if x == nil {
					x = &expected{users: make(map[uint64]bool)}
					want[w][key{id, period}] = x
				}
				x.requests++
				x.computeNs += int64(dur)
				x.dbNs += int64(dbd)
				x.queries += 2
				x.bytes += 100 + int64(i%5)
				x.users[meter.UserHash(user)] = true
			}
		})
	}
	wg.Wait()
	close(done)
	flusher.Wait()
	mustFlush(t, m, s)

	all := make(map[key]*expected)
	for _, w := range want {
		for k, x := range w {
			a := all[k]
			if a == nil {
				a = &expected{users: make(map[uint64]bool)}
				all[k] = a
			}
			a.requests += x.requests
			a.computeNs += x.computeNs
			a.dbNs += x.dbNs
			a.queries += x.queries
			a.bytes += x.bytes
			maps.Copy(a.users, x.users)
		}
	}
	var sum int64
	for k, x := range all {
		x.check(t, k, s.get(k.Tenant, k.Period))
		sum += x.requests
	}
	if sum != workers*calls {
		t.Fatalf("recorded %d requests in the test's books, want %d", sum, workers*calls)
	}
	if len(s.sums) != len(all) {
		t.Errorf("store holds %d tenant periods, recorded %d", len(s.sums), len(all))
	}
	if m.Pending() {
		t.Error("Pending after a successful flush")
	}
}

// TestFlushRetriesThePendingBatch has the sink apply the first batch and
// then fail: the next Flush writes the same batch again, the store counts
// it once, and what was recorded meanwhile goes into the next batch.
func TestFlushRetriesThePendingBatch(t *testing.T) {
	t.Parallel()
	m := newMeter(t, meter.Config{})
	e := m.Entry(uuid.New())
	s := newMemSink()

	for range 3 {
		e.Request(nov, time.Millisecond, 10, 20)
	}
	e.User(nov, "alice")
	s.setFail(1, 0)
	err := m.Flush(context.Background(), s)
	if !errors.Is(err, s.errInjected) {
		t.Fatalf("Flush = %v, want the sink's error", err)
	}
	if !m.Pending() {
		t.Fatal("no batch pending after a failed write")
	}

	// Recorded while the batch is pending.
	e.Request(nov, time.Millisecond, 1, 1)
	e.Request(nov, time.Millisecond, 1, 1)
	e.User(nov, "bob")

	mustFlush(t, m, s)
	calls := s.callsMade()
	if len(calls) != 3 {
		t.Fatalf("%d writes, want 3: the failed one, its retry, the next cut", len(calls))
	}
	if calls[1].ID != calls[0].ID || !batchesEqual(calls[0], calls[1]) {
		t.Fatalf("retry wrote %+v, want the pending batch %+v", calls[1], calls[0])
	}
	if calls[2].ID == calls[0].ID {
		t.Fatal("the next cut reused the pending batch's ID")
	}
	if got := calls[2].Deltas; len(got) != 1 || got[0].APICalls != 2 ||
		!slices.Equal(got[0].Users, []uint64{meter.UserHash("bob")}) {
		t.Fatalf("next batch = %+v, want the 2 requests and bob recorded while pending", got)
	}
	got := s.get(e.ID(), "2026-11")
	if got.APICalls != 5 || got.ComputeMicros != 5000 || got.BandwidthBytes != 94 || len(got.Users) != 2 {
		t.Fatalf("store holds %+v, want 5 calls, 5000µs, 94 bytes, 2 users", got)
	}
	if m.Pending() {
		t.Fatal("Pending after the retry succeeded")
	}
}

// TestFlushKeepsFailedBatchUntilWritten has the sink fail without applying
// anything, twice: nothing is lost, and nothing is cut while a batch waits.
func TestFlushKeepsFailedBatchUntilWritten(t *testing.T) {
	t.Parallel()
	m := newMeter(t, meter.Config{})
	e := m.Entry(uuid.New())
	s := newMemSink()
	s.setFail(0, 2)

	e.Request(nov, time.Microsecond, 0, 0)
	if err := m.Flush(context.Background(), s); err == nil {
		t.Fatal("Flush succeeded on a failing sink")
	}
	e.Request(nov, time.Microsecond, 0, 0)
	if err := m.Flush(context.Background(), s); err == nil {
		t.Fatal("Flush succeeded on a failing sink")
	}
	calls := s.callsMade()
	if len(calls) != 2 || calls[1].ID != calls[0].ID {
		t.Fatalf("writes %v, want the same batch twice", calls)
	}
	mustFlush(t, m, s)
	if got := s.get(e.ID(), "2026-11").APICalls; got != 2 {
		t.Fatalf("store holds %d calls, want 2", got)
	}
}

func batchesEqual(a, b meter.Batch) bool {
	return a.ID == b.ID && slices.EqualFunc(a.Deltas, b.Deltas, func(x, y meter.Delta) bool {
		return x.Tenant == y.Tenant && x.Period == y.Period && x.APICalls == y.APICalls &&
			x.ComputeMicros == y.ComputeMicros && x.DBMicros == y.DBMicros &&
			x.DBQueries == y.DBQueries && x.BandwidthBytes == y.BandwidthBytes &&
			slices.Equal(x.Users, y.Users)
	})
}

// TestCrashLosesOnlyTheUnflushed abandons a Meter after recording past its
// last flush: the store holds exactly what was flushed.
func TestCrashLosesOnlyTheUnflushed(t *testing.T) {
	t.Parallel()
	s := newMemSink()
	id := uuid.New()
	func() {
		m := newMeter(t, meter.Config{})
		e := m.Entry(id)
		for range 3 {
			e.Request(nov, 2*time.Millisecond, 5, 5)
		}
		e.DB(nov, time.Millisecond, 4, true)
		e.User(nov, "alice")
		mustFlush(t, m, s)

		e.Request(nov, 2*time.Millisecond, 5, 5)
		e.DB(nov, time.Millisecond, 1, true)
		e.User(nov, "bob")
		// The process dies here.
	}()
	want := counts{APICalls: 3, ComputeMicros: 6000, DBMicros: 1000, DBQueries: 4, BandwidthBytes: 30}
	got := s.get(id, "2026-11")
	if got.counts != want || len(got.Users) != 1 || got.Users[meter.UserHash("alice")] != 1 {
		t.Fatalf("store holds %+v users %v, want %+v and alice", got.counts, got.Users, want)
	}
}

// TestMonthBoundary records across the turn of a month on a fake clock: a
// record stamped before midnight goes to the old month even when it
// arrives after the new month was opened, and even after the old month's
// counters were dropped.
func TestMonthBoundary(t *testing.T) {
	t.Parallel()
	clk := newClock(time.Date(2026, time.November, 30, 23, 59, 59, 0, time.UTC))
	m := newMeter(t, meter.Config{Now: clk.Now})
	e := m.Entry(uuid.New())
	s := newMemSink()

	late := clk.Add(999_999_999 * time.Nanosecond) // 23:59:59.999999999
	e.Request(late, time.Microsecond, 0, 0)
	e.User(late, "alice")
	midnight := clk.Add(time.Nanosecond)
	e.Request(midnight, time.Microsecond, 0, 0)
	e.User(midnight, "alice")
	e.DB(midnight, time.Microsecond, 1, false)
	// Stamped before midnight, arriving after December was opened.
	e.Request(late, time.Microsecond, 0, 0)
	e.DB(late, 3*time.Microsecond, 1, true)
	mustFlush(t, m, s)

	nv, dc := s.get(e.ID(), "2026-11"), s.get(e.ID(), "2026-12")
	if nv.APICalls != 2 || nv.DBMicros != 3 || len(nv.Users) != 1 {
		t.Errorf("2026-11 holds %+v, want 2 calls, 3µs of DB, alice", nv)
	}
	if dc.APICalls != 1 || dc.DBMicros != 1 || len(dc.Users) != 1 {
		t.Errorf("2026-12 holds %+v, want 1 call, 1µs of DB, alice", dc)
	}

	// Quiet cuts let November's counters go; a very late record still
	// counts.
	for range 3 {
		clk.Add(time.Minute)
		e.Request(clk.Now(), time.Microsecond, 0, 0)
		mustFlush(t, m, s)
	}
	e.Request(late, time.Microsecond, 0, 0)
	e.User(late, "bob")
	mustFlush(t, m, s)
	if got := s.get(e.ID(), "2026-11"); got.APICalls != 3 || len(got.Users) != 2 {
		t.Errorf("2026-11 holds %+v after a very late record, want 3 calls, alice and bob", got)
	}
	if got := s.get(e.ID(), "2026-12").APICalls; got != 4 {
		t.Errorf("2026-12 holds %d calls, want 4", got)
	}
}

// TestMicrosDoNotDrift flushes 1.5µs at a time: the microseconds stored add
// up to the nanoseconds recorded, rounded down once.
func TestMicrosDoNotDrift(t *testing.T) {
	t.Parallel()
	m := newMeter(t, meter.Config{})
	e := m.Entry(uuid.New())
	s := newMemSink()
	for i := range 3000 {
		e.Request(nov, 1500*time.Nanosecond, 0, 0)
		e.DB(nov, 1500*time.Nanosecond, 1, true)
		e.Job(nov, 1500*time.Nanosecond)
		if i%7 == 0 {
			mustFlush(t, m, s)
		}
	}
	mustFlush(t, m, s)
	got := s.get(e.ID(), "2026-11")
	if got.ComputeMicros != 4500 || got.DBMicros != 4500 || got.APICalls != 3000 || got.Jobs != 3000 || got.JobMicros != 4500 {
		t.Fatalf("store holds %+v, want 4500µs of compute, DB and jobs over 3000 calls and 3000 jobs", got)
	}
}

// TestUsersOncePerPeriod checks that a user goes into a batch once per
// period, and past MaxUsersPerPeriod once per batch.
func TestUsersOncePerPeriod(t *testing.T) {
	t.Parallel()
	m := newMeter(t, meter.Config{MaxUsersPerPeriod: 2})
	e := m.Entry(uuid.New())
	s := newMemSink()
	for _, u := range []string{"a", "b", "c", "d", "c", "a"} {
		e.User(nov, u)
	}
	mustFlush(t, m, s)
	for _, u := range []string{"a", "b", "c", "c", "d", "d"} {
		e.User(nov, u)
	}
	mustFlush(t, m, s)
	calls := s.callsMade()
	if len(calls) != 2 {
		t.Fatalf("%d batches, want 2", len(calls))
	}
	if got, want := calls[0].Deltas[0].Users, hashes("a", "b", "c", "d"); !slices.Equal(got, want) {
		t.Errorf("first batch users %x, want %x", got, want)
	}
	// a and b are remembered; c and d are past the bound.
	if got, want := calls[1].Deltas[0].Users, hashes("c", "d"); !slices.Equal(got, want) {
		t.Errorf("second batch users %x, want %x", got, want)
	}
	if got := s.get(e.ID(), "2026-11").Users; len(got) != 4 {
		t.Errorf("store holds %d distinct users, want 4", len(got))
	}
}

func hashes(users ...string) []uint64 {
	var hs []uint64
	for _, u := range users {
		hs = append(hs, meter.UserHash(u))
	}
	slices.Sort(hs)
	return hs
}

// TestUserHashIsFNV1a checks that the flushed user value is FNV-1a 64, the
// same in every process.
func TestUserHashIsFNV1a(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"", "alice", "auth0|5f7c8ec7c33c6c004bbafe82"} {
		h := fnv.New64a()
		h.Write([]byte(u))
		if got, want := meter.UserHash(u), h.Sum64(); got != want {
			t.Errorf("UserHash(%q) = %x, want %x", u, got, want)
		}
	}
}

// TestRunFlushesOnIntervalAndAtStop runs Run in a bubble of fake time.
func TestRunFlushesOnIntervalAndAtStop(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		m := newMeter(t, meter.Config{})
		e := m.Entry(uuid.New())
		s := newMemSink()
		ctx, cancel := context.WithCancel(context.Background())
		var errs []error
		done := make(chan struct{})
		go func() {
			m.Run(ctx, s, time.Minute, func(err error) { errs = append(errs, err) })
			close(done)
		}()

		e.Request(nov, 0, 0, 0)
		time.Sleep(time.Minute + time.Second)
		synctest.Wait()
		if got := s.get(e.ID(), "2026-11").APICalls; got != 1 {
			t.Fatalf("after one interval the store holds %d calls, want 1", got)
		}

		s.setFail(0, 1)
		e.Request(nov, 0, 0, 0)
		time.Sleep(time.Minute)
		synctest.Wait()
		e.Request(nov, 0, 0, 0)
		cancel()
		<-done
		if got := s.get(e.ID(), "2026-11").APICalls; got != 3 {
			t.Fatalf("after stopping the store holds %d calls, want 3", got)
		}
		if len(errs) != 1 || !errors.Is(errs[0], s.errInjected) {
			t.Fatalf("errFunc got %v, want the one injected failure", errs)
		}
	})
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	for _, cfg := range []meter.Config{
		{Bucket: -time.Second},
		{Bucket: 7 * time.Second},                       // 60s is not a multiple
		{Bucket: time.Minute, Window: 30 * time.Second}, // window shorter than a bucket
		{NoisyShare: 1},
		{NoisyShare: -0.5},
		{Sustain: -1},
		{MinWindowRequests: -1},
		{MinWindowDBTime: -1},
		{MaxUsersPerPeriod: -1},
	} {
		if _, err := meter.New(cfg); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
	if _, err := meter.New(meter.Config{}); err != nil {
		t.Errorf("New(zero Config): %v", err)
	}
}
