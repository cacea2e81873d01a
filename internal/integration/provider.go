package integration

import (
	"fmt"
	"sort"
)

// Provider is one provider of a provider package: its spec and its
// constructor.
type Provider[T any] struct {
	Spec  Spec
	Build func(Config) (T, error)
}

// SpecsOf returns the specs of providers, sorted by provider name.
func SpecsOf[T any](providers map[string]Provider[T]) []Spec {
	specs := make([]Spec, 0, len(providers))
	for _, p := range providers {
		specs = append(specs, p.Spec)
	}
	sort.Slice(specs, func(i, j int) bool { return specs[i].Provider < specs[j].Provider })
	return specs
}

// Build checks cfg against the named provider's spec, then builds it. An
// unknown name wraps unknown; redact, when not nil, cleans the
// constructor's errors of credentials.
func Build[T any](providers map[string]Provider[T], name string, cfg Config, unknown error, redact func(error) error) (T, error) {
	var zero T
	p, ok := providers[name]
	if !ok {
		return zero, fmt.Errorf("%w: %q", unknown, name)
	}
	if err := p.Spec.Validate(cfg.Credentials, cfg.Settings); err != nil {
		return zero, err
	}
	v, err := p.Build(cfg)
	if err != nil && redact != nil {
		return zero, redact(err)
	}
	return v, err
}
