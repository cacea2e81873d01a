package client

import (
	"context"
	"net/http"
	"time"
)

// BillingStatus is a tenant's billing on Stripe, as the catalog knows it.
type BillingStatus struct {
	Tenant  Tenant         `json:"tenant"`
	Account BillingAccount `json:"account"`
	// Backlog are the changes not yet applied to Stripe, oldest first;
	// Recent the last ones applied.
	Backlog []BillingChange `json:"backlog"`
	Recent  []BillingChange `json:"recent"`
}

// BillingAccount is a tenant's customer and subscription on Stripe.
type BillingAccount struct {
	CustomerID     string `json:"customer_id,omitempty"`
	SubscriptionID string `json:"subscription_id,omitempty"`
	// Items are the subscription's items: price id → item id.
	Items    map[string]string `json:"items,omitempty"`
	SyncedAt *time.Time        `json:"synced_at,omitempty"`
}

// Billing changes.
const (
	BillingSubscribe  = "subscribe"
	BillingChangePlan = "change_plan"
	BillingSeats      = "seats"
	BillingCancel     = "cancel"
)

// BillingChange is one change the catalog asks of Stripe, applied in order
// per tenant and retried with backoff until Stripe takes it.
type BillingChange struct {
	ID       int64  `json:"id"`
	TenantID string `json:"tenant_id"`
	Op       string `json:"op"`
	Change   struct {
		Slug        string       `json:"slug"`
		Name        string       `json:"name"`
		Plan        string       `json:"plan"`
		Billing     *PlanBilling `json:"billing,omitempty"`
		FromPlan    string       `json:"from_plan,omitempty"`
		FromBilling *PlanBilling `json:"from_billing,omitempty"`
		Upgrade     bool         `json:"upgrade,omitempty"`
		Seats       int64        `json:"seats"`
	} `json:"change"`
	CreatedAt     time.Time  `json:"created_at"`
	Attempts      int        `json:"attempts"`
	NextAttemptAt time.Time  `json:"next_attempt_at,omitzero"`
	LastError     string     `json:"last_error,omitempty"`
	DoneAt        *time.Time `json:"done_at,omitempty"`
}

// TenantBilling returns a tenant's billing status.
func (c *Client) TenantBilling(ctx context.Context, ref string) (BillingStatus, error) {
	var st BillingStatus
	return st, c.call(ctx, http.MethodGet, tenantPath(ref)+"/billing", nil, nil, &st)
}

// BillingPortal returns the URL of a Stripe Customer Portal session of the
// tenant that comes back to returnURL (409 billing-not-ready while the
// tenant has no customer on Stripe; 501 when the server does not bill).
func (c *Client) BillingPortal(ctx context.Context, ref, returnURL string) (string, error) {
	var out struct {
		URL string `json:"url"`
	}
	err := c.call(ctx, http.MethodPost, tenantPath(ref)+"/billing/portal", nil, map[string]string{"return_url": returnURL}, &out)
	return out.URL, err
}

// BillingCheckout returns the URL of a Stripe Checkout session that
// subscribes the tenant to plan.
func (c *Client) BillingCheckout(ctx context.Context, ref, plan, successURL, cancelURL string) (string, error) {
	var out struct {
		URL string `json:"url"`
	}
	err := c.call(ctx, http.MethodPost, tenantPath(ref)+"/billing/checkout", nil,
		map[string]string{"plan": plan, "success_url": successURL, "cancel_url": cancelURL}, &out)
	return out.URL, err
}

// BillingReportParams select what a usage report covers.
type BillingReportParams struct {
	// Period is the billing month, YYYY-MM; the server's current one by
	// default.
	Period string `json:"period,omitempty"`
	// Tenant reports one tenant (id or slug); all billed ones by default.
	Tenant string `json:"tenant,omitempty"`
	// Resend sends every event of the period again, with its identifier.
	Resend bool `json:"resend,omitempty"`
}

// BillingReport is what a usage report sent, and the reconciliation.
type BillingReport struct {
	Period    string   `json:"period"`
	Sent      []string `json:"sent"`
	Failed    int      `json:"failed"`
	LastError string   `json:"last_error,omitempty"`
	Usage     []struct {
		TenantID    string       `json:"tenant_id"`
		Slug        string       `json:"slug"`
		CustomerID  string       `json:"customer_id"`
		Metric      string       `json:"metric"`
		Meter       string       `json:"meter"`
		Catalog     int64        `json:"catalog"`
		Reported    int64        `json:"reported"`
		Unconfirmed []UsageEvent `json:"unconfirmed,omitempty"`
		Events      []UsageEvent `json:"events"`
	} `json:"usage"`
}

// UsageEvent is one meter event.
type UsageEvent struct {
	Seq        int        `json:"seq"`
	Value      int64      `json:"value"`
	Total      int64      `json:"total"`
	Identifier string     `json:"identifier"`
	ReportedAt *time.Time `json:"reported_at,omitempty"`
	Final      bool       `json:"final,omitempty"`
}

// BillingReport reports metered usage to Stripe's meters: safe to run
// again (501 when the server does not bill).
func (c *Client) BillingReport(ctx context.Context, p BillingReportParams) (BillingReport, error) {
	var out BillingReport
	return out, c.call(ctx, http.MethodPost, "/api/v1/billing/report", nil, p, &out)
}
