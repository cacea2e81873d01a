package billing_test

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tenantkit/tenantkit/internal/billing"
	"github.com/tenantkit/tenantkit/internal/catalog"
)

// use adds api calls to a tenant's usage in period, as a process's flush
// does.
func use(t *testing.T, store *catalog.Store, tenant uuid.UUID, period string, calls int64) {
	t.Helper()
	if _, err := store.WriteUsage(context.Background(), catalog.UsageBatch{ID: uuid.New(),
		Deltas: []catalog.UsageDelta{{Tenant: tenant, Period: period, APICalls: calls}}}); err != nil {
		t.Fatal(err)
	}
}

// TestUsageReachesTheMetersOnceWhateverTheReruns: a report sends the usage
// counted since the last as one meter event whose identifier is unique to
// the tenant, the metric, the period and its place; run again, it sends
// nothing new; with --resend it sends the very same identifiers; an event
// Stripe did not take is sent again with its identifier. The
// reconciliation shows the catalog's usage equal to what was reported.
func TestUsageReachesTheMetersOnceWhateverTheReruns(t *testing.T) {
	t.Parallel()
	s := newSync(t, billing.SyncConfig{})
	ctx := context.Background()
	acme, err := s.store.CreateTenant(ctx, "test", catalog.CreateParams{Slug: "acme", Name: "Acme", Plan: "pro"})
	if err != nil {
		t.Fatal(err)
	}
	s.drain(t) // acme's customer on Stripe
	b := s.sync.Billing()
	clock := time.Date(2026, 12, 15, 12, 0, 0, 0, time.UTC)
	opts := billing.ReportOptions{Now: func() time.Time { return clock }}
	const period = "2026-12"

	use(t, s.store, acme.ID, period, 120)
	first, err := b.ReportUsage(ctx, s.store, period, opts)
	if err != nil || len(first.Sent) != 1 || first.Failed != 0 {
		t.Fatalf("first report: %+v, %v", first, err)
	}
	ev := s.proxy.CallsTo(http.MethodPost, "/v1/billing/meter_events")
	if len(ev) != 1 || ev[0].Form.Get("event_name") != "api_calls" || ev[0].Form.Get("payload[value]") != "120" ||
		ev[0].Form.Get("payload[stripe_customer_id]") == "" || ev[0].Form.Get("identifier") != first.Sent[0] ||
		ev[0].Form.Get("timestamp") != "1797336000" {
		t.Fatalf("the meter event: %+v", ev)
	}
	again, err := b.ReportUsage(ctx, s.store, period, opts)
	if err != nil || len(again.Sent) != 0 {
		t.Fatalf("a report with nothing new sent %v, %v", again.Sent, err)
	}
	resent, err := b.ReportUsage(ctx, s.store, period, billing.ReportOptions{Now: opts.Now, Resend: true})
	if err != nil || !slices.Equal(resent.Sent, first.Sent) {
		t.Fatalf("resent %v, want the same identifiers %v (%v)", resent.Sent, first.Sent, err)
	}

	use(t, s.store, acme.ID, period, 30)
	s.proxy.SetDown(true)
	down, err := b.ReportUsage(ctx, s.store, period, opts)
	if err != nil || down.Failed != 1 || len(down.Usage) != 1 || len(down.Usage[0].Unconfirmed) != 1 || down.Usage[0].Reported != 120 {
		t.Fatalf("a report while Stripe is down: %+v, %v", down, err)
	}
	s.proxy.SetDown(false)
	up, err := b.ReportUsage(ctx, s.store, period, opts)
	if err != nil || len(up.Sent) != 1 || up.Sent[0] != down.Usage[0].Unconfirmed[0].Identifier {
		t.Fatalf("the next report: %+v, %v; want the unconfirmed event sent again with its identifier", up, err)
	}
	u := up.Usage[0]
	if u.Catalog != 150 || u.Reported != 150 || len(u.Unconfirmed) != 0 || len(u.Events) != 2 || u.Events[1].Value != 30 {
		t.Fatalf("reconciliation: %+v", u)
	}

	// After the month ends, the final report stamps its events at the
	// period's last second and marks them final.
	use(t, s.store, acme.ID, period, 5)
	clock = time.Date(2027, 1, 1, 3, 0, 0, 0, time.UTC)
	final, err := b.ReportUsage(ctx, s.store, period, opts)
	calls := s.proxy.CallsTo(http.MethodPost, "/v1/billing/meter_events")
	if err != nil || len(final.Sent) != 1 || !final.Usage[0].Events[2].Final || calls[len(calls)-1].Form.Get("timestamp") != "1798761599" {
		t.Fatalf("final report: %+v, %v", final, err)
	}
}
