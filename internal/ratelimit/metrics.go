package ratelimit

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// decisionCounters are tenantkit_ratelimit_decisions_total for one backend,
// resolved once so that counting costs an atomic add.
type decisionCounters struct {
	allowed, limited prometheus.Counter
}

func newDecisionCounters(reg prometheus.Registerer, backend string) (decisionCounters, error) {
	v, err := registerCounterVec(reg, prometheus.CounterOpts{
		Name: "tenantkit_ratelimit_decisions_total",
		Help: "Rate limit decisions, degraded ones included, by backend and result.",
	}, "backend", "result")
	if err != nil {
		return decisionCounters{}, err
	}
	return decisionCounters{
		allowed: v.WithLabelValues(backend, "allowed"),
		limited: v.WithLabelValues(backend, "limited"),
	}, nil
}

func (c decisionCounters) count(allowed bool) {
	if allowed {
		c.allowed.Inc()
	} else {
		c.limited.Inc()
	}
}

func newBackendErrors(reg prometheus.Registerer, failOpen bool) (prometheus.Counter, error) {
	v, err := registerCounterVec(reg, prometheus.CounterOpts{
		Name: "tenantkit_ratelimit_backend_errors_total",
		Help: "Rate limit decisions left to the fail mode because the backend failed.",
	}, "mode")
	if err != nil {
		return nil, err
	}
	return v.WithLabelValues(failMode(failOpen)), nil
}

func failMode(failOpen bool) string {
	if failOpen {
		return "fail_open"
	}
	return "fail_closed"
}

// registerCounterVec registers a new vector with reg, or reuses the one
// already there, so that several limiters may share a registry. Without reg
// the vector counts unregistered.
func registerCounterVec(reg prometheus.Registerer, opts prometheus.CounterOpts, labels ...string) (*prometheus.CounterVec, error) {
	v := prometheus.NewCounterVec(opts, labels)
	if reg == nil {
		return v, nil
	}
	err := reg.Register(v)
	if err == nil {
		return v, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
			return existing, nil
		}
	}
	return nil, fmt.Errorf("ratelimit: register %s: %w", opts.Name, err)
}
