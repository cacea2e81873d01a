package billing

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/stripe/stripe-go/v86"

	"github.com/tenantkit/tenantkit/internal/catalog"
)

// ErrNoCustomer says the tenant has no customer on Stripe yet: billing has
// not synced it (it is on a plan without prices, or its subscription waits
// in the outbox).
var ErrNoCustomer = errors.New("billing: the tenant has no customer on Stripe yet")

// Sessions opens Stripe's hosted pages for a tenant: the Customer Portal
// (change plan, payment method, invoices) and Checkout for an upgrade.
type Sessions struct {
	Billing *Billing
	Store   *catalog.Store
}

func checkURL(field, s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return catalog.Invalid(catalog.FieldError{Field: field, Message: "must be an absolute http(s) URL"})
	}
	return nil
}

func (s Sessions) account(ctx context.Context, ref string) (catalog.BillingStatus, error) {
	st, err := s.Store.TenantBilling(ctx, ref)
	if err != nil {
		return st, err
	}
	if st.Account.CustomerID == "" {
		return st, ErrNoCustomer
	}
	return st, nil
}

// Portal returns the URL of a Customer Portal session of the tenant, which
// comes back to returnURL.
func (s Sessions) Portal(ctx context.Context, ref, returnURL string) (string, error) {
	if err := checkURL("return_url", returnURL); err != nil {
		return "", err
	}
	st, err := s.account(ctx, ref)
	if err != nil {
		return "", err
	}
	ps, err := s.Billing.sc.V1BillingPortalSessions.Create(ctx, &stripe.BillingPortalSessionCreateParams{
		Customer: stripe.String(st.Account.CustomerID), ReturnURL: stripe.String(returnURL),
	})
	if err != nil {
		return "", fmt.Errorf("billing: open the Customer Portal of %s: %w", st.Tenant.Slug, err)
	}
	return ps.URL, nil
}

// Checkout returns the URL of a Checkout session that subscribes the
// tenant to plan's prices; the subscription it makes carries the tenant,
// so its events find it.
func (s Sessions) Checkout(ctx context.Context, ref, plan, successURL, cancelURL string) (string, error) {
	var bad []catalog.FieldError
	for _, u := range [][2]string{{"success_url", successURL}, {"cancel_url", cancelURL}} {
		if err := checkURL(u[0], u[1]); err != nil {
			bad = append(bad, catalog.FieldError{Field: u[0], Message: "must be an absolute http(s) URL"})
		}
	}
	p, err := s.Store.GetPlan(ctx, plan)
	if errors.Is(err, catalog.ErrPlanNotFound) || (err == nil && (p.Billing == nil || p.Billing.Empty())) {
		bad = append(bad, catalog.FieldError{Field: "plan", Message: fmt.Sprintf("must be a plan with Stripe prices, not %q", plan)})
	} else if err != nil {
		return "", err
	}
	if err := catalog.Invalid(bad...); err != nil {
		return "", err
	}
	st, err := s.account(ctx, ref)
	if err != nil {
		return "", err
	}
	meta := map[string]string{"tenant_id": st.Tenant.ID.String(), "tenant": st.Tenant.Slug, "plan": plan}
	params := &stripe.CheckoutSessionCreateParams{
		Mode: stripe.String("subscription"), Customer: stripe.String(st.Account.CustomerID),
		SuccessURL: stripe.String(successURL), CancelURL: stripe.String(cancelURL),
		ClientReferenceID: stripe.String(st.Tenant.ID.String()), Metadata: meta,
		SubscriptionData: &stripe.CheckoutSessionCreateSubscriptionDataParams{Metadata: meta},
	}
	for _, it := range wanted(p.Billing, 1) {
		params.LineItems = append(params.LineItems, &stripe.CheckoutSessionCreateLineItemParams{Price: stripe.String(it.price), Quantity: it.quantity})
	}
	cs, err := s.Billing.sc.V1CheckoutSessions.Create(ctx, params)
	if err != nil {
		return "", fmt.Errorf("billing: open Checkout for %s: %w", st.Tenant.Slug, err)
	}
	return cs.URL, nil
}

// Report reports a period's metered usage (see Billing.ReportUsage).
func (s Sessions) Report(ctx context.Context, period string, opts ReportOptions) (ReportResult, error) {
	return s.Billing.ReportUsage(ctx, s.Store, period, opts)
}
