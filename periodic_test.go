package tenantkit_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/tenantkit/tenantkit"
	"github.com/tenantkit/tenantkit/examples/orders"
	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

// nightly declares a daily note job for every active tenant.
func nightly(interval time.Duration) tenantkit.TenantPeriodicJob {
	return tenantkit.TenantPeriodicJob{Name: "nightly", Interval: interval,
		Args: func(t *tenantkit.Tenant, period time.Time) (river.JobArgs, *river.InsertOpts) {
			return noteArgs{Tag: "nightly:" + t.Slug + "@" + period.Format(time.RFC3339)}, nil
		}}
}

// notes lists the note jobs in River's table.
func notes(t *testing.T, kit *tenantkit.Kit) []*rivertype.JobRow {
	t.Helper()
	res, err := kit.Jobs().JobList(context.Background(), river.NewJobListParams().Kinds(noteArgs{}.Kind()).First(1000))
	if err != nil {
		t.Fatal(err)
	}
	return res.Jobs
}

// TestAPeriodicJobFansOutOncePerTenantAndPeriod: one declaration gives
// every active tenant (not a suspended or deleted one) one job a period,
// spread over the period; fanning the same period out again enqueues
// nothing; the next period enqueues again.
func TestAPeriodicJobFansOutOncePerTenantAndPeriod(t *testing.T) {
	t.Parallel()
	p := tenantkittest.NewPlatform(t, orders.Migrations())
	ctx := context.Background()
	const active = 30
	for i := range active {
		if _, err := p.Store().CreateTenant(ctx, "test", catalog.CreateParams{Slug: fmt.Sprintf("t%02d", i), Name: "T"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, slug := range []string{"paused", "gone"} {
		if _, err := p.Store().CreateTenant(ctx, "test", catalog.CreateParams{Slug: slug, Name: "T"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.Store().SuspendTenant(ctx, "test", "paused", "unpaid"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Store().DeleteTenant(ctx, "test", "gone"); err != nil {
		t.Fatal(err)
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, &noteWorker{})
	// The Kit is not started: the test runs the fan-out itself.
	kit := p.Kit(t, tenantkit.Config{Jobs: &tenantkit.JobsConfig{Workers: workers, Periodic: []tenantkit.TenantPeriodicJob{nightly(24 * time.Hour)}}})
	period := time.Now().UTC().Truncate(24 * time.Hour)
	for round, want := range []int{active, 0} {
		n, err := tenantkit.FanOut(ctx, kit, "nightly", period)
		if err != nil || n != want {
			t.Fatalf("fan-out %d: %d jobs, %v; want %d", round+1, n, err, want)
		}
	}
	jobs := notes(t, kit)
	if len(jobs) != active {
		t.Fatalf("%d jobs in River, want %d", len(jobs), active)
	}
	starts := map[time.Time]bool{}
	for _, j := range jobs {
		if j.ScheduledAt.Before(period) || !j.ScheduledAt.Before(period.Add(24*time.Hour)) {
			t.Errorf("job %d scheduled at %v, outside the period from %v", j.ID, j.ScheduledAt, period)
		}
		starts[j.ScheduledAt.Truncate(time.Minute)] = true
	}
	if len(starts) < active*9/10 {
		t.Errorf("%d tenants' jobs start in only %d distinct minutes of the day", active, len(starts))
	}
	if n, err := tenantkit.FanOut(ctx, kit, "nightly", period.Add(24*time.Hour)); err != nil || n != active {
		t.Fatalf("the next period: %d jobs, %v; want %d", n, err, active)
	}
}

// TestAPeriodicJobRunsThroughRiversScheduler: a started Kit's River
// schedules the fan-out itself (on start, then every interval) and the
// tenants' jobs run with their tenant.
func TestAPeriodicJobRunsThroughRiversScheduler(t *testing.T) {
	t.Parallel()
	p := tenantkittest.NewPlatform(t, orders.Migrations())
	p.Tenant(t, "acme", "shared")
	p.Tenant(t, "globex", "shared")
	// A period of a second: the jobs are due at once.
	kit, w := jobsKit(t, p, tenantkit.JobsConfig{Periodic: []tenantkit.TenantPeriodicJob{nightly(time.Second)}})
	_ = kit
	waitUntil(t, 20*time.Second, "both tenants' periodic jobs to run", func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		seen := map[string]bool{}
		for _, r := range w.runs {
			if r.tenant != nil && len(r.tag) > 8 && r.tag[:8] == "nightly:" {
				seen[r.tenant.Slug] = true
			}
		}
		return seen["acme"] && seen["globex"]
	})
	if _, err := tenantkit.New(tenantkit.Config{DatabaseURL: p.Catalog.OwnerDSN(), Jobs: &tenantkit.JobsConfig{Periodic: []tenantkit.TenantPeriodicJob{nightly(time.Hour)}}}); err == nil {
		t.Fatal("periodic jobs without workers were accepted")
	}
}
