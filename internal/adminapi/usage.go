package adminapi

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/tenantkit/tenantkit/internal/billing"
	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/problem"
)

// Bounds of the window GET /api/v1/load ranks tenants over: at least a
// load bucket or so, at most what the catalog keeps of recent load.
const (
	DefaultLoadWindow = time.Minute
	MinLoadWindow     = 10 * time.Second
	MaxLoadWindow     = time.Hour
)

// UsageExport is every tenant's usage in a billing period, the answer of
// GET /api/v1/usage.
type UsageExport struct {
	Period  string                `json:"period"`
	Tenants []catalog.UsageReport `json:"tenants"`
	// Next is the after of the next page, when there is one.
	Next string `json:"next,omitempty"`
}

// DefaultUsagePage is how many tenants a page of GET /api/v1/usage holds
// unless limit says otherwise (at most catalog.MaxUsagePage).
const DefaultUsagePage = 1000

// PeriodOr returns period, or the billing period of now when it is empty.
func PeriodOr(period string, now time.Time) string {
	if period == "" {
		return catalog.Period(now)
	}
	return period
}

// ExportUsage returns every tenant's usage recorded in period (YYYY-MM).
func ExportUsage(ctx context.Context, s *catalog.Store, period string) (UsageExport, error) {
	us, err := s.UsageInPeriod(ctx, period)
	if err != nil {
		return UsageExport{}, err
	}
	return UsageExport{Period: period, Tenants: us}, nil
}

// CheckLoadWindow refuses a window outside MinLoadWindow..MaxLoadWindow
// with a *catalog.ValidationError naming the field window.
func CheckLoadWindow(d time.Duration) error {
	if d < MinLoadWindow || d > MaxLoadWindow {
		return windowError()
	}
	return nil
}

func windowError() error {
	return &catalog.ValidationError{Fields: []catalog.FieldError{{
		Field: "window", Message: "must be a duration between 10s and 1h, like 60s",
	}}}
}

// parseWindow reads the window query parameter: a Go duration, the default
// when absent.
func parseWindow(s string) (time.Duration, error) {
	if s == "" {
		return DefaultLoadWindow, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, windowError()
	}
	return d, CheckLoadWindow(d)
}

// tenantBilling answers a tenant's billing on Stripe and its outbox.
func (a *API) tenantBilling(w http.ResponseWriter, r *http.Request) {
	st, err := a.store.TenantBilling(r.Context(), r.PathValue("ref"))
	a.respond(w, r, st, err)
}

// BillingSessions opens Stripe's hosted pages for a tenant
// (billing.Sessions).
type BillingSessions interface {
	Portal(ctx context.Context, ref, returnURL string) (string, error)
	Checkout(ctx context.Context, ref, plan, successURL, cancelURL string) (string, error)
	// Report reports a period's metered usage to Stripe's meters and
	// returns the reconciliation (billing.Billing.ReportUsage).
	Report(ctx context.Context, period string, opts billing.ReportOptions) (billing.ReportResult, error)
}

// billingReport reports metered usage to Stripe's meters: safe to run
// again, every event carrying an identifier Stripe counts once.
func (a *API) billingReport(w http.ResponseWriter, r *http.Request) {
	if a.billingOff(w, r) {
		return
	}
	var in struct {
		Period string `json:"period"`
		Tenant string `json:"tenant"`
		Resend bool   `json:"resend"`
	}
	if !a.decode(w, r, &in) {
		return
	}
	if in.Period == "" {
		in.Period = time.Now().UTC().Format("2006-01")
	}
	if in.Tenant != "" {
		if _, err := a.store.GetTenant(r.Context(), in.Tenant); err != nil {
			a.fail(w, r, err)
			return
		}
	}
	res, err := a.billing.Report(r.Context(), in.Period, billing.ReportOptions{Slug: in.Tenant, Resend: in.Resend})
	a.respond(w, r, res, err)
}

// SessionURL is the answer of the portal and checkout routes.
type SessionURL struct {
	URL string `json:"url"`
}

func (a *API) billingOff(w http.ResponseWriter, r *http.Request) bool {
	if a.billing != nil {
		return false
	}
	problem.Write(w, r, problem.New(http.StatusNotImplemented, problem.NotImplemented,
		"billing is off: the server has no TENANTKIT_STRIPE_SECRET_KEY"))
	return true
}

// billingPortal opens the tenant's Customer Portal.
func (a *API) billingPortal(w http.ResponseWriter, r *http.Request) {
	if a.billingOff(w, r) {
		return
	}
	var in struct {
		ReturnURL string `json:"return_url"`
	}
	if !a.decode(w, r, &in) {
		return
	}
	u, err := a.billing.Portal(r.Context(), r.PathValue("ref"), in.ReturnURL)
	a.respond(w, r, SessionURL{URL: u}, err)
}

// billingCheckout opens Checkout for the tenant's subscription to a plan.
func (a *API) billingCheckout(w http.ResponseWriter, r *http.Request) {
	if a.billingOff(w, r) {
		return
	}
	var in struct {
		Plan       string `json:"plan"`
		SuccessURL string `json:"success_url"`
		CancelURL  string `json:"cancel_url"`
	}
	if !a.decode(w, r, &in) {
		return
	}
	u, err := a.billing.Checkout(r.Context(), r.PathValue("ref"), in.Plan, in.SuccessURL, in.CancelURL)
	a.respond(w, r, SessionURL{URL: u}, err)
}

func (a *API) tenantUsage(w http.ResponseWriter, r *http.Request) {
	period := PeriodOr(r.URL.Query().Get("period"), time.Now())
	u, err := a.store.UsageFor(r.Context(), r.PathValue("ref"), period)
	a.respond(w, r, u, err)
}

// exportUsage lists the tenants' usage in a period, for billing, a page
// at a time: ?after= the next of the page before, ?limit= its size. The
// next page's address is also in the Link header.
func (a *API) exportUsage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	period := PeriodOr(q.Get("period"), time.Now())
	limit := DefaultUsagePage
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > catalog.MaxUsagePage {
			a.fail(w, r, &catalog.ValidationError{Fields: []catalog.FieldError{{Field: "limit",
				Message: fmt.Sprintf("must be a whole number between 1 and %d", catalog.MaxUsagePage)}}})
			return
		}
		limit = n
	}
	page, next, err := a.store.UsageInPeriodPage(r.Context(), period, q.Get("after"), limit)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	linkNext(w, r, next)
	writeJSON(w, http.StatusOK, UsageExport{Period: period, Tenants: page, Next: next})
}

// load ranks tenants by their load over the last window, for tenantkit
// top.
func (a *API) load(w http.ResponseWriter, r *http.Request) {
	window, err := parseWindow(r.URL.Query().Get("window"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	rep, err := a.store.Load(r.Context(), time.Now(), window)
	a.respond(w, r, rep, err)
}
