package tenantkit_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/tenantkit/tenantkit"
	"github.com/tenantkit/tenantkit/examples/orders"
	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

// manualTicksKit is a listening Kit whose load window ticks only when the
// test says (tenantkit.TickLoad).
func manualTicksKit(t *testing.T, p *tenantkittest.Platform, cfg tenantkit.Config) *tenantkit.Kit {
	t.Helper()
	kit := p.Kit(t, cfg)
	tenantkit.ManualLoadTicks(kit)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = kit.Start(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	waitUntil(t, 15*time.Second, "the Kit to listen", kit.Listening)
	return kit
}

// runNotes enqueues a note job per args for the tenant of ctx, each
// attempted once, and waits until River recorded each in the state it
// ends in.
func runNotes(t *testing.T, kit *tenantkit.Kit, ctx context.Context, args ...noteArgs) {
	t.Helper()
	want := map[string]rivertype.JobState{
		"": rivertype.JobStateCompleted, "fail": rivertype.JobStateDiscarded,
		"cancel": rivertype.JobStateCancelled, "snooze": rivertype.JobStateScheduled,
	}
	for _, a := range args {
		res, err := kit.Enqueue(ctx, a, &river.InsertOpts{MaxAttempts: 1})
		if err != nil {
			t.Fatal(err)
		}
		waitUntil(t, 20*time.Second, "job "+a.Tag+" to end "+string(want[a.Do]), func() bool {
			st, _ := jobState(t, kit, res.Job.ID)
			return st == want[a.Do]
		})
	}
}

// TestJobsAreMeteredIntoUsageAndMetrics: every run of a tenant's job, how
// ever it ends (completed, failed, cancelled, snoozed by the job), counts
// one job and its wall time into the tenant's usage, and into the job
// metrics under the tenant's top-K label ("other" until it holds one). A
// suspended tenant's job, snoozed before it runs, counts in neither.
func TestJobsAreMeteredIntoUsageAndMetrics(t *testing.T) {
	t.Parallel()
	p := tenantkittest.NewPlatform(t, orders.Migrations())
	p.Tenant(t, "acme", catalog.TierShared)
	p.Tenant(t, "globex", catalog.TierShared)
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	kit, w := jobsKitWith(t, p, unlimited(tenantkit.Config{
		Resolvers:  tenantkit.ResolverConfig{BaseDomain: "example.test"},
		Registerer: reg,
	}), tenantkit.JobsConfig{SuspendedSnooze: 100 * time.Millisecond}, func(c tenantkit.Config) *tenantkit.Kit {
		return manualTicksKit(t, p, c)
	})
	acme, globex := p.Scoped(t, kit, "acme"), p.Scoped(t, kit, "globex")

	if _, err := p.Store().SuspendTenant(ctx, "test", "globex", "unpaid invoice"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "the Kit to see globex suspended", func() bool {
		tn, err := kit.Lookup(ctx, "globex")
		return err == nil && tn.Status == tenantkit.StatusSuspended
	})
	held, err := kit.Enqueue(globex, noteArgs{Tag: "held"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	runNotes(t, kit, acme, noteArgs{Tag: "a1"}, noteArgs{Tag: "a2"}, noteArgs{Tag: "a3"})
	time.Sleep(time.Second) // several snoozes
	if n := w.count("held"); n != 0 {
		t.Fatalf("the suspended tenant's job ran %d times", n)
	}
	if j, err := kit.Jobs().JobGet(ctx, held.Job.ID); err != nil || j.AttemptedAt == nil {
		t.Fatalf("the suspended tenant's job: %+v, %v; want it tried and snoozed", j, err)
	}
	if err := kit.FlushUsage(ctx); err != nil {
		t.Fatal(err)
	}
	period := catalog.Period(time.Now())
	usage := func(slug string) catalog.UsageReport {
		u, err := p.Store().UsageFor(ctx, slug, period)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	if u := usage("acme"); u.Jobs != 3 || u.JobMs <= 0 {
		t.Fatalf("acme's usage after 3 jobs: jobs %d, job_ms %v; want 3 and more than 0", u.Jobs, u.JobMs)
	}
	if u := usage("globex"); u.Jobs != 0 || u.JobMs != 0 {
		t.Fatalf("the suspended tenant's usage: jobs %d, job_ms %v; want none", u.Jobs, u.JobMs)
	}
	const kind = `kind="tenantkit_test_note"`
	wantMetrics(t, reg, map[string]float64{
		`tenantkit_jobs_total{` + kind + `,outcome="completed",tenant="other"}`: 3,
		`tenantkit_job_duration_seconds_count{tenant="other"}`:                  3,
	})

	// Requests make acme busy enough for its own label at the next tick.
	h := kit.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	for range 5 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://acme.example.test/", nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("request to acme: %d %s", rec.Code, rec.Body)
		}
	}
	tenantkit.TickLoad(kit)
	runNotes(t, kit, acme, noteArgs{Tag: "f", Do: "fail"}, noteArgs{Tag: "c", Do: "cancel"}, noteArgs{Tag: "s", Do: "snooze"})
	wantMetrics(t, reg, map[string]float64{
		`tenantkit_jobs_total{` + kind + `,outcome="completed",tenant="other"}`: 3,
		`tenantkit_jobs_total{` + kind + `,outcome="failed",tenant="acme"}`:     1,
		`tenantkit_jobs_total{` + kind + `,outcome="cancelled",tenant="acme"}`:  1,
		`tenantkit_jobs_total{` + kind + `,outcome="snoozed",tenant="acme"}`:    1,
		`tenantkit_job_duration_seconds_count{tenant="other"}`:                  3,
		`tenantkit_job_duration_seconds_count{tenant="acme"}`:                   3,
	})
	if err := kit.FlushUsage(ctx); err != nil {
		t.Fatal(err)
	}
	if u := usage("acme"); u.Jobs != 6 || u.APICalls != 5 {
		t.Fatalf("acme's usage after 6 jobs and 5 requests: jobs %d, api calls %d", u.Jobs, u.APICalls)
	}
	if u := usage("globex"); u.Jobs != 0 {
		t.Fatalf("the suspended tenant's usage: %d jobs, want none", u.Jobs)
	}
}

// wantMetrics checks that every sample named in want has its value, and
// that no other job sample exists.
func wantMetrics(t *testing.T, g prometheus.Gatherer, want map[string]float64) {
	t.Helper()
	got := flatten(t, g)
	for name, v := range want {
		if got[name] != v {
			t.Errorf("%s = %v, want %v", name, got[name], v)
		}
	}
	for name, v := range got {
		if _, ok := want[name]; !ok && (strings.HasPrefix(name, "tenantkit_jobs_total") || strings.HasPrefix(name, "tenantkit_job_duration_seconds")) {
			t.Errorf("unexpected %s = %v", name, v)
		}
	}
}
