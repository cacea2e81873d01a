package meter_test

import (
	"context"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/uuid"

	"github.com/tenantkit/tenantkit/internal/meter"
)

// events collects NoisyFunc's events.
type events struct {
	mu  sync.Mutex
	evs []meter.Event
}

func (r *events) add(ev meter.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.evs = append(r.evs, ev)
}

func (r *events) all() []meter.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]meter.Event(nil), r.evs...)
}

// loadSetup is a Meter on a fake clock with the default bucket (5s), window
// (60s) and sustain (30s), ticked by step.
type loadSetup struct {
	m   *meter.Meter
	clk *clock
	evs *events
}

func setupLoad(t *testing.T, cfg meter.Config) *loadSetup {
	t.Helper()
	ls := &loadSetup{clk: newClock(nov), evs: &events{}}
	cfg.Now, cfg.NoisyFunc = ls.clk.Now, ls.evs.add
	ls.m = newMeter(t, cfg)
	return ls
}

// step advances the clock by a bucket and ticks.
func (ls *loadSetup) step() time.Time {
	now := ls.clk.Add(5 * time.Second)
	ls.m.Tick()
	return now
}

func loadOf(m *meter.Meter, id uuid.UUID) (meter.Load, bool) {
	for _, l := range m.Loads() {
		if l.Tenant == id {
			return l, true
		}
	}
	return meter.Load{}, false
}

// TestNoisyDBTime has tenant A take 80% of the shared tier's database time:
// it is flagged once, not before Sustain, throttled only while throttling
// is on, and cleared once its share stayed low for Sustain.
func TestNoisyDBTime(t *testing.T) {
	t.Parallel()
	ls := setupLoad(t, meter.Config{})
	ids := tenantIDs(3)
	a, b, c := ls.m.Entry(ids[0]), ls.m.Entry(ids[1]), ls.m.Entry(ids[2])
	a.SetName("acme") // events carry it

	var above time.Time // first Tick at which A's share was above 0.5
	for i := range 20 {
		now := ls.clk.Now()
		a.DB(now, 800*time.Millisecond, 4, true)
		a.DB(now, 5*time.Second, 1, false) // dedicated tier: not shared
		b.DB(now, 200*time.Millisecond, 1, true)
		a.Request(now, time.Millisecond, 0, 0)
		b.Request(now, time.Millisecond, 0, 0)
		now = ls.step()
		if i == 0 {
			above = now
		}
		evs := ls.evs.all()
		if now.Sub(above) < 30*time.Second {
			if len(evs) != 0 {
				t.Fatalf("%v after the share went above: events %+v before Sustain", now.Sub(above), evs)
			}
			if a.Throttled() {
				t.Fatal("A throttled before it was noisy")
			}
			continue
		}
		want := meter.Event{Tenant: a.ID(), Name: "acme", Dimension: meter.DimensionDBTime, Share: 0.8, Since: above, Noisy: true}
		if len(evs) != 1 || !eventNear(evs[0], want) {
			t.Fatalf("%v after the share went above: events %+v, want once %+v", now.Sub(above), evs, want)
		}
	}

	if a.Throttled() {
		t.Fatal("A throttled while throttling is off")
	}
	ls.m.SetThrottle(true)
	if !a.Throttled() || b.Throttled() {
		t.Fatalf("throttling on: A throttled %v, B %v; want A only", a.Throttled(), b.Throttled())
	}
	loads := ls.m.Loads()
	if len(loads) != 2 || loads[0].Tenant != a.ID() {
		t.Fatalf("Loads = %+v, want A first of 2", loads)
	}
	l := loads[0]
	if !l.Noisy || !l.Throttled || l.NoisyDimension != meter.DimensionDBTime || !l.NoisySince.Equal(above) ||
		math.Abs(l.SharedDBShare-0.8) > 1e-9 || math.Abs(l.RequestShare-0.5) > 1e-9 ||
		l.Requests != 12 || math.Abs(l.RequestRate-0.2) > 1e-9 ||
		l.DBTime != 12*5800*time.Millisecond || math.Abs(l.DBRate-1.16) > 1e-9 {
		t.Fatalf("A's load = %+v", l)
	}
	ls.m.SetThrottle(false)
	if a.Throttled() {
		t.Fatal("A throttled after throttling was turned off")
	}
	ls.m.SetThrottle(true)

	// A stops; B and C share the tier evenly, neither above 0.5.
	var below time.Time // first Tick at which A's share was below 0.4
	for range 40 {
		now := ls.clk.Now()
		b.DB(now, 200*time.Millisecond, 1, true)
		c.DB(now, 200*time.Millisecond, 1, true)
		now = ls.step()
		la, _ := loadOf(ls.m, a.ID())
		if below.IsZero() && la.SharedDBShare < 0.4 {
			below = now
		}
		evs := ls.evs.all()
		if below.IsZero() || now.Sub(below) < 30*time.Second {
			if len(evs) != 1 || !a.Throttled() {
				t.Fatalf("A's share %.2f since %v: events %+v, throttled %v; want still noisy",
					la.SharedDBShare, below, evs, a.Throttled())
			}
			continue
		}
		want := meter.Event{Tenant: a.ID(), Name: "acme", Dimension: meter.DimensionDBTime, Since: below}
		if len(evs) != 2 || !eventNear(evs[1], want) {
			t.Fatalf("%v after A's share fell: events %+v, want then %+v", now.Sub(below), evs, want)
		}
		if a.Throttled() {
			t.Fatal("A still throttled once quiet")
		}
	}
	if below.IsZero() {
		t.Fatal("A's share never fell below the hysteresis")
	}
}

func eventNear(got, want meter.Event) bool {
	share := got.Share
	got.Share = want.Share
	return got == want && (want.Share == 0 || math.Abs(share-want.Share) < 1e-9)
}

// TestNoisyRequests flags a tenant with 90% of the requests.
func TestNoisyRequests(t *testing.T) {
	t.Parallel()
	ls := setupLoad(t, meter.Config{})
	ids := tenantIDs(2)
	a, b := ls.m.Entry(ids[0]), ls.m.Entry(ids[1])
	for range 10 {
		now := ls.clk.Now()
		for range 90 {
			a.Request(now, 0, 0, 0)
		}
		for range 10 {
			b.Request(now, 0, 0, 0)
		}
		ls.step()
	}
	evs := ls.evs.all()
	if len(evs) != 1 || evs[0].Tenant != a.ID() || evs[0].Dimension != meter.DimensionRequests || !evs[0].Noisy {
		t.Fatalf("events %+v, want A noisy by requests", evs)
	}
}

// TestNotNoisy covers the windows in which no one may be called noisy: a
// tenant alone, and a window below the minimum load.
func TestNotNoisy(t *testing.T) {
	t.Parallel()
	t.Run("alone", func(t *testing.T) {
		t.Parallel()
		ls := setupLoad(t, meter.Config{})
		a := ls.m.Entry(uuid.New())
		for range 40 {
			now := ls.clk.Now()
			a.DB(now, time.Second, 1, true)
			for range 100 {
				a.Request(now, 0, 0, 0)
			}
			ls.step()
		}
		if evs := ls.evs.all(); len(evs) != 0 {
			t.Fatalf("events %+v for a tenant alone", evs)
		}
		if l, _ := loadOf(ls.m, a.ID()); l.SharedDBShare != 1 || l.RequestShare != 1 || l.Noisy {
			t.Fatalf("load %+v, want all of it and not noisy", l)
		}
	})
	t.Run("below minimum", func(t *testing.T) {
		t.Parallel()
		ls := setupLoad(t, meter.Config{})
		ids := tenantIDs(2)
		a, b := ls.m.Entry(ids[0]), ls.m.Entry(ids[1])
		for range 40 {
			now := ls.clk.Now()
			// 12 buckets of 50ms: 600ms in the window, below the 1s minimum.
			a.DB(now, 45*time.Millisecond, 1, true)
			b.DB(now, 5*time.Millisecond, 1, true)
			// 12 buckets of 8: 96 requests, below the minimum of 100.
			for range 7 {
				a.Request(now, 0, 0, 0)
			}
			b.Request(now, 0, 0, 0)
			ls.step()
		}
		if evs := ls.evs.all(); len(evs) != 0 {
			t.Fatalf("events %+v for a window below the minimum", evs)
		}
	})
}

// TestIdleEntryRejoins leaves a tenant idle long enough to leave the scan
// set, then records into it: its usage shows in the next Tick's loads.
func TestIdleEntryRejoins(t *testing.T) {
	t.Parallel()
	ls := setupLoad(t, meter.Config{})
	e := ls.m.Entry(uuid.New())
	e.Request(ls.clk.Now(), 0, 0, 0)
	ls.step()
	if _, ok := loadOf(ls.m, e.ID()); !ok {
		t.Fatal("active tenant missing from Loads")
	}
	for range 11 * 12 {
		ls.step()
	}
	if _, ok := loadOf(ls.m, e.ID()); ok {
		t.Fatal("idle tenant in Loads")
	}
	for range 7 {
		e.Request(ls.clk.Now(), 0, 0, 0)
	}
	ls.step()
	if l, ok := loadOf(ls.m, e.ID()); !ok || l.Requests != 7 {
		t.Fatalf("Loads after the tenant came back: %+v, %v; want its 7 requests", l, ok)
	}
}

// TestTickSeesEveryRequest records at random into tenants that keep going
// idle and coming back while Tick runs, with a one-bucket window: the
// requests of all the loads reported add up to all the requests recorded.
func TestTickSeesEveryRequest(t *testing.T) {
	t.Parallel()
	m := newMeter(t, meter.Config{Bucket: time.Second, Window: time.Second, TopK: -1})
	ids := tenantIDs(100)
	var recorded atomic.Int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for range 5000 {
				m.Entry(ids[r.IntN(len(ids))]).Request(nov, 0, 0, 0)
				recorded.Add(1)
				if r.IntN(50) == 0 {
					time.Sleep(time.Duration(r.IntN(200)) * time.Microsecond)
				}
			}
		})
	}
	var seen int64
	tick := func() {
		m.Tick()
		for _, l := range m.Loads() {
			seen += l.Requests
		}
	}
	go func() { wg.Wait(); close(done) }()
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
			tick()
		}
	}
	tick()
	if seen != recorded.Load() {
		t.Fatalf("loads saw %d requests, %d were recorded", seen, recorded.Load())
	}
}

// TestRunTickerTicks runs RunTicker in a bubble of fake time.
func TestRunTickerTicks(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		m := newMeter(t, meter.Config{})
		e := m.Entry(uuid.New())
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go m.RunTicker(ctx)
		for range 24 {
			e.Request(time.Now(), 0, 0, 0)
		}
		time.Sleep(5*time.Second + time.Millisecond)
		synctest.Wait()
		l, ok := loadOf(m, e.ID())
		if !ok || l.Requests != 24 || l.RequestRate != 24.0/5 {
			t.Fatalf("load after one bucket: %+v, %v; want 24 requests at 4.8/s", l, ok)
		}
	})
}
