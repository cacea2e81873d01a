package flags_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/uuid"

	"github.com/tenantkit/tenantkit/internal/flags"
)

// benchKey is a rollout flag with a plan gate and overrides for other
// tenants, so an evaluation of it for a tenant without one walks every
// rule down to the rollout hash.
const benchKey = "billing.usage-based-invoices"

// benchSnapshot has 50 flags of the kinds a catalog holds, and the tenant
// with an override on benchKey.
func benchSnapshot(tb testing.TB) (*flags.Snapshot, uuid.UUID) {
	tb.Helper()
	others := tenantIDs(20, 101)
	vip := others[100]
	overrides := map[uuid.UUID]bool{vip: true}
	for _, id := range others[:100] {
		overrides[id] = false
	}
	fs := []flags.Flag{{Key: benchKey, MinPlan: "pro", Rollout: 2500, Overrides: overrides}}
	for i := 1; i < 50; i++ {
		f := flags.Flag{Key: fmt.Sprintf("area%d.feature-%d", i%7, i), Rollout: i * 200}
		switch i % 5 {
		case 0:
			f.MinPlan = "enterprise"
		case 1:
			f.KillSwitch = true
		case 2:
			f.Seed = "shared-cohort"
		case 3:
			f.Overrides = map[uuid.UUID]bool{others[i]: true}
		}
		fs = append(fs, f)
	}
	s, err := flags.NewSnapshot(fs, planRanks)
	if err != nil {
		tb.Fatal(err)
	}
	return s, vip
}

func TestEvaluateDoesNotAllocate(t *testing.T) {
	s, vip := benchSnapshot(t)
	tenant := tenantIDs(21, 1)[0]
	e, err := flags.NewEngine(flags.EngineConfig{LoadFunc: func(context.Context) (*flags.Snapshot, error) { return s, nil }})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	var sink flags.Evaluation
	for name, f := range map[string]func(){
		"rollout":   func() { sink = s.Evaluate(benchKey, tenant, "enterprise") },
		"override":  func() { sink = s.Evaluate(benchKey, vip, "enterprise") },
		"plan gate": func() { sink = s.Evaluate(benchKey, tenant, "free") },
		"not found": func() { sink = s.Evaluate("nope", tenant, "free") },
		"engine":    func() { sink = e.Evaluate(benchKey, tenant, "enterprise") },
		"bucket":    func() { sink.Value = flags.InCohort(benchKey, tenant, 5000) },
	} {
		if n := testing.AllocsPerRun(1000, f); n != 0 {
			t.Errorf("%s: %v allocations per evaluation, want 0", name, n)
		}
	}
	_ = sink
}

func BenchmarkEvaluate(b *testing.B) {
	s, _ := benchSnapshot(b)
	tenant := tenantIDs(21, 1)[0]
	if ev := s.Evaluate(benchKey, tenant, "enterprise"); ev.Reason != flags.ReasonRollout && ev.Reason != flags.ReasonDefault {
		b.Fatalf("benchmark evaluation decided by %s, not the rollout", ev.Reason)
	}
	b.ReportAllocs()
	for b.Loop() {
		s.Evaluate(benchKey, tenant, "enterprise")
	}
}

func BenchmarkEvaluateOverride(b *testing.B) {
	s, vip := benchSnapshot(b)
	if ev := s.Evaluate(benchKey, vip, "enterprise"); ev.Reason != flags.ReasonOverride {
		b.Fatalf("benchmark evaluation decided by %s, not the override", ev.Reason)
	}
	b.ReportAllocs()
	for b.Loop() {
		s.Evaluate(benchKey, vip, "enterprise")
	}
}

func BenchmarkEngineEvaluateParallel(b *testing.B) {
	s, _ := benchSnapshot(b)
	e, err := flags.NewEngine(flags.EngineConfig{LoadFunc: func(context.Context) (*flags.Snapshot, error) { return s, nil }})
	if err != nil {
		b.Fatal(err)
	}
	if err := e.Refresh(b.Context()); err != nil {
		b.Fatal(err)
	}
	tenant := tenantIDs(21, 1)[0]
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			e.Evaluate(benchKey, tenant, "enterprise")
		}
	})
}

func BenchmarkEvaluateAll(b *testing.B) {
	s, _ := benchSnapshot(b)
	tenant := tenantIDs(21, 1)[0]
	b.ReportAllocs()
	for b.Loop() {
		s.EvaluateAll(tenant, "pro")
	}
}
