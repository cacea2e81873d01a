package flags_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"
	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"

	"github.com/tenantkit/tenantkit/internal/flags"
)

type providerBundle struct {
	client   *openfeature.Client
	snap     *flags.Snapshot
	planHits *atomic.Int64
}

// setupProvider puts a Provider over snap behind the SDK's own client, on
// an API instance of the test's own. plans backs PlanFunc when not nil.
func setupProvider(t *testing.T, snap *flags.Snapshot, plans map[uuid.UUID]string) providerBundle {
	t.Helper()
	b := providerBundle{snap: snap, planHits: new(atomic.Int64)}
	cfg := flags.ProviderConfig{Evaluator: snap}
	if plans != nil {
		cfg.PlanFunc = func(_ context.Context, tenant uuid.UUID) (string, error) {
			b.planHits.Add(1)
			p, ok := plans[tenant]
			if !ok {
				return "", errors.New("tenant not found")
			}
			return p, nil
		}
	}
	p, err := flags.NewProvider(cfg)
	if err != nil {
		t.Fatal(err)
	}
	api := isolated.NewAPI()
	t.Cleanup(func() { _ = api.Shutdown(context.Background()) })
	if err := api.SetProviderAndWait(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	b.client = api.NewClient()
	return b
}

func TestProviderMapsEvaluations(t *testing.T) {
	t.Parallel()
	in := tenantWhere(t, func(id uuid.UUID) bool { return flags.InCohort("sso", id, 5000) })
	out := tenantWhere(t, func(id uuid.UUID) bool { return !flags.InCohort("sso", id, 5000) })
	vip := tenantIDs(11, 1)[0]
	snap := newSnapshot(t,
		flags.Flag{Key: "sso", MinPlan: "pro", Rollout: 5000, Overrides: map[uuid.UUID]bool{vip: true}},
		flags.Flag{Key: "killed", KillSwitch: true, Rollout: 10000},
		flags.Flag{Key: "plain", Default: true},
	)
	// PlanFunc disagrees with the attribute for in and out, so a test row
	// shows which one was used.
	b := setupProvider(t, snap, map[uuid.UUID]string{in: "free", out: "enterprise", vip: "free"})
	const noAttr = "-"
	tests := []struct {
		name        string
		key         string
		tenant      uuid.UUID
		planAttr    string // noAttr: ask PlanFunc
		value       bool
		reason      openfeature.Reason
		ourReason   flags.Reason
		wantVariant string
	}{
		{"override", "sso", vip, "free", true, openfeature.TargetingMatchReason, flags.ReasonOverride, "on"},
		{"plan gate from attribute", "sso", out, "free", false, openfeature.TargetingMatchReason, flags.ReasonPlanGate, "off"},
		{"plan gate from PlanFunc", "sso", in, noAttr, false, openfeature.TargetingMatchReason, flags.ReasonPlanGate, "off"},
		{"rollout from attribute", "sso", in, "pro", true, openfeature.SplitReason, flags.ReasonRollout, "on"},
		{"outside rollout from PlanFunc", "sso", out, noAttr, false, openfeature.DefaultReason, flags.ReasonDefault, "off"},
		{"outside rollout from attribute", "sso", out, "enterprise", false, openfeature.DefaultReason, flags.ReasonDefault, "off"},
		{"kill switch", "killed", in, "enterprise", false, openfeature.DisabledReason, flags.ReasonKillSwitch, "off"},
		{"default", "plain", out, "free", true, openfeature.DefaultReason, flags.ReasonDefault, "on"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			attrs := map[string]any{}
			plan := tt.planAttr
			if tt.planAttr == noAttr {
				attrs = nil
				plan = map[uuid.UUID]string{in: "free", out: "enterprise", vip: "free"}[tt.tenant]
			} else {
				attrs[flags.PlanAttribute] = tt.planAttr
			}
			// The caller's default is the opposite of the answer, so a
			// default passed through cannot look right.
			got, err := b.client.BooleanValueDetails(t.Context(), tt.key, !tt.value, openfeature.NewEvaluationContext(tt.tenant.String(), attrs))
			if err != nil {
				t.Fatalf("BooleanValueDetails: %v", err)
			}
			if direct := snap.Evaluate(tt.key, tt.tenant, plan); got.Value != direct.Value || direct.Reason != tt.ourReason {
				t.Fatalf("client says %v, snapshot says %+v", got.Value, direct)
			}
			if got.Value != tt.value || got.Reason != tt.reason || got.Variant != tt.wantVariant || got.ErrorCode != "" {
				t.Fatalf("got value %v reason %s variant %q error %q, want %v %s %q", got.Value, got.Reason, got.Variant, got.ErrorCode, tt.value, tt.reason, tt.wantVariant)
			}
			if r, _ := got.FlagMetadata.GetString(flags.ReasonMetadataKey); r != string(tt.ourReason) {
				t.Fatalf("metadata reason %q, want %q", r, tt.ourReason)
			}
		})
	}
}

func TestProviderPrefersThePlanAttribute(t *testing.T) {
	t.Parallel()
	id := tenantIDs(12, 1)[0]
	b := setupProvider(t, newSnapshot(t, flags.Flag{Key: "sso", MinPlan: "pro", Default: true}), map[uuid.UUID]string{id: "free"})
	ctx := t.Context()
	if !b.client.Boolean(ctx, "sso", false, openfeature.NewEvaluationContext(id.String(), map[string]any{"plan": "pro"})) {
		t.Fatal("plan attribute pro: flag off")
	}
	if n := b.planHits.Load(); n != 0 {
		t.Fatalf("PlanFunc called %d times although the context had a plan", n)
	}
	if b.client.Boolean(ctx, "sso", true, openfeature.NewEvaluationContext(id.String(), nil)) {
		t.Fatal("PlanFunc plan free: flag on")
	}
	if n := b.planHits.Load(); n != 1 {
		t.Fatalf("PlanFunc called %d times, want 1", n)
	}
}

func TestProviderWithoutPlanFuncTreatsThePlanAsUnknown(t *testing.T) {
	t.Parallel()
	id := tenantIDs(13, 1)[0]
	b := setupProvider(t, newSnapshot(t, flags.Flag{Key: "sso", MinPlan: "free", Default: true}, flags.Flag{Key: "open", Default: true}), nil)
	got, err := b.client.BooleanValueDetails(t.Context(), "sso", true, openfeature.NewEvaluationContext(id.String(), nil))
	if err != nil || got.Value || got.Reason != openfeature.TargetingMatchReason {
		t.Fatalf("gated flag without a plan: %+v, %v; want false by plan gate", got, err)
	}
	if !b.client.Boolean(t.Context(), "open", false, openfeature.NewEvaluationContext(id.String(), nil)) {
		t.Fatal("ungated flag without a plan: off")
	}
}

func TestProviderErrors(t *testing.T) {
	t.Parallel()
	known := tenantIDs(14, 1)[0]
	lost := tenantIDs(15, 1)[0]
	b := setupProvider(t, newSnapshot(t, flags.Flag{Key: "f", Rollout: 10000}), map[uuid.UUID]string{known: "pro"})
	tests := []struct {
		name      string
		key       string
		evalCtx   openfeature.EvaluationContext
		code      openfeature.ErrorCode
		ourReason flags.Reason
	}{
		{"unknown flag", "nope", openfeature.NewEvaluationContext(known.String(), map[string]any{"plan": "pro"}), openfeature.FlagNotFoundCode, flags.ReasonFlagNotFound},
		{"no targeting key", "f", openfeature.NewTargetlessEvaluationContext(map[string]any{"plan": "pro"}), openfeature.TargetingKeyMissingCode, flags.ReasonError},
		{"targeting key not a uuid", "f", openfeature.NewEvaluationContext("acme", nil), openfeature.InvalidContextCode, flags.ReasonError},
		{"targeting key not a string", "f", openfeature.NewTargetlessEvaluationContext(map[string]any{openfeature.TargetingKey: 42}), openfeature.InvalidContextCode, flags.ReasonError},
		{"plan not a string", "f", openfeature.NewEvaluationContext(known.String(), map[string]any{"plan": 2}), openfeature.InvalidContextCode, flags.ReasonError},
		{"PlanFunc fails", "f", openfeature.NewEvaluationContext(lost.String(), nil), openfeature.GeneralCode, flags.ReasonError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The flag would be true; a false default shows it was kept.
			got, err := b.client.BooleanValueDetails(t.Context(), tt.key, false, tt.evalCtx)
			if err == nil {
				t.Fatal("no error")
			}
			if got.Value || got.Reason != openfeature.ErrorReason || got.ErrorCode != tt.code {
				t.Fatalf("got value %v reason %s code %s, want false ERROR %s", got.Value, got.Reason, got.ErrorCode, tt.code)
			}
			if r, _ := got.FlagMetadata.GetString(flags.ReasonMetadataKey); r != string(tt.ourReason) {
				t.Fatalf("metadata reason %q, want %q", r, tt.ourReason)
			}
		})
	}
	// And the same evaluation with a valid context succeeds.
	if v, err := b.client.BooleanValue(t.Context(), "f", false, openfeature.NewEvaluationContext(known.String(), nil)); err != nil || !v {
		t.Fatalf("valid context: %v, %v", v, err)
	}
}

func TestProviderNonBooleanIsATypeMismatch(t *testing.T) {
	t.Parallel()
	id := tenantIDs(16, 1)[0].String()
	b := setupProvider(t, newSnapshot(t, flags.Flag{Key: "f", Default: true}), nil)
	ctx, ec := t.Context(), openfeature.NewEvaluationContext(id, nil)
	s, err := b.client.StringValueDetails(ctx, "f", "dflt", ec)
	if err == nil || s.Value != "dflt" || s.ErrorCode != openfeature.TypeMismatchCode {
		t.Errorf("string: %+v, %v", s, err)
	}
	i, err := b.client.IntValueDetails(ctx, "f", 7, ec)
	if err == nil || i.Value != 7 || i.ErrorCode != openfeature.TypeMismatchCode {
		t.Errorf("int: %+v, %v", i, err)
	}
	f, err := b.client.FloatValueDetails(ctx, "f", 0.5, ec)
	if err == nil || f.Value != 0.5 || f.ErrorCode != openfeature.TypeMismatchCode {
		t.Errorf("float: %+v, %v", f, err)
	}
	o, err := b.client.ObjectValueDetails(ctx, "f", "obj", ec)
	if err == nil || o.Value != "obj" || o.ErrorCode != openfeature.TypeMismatchCode {
		t.Errorf("object: %+v, %v", o, err)
	}
}

func TestProviderFollowsTheEngine(t *testing.T) {
	t.Parallel()
	id := tenantIDs(17, 1)[0]
	var on atomic.Bool
	e, err := flags.NewEngine(flags.EngineConfig{LoadFunc: func(context.Context) (*flags.Snapshot, error) {
		return flags.NewSnapshot([]flags.Flag{{Key: "f", Default: on.Load()}}, nil)
	}})
	if err != nil {
		t.Fatal(err)
	}
	p, err := flags.NewProvider(flags.ProviderConfig{Evaluator: e})
	if err != nil {
		t.Fatal(err)
	}
	if p.Metadata().Name != "tenantkit" {
		t.Fatalf("provider name %q", p.Metadata().Name)
	}
	api := isolated.NewAPI()
	t.Cleanup(func() { _ = api.Shutdown(context.Background()) })
	if err := api.SetProviderAndWait(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	c, ec := api.NewClient(), openfeature.NewEvaluationContext(id.String(), nil)
	if _, err := c.BooleanValue(t.Context(), "f", false, ec); err == nil {
		t.Fatal("before the first load: no error for a flag the engine does not have yet")
	}
	on.Store(true)
	if err := e.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if v, err := c.BooleanValue(t.Context(), "f", false, ec); err != nil || !v {
		t.Fatalf("after Refresh: %v, %v", v, err)
	}
}

func TestNewProviderRequiresAnEvaluator(t *testing.T) {
	t.Parallel()
	if _, err := flags.NewProvider(flags.ProviderConfig{}); err == nil {
		t.Fatal("NewProvider accepted no Evaluator")
	}
}
