package flags_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/tenantkit/tenantkit/internal/flags"
)

func TestNewSnapshotValidates(t *testing.T) {
	t.Parallel()
	tenant := uuid.MustParse("6ba7b810-9dad-41d1-80b4-00c04fd430c8")
	tests := []struct {
		name string
		flag flags.Flag
		want string // "" when valid, else a part of the error
	}{
		{"plain key", flags.Flag{Key: "beta"}, ""},
		{"key with punctuation", flags.Flag{Key: "billing.new_editor-2"}, ""},
		{"key starting with a digit", flags.Flag{Key: "2fa"}, ""},
		{"100-character key", flags.Flag{Key: strings.Repeat("k", 100)}, ""},
		{"empty key", flags.Flag{}, "key must be"},
		{"101-character key", flags.Flag{Key: strings.Repeat("k", 101)}, "key must be"},
		{"upper case", flags.Flag{Key: "Beta"}, "key must be"},
		{"leading dot", flags.Flag{Key: ".beta"}, "key must be"},
		{"leading dash", flags.Flag{Key: "-beta"}, "key must be"},
		{"space", flags.Flag{Key: "new editor"}, "key must be"},
		{"non-ASCII", flags.Flag{Key: "café"}, "key must be"},
		{"rollout 0", flags.Flag{Key: "r", Rollout: 0}, ""},
		{"rollout 0.01 %", flags.Flag{Key: "r", Rollout: 1}, ""},
		{"rollout 100 %", flags.Flag{Key: "r", Rollout: 10000}, ""},
		{"rollout above 100 %", flags.Flag{Key: "r", Rollout: 10001}, "rollout 10001 is outside 0..10000"},
		{"negative rollout", flags.Flag{Key: "r", Rollout: -1}, "rollout -1 is outside 0..10000"},
		{"known minimum plan", flags.Flag{Key: "p", MinPlan: "pro"}, ""},
		{"unknown minimum plan", flags.Flag{Key: "p", MinPlan: "gold"}, `minimum plan "gold" is not a known plan`},
		{"seed", flags.Flag{Key: "s", Seed: "cohort.a"}, ""},
		{"bad seed", flags.Flag{Key: "s", Seed: "Cohort A"}, `seed "Cohort A" must be`},
		{"override", flags.Flag{Key: "o", Overrides: map[uuid.UUID]bool{tenant: true}}, ""},
		{"override for the nil id", flags.Flag{Key: "o", Overrides: map[uuid.UUID]bool{uuid.Nil: true}}, "nil tenant id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := flags.NewSnapshot([]flags.Flag{tt.flag}, planRanks)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("NewSnapshot: %v", err)
				}
				if _, ok := s.Flag(tt.flag.Key); !ok {
					t.Fatalf("snapshot lacks flag %q", tt.flag.Key)
				}
				return
			}
			if err == nil {
				t.Fatalf("NewSnapshot accepted %+v", tt.flag)
			}
			if !errors.Is(err, flags.ErrInvalidFlag) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewSnapshot error %q, want ErrInvalidFlag mentioning %q", err, tt.want)
			}
			if s != nil {
				t.Fatal("NewSnapshot returned a snapshot with an error")
			}
		})
	}
}

func TestNewSnapshotReportsEveryProblem(t *testing.T) {
	t.Parallel()
	_, err := flags.NewSnapshot([]flags.Flag{
		{Key: "ok"},
		{Key: "dup"},
		{Key: "dup"},
		{Key: "bad", Rollout: 20000, MinPlan: "gold"},
	}, planRanks)
	if err == nil {
		t.Fatal("NewSnapshot accepted a duplicate key")
	}
	for _, want := range []string{`"dup": the key appears twice`, `"bad": rollout 20000`, `"bad": minimum plan "gold"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if strings.Contains(err.Error(), `"ok"`) {
		t.Errorf("error %q blames a valid flag", err)
	}
}

func TestNewSnapshotRejectsAnEmptyPlanName(t *testing.T) {
	t.Parallel()
	if _, err := flags.NewSnapshot(nil, map[string]int{"": 0}); err == nil {
		t.Fatal("NewSnapshot accepted a plan named \"\"")
	}
}

func TestEvaluatePlanGate(t *testing.T) {
	t.Parallel()
	s := newSnapshot(t,
		flags.Flag{Key: "sso", MinPlan: "pro", Rollout: 10000},
		flags.Flag{Key: "audit", MinPlan: "pro", Default: true},
		flags.Flag{Key: "ungated", Rollout: 10000},
	)
	id := tenantIDs(6, 1)[0]
	tests := []struct {
		key, plan string
		want      flags.Evaluation
	}{
		{"sso", "free", flags.Evaluation{Key: "sso", Value: false, Reason: flags.ReasonPlanGate}},
		{"sso", "pro", flags.Evaluation{Key: "sso", Value: true, Reason: flags.ReasonRollout}},
		{"sso", "enterprise", flags.Evaluation{Key: "sso", Value: true, Reason: flags.ReasonRollout}},
		{"sso", "", flags.Evaluation{Key: "sso", Value: false, Reason: flags.ReasonPlanGate}},
		{"sso", "gold", flags.Evaluation{Key: "sso", Value: false, Reason: flags.ReasonPlanGate}},
		{"audit", "free", flags.Evaluation{Key: "audit", Value: false, Reason: flags.ReasonPlanGate}},
		{"audit", "pro", flags.Evaluation{Key: "audit", Value: true, Reason: flags.ReasonDefault}},
		{"ungated", "free", flags.Evaluation{Key: "ungated", Value: true, Reason: flags.ReasonRollout}},
		{"ungated", "", flags.Evaluation{Key: "ungated", Value: true, Reason: flags.ReasonRollout}},
	}
	for _, tt := range tests {
		if got := s.Evaluate(tt.key, id, tt.plan); got != tt.want {
			t.Errorf("Evaluate(%q, plan %q) = %+v, want %+v", tt.key, tt.plan, got, tt.want)
		}
	}
}

func TestEvaluatePrecedence(t *testing.T) {
	t.Parallel()
	in := tenantWhere(t, func(id uuid.UUID) bool { return flags.InCohort("f", id, 5000) })
	out := tenantWhere(t, func(id uuid.UUID) bool { return !flags.InCohort("f", id, 5000) })
	tests := []struct {
		name   string
		flag   flags.Flag
		tenant uuid.UUID
		plan   string
		value  bool
		reason flags.Reason
	}{
		{"override true beats kill switch", flags.Flag{KillSwitch: true, Overrides: map[uuid.UUID]bool{in: true}}, in, "pro", true, flags.ReasonOverride},
		{"override true beats plan gate", flags.Flag{MinPlan: "enterprise", Overrides: map[uuid.UUID]bool{in: true}}, in, "free", true, flags.ReasonOverride},
		{"override false beats rollout", flags.Flag{Rollout: 10000, Overrides: map[uuid.UUID]bool{in: false}}, in, "pro", false, flags.ReasonOverride},
		{"override false beats default", flags.Flag{Default: true, Overrides: map[uuid.UUID]bool{in: false}}, in, "pro", false, flags.ReasonOverride},
		{"another tenant's override", flags.Flag{KillSwitch: true, Overrides: map[uuid.UUID]bool{out: true}}, in, "pro", false, flags.ReasonKillSwitch},
		{"kill switch beats plan gate", flags.Flag{KillSwitch: true, MinPlan: "enterprise"}, in, "free", false, flags.ReasonKillSwitch},
		{"kill switch beats rollout", flags.Flag{KillSwitch: true, Rollout: 10000}, in, "pro", false, flags.ReasonKillSwitch},
		{"kill switch beats default", flags.Flag{KillSwitch: true, Default: true}, in, "pro", false, flags.ReasonKillSwitch},
		{"plan gate beats rollout", flags.Flag{MinPlan: "pro", Rollout: 10000}, in, "free", false, flags.ReasonPlanGate},
		{"plan gate beats default", flags.Flag{MinPlan: "pro", Default: true}, in, "free", false, flags.ReasonPlanGate},
		{"in the rollout", flags.Flag{Rollout: 5000}, in, "free", true, flags.ReasonRollout},
		{"outside the rollout, default false", flags.Flag{Rollout: 5000}, out, "free", false, flags.ReasonDefault},
		{"outside the rollout, default true", flags.Flag{Rollout: 5000, Default: true}, out, "free", true, flags.ReasonDefault},
		{"nothing decides, default false", flags.Flag{}, in, "free", false, flags.ReasonDefault},
		{"nothing decides, default true", flags.Flag{Default: true}, in, "free", true, flags.ReasonDefault},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.flag.Key = "f"
			got := newSnapshot(t, tt.flag).Evaluate("f", tt.tenant, tt.plan)
			want := flags.Evaluation{Key: "f", Value: tt.value, Reason: tt.reason}
			if got != want {
				t.Fatalf("Evaluate = %+v, want %+v", got, want)
			}
		})
	}
}

func TestEvaluateManyOverrides(t *testing.T) {
	t.Parallel()
	ids := tenantIDs(18, 2000)
	on, off, rest := ids[:300], ids[300:600], ids[600:]
	overrides := map[uuid.UUID]bool{}
	for _, id := range on {
		overrides[id] = true
	}
	for _, id := range off {
		overrides[id] = false
	}
	s := newSnapshot(t, flags.Flag{Key: "f", Rollout: 5000, Overrides: overrides})
	for _, id := range on {
		if got := s.Evaluate("f", id, "free"); !got.Value || got.Reason != flags.ReasonOverride {
			t.Fatalf("tenant %s overridden on: %+v", id, got)
		}
	}
	for _, id := range off {
		if got := s.Evaluate("f", id, "free"); got.Value || got.Reason != flags.ReasonOverride {
			t.Fatalf("tenant %s overridden off: %+v", id, got)
		}
	}
	for _, id := range rest {
		if got := s.Evaluate("f", id, "free"); got.Reason == flags.ReasonOverride {
			t.Fatalf("tenant %s without an override: %+v", id, got)
		}
	}
}

func TestEvaluateUnknownFlag(t *testing.T) {
	t.Parallel()
	id := tenantIDs(7, 1)[0]
	want := flags.Evaluation{Key: "nope", Value: false, Reason: flags.ReasonFlagNotFound}
	for name, s := range map[string]*flags.Snapshot{
		"snapshot": newSnapshot(t, flags.Flag{Key: "yes", Default: true}),
		"empty":    newSnapshot(t),
		"zero":     {},
		"nil":      nil,
	} {
		if got := s.Evaluate("nope", id, "pro"); got != want {
			t.Errorf("%s: Evaluate = %+v, want %+v", name, got, want)
		}
	}
}

func TestEvaluateAllIsSortedWithReasons(t *testing.T) {
	t.Parallel()
	id := tenantIDs(8, 1)[0]
	s := newSnapshot(t,
		flags.Flag{Key: "zeta", Default: true},
		flags.Flag{Key: "alpha", KillSwitch: true},
		flags.Flag{Key: "mid", MinPlan: "enterprise"},
		flags.Flag{Key: "beta", Overrides: map[uuid.UUID]bool{id: true}},
	)
	got := s.EvaluateAll(id, "pro")
	want := []flags.Evaluation{
		{Key: "alpha", Value: false, Reason: flags.ReasonKillSwitch},
		{Key: "beta", Value: true, Reason: flags.ReasonOverride},
		{Key: "mid", Value: false, Reason: flags.ReasonPlanGate},
		{Key: "zeta", Value: true, Reason: flags.ReasonDefault},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("EvaluateAll = %+v, want %+v", got, want)
	}
	keys := []string{}
	for _, f := range s.Flags() {
		keys = append(keys, f.Key)
	}
	if !slices.Equal(keys, []string{"alpha", "beta", "mid", "zeta"}) {
		t.Fatalf("Flags keys = %v", keys)
	}
}

// TestSnapshotIsImmutable guards that a snapshot serving concurrent
// evaluations cannot be changed through what went in or came out.
func TestSnapshotIsImmutable(t *testing.T) {
	t.Parallel()
	id := tenantIDs(9, 1)[0]
	in := []flags.Flag{{Key: "f", Overrides: map[uuid.UUID]bool{id: true}}}
	ranks := map[string]int{"free": 0, "pro": 1}
	in[0].MinPlan = "pro"
	s, err := flags.NewSnapshot(in, ranks)
	if err != nil {
		t.Fatal(err)
	}
	in[0].Overrides[id] = false
	in[0].Key = "g"
	ranks["free"] = 5
	out := s.Flags()
	out[0].Overrides[id] = false
	f, _ := s.Flag("f")
	f.Overrides[id] = false

	if got := s.Evaluate("f", id, "free"); !got.Value || got.Reason != flags.ReasonOverride {
		t.Fatalf("override changed from outside: %+v", got)
	}
	other := tenantIDs(10, 1)[0]
	if got := s.Evaluate("f", other, "free"); got.Reason != flags.ReasonPlanGate {
		t.Fatalf("plan ranks changed from outside: %+v", got)
	}
}
