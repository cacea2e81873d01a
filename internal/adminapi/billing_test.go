package adminapi_test

import (
	"net/http"
	"testing"

	"github.com/tenantkit/tenantkit/internal/catalog"
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
