package adminapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tenantkit/tenantkit/internal/adminapi"
	"github.com/tenantkit/tenantkit/internal/billing"
	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/stripemock"
)

// TestTenantBillingRoute: a plan given prices through PATCH, a tenant
// created on it: GET …/billing shows its subscription waiting for Stripe;
// a tenant on a plan without prices has nothing waiting; an unknown tenant
// is 404.
func TestTenantBillingRoute(t *testing.T) {
	t.Parallel()
	b := setup(t)
	w := b.do(t, "PATCH", "/api/v1/plans/pro", `{"billing":{"base_price":"price_pro","metered":{"jobs":{"price":"price_jobs","meter":"jobs"}}}}`)
	if p := decode[catalog.Plan](t, w, http.StatusOK); p.Billing == nil || p.Billing.Metered["jobs"].Price != "price_jobs" {
		t.Fatalf("pro: %+v", p.Billing)
	}
	wantProblem(t, b.do(t, "PATCH", "/api/v1/plans/pro", `{"billing":{"metered":{"page_views":{"price":"price_pv","meter":"pv"}}}}`),
		http.StatusUnprocessableEntity, "invalid-fields")
	decode[catalog.Tenant](t, b.do(t, "POST", "/api/v1/tenants", `{"slug":"acme","name":"Acme","plan":"pro"}`), http.StatusCreated)
	decode[catalog.Tenant](t, b.do(t, "POST", "/api/v1/tenants", `{"slug":"globex","name":"Globex","plan":"free"}`), http.StatusCreated)

	st := decode[catalog.BillingStatus](t, b.do(t, "GET", "/api/v1/tenants/acme/billing", ""), http.StatusOK)
	if len(st.Backlog) != 1 || st.Backlog[0].Op != catalog.BillingSubscribe || st.Backlog[0].Change.Plan != "pro" || st.Account.CustomerID != "" {
		t.Fatalf("acme: %+v", st)
	}
	if st := decode[catalog.BillingStatus](t, b.do(t, "GET", "/api/v1/tenants/globex/billing", ""), http.StatusOK); len(st.Backlog) != 0 {
		t.Fatalf("globex, on a plan without prices: %+v", st)
	}
	wantProblem(t, b.do(t, "GET", "/api/v1/tenants/nosuch/billing", ""), http.StatusNotFound, "tenant-not-found")
}

// TestBillingPortalAndCheckoutRoutes: with billing off both routes are 501;
// with it on, a tenant billing has not synced is 409 billing-not-ready,
// bad URLs and a plan without prices are 422 naming the field, and a
// synced tenant gets the URL of Stripe's page (stripe-mock's), opened for
// its customer with its tenant in the Checkout subscription's metadata.
func TestBillingPortalAndCheckoutRoutes(t *testing.T) {
	t.Parallel()
	off := setup(t)
	wantProblem(t, off.do(t, "POST", "/api/v1/tenants/acme/billing/portal", `{"return_url":"https://app.example/"}`), http.StatusNotImplemented, "not-implemented")
	wantProblem(t, off.do(t, "POST", "/api/v1/tenants/acme/billing/checkout", `{"plan":"pro","success_url":"https://a.example/","cancel_url":"https://a.example/"}`),
		http.StatusNotImplemented, "not-implemented")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, proxy := stripemock.ForTest(t)
	bl, err := billing.New(billing.Config{SecretKey: stripemock.TestKey, APIBase: proxy.URL()})
	if err != nil {
		t.Fatal(err)
	}
	var store *catalog.Store
	b := setup(t, func(c *adminapi.Config) { store = c.Store; c.Billing = billing.Sessions{Billing: bl, Store: c.Store} })
	decode[catalog.Plan](t, b.do(t, "PATCH", "/api/v1/plans/pro", `{"billing":{"base_price":"price_pro"}}`), http.StatusOK)
	decode[catalog.Tenant](t, b.do(t, "POST", "/api/v1/tenants", `{"slug":"acme","name":"Acme","plan":"pro"}`), http.StatusCreated)
	wantProblem(t, b.do(t, "POST", "/api/v1/tenants/acme/billing/portal", `{"return_url":"https://app.example/"}`), http.StatusConflict, "billing-not-ready")
	if res, err := billing.NewSyncer(bl, store, billing.SyncConfig{}).Drain(ctx, 10, nil); err != nil || res.Applied != 1 {
		t.Fatalf("drain: %+v, %v", res, err)
	}
	wantProblem(t, b.do(t, "POST", "/api/v1/tenants/acme/billing/portal", `{"return_url":"not a url"}`), http.StatusUnprocessableEntity, "invalid-fields")
	wantProblem(t, b.do(t, "POST", "/api/v1/tenants/acme/billing/checkout", `{"plan":"free","success_url":"https://a.example/","cancel_url":"ftp://x"}`),
		http.StatusUnprocessableEntity, "invalid-fields")
	wantProblem(t, b.do(t, "POST", "/api/v1/tenants/nosuch/billing/portal", `{"return_url":"https://app.example/"}`), http.StatusNotFound, "tenant-not-found")

	portal := decode[adminapi.SessionURL](t, b.do(t, "POST", "/api/v1/tenants/acme/billing/portal", `{"return_url":"https://app.example/"}`), http.StatusOK)
	checkout := decode[adminapi.SessionURL](t, b.do(t, "POST", "/api/v1/tenants/acme/billing/checkout",
		`{"plan":"pro","success_url":"https://app.example/ok","cancel_url":"https://app.example/no"}`), http.StatusOK)
	if !strings.HasPrefix(portal.URL, "https://") || !strings.HasPrefix(checkout.URL, "https://") {
		t.Fatalf("portal %q, checkout %q", portal.URL, checkout.URL)
	}
	acme, _ := store.GetTenant(ctx, "acme")
	calls := proxy.CallsTo("POST", "/v1/checkout/sessions")
	if len(calls) != 1 || calls[0].Form.Get("mode") != "subscription" || calls[0].Form.Get("line_items[0][price]") != "price_pro" ||
		calls[0].Form.Get("subscription_data[metadata][tenant_id]") != acme.ID.String() || calls[0].Form.Get("customer") == "" {
		t.Fatalf("checkout session: %+v", calls)
	}
	if p := proxy.CallsTo("POST", "/v1/billing_portal/sessions"); len(p) != 1 || p[0].Form.Get("return_url") != "https://app.example/" {
		t.Fatalf("portal session: %+v", p)
	}
}

// TestBillingReportRoute: 501 with billing off; with it on, acme's new
// usage goes to its meter once (a second report sends nothing), a bad
// period is 422 and an unknown tenant 404.
func TestBillingReportRoute(t *testing.T) {
	t.Parallel()
	off := setup(t)
	wantProblem(t, off.do(t, "POST", "/api/v1/billing/report", `{}`), http.StatusNotImplemented, "not-implemented")

	_, proxy := stripemock.ForTest(t)
	bl, err := billing.New(billing.Config{SecretKey: stripemock.TestKey, APIBase: proxy.URL()})
	if err != nil {
		t.Fatal(err)
	}
	var store *catalog.Store
	b := setup(t, func(c *adminapi.Config) { store = c.Store; c.Billing = billing.Sessions{Billing: bl, Store: c.Store} })
	ctx := context.Background()
	decode[catalog.Plan](t, b.do(t, "PATCH", "/api/v1/plans/pro", `{"billing":{"base_price":"price_pro","metered":{"api_calls":{"price":"price_api","meter":"api_calls"}}}}`), http.StatusOK)
	acme := decode[catalog.Tenant](t, b.do(t, "POST", "/api/v1/tenants", `{"slug":"acme","name":"Acme","plan":"pro"}`), http.StatusCreated)
	if res, err := billing.NewSyncer(bl, store, billing.SyncConfig{}).Drain(ctx, 10, nil); err != nil || res.Applied != 1 {
		t.Fatalf("drain: %+v, %v", res, err)
	}
	period := time.Now().UTC().Format("2006-01")
	if _, err := store.WriteUsage(ctx, catalog.UsageBatch{ID: uuid.New(), Deltas: []catalog.UsageDelta{{Tenant: acme.ID, Period: period, APICalls: 9}}}); err != nil {
		t.Fatal(err)
	}
	res := decode[billing.ReportResult](t, b.do(t, "POST", "/api/v1/billing/report", `{"tenant":"acme"}`), http.StatusOK)
	if res.Period != period || len(res.Sent) != 1 || len(res.Usage) != 1 || res.Usage[0].Catalog != 9 || res.Usage[0].Reported != 9 {
		t.Fatalf("report: %+v", res)
	}
	if again := decode[billing.ReportResult](t, b.do(t, "POST", "/api/v1/billing/report", `{}`), http.StatusOK); len(again.Sent) != 0 {
		t.Fatalf("a second report sent %v", again.Sent)
	}
	wantProblem(t, b.do(t, "POST", "/api/v1/billing/report", `{"period":"2026-13"}`), http.StatusUnprocessableEntity, "invalid-fields")
	wantProblem(t, b.do(t, "POST", "/api/v1/billing/report", `{"tenant":"nosuch"}`), http.StatusNotFound, "tenant-not-found")
}
