package flags_test

import (
	"math"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/twmb/murmur3"

	"github.com/tenantkit/tenantkit/internal/flags"
)

func TestBucketHashesSeedColonTenantText(t *testing.T) {
	t.Parallel()
	for _, id := range append(tenantIDs(1, 100), uuid.Nil, uuid.Max) {
		for _, seed := range []string{"a", "billing.new-editor", strings.Repeat("z", 100), strings.Repeat("long", 40)} {
			want := int(murmur3.Sum32([]byte(seed+":"+id.String())) % 10000)
			if got := flags.Bucket(seed, id); got != want {
				t.Fatalf("Bucket(%q, %s) = %d, want %d", seed, id, got, want)
			}
		}
	}
}

// TestBucketIsStable pins buckets so a change of hash, input layout or
// id text, which would reshuffle every rollout in production, fails here.
// The values were checked against an independent MurmurHash3 x86_32.
func TestBucketIsStable(t *testing.T) {
	t.Parallel()
	id := uuid.MustParse("6ba7b810-9dad-41d1-80b4-00c04fd430c8")
	for seed, want := range map[string]int{"new-editor": 2002, "a": 3257} {
		if got := flags.Bucket(seed, id); got != want {
			t.Errorf("Bucket(%q) = %d, want %d", seed, got, want)
		}
	}
}

func TestRolloutShare(t *testing.T) {
	t.Parallel()
	ids := tenantIDs(1, 10000)
	for _, bp := range []int{100, 1000, 3000, 5000, 9900} {
		s := newSnapshot(t, flags.Flag{Key: "f", Rollout: bp})
		got, want := share(s, "f", ids), float64(bp)/100
		if math.Abs(got-want) > 1 {
			t.Errorf("rollout %d bp reached %.2f %% of tenants, want %.0f ± 1", bp, got, want)
		}
	}
}

func TestRolloutCohortsAreIndependentAcrossKeys(t *testing.T) {
	t.Parallel()
	ids := tenantIDs(2, 10000)
	s := newSnapshot(t,
		flags.Flag{Key: "alpha", Rollout: 5000},
		flags.Flag{Key: "beta", Rollout: 5000},
	)
	both := 0
	for _, id := range ids {
		if s.Evaluate("alpha", id, "free").Value && s.Evaluate("beta", id, "free").Value {
			both++
		}
	}
	if got := 100 * float64(both) / float64(len(ids)); math.Abs(got-25) > 1.5 {
		t.Errorf("%.2f %% of tenants have both 50 %% flags, want 25 ± 1.5", got)
	}
}

func TestRolloutCohortIsSharedBySeed(t *testing.T) {
	t.Parallel()
	s := newSnapshot(t,
		flags.Flag{Key: "checkout.v2", Seed: "checkout", Rollout: 3000},
		flags.Flag{Key: "checkout.v2-emails", Seed: "checkout", Rollout: 3000},
		flags.Flag{Key: "checkout", Rollout: 3000},
	)
	on := 0
	for _, id := range tenantIDs(3, 10000) {
		a, b, c := s.Evaluate("checkout.v2", id, "free"), s.Evaluate("checkout.v2-emails", id, "free"), s.Evaluate("checkout", id, "free")
		if a.Value != b.Value || a.Value != c.Value {
			t.Fatalf("tenant %s: seeded flags disagree: %v, %v, %v", id, a.Value, b.Value, c.Value)
		}
		if a.Value {
			on++
		}
	}
	if on == 0 || on == 10000 {
		t.Fatalf("%d of 10000 tenants in a 30 %% cohort", on)
	}
}

func TestRolloutRampOnlyAddsTenants(t *testing.T) {
	t.Parallel()
	ids := tenantIDs(4, 10000)
	steps := []int{1, 10, 100, 1000, 2000, 5000, 9999, 10000}
	var prev *flags.Snapshot
	for i, bp := range steps {
		s := newSnapshot(t, flags.Flag{Key: "ramp", Rollout: bp})
		if prev != nil {
			gained := 0
			for _, id := range ids {
				was, is := prev.Evaluate("ramp", id, "free").Value, s.Evaluate("ramp", id, "free").Value
				if was && !is {
					t.Fatalf("tenant %s lost the flag when the rollout rose to %d bp", id, bp)
				}
				if is && !was {
					gained++
				}
			}
			if bp-steps[i-1] >= 1000 && gained == 0 {
				t.Errorf("raising the rollout to %d bp added no tenant", bp)
			}
		}
		prev = s
	}
	if got := share(prev, "ramp", ids); got != 100 {
		t.Errorf("rollout 10000 bp reached %.2f %%", got)
	}
}

func TestInCohortMatchesEvaluate(t *testing.T) {
	t.Parallel()
	s := newSnapshot(t, flags.Flag{Key: "f", Rollout: 2500}, flags.Flag{Key: "g", Seed: "shared", Rollout: 2500})
	for _, id := range tenantIDs(5, 2000) {
		if got, want := s.Evaluate("f", id, "free").Value, flags.InCohort("f", id, 2500); got != want {
			t.Fatalf("tenant %s: Evaluate %v, InCohort %v", id, got, want)
		}
		if got, want := s.Evaluate("g", id, "free").Value, flags.InCohort("shared", id, 2500); got != want {
			t.Fatalf("tenant %s: Evaluate %v, InCohort(seed) %v", id, got, want)
		}
	}
}
