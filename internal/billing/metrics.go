package billing

import (
	"context"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tenantkit/tenantkit/internal/catalog"
)

// Metrics are billing's Prometheus metrics: the outbox's backlog (read
// from the catalog at scrape time), the changes Stripe did not take, and
// the webhook events handled by type and outcome.
type Metrics struct {
	store      *catalog.Store
	SyncErrors prometheus.Counter
	Events     *prometheus.CounterVec
}

var (
	backlogDesc = prometheus.NewDesc("tenantkit_billing_outbox_pending",
		"Catalog changes waiting to be applied to Stripe.", nil, nil)
	oldestDesc = prometheus.NewDesc("tenantkit_billing_outbox_oldest_seconds",
		"How long the oldest change waiting for Stripe has waited (0: none waits).", nil, nil)
	attemptsDesc = prometheus.NewDesc("tenantkit_billing_outbox_most_attempts",
		"The most attempts of a change waiting for Stripe.", nil, nil)
)

// NewMetrics returns billing's metrics over store's outbox.
func NewMetrics(store *catalog.Store) *Metrics {
	return &Metrics{
		store: store,
		SyncErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "tenantkit_billing_sync_errors_total",
			Help: "Attempts to apply a catalog change that Stripe did not take (each is retried)."}),
		Events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tenantkit_billing_webhook_events_total",
			Help: "Stripe webhook events handled, by type and outcome (handled, ignored, stale, no_tenant, unreadable)."}, []string{"type", "outcome"}),
	}
}

// Describe is prometheus.Collector's.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- backlogDesc
	ch <- oldestDesc
	ch <- attemptsDesc
	m.SyncErrors.Describe(ch)
	m.Events.Describe(ch)
}

// Collect is prometheus.Collector's.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.SyncErrors.Collect(ch)
	m.Events.Collect(ch)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	b, err := m.store.BillingBacklogNow(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(backlogDesc, err)
		return
	}
	oldest := 0.0
	if b.Pending > 0 {
		oldest = time.Since(b.Oldest).Seconds()
	}
	ch <- prometheus.MustNewConstMetric(backlogDesc, prometheus.GaugeValue, float64(b.Pending))
	ch <- prometheus.MustNewConstMetric(oldestDesc, prometheus.GaugeValue, oldest)
	ch <- prometheus.MustNewConstMetric(attemptsDesc, prometheus.GaugeValue, float64(b.MostAttempts))
}

// outcomeClass is an event outcome as a metric label: a few values.
func outcomeClass(outcome string) string {
	switch {
	case strings.HasPrefix(outcome, "ignored"):
		return "ignored"
	case outcome == "no tenant":
		return "no_tenant"
	case strings.HasPrefix(outcome, "older"):
		return "stale"
	case strings.HasPrefix(outcome, "unreadable"):
		return "unreadable"
	}
	return "handled"
}

// eventType is a Stripe event type as a metric label: the types billing
// handles, and "other".
func eventType(t string) string {
	switch t {
	case "invoice.payment_failed", "invoice.paid", "customer.subscription.deleted", "customer.subscription.updated":
		return t
	}
	return "other"
}
