package flags

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/open-feature/go-sdk/openfeature"
)

// ProviderName is the name a Provider gives in its metadata.
const ProviderName = "tenantkit"

// PlanAttribute is the evaluation-context attribute a Provider reads the
// tenant's plan from.
const PlanAttribute = "plan"

// ReasonMetadataKey is the flag-metadata key under which a Provider puts
// the Reason of each evaluation.
const ReasonMetadataKey = "tenantkit.reason"

// Variants of a boolean flag, as a Provider reports them.
const (
	VariantOn  = "on"
	VariantOff = "off"
)

// Evaluator decides flags; *Engine and *Snapshot are Evaluators.
type Evaluator interface {
	Evaluate(key string, tenant uuid.UUID, plan string) Evaluation
}

// ProviderConfig configures a Provider.
type ProviderConfig struct {
	// Evaluator decides the flags, usually the process's *Engine. Required.
	Evaluator Evaluator
	// PlanFunc returns the plan of a tenant whose evaluation context has no
	// "plan" attribute, through the tenant cache say. An error fails the
	// evaluation with the caller's default value. Defaults to none: without
	// the attribute the plan is unknown, so plan-gated flags are off.
	PlanFunc func(ctx context.Context, tenant uuid.UUID) (string, error)
}

// Provider is an OpenFeature provider of boolean flags. The evaluation
// context's targeting key is the tenant id; the tenant's plan is its
// "plan" attribute or else what PlanFunc says.
//
// Reasons map to OpenFeature's: override and plan_gate to TARGETING_MATCH,
// kill_switch to DISABLED, rollout to SPLIT, default to DEFAULT. An unknown
// flag is FLAG_NOT_FOUND, a missing targeting key TARGETING_KEY_MISSING, a
// targeting key that is not a uuid or a plan attribute that is not a
// string INVALID_CONTEXT, and any evaluation other than boolean
// TYPE_MISMATCH; errors give the caller's default value. The flag metadata
// holds our Reason under ReasonMetadataKey. Over an Engine that has not
// loaded yet, every flag is FLAG_NOT_FOUND.
type Provider struct {
	eval     Evaluator
	planFunc func(context.Context, uuid.UUID) (string, error)
}

var _ openfeature.FeatureProvider = (*Provider)(nil)

// NewProvider returns a Provider. Each OpenFeature API instance needs a
// Provider of its own.
func NewProvider(cfg ProviderConfig) (*Provider, error) {
	if cfg.Evaluator == nil {
		return nil, errors.New("flags: ProviderConfig.Evaluator is required")
	}
	return &Provider{eval: cfg.Evaluator, planFunc: cfg.PlanFunc}, nil
}

// Metadata names the provider.
func (p *Provider) Metadata() openfeature.Metadata {
	return openfeature.Metadata{Name: ProviderName}
}

// Hooks returns no hooks.
func (p *Provider) Hooks() []openfeature.Hook { return nil }

// BooleanEvaluation decides flag for the tenant the context names.
func (p *Provider) BooleanEvaluation(ctx context.Context, flag string, defaultValue bool, flatCtx openfeature.FlattenedContext) openfeature.BoolResolutionDetail {
	tenant, plan, rerr := p.subject(ctx, flatCtx)
	if rerr != nil {
		return openfeature.BoolResolutionDetail{Value: defaultValue, ProviderResolutionDetail: failed(*rerr, ReasonError)}
	}
	ev := p.eval.Evaluate(flag, tenant, plan)
	if ev.Reason == ReasonFlagNotFound {
		rerr := openfeature.NewFlagNotFoundResolutionError(fmt.Sprintf("no flag %q", flag))
		return openfeature.BoolResolutionDetail{Value: defaultValue, ProviderResolutionDetail: failed(rerr, ev.Reason)}
	}
	variant := VariantOff
	if ev.Value {
		variant = VariantOn
	}
	return openfeature.BoolResolutionDetail{
		Value: ev.Value,
		ProviderResolutionDetail: openfeature.ProviderResolutionDetail{
			Reason:       openFeatureReason(ev.Reason),
			Variant:      variant,
			FlagMetadata: openfeature.FlagMetadata{ReasonMetadataKey: string(ev.Reason)},
		},
	}
}

// subject reads the tenant and its plan from the evaluation context.
func (p *Provider) subject(ctx context.Context, flatCtx openfeature.FlattenedContext) (uuid.UUID, string, *openfeature.ResolutionError) {
	fail := func(rerr openfeature.ResolutionError) (uuid.UUID, string, *openfeature.ResolutionError) {
		return uuid.Nil, "", &rerr
	}
	v, ok := flatCtx[openfeature.TargetingKey]
	if !ok || v == "" {
		return fail(openfeature.NewTargetingKeyMissingResolutionError("the targeting key must be the tenant id"))
	}
	s, ok := v.(string)
	if !ok {
		return fail(openfeature.NewInvalidContextResolutionError(fmt.Sprintf("targeting key is a %T, not a tenant id", v)))
	}
	tenant, err := uuid.Parse(s)
	if err != nil {
		return fail(openfeature.NewInvalidContextResolutionError(fmt.Sprintf("targeting key %q is not a tenant id", s)))
	}
	if v, ok := flatCtx[PlanAttribute]; ok {
		plan, ok := v.(string)
		if !ok {
			return fail(openfeature.NewInvalidContextResolutionError(fmt.Sprintf("attribute %q is a %T, not a string", PlanAttribute, v)))
		}
		return tenant, plan, nil
	}
	if p.planFunc == nil {
		return tenant, "", nil
	}
	plan, err := p.planFunc(ctx, tenant)
	if err != nil {
		return fail(openfeature.NewGeneralResolutionError(fmt.Sprintf("look up the plan of tenant %s: %v", tenant, err), err))
	}
	return tenant, plan, nil
}

func failed(rerr openfeature.ResolutionError, r Reason) openfeature.ProviderResolutionDetail {
	return openfeature.ProviderResolutionDetail{
		ResolutionError: rerr,
		Reason:          openfeature.ErrorReason,
		FlagMetadata:    openfeature.FlagMetadata{ReasonMetadataKey: string(r)},
	}
}

func openFeatureReason(r Reason) openfeature.Reason {
	switch r {
	case ReasonOverride, ReasonPlanGate:
		return openfeature.TargetingMatchReason
	case ReasonKillSwitch:
		return openfeature.DisabledReason
	case ReasonRollout:
		return openfeature.SplitReason
	case ReasonDefault:
		return openfeature.DefaultReason
	}
	return openfeature.UnknownReason
}

func typeMismatch() openfeature.ProviderResolutionDetail {
	return failed(openfeature.NewTypeMismatchResolutionError("tenantkit flags are boolean"), ReasonError)
}

// StringEvaluation fails with TYPE_MISMATCH: flags are boolean.
func (p *Provider) StringEvaluation(_ context.Context, _ string, defaultValue string, _ openfeature.FlattenedContext) openfeature.StringResolutionDetail {
	return openfeature.StringResolutionDetail{Value: defaultValue, ProviderResolutionDetail: typeMismatch()}
}

// FloatEvaluation fails with TYPE_MISMATCH: flags are boolean.
func (p *Provider) FloatEvaluation(_ context.Context, _ string, defaultValue float64, _ openfeature.FlattenedContext) openfeature.FloatResolutionDetail {
	return openfeature.FloatResolutionDetail{Value: defaultValue, ProviderResolutionDetail: typeMismatch()}
}

// IntEvaluation fails with TYPE_MISMATCH: flags are boolean.
func (p *Provider) IntEvaluation(_ context.Context, _ string, defaultValue int64, _ openfeature.FlattenedContext) openfeature.IntResolutionDetail {
	return openfeature.IntResolutionDetail{Value: defaultValue, ProviderResolutionDetail: typeMismatch()}
}

// ObjectEvaluation fails with TYPE_MISMATCH: flags are boolean.
func (p *Provider) ObjectEvaluation(_ context.Context, _ string, defaultValue any, _ openfeature.FlattenedContext) openfeature.InterfaceResolutionDetail {
	return openfeature.InterfaceResolutionDetail{Value: defaultValue, ProviderResolutionDetail: typeMismatch()}
}
