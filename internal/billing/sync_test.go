package billing_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantkit/tenantkit/internal/billing"
	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/stripemock"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

// now makes every failed change due again at once.
func now(int) time.Duration { return 0 }

// syncBundle is a real catalog with billed plans, and a Syncer talking to
// stripe-mock through a recording proxy.
type syncBundle struct {
	store  *catalog.Store
	sync   *billing.Syncer
	proxy  *stripemock.Proxy
	server *stripemock.Server
}

func newSync(t *testing.T, cfg billing.SyncConfig) *syncBundle {
	t.Helper()
	b, p, server := stripeServer(t)
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
	ctx := context.Background()
	for plan, pb := range map[string]catalog.PlanBilling{
		"pro": {BasePrice: "price_pro", SeatPrice: "price_seat", TrialDays: 14,
			Metered: map[string]catalog.MeteredPrice{"api_calls": {Price: "price_api", Meter: "api_calls"}}},
		"enterprise": {BasePrice: "price_ent"},
	} {
		if _, err := store.UpdatePlan(ctx, "test", catalog.PlanParams{Name: plan, Billing: &pb}); err != nil {
			t.Fatal(err)
		}
	}
	// What Stripe answers a subscription create with: stripe-mock's
	// fixture items are not the ones asked for, and a seat change needs
	// the seat item's id.
	p.Override(http.MethodPost, "/v1/subscriptions", http.StatusOK, `{"id":"sub_acme","object":"subscription","status":"trialing",
		"items":{"object":"list","data":[
			{"id":"si_base","object":"subscription_item","price":{"id":"price_pro","object":"price"}},
			{"id":"si_seat","object":"subscription_item","price":{"id":"price_seat","object":"price"}},
			{"id":"si_api","object":"subscription_item","price":{"id":"price_api","object":"price"}}]}}`)
	return &syncBundle{store: store, sync: billing.NewSyncer(b, store, cfg), proxy: p, server: server}
}

func (s *syncBundle) drain(t *testing.T) billing.DrainResult {
	t.Helper()
	res, err := s.sync.Drain(context.Background(), 100, now)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestATenantsSubscriptionFollowsTheCatalog: a tenant created on a billed
// plan gets a customer and a subscription with the plan's prices and
// trial, both carrying its tenant id; a seat count change sets the seat
// item's quantity (the same count again sends nothing); an upgrade
// replaces the items, invoiced at once; a deletion cancels. Every call
// carries the idempotency key of its outbox row.
func TestATenantsSubscriptionFollowsTheCatalog(t *testing.T) {
	t.Parallel()
	s := newSync(t, billing.SyncConfig{})
	ctx := context.Background()
	acme, err := s.store.CreateTenant(ctx, "test", catalog.CreateParams{Slug: "acme", Name: "Acme", Plan: "pro"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.store.CreateTenant(ctx, "test", catalog.CreateParams{Slug: "globex", Name: "Globex", Plan: "free"}); err != nil {
		t.Fatal(err)
	}
	if res := s.drain(t); res.Applied != 1 || res.Failed != 0 {
		t.Fatalf("drain: %+v, want acme's subscription applied (free bills nothing)", res)
	}
	cus := s.proxy.CallsTo(http.MethodPost, "/v1/customers")
	sub := s.proxy.CallsTo(http.MethodPost, "/v1/subscriptions")
	if len(cus) != 1 || cus[0].Form.Get("metadata[tenant_id]") != acme.ID.String() || cus[0].Form.Get("name") != "Acme" ||
		!strings.HasPrefix(cus[0].IdempotencyKey, "tenantkit-billing-") {
		t.Fatalf("customer create: %+v", cus)
	}
	f := sub[0].Form
	if len(sub) != 1 || f.Get("items[0][price]") != "price_pro" || f.Get("items[0][quantity]") != "1" || f.Get("items[1][price]") != "price_seat" ||
		f.Get("items[2][price]") != "price_api" || f.Has("items[2][quantity]") || f.Get("trial_period_days") != "14" ||
		f.Get("metadata[tenant_id]") != acme.ID.String() || f.Get("customer") == "" {
		t.Fatalf("subscription create: %+v", sub)
	}
	st, err := s.store.TenantBilling(ctx, "acme")
	if err != nil || st.Account.SubscriptionID != "sub_acme" || st.Account.Items["price_seat"] != "si_seat" || len(st.Backlog) != 0 || len(st.Recent) != 1 {
		t.Fatalf("acme's billing: %+v, %v", st, err)
	}

	for range 2 {
		if err := s.store.SetUsage(ctx, "acme", "users", 7); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.store.SetUsage(ctx, "acme", "storage_mb", 70); err != nil { // not the seat gauge
		t.Fatal(err)
	}
	if res := s.drain(t); res.Applied != 1 {
		t.Fatalf("drain after the seat change: %+v, want one change", res)
	}
	seats := s.proxy.CallsTo(http.MethodPost, "/v1/subscription_items/si_seat")
	if len(seats) != 1 || seats[0].Form.Get("quantity") != "7" || seats[0].Form.Get("proration_behavior") != "create_prorations" {
		t.Fatalf("seat change: %+v", seats)
	}

	if _, err := s.store.SetTenantPlan(ctx, "test", "acme", catalog.SetPlanParams{Plan: "enterprise"}); err != nil {
		t.Fatal(err)
	}
	s.drain(t)
	up := s.proxy.CallsTo(http.MethodPost, "/v1/subscriptions/sub_acme")
	if len(up) != 1 {
		t.Fatalf("plan change: %+v", up)
	}
	f = up[0].Form
	deleted := 0
	for i := range 4 {
		if f.Get("items["+strconv.Itoa(i)+"][deleted]") == "true" {
			deleted++
		}
	}
	if deleted != 3 || f.Get("items[3][price]") != "price_ent" || f.Get("proration_behavior") != "always_invoice" || f.Get("metadata[plan]") != "enterprise" {
		t.Fatalf("upgrade: %v", f)
	}

	if _, err := s.store.DeleteTenant(ctx, "test", "acme"); err != nil {
		t.Fatal(err)
	}
	s.drain(t)
	if c := s.proxy.CallsTo(http.MethodDelete, "/v1/subscriptions/sub_acme"); len(c) != 1 || c[0].Status != http.StatusOK {
		t.Fatalf("cancel: %+v", c)
	}
	keys := map[string]bool{}
	for _, c := range s.proxy.Calls() {
		if c.Method == http.MethodPost || c.Method == http.MethodDelete {
			if keys[c.IdempotencyKey] || c.IdempotencyKey == "" {
				t.Errorf("%s %s: idempotency key %q, used before or empty", c.Method, c.Path, c.IdempotencyKey)
			}
			keys[c.IdempotencyKey] = true
		}
	}
}

// TestStripeDownDelaysChangesAndLosesNone: while Stripe is unreachable
// (stripe-mock stopped), the
// catalog's changes commit and wait in the outbox, visible with their last
// error; each retry of a change sends the same idempotency key. When
// Stripe is back, each change is applied exactly once, in order.
func TestStripeDownDelaysChangesAndLosesNone(t *testing.T) {
	t.Parallel()
	s := newSync(t, billing.SyncConfig{})
	ctx := context.Background()
	s.server.Stop()
	if _, err := s.store.CreateTenant(ctx, "test", catalog.CreateParams{Slug: "acme", Name: "Acme", Plan: "pro"}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if res := s.drain(t); res.Applied != 0 || res.Failed != 1 || res.LastError == nil {
			t.Fatalf("drain while Stripe is down: %+v", res)
		}
	}
	// The plan change commits in the catalog at once, Stripe or not.
	if _, err := s.store.SetTenantPlan(ctx, "test", "acme", catalog.SetPlanParams{Plan: "enterprise"}); err != nil {
		t.Fatal(err)
	}
	if tn, _ := s.store.GetTenant(ctx, "acme"); tn.Plan != "enterprise" {
		t.Fatalf("acme is on %s", tn.Plan)
	}
	s.drain(t)
	st, err := s.store.TenantBilling(ctx, "acme")
	if err != nil || len(st.Backlog) != 2 || st.Backlog[0].Op != catalog.BillingSubscribe || st.Backlog[0].Attempts != 4 ||
		!strings.Contains(st.Backlog[0].LastError, "502") || st.Backlog[1].Attempts != 0 {
		t.Fatalf("the backlog while Stripe is down: %+v, %v", st.Backlog, err)
	}
	if bl, err := s.store.BillingBacklogNow(ctx); err != nil || bl.Pending != 2 || bl.MostAttempts != 4 {
		t.Fatalf("the platform's backlog: %+v, %v", bl, err)
	}

	if err := s.server.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if res := s.drain(t); res.Applied != 2 || res.Failed != 0 {
		t.Fatalf("drain once Stripe is back: %+v", res)
	}
	if res := s.drain(t); res.Applied != 0 {
		t.Fatalf("a second drain applied %d", res.Applied)
	}
	cus := s.proxy.CallsTo(http.MethodPost, "/v1/customers")
	ok := 0
	for _, c := range cus {
		if c.IdempotencyKey != cus[0].IdempotencyKey {
			t.Errorf("retries of one customer create sent keys %q and %q", cus[0].IdempotencyKey, c.IdempotencyKey)
		}
		if c.Status == http.StatusOK {
			ok++
		}
	}
	if len(cus) != 5 || ok != 1 {
		t.Fatalf("customer creates: %d sent, %d taken; want 5 and 1", len(cus), ok)
	}
	up := s.proxy.CallsTo(http.MethodPost, "/v1/subscriptions/sub_acme")
	if len(up) != 1 || up[0].Status != http.StatusOK || up[0].Form.Get("items[3][price]") != "price_ent" {
		t.Fatalf("the plan change reached Stripe as %+v; want once, after the subscription", up)
	}
	if st, _ := s.store.TenantBilling(ctx, "acme"); len(st.Backlog) != 0 || len(st.Recent) != 2 {
		t.Fatalf("after: %+v", st)
	}
}
