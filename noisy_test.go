package tenantkit_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantkit/tenantkit"
	"github.com/tenantkit/tenantkit/examples/orders"
	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

// TestNoisyTenantIsDetectedAndThrottled: two tenants share the shared
// tier's pool of four connections, with no concurrency or rate limits of
// their own. One floods it with slow transactions. The detector flags it
// within its window (counted in ticks of the load window, not wall time),
// records a finding with the exact move command, and — with throttling on —
// caps the flood to one transaction and a low rate, so that the quiet
// tenant's p99 latency comes back within 2× its baseline.
func TestNoisyTenantIsDetectedAndThrottled(t *testing.T) {
	t.Parallel()
	const (
		bucket  = 200 * time.Millisecond
		window  = 2 * time.Second
		sustain = 2 * time.Second
	)
	p := tenantkittest.NewPlatform(t, orders.Migrations())
	noisyID := p.Tenant(t, "noisy", catalog.TierShared)
	p.Tenant(t, "quiet", catalog.TierShared)
	big := int64(1000)
	for _, slug := range []string{"noisy", "quiet"} {
		if _, err := p.Store().PatchTenantOverrides(context.Background(), "test", slug, catalog.OverridePatch{Limits: map[string]*int64{
			catalog.LimitConcurrentTx: &big, catalog.LimitAPIRPS: &big, catalog.LimitAPIBurst: &big,
		}}); err != nil {
			t.Fatal(err)
		}
	}
	kit := p.Kit(t, tenantkit.Config{
		PoolSize:      4,
		Resolvers:     tenantkit.ResolverConfig{BaseDomain: "example.test"},
		Observability: tenantkit.ObservabilityConfig{Bucket: bucket, Window: window, Sustain: sustain, NoisyShare: 0.5, Throttle: true, ThrottleRPS: 5, ThrottleConcurrency: 1},
	})
	tenantkit.ManualLoadTicks(kit)
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	go func() { defer close(started); _ = kit.Start(ctx) }()
	defer func() { cancel(); <-started }()

	srv := httptest.NewServer(kit.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sleep := "0.002"
		if tn, _ := tenantkit.FromContext(r.Context()); tn.Slug == "noisy" {
			sleep = "0.08"
		}
		err := kit.Tx(r.Context(), func(tx pgx.Tx) error {
			_, err := tx.Exec(r.Context(), "SELECT pg_sleep("+sleep+"), count(*) FROM orders")
			return err
		})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})))
	defer srv.Close()
	client := srv.Client()
	get := func(slug string) (int, time.Duration, string) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/x", nil)
		req.Host = slug + ".example.test"
		start := time.Now()
		res, err := client.Do(req)
		if err != nil {
			t.Error(err)
			return 0, 0, ""
		}
		res.Body.Close()
		return res.StatusCode, time.Since(start), res.Header.Get("Retry-After")
	}
	var ticks atomic.Int64
	tickDone := make(chan struct{})
	go func() {
		defer close(tickDone)
		tk := time.NewTicker(bucket)
		defer tk.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tk.C:
				tenantkit.TickLoad(kit)
				ticks.Add(1)
			}
		}
	}()
	defer func() { cancel(); <-tickDone }()
	p99Once := func(n int) time.Duration {
		var lat []time.Duration
		for range n {
			code, d, _ := get("quiet")
			if code != http.StatusOK {
				t.Fatalf("quiet tenant got %d", code)
			}
			lat = append(lat, d)
			time.Sleep(20 * time.Millisecond) // a quiet tenant's pace
		}
		slices.Sort(lat)
		return lat[len(lat)*99/100]
	}
	get("quiet") // warm the pool and the cache
	baseline := p99Once(100)
	// The quiet tenant keeps using the service while the flood runs (a
	// tenant alone in the window is nobody's neighbour).
	hbCtx, hbStop := context.WithCancel(ctx)
	hbDone := make(chan struct{})
	go func() {
		defer close(hbDone)
		for hbCtx.Err() == nil {
			get("quiet")
			time.Sleep(100 * time.Millisecond)
		}
	}()
	defer func() { hbStop(); <-hbDone }()

	// The flood: clients that back off as Retry-After says (at most 100 ms).
	floodCtx, stopFlood := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var refused atomic.Int64
	var paused atomic.Bool
	var inflight atomic.Int64
	for range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for floodCtx.Err() == nil {
				if paused.Load() {
					time.Sleep(5 * time.Millisecond)
					continue
				}
				inflight.Add(1)
				code, _, after := get("noisy")
				inflight.Add(-1)
				if code == http.StatusTooManyRequests {
					refused.Add(1)
					secs, _ := strconv.Atoi(after)
					time.Sleep(min(time.Duration(secs)*time.Second, 100*time.Millisecond))
				}
			}
		}()
	}
	defer func() { stopFlood(); wg.Wait() }()
	from := ticks.Load()
	var found tenantkit.TenantLoad
	waitFor(t, 30*time.Second, func() bool {
		for _, l := range kit.Load() {
			if l.Tenant == noisyID && l.Noisy && l.Throttled {
				found = l
				return true
			}
		}
		return false
	})
	took := ticks.Load() - from
	limit := int64((window+sustain)/bucket) + 2
	t.Logf("noisy flagged after %d ticks of %v (limit %d): %s share db %.2f requests %.2f", took, bucket, limit, found.NoisyDimension, found.SharedDBShare, found.RequestShare)
	if took > limit {
		t.Fatalf("noisy tenant flagged after %d ticks, want at most %d (window %v + sustain %v)", took, limit, window, sustain)
	}
	// The finding reaches the catalog with the exact command.
	var rep catalog.LoadReport
	waitFor(t, 10*time.Second, func() bool {
		var err error
		rep, err = p.Store().Load(context.Background(), time.Now(), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		for _, tl := range rep.Tenants {
			if tl.Slug == "noisy" && len(tl.Noisy) > 0 {
				return true
			}
		}
		return false
	})
	for _, tl := range rep.Tenants {
		for _, n := range tl.Noisy {
			if tl.Slug != "noisy" || !n.Throttled || (n.Dimension == catalog.NoisyDBTime && n.Command != "tenantkit move noisy --to dedicated" && n.Command != "tenantkit move noisy --to schema") {
				t.Fatalf("finding: %s %+v", tl.Slug, n)
			}
			t.Logf("finding: %s %s %.2f: %s", tl.Slug, n.Dimension, n.Share, n.Recommendation)
		}
	}
	// Throttled, the quiet tenant's p99 is compared with its baseline in
	// paired rounds: the flood pauses (for less than the sustain, so the
	// noisy tenant stays flagged and throttled) while the baseline is
	// measured, then resumes for the loaded measurement. Other work on the
	// machine (the race detector, other packages' tests) comes and goes,
	// and only ever adds latency: the best of up to six rounds is the
	// closest to what the pipeline itself does.
	t.Logf("quiet p99 alone, before the flood: %v", baseline)
	throttled := func() bool {
		for _, l := range kit.Load() {
			if l.Tenant == noisyID {
				return l.Throttled
			}
		}
		return false
	}
	best := 1e9
	for round := range 6 {
		paused.Store(true)
		waitFor(t, 10*time.Second, func() bool { return inflight.Load() == 0 }) // queued flood requests drain
		base := p99Once(40)
		paused.Store(false)
		time.Sleep(300 * time.Millisecond)
		loaded := p99Once(40)
		if !throttled() {
			t.Fatal("the noisy tenant is no longer throttled while it floods")
		}
		ratio := float64(loaded) / float64(base)
		best = min(best, ratio)
		t.Logf("round %d: quiet p99 %v alone, %v beside the throttled flood (%.2f×; %d flood requests refused so far)", round, base, loaded, ratio, refused.Load())
		if ratio <= 2 {
			break
		}
	}
	if best > 2 {
		t.Fatalf("quiet tenant's p99 is %.2f× its baseline at best with throttling on, want at most 2×", best)
	}
}
