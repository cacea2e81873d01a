package ratelimit_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/tenantkit/tenantkit/internal/ratelimit"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

// perMinute20 refills one request a minute, so nothing refills while a
// test runs and exact counts hold on a real clock.
var perMinute20 = ratelimit.Limit{Rate: 1.0 / 60, Burst: 20}

type redisBundle struct {
	srv *tenantkittest.Redis
	reg *prometheus.Registry
}

func setupRedis(t *testing.T) redisBundle {
	t.Helper()
	return redisBundle{srv: tenantkittest.StartRedis(t), reg: prometheus.NewRegistry()}
}

// limiter is one "instance": a Redis limiter with a client of its own. The
// generous timeout keeps a loaded test machine from turning into degraded
// results where a test counts decisions.
func (b redisBundle) limiter(t *testing.T, cfg ratelimit.RedisConfig) *ratelimit.Redis {
	t.Helper()
	if cfg.Client == nil {
		cfg.URL = b.srv.URL()
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	cfg.Registerer, cfg.Logger = b.reg, testLogger(t)
	r, err := ratelimit.NewRedis(cfg)
	if err != nil {
		t.Fatalf("NewRedis: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func (b redisBundle) client(t *testing.T) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: b.srv.Addr()})
	t.Cleanup(func() { c.Close() })
	return c
}

func TestRedisExactAcrossInstances(t *testing.T) {
	t.Parallel()
	b := setupRedis(t)
	instances := []*ratelimit.Redis{b.limiter(t, ratelimit.RedisConfig{}), b.limiter(t, ratelimit.RedisConfig{})}

	const calls = 200
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		allowed = map[int]int{}
		errs    []error
	)
	for i := range calls {
		wg.Go(func() {
			r, err := instances[i%2].Allow(context.Background(), "tenant-a", perMinute20)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			}
			if r.Allowed {
				allowed[i%2]++
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d calls failed, first: %v", len(errs), errs[0])
	}
	if total := allowed[0] + allowed[1]; total != 20 {
		t.Fatalf("allowed %d of %d concurrent calls through two instances (%d and %d), want 20", total, calls, allowed[0], allowed[1])
	}
	labels := func(result string) map[string]string { return map[string]string{"backend": "redis", "result": result} }
	if got := counterValue(t, b.reg, "tenantkit_ratelimit_decisions_total", labels("allowed")); got != 20 {
		t.Errorf("decisions_total{result=allowed} = %v, want 20", got)
	}
	if got := counterValue(t, b.reg, "tenantkit_ratelimit_decisions_total", labels("limited")); got != calls-20 {
		t.Errorf("decisions_total{result=limited} = %v, want %d", got, calls-20)
	}

	// Another key has its own full burst, from either instance.
	for i := range 20 {
		if r := allow(t, instances[i%2], "tenant-b", perMinute20); !r.Allowed || r.Remaining != 19-i {
			t.Fatalf("tenant-b request %d: %+v, want allowed with %d remaining", i+1, r, 19-i)
		}
	}
	if r := allow(t, instances[0], "tenant-b", perMinute20); r.Allowed {
		t.Fatalf("tenant-b request 21 allowed")
	}
}

// TestRedisResult checks the script's arithmetic against what GCRA says
// for a fresh key: Remaining counts down, then a refusal whose reset and
// retry times differ by exactly Burst-1 intervals, whenever the server
// computed them.
func TestRedisResult(t *testing.T) {
	t.Parallel()
	b := setupRedis(t)
	lim := b.limiter(t, ratelimit.RedisConfig{Prefix: "test:"})
	l := ratelimit.Limit{Rate: 1.0 / 60, Burst: 5}
	for i := range 5 {
		r := allow(t, lim, "k", l)
		if !r.Allowed || r.Limit != 5 || r.Remaining != 4-i || r.Degraded || r.RetryAfter != 0 {
			t.Fatalf("request %d: %+v, want allowed, limit 5, %d remaining", i+1, r, 4-i)
		}
		if max := time.Duration(i+1) * time.Minute; r.ResetAfter <= max-time.Minute || r.ResetAfter > max {
			t.Errorf("request %d: ResetAfter %v, want in (%v, %v]", i+1, r.ResetAfter, max-time.Minute, max)
		}
	}
	r := allow(t, lim, "k", l)
	if r.Allowed || r.Remaining != 0 || r.Degraded {
		t.Fatalf("6th request: %+v, want refused", r)
	}
	if r.RetryAfter <= 0 || r.RetryAfter > time.Minute {
		t.Errorf("RetryAfter %v, want in (0, 1m]", r.RetryAfter)
	}
	if d := r.ResetAfter - r.RetryAfter; d != 4*time.Minute {
		t.Errorf("ResetAfter - RetryAfter = %v, want (Burst-1) intervals, 4m", d)
	}

	// The TAT is stored under the prefix and expires when the key is full
	// again, so idle keys leave nothing behind.
	pttl, err := b.client(t).PTTL(context.Background(), "test:k").Result()
	if err != nil {
		t.Fatal(err)
	}
	if pttl <= 0 || pttl > r.ResetAfter.Round(time.Millisecond)+time.Millisecond {
		t.Errorf("PTTL of test:k = %v, want in (0, %v]", pttl, r.ResetAfter)
	}
}

func TestRedisKeyExpires(t *testing.T) {
	t.Parallel()
	b := setupRedis(t)
	lim := b.limiter(t, ratelimit.RedisConfig{})
	c := b.client(t)
	allow(t, lim, "brief", ratelimit.Limit{Rate: 100, Burst: 1}) // full again after 10ms
	deadline := time.Now().Add(10 * time.Second)
	n, err := c.Exists(context.Background(), "tenantkit:rl:brief").Result()
	for err == nil && n > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		n, err = c.Exists(context.Background(), "tenantkit:rl:brief").Result()
	}
	if err != nil || n != 0 {
		t.Fatalf("key still there (exists %d, err %v) 10s after it was full again", n, err)
	}
}

func TestRedisFailMode(t *testing.T) {
	t.Parallel()
	for _, failOpen := range []bool{true, false} {
		mode := map[bool]string{true: "fail_open", false: "fail_closed"}[failOpen]
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			b := setupRedis(t)
			lim := b.limiter(t, ratelimit.RedisConfig{FailOpen: failOpen, Timeout: 200 * time.Millisecond})
			allow(t, lim, "k", perMinute20) // connected once

			b.srv.Stop()
			r, err := lim.Allow(context.Background(), "k", perMinute20)
			if !errors.Is(err, ratelimit.ErrBackend) {
				t.Fatalf("Allow with Redis stopped: err %v, want ErrBackend", err)
			}
			want := ratelimit.Result{Allowed: failOpen, Limit: 20, Degraded: true}
			if !failOpen {
				want.RetryAfter = time.Second
			}
			if r != want {
				t.Fatalf("Allow with Redis stopped: %+v, want %+v", r, want)
			}
			errorsFor := func(m string) float64 {
				return counterValue(t, b.reg, "tenantkit_ratelimit_backend_errors_total", map[string]string{"mode": m})
			}
			if got := errorsFor(mode); got != 1 {
				t.Errorf("backend_errors_total{mode=%q} = %v, want 1", mode, got)
			}
			other := map[bool]string{true: "fail_closed", false: "fail_open"}[failOpen]
			if got := errorsFor(other); got != 0 {
				t.Errorf("backend_errors_total{mode=%q} = %v, want 0", other, got)
			}

			b.srv.Restart(t)
			r, err = allowOnceUp(t, lim, "k", perMinute20)
			if err != nil || r != (ratelimit.Result{Allowed: true, Limit: 20, Remaining: 19, ResetAfter: r.ResetAfter}) {
				t.Fatalf("Allow after restart: %+v, %v; want allowed from a fresh server", r, err)
			}
		})
	}
}

// allowOnceUp calls Allow until Redis answers, for at most 10s: a client
// may take a moment to notice that a server is back.
func allowOnceUp(t *testing.T, lim ratelimit.Limiter, key string, l ratelimit.Limit) (ratelimit.Result, error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := lim.Allow(context.Background(), key, l)
		if !errors.Is(err, ratelimit.ErrBackend) || time.Now().After(deadline) {
			return r, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRedisCallerGone: a request whose context ended is not a Redis
// failure.
func TestRedisCallerGone(t *testing.T) {
	t.Parallel()
	b := setupRedis(t)
	lim := b.limiter(t, ratelimit.RedisConfig{FailOpen: true})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r, err := lim.Allow(ctx, "k", perMinute20)
	if !errors.Is(err, context.Canceled) || errors.Is(err, ratelimit.ErrBackend) {
		t.Fatalf("Allow with a canceled context: err %v, want context.Canceled and not ErrBackend", err)
	}
	if r.Allowed || r.Degraded {
		t.Errorf("Allow with a canceled context: %+v, want neither allowed nor degraded", r)
	}
	if got := counterValue(t, b.reg, "tenantkit_ratelimit_backend_errors_total", map[string]string{"mode": "fail_open"}); got != 0 {
		t.Errorf("backend_errors_total = %v, want 0", got)
	}
}

// TestRedisScriptFlushed: after the server forgets the script, EVALSHA
// fails with NOSCRIPT and the limiter falls back to EVAL.
func TestRedisScriptFlushed(t *testing.T) {
	t.Parallel()
	b := setupRedis(t)
	lim := b.limiter(t, ratelimit.RedisConfig{})
	l := ratelimit.Limit{Rate: 1.0 / 60, Burst: 3}
	allow(t, lim, "k", l)
	if err := b.client(t).ScriptFlush(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	if r := allow(t, lim, "k", l); !r.Allowed || r.Remaining != 1 {
		t.Fatalf("after SCRIPT FLUSH: %+v, want allowed with 1 remaining", r)
	}
}

// TestRedisOwnClient: a caller's client is used and left open.
func TestRedisOwnClient(t *testing.T) {
	t.Parallel()
	b := setupRedis(t)
	c := b.client(t)
	lim := b.limiter(t, ratelimit.RedisConfig{Client: c})
	allow(t, lim, "k", perMinute20)
	if err := lim.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("the caller's client after Close: %v", err)
	}
	if n, err := c.Exists(context.Background(), "tenantkit:rl:k").Result(); err != nil || n != 1 {
		t.Fatalf("tenantkit:rl:k exists %d, %v; want 1", n, err)
	}
}

func TestRedisInvalid(t *testing.T) {
	t.Parallel()
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer c.Close()
	for i, cfg := range []ratelimit.RedisConfig{
		{},
		{Client: c, URL: "redis://127.0.0.1:1/0"},
		{URL: "http://not-redis"},
		{URL: "redis://127.0.0.1:1/0", Timeout: -time.Second},
	} {
		if _, err := ratelimit.NewRedis(cfg); err == nil {
			t.Errorf("config %d: NewRedis succeeded, want an error", i)
		}
	}
	lim, err := ratelimit.NewRedis(ratelimit.RedisConfig{Client: c})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lim.Allow(context.Background(), "k", ratelimit.Limit{Rate: 1}); !errors.Is(err, ratelimit.ErrInvalidLimit) {
		t.Errorf("Allow with burst 0: %v, want ErrInvalidLimit", err)
	}
}

// TestSharedRegistry: limiters of both kinds count into one registry.
func TestSharedRegistry(t *testing.T) {
	t.Parallel()
	b := setupRedis(t)
	r1 := b.limiter(t, ratelimit.RedisConfig{})
	local, err := ratelimit.NewLocal(ratelimit.LocalConfig{Registerer: b.reg})
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	for i := range 3 {
		allow(t, r1, "k"+strconv.Itoa(i), perMinute20)
		allow(t, local, "k"+strconv.Itoa(i), perMinute20)
	}
	for _, backend := range []string{"local", "redis"} {
		got := counterValue(t, b.reg, "tenantkit_ratelimit_decisions_total", map[string]string{"backend": backend, "result": "allowed"})
		if got != 3 {
			t.Errorf("decisions_total{backend=%q,result=allowed} = %v, want 3", backend, got)
		}
	}
}
