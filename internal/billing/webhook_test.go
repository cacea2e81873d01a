package billing_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/stripe/stripe-go/v86/webhook"

	"github.com/tenantkit/tenantkit"
	"github.com/tenantkit/tenantkit/examples/orders"
	"github.com/tenantkit/tenantkit/internal/billing"
	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/jobs"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

const secret = "whsec_test_secret"

// hooks is a real catalog with River's tables, the webhook handler in
// front of it, and the event worker, run by hand.
type hooks struct {
	pool    *pgxpool.Pool
	store   *catalog.Store
	handler http.Handler
	worker  *billing.EventWorker
	river   *river.Client[pgx.Tx]
	clock   time.Time
}

func newHooks(t *testing.T, grace time.Duration) *hooks {
	t.Helper()
	db := tenantkittest.NewCatalog(t)
	pool, err := pgxpool.New(context.Background(), db.OwnerDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	store, err := catalog.NewStore(catalog.StoreConfig{Pool: pool})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Schema: jobs.Schema})
	if err != nil {
		t.Fatal(err)
	}
	h := &hooks{pool: pool, store: store, river: rc, clock: time.Now()}
	h.handler = billing.Webhook(store, secret, func(ctx context.Context, tx pgx.Tx, args river.JobArgs) error {
		_, err := rc.InsertTx(ctx, tx, args, nil)
		return err
	}, nil)
	h.worker = &billing.EventWorker{Store: store, Config: billing.EventsConfig{Grace: grace, Now: func() time.Time { return h.clock }}}
	ctx := context.Background()
	for plan, price := range map[string]string{"pro": "price_pro", "enterprise": "price_ent"} {
		if _, err := store.UpdatePlan(ctx, "test", catalog.PlanParams{Name: plan, Billing: &catalog.PlanBilling{BasePrice: price}}); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

// post signs and posts an event; it returns the answer's status and body.
func (h *hooks) post(t *testing.T, payload []byte, key string) (int, string) {
	t.Helper()
	sp := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: key, Timestamp: time.Now()})
	r := httptest.NewRequest(http.MethodPost, billing.WebhookPath, strings.NewReader(string(payload)))
	r.Header.Set("Stripe-Signature", sp.Header)
	w := httptest.NewRecorder()
	h.handler.ServeHTTP(w, r)
	return w.Code, w.Body.String()
}

// event is a Stripe event of type typ, made at created, about obj.
func event(id, typ string, created time.Time, obj map[string]any) []byte {
	b, _ := json.Marshal(map[string]any{"id": id, "object": "event", "api_version": "2026-06-24.dahlia", "created": created.Unix(),
		"type": typ, "livemode": false, "data": map[string]any{"object": obj}})
	return b
}

func invoice(tenant uuid.UUID) map[string]any {
	return map[string]any{"id": "in_1", "object": "invoice", "customer": "cus_x",
		"parent": map[string]any{"subscription_details": map[string]any{"metadata": map[string]string{"tenant_id": tenant.String()}}}}
}

// handle posts an event and works the job it enqueued.
func (h *hooks) handle(t *testing.T, payload []byte) {
	t.Helper()
	if code, body := h.post(t, payload, secret); code != http.StatusOK {
		t.Fatalf("post: %d %s", code, body)
	}
	var ev struct{ ID string }
	_ = json.Unmarshal(payload, &ev)
	if err := h.worker.Work(context.Background(), &river.Job[billing.EventArgs]{Args: billing.EventArgs{ID: ev.ID}}); err != nil {
		t.Fatal(err)
	}
}

func (h *hooks) events(t *testing.T) (stored, jobsQueued int) {
	t.Helper()
	ctx := context.Background()
	if err := h.pool.QueryRow(ctx, "SELECT count(*) FROM tenantkit.billing_events").Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if err := h.pool.QueryRow(ctx, "SELECT count(*) FROM "+jobs.Schema+".river_job WHERE kind = 'tenantkit_billing_event'").Scan(&jobsQueued); err != nil {
		t.Fatal(err)
	}
	return stored, jobsQueued
}

// TestAWebhookIsVerifiedAndHandledOnce: an event signed with another
// secret is 400 bad-signature and leaves nothing behind; a good one is
// stored and its job enqueued; the same event again is answered 200 and
// handled no second time.
func TestAWebhookIsVerifiedAndHandledOnce(t *testing.T) {
	t.Parallel()
	h := newHooks(t, 7*24*time.Hour)
	acme, err := h.store.CreateTenant(context.Background(), "test", catalog.CreateParams{Slug: "acme", Name: "Acme", Plan: "pro"})
	if err != nil {
		t.Fatal(err)
	}
	payload := event("evt_1", "invoice.payment_failed", time.Now(), invoice(acme.ID))
	if code, body := h.post(t, payload, "whsec_someone_else"); code != http.StatusBadRequest || !strings.Contains(body, "urn:tenantkit:problem:bad-signature") {
		t.Fatalf("a bad signature: %d %s", code, body)
	}
	if s, j := h.events(t); s != 0 || j != 0 {
		t.Fatalf("a bad signature left %d events and %d jobs", s, j)
	}
	for i := range 3 {
		code, body := h.post(t, payload, secret)
		if code != http.StatusOK || strings.Contains(body, `"duplicate":true`) != (i > 0) {
			t.Fatalf("post %d: %d %s", i, code, body)
		}
	}
	if s, j := h.events(t); s != 1 || j != 1 {
		t.Fatalf("one event posted three times: %d stored, %d jobs; want 1 and 1", s, j)
	}
}

// TestDunningOnAControllableClock: a failed payment makes the tenant past
// due (its context says so) and, once the grace period is over, suspended
// with "payment overdue"; a paid invoice clears it and resumes it. A
// tenant an operator suspended is not resumed by a payment.
func TestDunningOnAControllableClock(t *testing.T) {
	t.Parallel()
	h := newHooks(t, 7*24*time.Hour)
	ctx := context.Background()
	acme, _ := h.store.CreateTenant(ctx, "test", catalog.CreateParams{Slug: "acme", Name: "Acme", Plan: "pro"})
	globex, _ := h.store.CreateTenant(ctx, "test", catalog.CreateParams{Slug: "globex", Name: "Globex", Plan: "pro"})
	failedAt := time.Now().Add(-time.Minute).Truncate(time.Second)
	h.handle(t, event("evt_fail_acme", "invoice.payment_failed", failedAt, invoice(acme.ID)))
	h.handle(t, event("evt_fail_globex", "invoice.payment_failed", failedAt, invoice(globex.ID)))
	tc, err := h.store.LoadContext(ctx, acme.ID)
	if err != nil || tc.Status != catalog.StatusActive || tc.PastDue == nil || !tc.PastDue.Since.Equal(failedAt) ||
		!tc.PastDue.GraceUntil.Equal(failedAt.Add(7*24*time.Hour)) {
		t.Fatalf("acme after the failed payment: %+v %+v, %v", tc.Tenant, tc.PastDue, err)
	}
	if _, err := h.store.SuspendTenant(ctx, "operator", "globex", "abuse"); err != nil {
		t.Fatal(err)
	}

	if ts, err := h.store.SuspendOverdue(ctx, billing.Actor, failedAt.Add(6*24*time.Hour)); err != nil || len(ts) != 0 {
		t.Fatalf("within the grace period: suspended %+v, %v", ts, err)
	}
	ts, err := h.store.SuspendOverdue(ctx, billing.Actor, failedAt.Add(8*24*time.Hour))
	if err != nil || len(ts) != 1 || ts[0].Slug != "acme" || ts[0].SuspensionReason != catalog.OverdueReason {
		t.Fatalf("past the grace period: suspended %+v, %v; want acme", ts, err)
	}

	h.handle(t, event("evt_paid_acme", "invoice.paid", time.Now(), invoice(acme.ID)))
	h.handle(t, event("evt_paid_globex", "invoice.paid", time.Now(), invoice(globex.ID)))
	tc, _ = h.store.LoadContext(ctx, acme.ID)
	if tc.Status != catalog.StatusActive || tc.PastDue != nil {
		t.Fatalf("acme after paying: %s %+v, want active and not past due", tc.Status, tc.PastDue)
	}
	g, _ := h.store.LoadContext(ctx, globex.ID)
	if g.Status != catalog.StatusSuspended || g.SuspensionReason != "abuse" || g.PastDue != nil {
		t.Fatalf("globex, suspended by an operator, after paying: %s %q %+v", g.Status, g.SuspensionReason, g.PastDue)
	}
	e, _ := h.store.GetBillingEvent(ctx, "evt_paid_acme")
	if e.HandledAt == nil || e.Outcome != "paid, resumed" {
		t.Fatalf("the paid event: %+v", e)
	}
	// A failed payment older than the paid invoice, arriving late, changes
	// nothing.
	h.handle(t, event("evt_fail_late", "invoice.payment_failed", failedAt.Add(time.Second), invoice(acme.ID)))
	if tc, _ := h.store.LoadContext(ctx, acme.ID); tc.Status != catalog.StatusActive || tc.PastDue != nil {
		t.Fatalf("acme after a late, older failure: %s %+v", tc.Status, tc.PastDue)
	}
	if e, _ := h.store.GetBillingEvent(ctx, "evt_fail_late"); e.Outcome != "older than the tenant's last invoice event" {
		t.Fatalf("the late failure: %q", e.Outcome)
	}
}

// TestWithoutGraceAFailedPaymentSuspendsAtOnce: a grace of zero (dev's)
// suspends at the failed payment.
func TestWithoutGraceAFailedPaymentSuspendsAtOnce(t *testing.T) {
	t.Parallel()
	h := newHooks(t, 0)
	ctx := context.Background()
	acme, _ := h.store.CreateTenant(ctx, "test", catalog.CreateParams{Slug: "acme", Name: "Acme", Plan: "pro"})
	h.handle(t, event("evt_fail", "invoice.payment_failed", time.Now().Add(-time.Second), invoice(acme.ID)))
	if tn, _ := h.store.GetTenant(ctx, "acme"); tn.Status != catalog.StatusSuspended || tn.SuspensionReason != catalog.OverdueReason {
		t.Fatalf("acme: %s %q", tn.Status, tn.SuspensionReason)
	}
	h.handle(t, event("evt_paid", "invoice.paid", time.Now(), invoice(acme.ID)))
	if tn, _ := h.store.GetTenant(ctx, "acme"); tn.Status != catalog.StatusActive {
		t.Fatalf("acme after paying: %s", tn.Status)
	}
}

// TestSubscriptionEventsOutOfOrderEndInTheNewestState: a plan chosen in
// Stripe reaches the tenant (found by its customer id here), without a
// change sent back to Stripe; an older event arriving after a newer one
// changes nothing.
func TestSubscriptionEventsOutOfOrderEndInTheNewestState(t *testing.T) {
	t.Parallel()
	h := newHooks(t, 7*24*time.Hour)
	ctx := context.Background()
	acme, _ := h.store.CreateTenant(ctx, "test", catalog.CreateParams{Slug: "acme", Name: "Acme", Plan: "pro"})
	sub := func(price string) map[string]any {
		return map[string]any{"id": "sub_1", "object": "subscription", "customer": "cus_x", "status": "active",
			"metadata": map[string]string{"tenant_id": acme.ID.String()},
			"items": map[string]any{"object": "list", "data": []any{map[string]any{"id": "si_1", "object": "subscription_item",
				"price": map[string]any{"id": price, "object": "price"}}}}}
	}
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	h.handle(t, event("evt_new", "customer.subscription.updated", t0.Add(time.Minute), sub("price_ent")))
	h.handle(t, event("evt_old", "customer.subscription.updated", t0, sub("price_pro")))
	tn, _ := h.store.GetTenant(ctx, "acme")
	if tn.Plan != "enterprise" {
		t.Fatalf("acme is on %s, want enterprise (the newest event's)", tn.Plan)
	}
	st, err := h.store.TenantBilling(ctx, "acme")
	if err != nil || len(st.Backlog) != 1 || st.Backlog[0].Op != catalog.BillingSubscribe {
		t.Fatalf("acme's outbox: %+v, %v; want only its subscription, no echo of Stripe's change", st.Backlog, err)
	}
	if e, _ := h.store.GetBillingEvent(ctx, "evt_old"); e.Outcome != "older than the subscription's last event" {
		t.Fatalf("the late event: %q", e.Outcome)
	}
}

// TestAPlanChosenInStripeReachesTheKit: a subscription updated on Stripe's
// side to enterprise's price moves the tenant to enterprise, and a
// listening Kit's tenant context (what the next request gets) has
// enterprise's plan and limits.
func TestAPlanChosenInStripeReachesTheKit(t *testing.T) {
	t.Parallel()
	p := tenantkittest.NewPlatform(t, orders.Migrations())
	ctx := context.Background()
	store := p.Store()
	for plan, price := range map[string]string{"pro": "price_pro", "enterprise": "price_ent"} {
		if _, err := store.UpdatePlan(ctx, "test", catalog.PlanParams{Name: plan, Billing: &catalog.PlanBilling{BasePrice: price}}); err != nil {
			t.Fatal(err)
		}
	}
	id := p.Tenant(t, "acme", catalog.TierShared)
	if _, err := store.SetTenantPlan(ctx, "test", "acme", catalog.SetPlanParams{Plan: "pro", Force: true}); err != nil {
		t.Fatal(err)
	}
	kit := p.ListeningKit(t, tenantkit.Config{})
	if tn, err := kit.Lookup(ctx, "acme"); err != nil || tn.Plan != "pro" {
		t.Fatalf("acme before: %+v, %v", tn, err)
	}
	enterprise, err := store.GetPlan(ctx, "enterprise")
	if err != nil {
		t.Fatal(err)
	}
	payload := event("evt_portal", "customer.subscription.updated", time.Now(), map[string]any{"id": "sub_1", "object": "subscription",
		"metadata": map[string]string{"tenant_id": id.String()},
		"items":    map[string]any{"object": "list", "data": []any{map[string]any{"id": "si_1", "price": map[string]any{"id": "price_ent"}}}}})
	if _, err := store.RecordBillingEvent(ctx, catalog.BillingEvent{ID: "evt_portal", Type: "customer.subscription.updated", Created: time.Now(), Payload: payload},
		func(context.Context, pgx.Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	w := &billing.EventWorker{Store: store}
	if err := w.Work(ctx, &river.Job[billing.EventArgs]{Args: billing.EventArgs{ID: "evt_portal"}}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		tn, err := kit.Lookup(ctx, "acme")
		if err == nil && tn.Plan == "enterprise" && fmt.Sprint(tn.Limits) == fmt.Sprint(enterprise.Limits) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the Kit's acme 10s after Stripe's change: %+v, %v; want enterprise's limits %v", tn, err, enterprise.Limits)
		}
	}
}
