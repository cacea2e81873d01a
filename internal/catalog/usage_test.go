package catalog_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tenantkit/tenantkit/internal/catalog"
)

func TestWriteUsageAddsABatchOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	acme, err := b.store.CreateTenant(ctx, "t", catalog.CreateParams{Slug: "acme", Name: "Acme", Plan: "free"})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 26, 12, 0, 3, 0, time.UTC)
	batch := catalog.UsageBatch{ID: uuid.New(), Instance: "a", At: at, Deltas: []catalog.UsageDelta{
		{Tenant: acme.ID, Period: "2026-11", APICalls: 3, ComputeMicros: 1500, DBMicros: 700, DBQueries: 4, BandwidthBytes: 900, Users: []uint64{1, 2, 1 << 63}},
		{Tenant: acme.ID, Period: "2026-10", APICalls: 1, Users: []uint64{1}},
		{Tenant: uuid.New(), Period: "2026-11", APICalls: 5}, // a tenant deleted since: dropped
	}}
	for i, want := range []bool{true, false, false} {
		applied, err := b.store.WriteUsage(ctx, batch)
		if err != nil {
			t.Fatal(err)
		}
		if applied != want {
			t.Fatalf("write %d: applied %v, want %v", i, applied, want)
		}
	}
	u, err := b.store.UsageFor(ctx, "acme", "2026-11")
	if err != nil {
		t.Fatal(err)
	}
	if u.APICalls != 3 || u.ComputeMs != 1.5 || u.DBMs != 0.7 || u.DBQueries != 4 || u.BandwidthBytes != 900 || u.ActiveUsers != 3 {
		t.Fatalf("usage after a batch written three times: %+v", u)
	}
	// The same users again in another batch are not new.
	if _, err := b.store.WriteUsage(ctx, catalog.UsageBatch{ID: uuid.New(), At: at, Deltas: []catalog.UsageDelta{
		{Tenant: acme.ID, Period: "2026-11", APICalls: 1, Users: []uint64{2, 7}},
	}}); err != nil {
		t.Fatal(err)
	}
	u, _ = b.store.UsageFor(ctx, "acme", "2026-11")
	if u.APICalls != 4 || u.ActiveUsers != 4 {
		t.Fatalf("usage after a second batch: %+v", u)
	}
	oct, _ := b.store.UsageFor(ctx, acme.ID.String(), "2026-10")
	if oct.APICalls != 1 || oct.ActiveUsers != 1 {
		t.Fatalf("october: %+v", oct)
	}
	empty, err := b.store.UsageFor(ctx, "acme", "2025-01")
	if err != nil || empty.APICalls != 0 || empty.Slug != "acme" {
		t.Fatalf("a period without usage: %+v %v", empty, err)
	}
	var v *catalog.ValidationError
	if _, err := b.store.UsageFor(ctx, "acme", "2026-13"); !errors.As(err, &v) {
		t.Fatalf("bad period: %v", err)
	}
	if _, err := b.store.UsageFor(ctx, "nobody", "2026-11"); !errors.Is(err, catalog.ErrTenantNotFound) {
		t.Fatalf("unknown tenant: %v", err)
	}
}

// Concurrent flushes from several processes, some batches retried, add up
// exactly.
func TestWriteUsageConcurrentAndRetried(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	var ids []uuid.UUID
	for _, slug := range []string{"aaa", "bbb", "ccc"} {
		tn, err := b.store.CreateTenant(ctx, "t", catalog.CreateParams{Slug: slug, Name: slug, Plan: "free"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, tn.ID)
	}
	const writers, batches = 4, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range batches {
				bt := catalog.UsageBatch{ID: uuid.New(), At: time.Now(), Deltas: []catalog.UsageDelta{
					{Tenant: ids[(w+i)%3], Period: "2026-11", APICalls: 1, Users: []uint64{uint64(i)}},
					{Tenant: ids[(w+i+1)%3], Period: "2026-11", APICalls: 2, Users: []uint64{uint64(i)}},
				}}
				for range 1 + i%2 { // every other batch is retried
					if _, err := b.store.WriteUsage(ctx, bt); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	all, err := b.store.UsageInPeriod(ctx, "2026-11")
	if err != nil {
		t.Fatal(err)
	}
	var calls, users int64
	for _, u := range all {
		calls += u.APICalls
		users += u.ActiveUsers
	}
	if calls != writers*batches*3 {
		t.Fatalf("api calls %d, want %d", calls, writers*batches*3)
	}
	if users != 3*batches {
		t.Fatalf("active users %d, want %d (each of 25 users in each tenant)", users, 3*batches)
	}
}

func TestLoadRanksAndRecordsNoisy(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	var ids []uuid.UUID
	for _, slug := range []string{"quiet", "loud"} {
		tn, err := b.store.CreateTenant(ctx, "t", catalog.CreateParams{Slug: slug, Name: slug, Plan: "free"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, tn.ID)
	}
	now := time.Now()
	if _, err := b.store.WriteUsage(ctx, catalog.UsageBatch{ID: uuid.New(), At: now, Deltas: []catalog.UsageDelta{
		{Tenant: ids[0], Period: catalog.Period(now), APICalls: 10, DBMicros: 1000},
		{Tenant: ids[1], Period: catalog.Period(now), APICalls: 30, DBMicros: 9000},
	}}); err != nil {
		t.Fatal(err)
	}
	// A bucket older than the window does not count.
	if _, err := b.store.WriteUsage(ctx, catalog.UsageBatch{ID: uuid.New(), At: now.Add(-10 * time.Minute), Deltas: []catalog.UsageDelta{
		{Tenant: ids[0], Period: catalog.Period(now), APICalls: 1000},
	}}); err != nil {
		t.Fatal(err)
	}
	ev := catalog.NoisyEvent{Tenant: ids[1], Dimension: catalog.NoisyRequests, Share: 0.75, Since: now, Noisy: true,
		Recommendation: "throttle loud", Command: "tenantkit move loud --to schema", DetectedBy: "test"}
	if err := b.store.RecordNoisy(ctx, ev); err != nil {
		t.Fatal(err)
	}
	rep, err := b.store.Load(ctx, now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Tenants) != 2 || rep.Tenants[0].Slug != "loud" || rep.Tenants[1].Slug != "quiet" {
		t.Fatalf("ranking: %+v", rep.Tenants)
	}
	loud, quiet := rep.Tenants[0], rep.Tenants[1]
	if loud.Requests != 30 || quiet.Requests != 10 || loud.RequestShare != 0.75 || len(loud.Noisy) != 1 || loud.Noisy[0].Command == "" {
		t.Fatalf("loud %+v quiet %+v", loud, quiet)
	}
	if quiet.Usage.APICalls != 1010 {
		t.Fatalf("quiet's usage this month: %+v", quiet.Usage)
	}
	ev.Noisy, ev.Share = false, 0.3
	if err := b.store.RecordNoisy(ctx, ev); err != nil {
		t.Fatal(err)
	}
	rep, _ = b.store.Load(ctx, now, time.Minute)
	for _, tl := range rep.Tenants {
		if len(tl.Noisy) > 0 {
			t.Fatalf("calm tenant still listed noisy: %+v", tl)
		}
	}
	entries, err := b.store.Audit(ctx, ids[1])
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range entries {
		actions = append(actions, e.Action)
	}
	if len(actions) < 2 || actions[len(actions)-2] != "tenant.noisy" || actions[len(actions)-1] != "tenant.calm" {
		t.Fatalf("audit: %v", actions)
	}
}

func TestRecordStorageSetsUsageAndGauge(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	tn, err := b.store.CreateTenant(ctx, "t", catalog.CreateParams{Slug: "acme", Name: "Acme", Plan: "free"})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC)
	for _, bytes := range []int64{5 << 20, 3<<20 + 1} {
		if err := b.store.RecordStorage(ctx, at, []catalog.StorageSample{{Tenant: tn.ID, Bytes: bytes, Method: "estimate"}}); err != nil {
			t.Fatal(err)
		}
	}
	u, _ := b.store.UsageFor(ctx, "acme", "2026-11")
	if u.StorageBytes != 3<<20+1 || u.StorageMethod != "estimate" || u.StorageSampledAt == nil {
		t.Fatalf("storage usage: %+v", u)
	}
	gauges, err := b.store.TenantUsage(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if len(gauges) != 1 || gauges[0].Name != "storage_mb" || gauges[0].Value != 4 {
		t.Fatalf("gauges: %+v", gauges)
	}
}

// TestNoisyFindingsOfSeveralProcesses: each process judges its own
// traffic. The tenant is noisy while any process finds it so: audited
// noisy once, when the first does, and calm once, when the last clears —
// one process calming down neither clears the others' finding nor audits.
func TestNoisyFindingsOfSeveralProcesses(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	tn, err := b.store.CreateTenant(ctx, "t", catalog.CreateParams{Slug: "loud", Name: "Loud", Plan: "free"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	finding := func(process string, noisy bool, share float64) {
		t.Helper()
		ev := catalog.NoisyEvent{Tenant: tn.ID, Dimension: catalog.NoisyRequests, Share: share, Since: now, Noisy: noisy,
			Recommendation: "throttle loud", Command: "tenantkit tenants limits loud --set api_rps=10", Throttled: noisy && process == "b", DetectedBy: process}
		if err := b.store.RecordNoisy(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	state := func() []catalog.NoisyState {
		t.Helper()
		rep, err := b.store.Load(ctx, time.Now(), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		for _, tl := range rep.Tenants {
			if tl.TenantID == tn.ID {
				return tl.Noisy
			}
		}
		return nil
	}
	audits := func() []string {
		t.Helper()
		entries, err := b.store.Audit(ctx, tn.ID)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range entries {
			if strings.HasPrefix(e.Action, "tenant.noisy") || strings.HasPrefix(e.Action, "tenant.calm") {
				out = append(out, e.Action+" by "+e.Actor)
			}
		}
		return out
	}
	finding("a", true, 0.6)
	finding("b", true, 0.7)
	finding("a", true, 0.65) // a confirms
	if s := state(); len(s) != 1 || s[0].Processes != 2 || s[0].Share != 0.7 || s[0].DetectedBy != "b" || !s[0].Throttled {
		t.Fatalf("noisy in two processes: %+v", s)
	}
	finding("a", false, 0.2) // a calms down; b still finds it noisy
	if s := state(); len(s) != 1 || s[0].Processes != 1 || s[0].DetectedBy != "b" {
		t.Fatalf("after one process calmed down: %+v", s)
	}
	finding("a", false, 0.1) // again: nothing to clear
	finding("b", false, 0.3)
	if s := state(); len(s) != 0 {
		t.Fatalf("after both calmed down: %+v", s)
	}
	if got := strings.Join(audits(), ", "); got != "tenant.noisy by a, tenant.calm by b" {
		t.Fatalf("audit: %s", got)
	}
}

// TestFindingsOfAGoneProcessExpire: a process that stops confirming its
// finding (it died) leaves it stale; pruning clears it, and audits the
// tenant calm only when no other process still finds it noisy.
func TestFindingsOfAGoneProcessExpire(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	var ids []uuid.UUID
	for _, slug := range []string{"alone", "shared"} {
		tn, err := b.store.CreateTenant(ctx, "t", catalog.CreateParams{Slug: slug, Name: slug, Plan: "free"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, tn.ID)
	}
	record := func(id uuid.UUID, process string) {
		t.Helper()
		if err := b.store.RecordNoisy(ctx, catalog.NoisyEvent{Tenant: id, Dimension: catalog.NoisyRequests, Share: 0.6, Since: time.Now(),
			Noisy: true, Recommendation: "throttle", DetectedBy: process}); err != nil {
			t.Fatal(err)
		}
	}
	record(ids[0], "gone")
	record(ids[1], "gone")
	record(ids[1], "alive")
	// The gone process's findings were last confirmed 6 minutes ago.
	if _, err := b.pool.Exec(ctx, `UPDATE tenantkit.noisy_tenants SET updated_at = now() - interval '6 minutes' WHERE detected_by = 'gone'`); err != nil {
		t.Fatal(err)
	}
	if err := b.store.PruneUsage(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	if n := b.count(t, `SELECT count(*) FROM tenantkit.noisy_tenants WHERE cleared_at IS NULL`); n != 1 {
		t.Fatalf("%d findings live after pruning, want alive's one", n)
	}
	calm := func(id uuid.UUID) int {
		t.Helper()
		entries, err := b.store.Audit(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, e := range entries {
			if e.Action == "tenant.calm" && e.Actor == "tenantkit" {
				n++
			}
		}
		return n
	}
	if calm(ids[0]) != 1 || calm(ids[1]) != 0 {
		t.Fatalf("calm audits: alone %d, shared %d; want 1 and 0", calm(ids[0]), calm(ids[1]))
	}
	// Pruning again finds nothing more to clear.
	if err := b.store.PruneUsage(ctx, time.Now()); err != nil || calm(ids[0]) != 1 {
		t.Fatalf("second prune: %v, %d calm audits", err, calm(ids[0]))
	}
}
