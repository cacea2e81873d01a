package ratelimit_test

import (
	"context"
	"errors"
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tenantkit/tenantkit/internal/ratelimit"
)

type localBundle struct {
	lim   *ratelimit.Local
	clock *fakeClock
	reg   *prometheus.Registry
}

// setupLocal returns a Local on a fake clock whose janitor is off unless
// cfg says otherwise.
func setupLocal(t *testing.T, cfg ratelimit.LocalConfig) localBundle {
	t.Helper()
	b := localBundle{clock: newFakeClock(), reg: prometheus.NewRegistry()}
	cfg.NowFunc, cfg.Registerer = b.clock.Now, b.reg
	if cfg.IdleTTL == 0 {
		cfg.IdleTTL = -1
	}
	lim, err := ratelimit.NewLocal(cfg)
	if err != nil {
		t.Fatalf("NewLocal: %v", err)
	}
	t.Cleanup(func() { lim.Close() })
	b.lim = lim
	return b
}

func allow(t testing.TB, l ratelimit.Limiter, key string, lim ratelimit.Limit) ratelimit.Result {
	t.Helper()
	r, err := l.Allow(context.Background(), key, lim)
	if err != nil {
		t.Fatalf("Allow(%q): %v", key, err)
	}
	return r
}

func TestLocalBurstThenRate(t *testing.T) {
	t.Parallel()
	b := setupLocal(t, ratelimit.LocalConfig{})
	lim := ratelimit.Limit{Rate: 10, Burst: 5}

	for i := range 5 {
		got := allow(t, b.lim, "k", lim)
		want := ratelimit.Result{Allowed: true, Limit: 5, Remaining: 4 - i, ResetAfter: time.Duration(i+1) * 100 * time.Millisecond}
		if got != want {
			t.Fatalf("request %d at once: got %+v, want %+v", i+1, got, want)
		}
	}
	got := allow(t, b.lim, "k", lim)
	want := ratelimit.Result{Limit: 5, RetryAfter: 100 * time.Millisecond, ResetAfter: 500 * time.Millisecond}
	if got != want {
		t.Fatalf("6th request at once: got %+v, want %+v", got, want)
	}

	// Over the next second, asking every millisecond, exactly one request
	// per 100ms gets through: at 100ms, 200ms, ... 1s.
	var allowedAt []time.Duration
	for ms := 1; ms <= 1000; ms++ {
		b.clock.Advance(time.Millisecond)
		if allow(t, b.lim, "k", lim).Allowed {
			allowedAt = append(allowedAt, time.Duration(ms)*time.Millisecond)
		}
	}
	if len(allowedAt) != 10 {
		t.Fatalf("allowed %d requests in the second after the burst (at %v), want 10", len(allowedAt), allowedAt)
	}
	for i, at := range allowedAt {
		if want := time.Duration(i+1) * 100 * time.Millisecond; at != want {
			t.Errorf("allowed request %d at %v, want %v", i+1, at, want)
		}
	}

	// Idle for longer than a full refill, the key gets its burst back, and
	// no more than its burst.
	b.clock.Advance(10 * time.Second)
	n := 0
	for range 20 {
		if allow(t, b.lim, "k", lim).Allowed {
			n++
		}
	}
	if n != 5 {
		t.Errorf("after a long idle time, %d of 20 requests at once allowed, want the burst, 5", n)
	}
}

// TestLocalWindow sends 1,000 requests 10ms apart, spanning 9.99s. A key
// starts with a full burst and then earns one request per interval, and every
// interval below is a multiple of 10ms, so exactly Burst + floor(9.99s ×
// Rate) get through.
func TestLocalWindow(t *testing.T) {
	t.Parallel()
	tests := []struct {
		lim  ratelimit.Limit
		want int
	}{
		{ratelimit.Limit{Rate: 10, Burst: 5}, 5 + 99},
		{ratelimit.Limit{Rate: 25, Burst: 3}, 3 + 249},
		{ratelimit.Limit{Rate: 1, Burst: 20}, 20 + 9},
		{ratelimit.Limit{Rate: 50, Burst: 1}, 1 + 499},
		{ratelimit.Limit{Rate: 0.1, Burst: 1000}, 1000},
	}
	for _, tt := range tests {
		t.Run(strconv.FormatFloat(tt.lim.Rate, 'g', -1, 64)+"/s_burst_"+strconv.Itoa(tt.lim.Burst), func(t *testing.T) {
			t.Parallel()
			const n, step = 1000, 10 * time.Millisecond
			span := (n - 1) * step
			if formula := tt.lim.Burst + int(math.Floor(span.Seconds()*tt.lim.Rate)); min(formula, n) != tt.want {
				t.Fatalf("table is wrong: want %d, formula gives %d", tt.want, formula)
			}
			b := setupLocal(t, ratelimit.LocalConfig{})
			got := 0
			for i := range n {
				if i > 0 {
					b.clock.Advance(step)
				}
				if allow(t, b.lim, "tenant", tt.lim).Allowed {
					got++
				}
			}
			if got != tt.want {
				t.Errorf("allowed %d of %d requests, want %d", got, n, tt.want)
			}
			labels := func(result string) map[string]string {
				return map[string]string{"backend": "local", "result": result}
			}
			allowed := counterValue(t, b.reg, "tenantkit_ratelimit_decisions_total", labels("allowed"))
			limited := counterValue(t, b.reg, "tenantkit_ratelimit_decisions_total", labels("limited"))
			if allowed != float64(tt.want) || limited != float64(n-tt.want) {
				t.Errorf("decisions counted allowed %v, limited %v; want %d, %d", allowed, limited, tt.want, n-tt.want)
			}
		})
	}
}

func TestLocalKeysAreIndependent(t *testing.T) {
	t.Parallel()
	b := setupLocal(t, ratelimit.LocalConfig{Shards: 1})
	lim := ratelimit.Limit{Rate: 1, Burst: 3}
	for range 3 {
		allow(t, b.lim, "a", lim)
	}
	if allow(t, b.lim, "a", lim).Allowed {
		t.Fatal("4th request for a allowed, want refused")
	}
	for i := range 3 {
		if r := allow(t, b.lim, "b", lim); !r.Allowed || r.Remaining != 2-i {
			t.Fatalf("request %d for b after a ran out: %+v, want allowed with %d remaining", i+1, r, 2-i)
		}
	}
}

// TestLocalLimitChanges: the stored TAT carries over when a key's limit
// changes, as when a tenant changes plans.
func TestLocalLimitChanges(t *testing.T) {
	t.Parallel()
	b := setupLocal(t, ratelimit.LocalConfig{})
	small := ratelimit.Limit{Rate: 1, Burst: 2}
	allow(t, b.lim, "k", small)
	allow(t, b.lim, "k", small)
	if allow(t, b.lim, "k", small).Allowed {
		t.Fatal("3rd request under burst 2 allowed")
	}
	big := ratelimit.Limit{Rate: 1, Burst: 5}
	for i := range 3 {
		if r := allow(t, b.lim, "k", big); !r.Allowed || r.Remaining != 2-i {
			t.Fatalf("request %d after raising the burst to 5: %+v, want allowed with %d remaining", i+1, r, 2-i)
		}
	}
	if allow(t, b.lim, "k", big).Allowed {
		t.Fatal("6th request under burst 5 allowed")
	}
}

func TestLocalInvalidLimit(t *testing.T) {
	t.Parallel()
	b := setupLocal(t, ratelimit.LocalConfig{})
	for _, lim := range []ratelimit.Limit{
		{},
		{Rate: 1},
		{Rate: 1, Burst: -1},
		{Rate: 0, Burst: 1},
		{Rate: -1, Burst: 1},
		{Rate: math.NaN(), Burst: 1},
		{Rate: math.Inf(1), Burst: 1},
		{Rate: ratelimit.MaxRate * 2, Burst: 1},
		{Rate: 1e-12, Burst: 1},              // one request in 31,000 years
		{Rate: 1, Burst: math.MaxInt64 / 10}, // a burst taking longer than 100 years to refill
	} {
		_, err := b.lim.Allow(context.Background(), "k", lim)
		if !errors.Is(err, ratelimit.ErrInvalidLimit) {
			t.Errorf("Allow with %+v: err %v, want ErrInvalidLimit", lim, err)
		}
	}
	if n := b.lim.Len(); n != 0 {
		t.Errorf("invalid limits left %d entries, want 0", n)
	}
	for _, lim := range []ratelimit.Limit{{Rate: ratelimit.MaxRate, Burst: 1}, {Rate: 1.0 / 86400, Burst: 30000}} {
		if r := allow(t, b.lim, "k", lim); !r.Allowed {
			t.Errorf("Allow with %+v on a fresh key refused", lim)
		}
	}
}

func TestLocalConfigInvalid(t *testing.T) {
	t.Parallel()
	for _, cfg := range []ratelimit.LocalConfig{{Shards: -1}, {Shards: 1 << 20}} {
		if _, err := ratelimit.NewLocal(cfg); err == nil {
			t.Errorf("NewLocal(%+v) succeeded, want an error", cfg)
		}
	}
}

// TestLocalSweep: an entry is kept while its key is below full burst, since
// dropping it would hand the key a fresh burst, and dropped once full.
func TestLocalSweep(t *testing.T) {
	t.Parallel()
	b := setupLocal(t, ratelimit.LocalConfig{Shards: 4})
	lim := ratelimit.Limit{Rate: 1, Burst: 2}
	for i := range 100 {
		allow(t, b.lim, "tenant-"+strconv.Itoa(i), lim)
	}
	allow(t, b.lim, "tenant-0", lim) // tenant-0 is a second further from full
	if n := b.lim.Len(); n != 100 {
		t.Fatalf("Len = %d after 100 keys, want 100", n)
	}
	b.clock.Advance(time.Second - time.Nanosecond)
	b.lim.Sweep()
	if n := b.lim.Len(); n != 100 {
		t.Fatalf("Len = %d after a sweep before any key is full, want 100", n)
	}
	b.clock.Advance(time.Nanosecond)
	b.lim.Sweep()
	if n := b.lim.Len(); n != 1 {
		t.Fatalf("Len = %d after a sweep when all keys but one are full, want 1", n)
	}
	if r := allow(t, b.lim, "tenant-0", lim); !r.Allowed || r.Remaining != 0 {
		t.Fatalf("tenant-0, a second from full, got %+v; want allowed with 0 remaining (its entry was kept)", r)
	}
	if r := allow(t, b.lim, "tenant-1", lim); !r.Allowed || r.Remaining != 1 {
		t.Fatalf("tenant-1, swept, got %+v; want a full burst", r)
	}
}

// TestLocalSweepMany: a shard that held many keys moves to a fresh map when
// they are swept, and goes on limiting.
func TestLocalSweepMany(t *testing.T) {
	t.Parallel()
	b := setupLocal(t, ratelimit.LocalConfig{Shards: 1})
	lim := ratelimit.Limit{Rate: 1, Burst: 1}
	for i := range 5000 {
		allow(t, b.lim, "tenant-"+strconv.Itoa(i), lim)
	}
	allow(t, b.lim, "tenant-1", lim)
	b.clock.Advance(time.Second)
	b.lim.Sweep()
	if n := b.lim.Len(); n != 0 {
		t.Fatalf("Len = %d after sweeping 5000 full keys, want 0", n)
	}
	for i := range 2 {
		if r := allow(t, b.lim, "tenant-1", lim); r.Allowed != (i == 0) {
			t.Fatalf("request %d after the sweep: %+v", i+1, r)
		}
	}
	if n := b.lim.Len(); n != 1 {
		t.Fatalf("Len = %d, want 1", n)
	}
}

func TestLocalJanitor(t *testing.T) {
	t.Parallel()
	b := setupLocal(t, ratelimit.LocalConfig{IdleTTL: 5 * time.Millisecond})
	lim := ratelimit.Limit{Rate: 10, Burst: 1}
	for i := range 1000 {
		allow(t, b.lim, "tenant-"+strconv.Itoa(i), lim)
	}
	b.clock.Advance(100 * time.Millisecond)
	deadline := time.Now().Add(10 * time.Second)
	for b.lim.Len() > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := b.lim.Len(); n != 0 {
		t.Fatalf("Len = %d 10s after every key was full again, want 0", n)
	}
}

func TestLocalDefaults(t *testing.T) {
	t.Parallel()
	lim, err := ratelimit.NewLocal(ratelimit.LocalConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer lim.Close()
	if r := allow(t, lim, "k", ratelimit.Limit{Rate: 1.0 / 3600, Burst: 1}); !r.Allowed {
		t.Fatalf("first request refused: %+v", r)
	}
	if r := allow(t, lim, "k", ratelimit.Limit{Rate: 1.0 / 3600, Burst: 1}); r.Allowed || r.RetryAfter <= 59*time.Minute {
		t.Fatalf("second request within the hour: %+v, want refused for about an hour", r)
	}
}

// TestLocalConcurrent: however requests interleave, a key gets its burst
// and no more. With a rate of one a day nothing refills during the test.
func TestLocalConcurrent(t *testing.T) {
	t.Parallel()
	lim, err := ratelimit.NewLocal(ratelimit.LocalConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer lim.Close()
	l := ratelimit.Limit{Rate: 1.0 / 86400, Burst: 50}
	results := make(chan bool, 400)
	for i := range 400 {
		go func() {
			r, err := lim.Allow(context.Background(), "k"+strconv.Itoa(i%2), l)
			results <- err == nil && r.Allowed
		}()
	}
	allowed := 0
	for range 400 {
		if <-results {
			allowed++
		}
	}
	if allowed != 100 {
		t.Fatalf("allowed %d of 400 concurrent requests over two keys with burst 50, want 100", allowed)
	}
}
