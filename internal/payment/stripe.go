package payment

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"strings"

	"github.com/google/uuid"
	"github.com/stripe/stripe-go/v86"
	"github.com/stripe/stripe-go/v86/webhook"

	"github.com/tenantkit/tenantkit/internal/integration"
)

func stripeSpec() integration.Spec {
	return integration.Spec{
		Type:        integration.Payment,
		Provider:    ProviderStripe,
		Description: "The tenant's own Stripe account.",
		Credentials: []integration.Field{
			{Name: "secret_key", Required: true, Description: "Secret key (sk_test_…, sk_live_…) or restricted key (rk_…) of the account."},
			{Name: "webhook_secret", Description: "Signing secret (whsec_…) of the account's webhook endpoint; needed to verify webhooks."},
		},
		Settings: []integration.Field{
			{Name: "base_url", Description: "Base URL of the Stripe API, for tests; empty for Stripe's own."},
		},
	}
}

// StripeAccount is a tenant's Stripe account, reached through its own
// stripe-go client and backend with the tenant's key.
type StripeAccount struct {
	client  *stripe.Client
	tenant  uuid.UUID
	slug    string
	live    bool
	webhook *string // the webhook signing secret; nil when not configured
	r       *redactor
}

func newStripe(cfg integration.Config) (Account, error) {
	key := strings.TrimSpace(cfg.Credentials["secret_key"])
	if !strings.HasPrefix(key, "sk_test_") && !strings.HasPrefix(key, "sk_live_") && !strings.HasPrefix(key, "rk_") {
		return nil, invalidConfig(ProviderStripe, "credential", "secret_key", "must start with sk_test_, sk_live_ or rk_")
	}
	a := &StripeAccount{tenant: cfg.Tenant, slug: cfg.TenantSlug, r: newRedactor(cfg.Credentials),
		live: strings.HasPrefix(key, "sk_live_") || strings.HasPrefix(key, "rk_live_")}
	if ws := strings.TrimSpace(cfg.Credentials["webhook_secret"]); ws != "" {
		if !strings.HasPrefix(ws, "whsec_") {
			return nil, invalidConfig(ProviderStripe, "credential", "webhook_secret", "must start with whsec_")
		}
		a.webhook = &ws
	}
	base, err := baseURL(ProviderStripe, cfg.Settings)
	if err != nil {
		return nil, err
	}
	bc := &stripe.BackendConfig{
		HTTPClient: cfg.Client(),
		// stripe-go logs failed requests to stderr by default; errors are
		// returned, redacted, instead.
		LeveledLogger: &stripe.LeveledLogger{Level: stripe.LevelNull},
	}
	if base != nil {
		bc.URL = stripe.String(base.String())
	}
	a.client = stripe.NewClient(key, stripe.WithBackends(stripe.NewBackendsWithConfig(bc)))
	return a, nil
}

func (a *StripeAccount) String() string {
	mode := "test"
	if a.live {
		mode = "live"
	}
	return fmt.Sprintf("payment.StripeAccount{tenant: %s, mode: %s}", a.tenant, mode)
}

// Format prints the account as String does, whatever the verb, so no
// formatting of it reaches its client and key.
func (a *StripeAccount) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, a.String()) }

// fail turns a client error into one without credentials: a *ProviderError
// for an answer of Stripe's.
func (a *StripeAccount) fail(op string, err error) error {
	var se *stripe.Error
	if errors.As(err, &se) && (se.HTTPStatusCode != 0 || se.Type != "") {
		return &ProviderError{Provider: ProviderStripe, Op: op, Status: se.HTTPStatusCode,
			Type: a.r.excerpt(string(se.Type)), Code: a.r.excerpt(string(se.Code)),
			Message: a.r.excerpt(se.Msg), RequestID: a.r.excerpt(se.RequestID)}
	}
	return a.r.error(fmt.Errorf("payment stripe: %s: %w", op, err))
}

// metadata is extra plus the tenant, which extra cannot override.
func (a *StripeAccount) metadata(extra map[string]string) map[string]string {
	m := make(map[string]string, len(extra)+2)
	maps.Copy(m, extra)
	m["tenant"] = a.tenant.String()
	if a.slug != "" {
		m["tenant_slug"] = a.slug
	}
	return m
}

// Test reads the account's balance (GET /v1/balance), which changes
// nothing and works with any valid secret key.
func (a *StripeAccount) Test(ctx context.Context) error {
	if _, err := a.client.V1Balance.Retrieve(ctx, &stripe.BalanceRetrieveParams{}); err != nil {
		return a.fail("test", err)
	}
	return nil
}

// CreateCustomer implements Account. Empty email and name are not sent.
func (a *StripeAccount) CreateCustomer(ctx context.Context, email, name string, metadata map[string]string) (string, error) {
	p := &stripe.CustomerCreateParams{Metadata: a.metadata(metadata)}
	if email != "" {
		p.Email = stripe.String(email)
	}
	if name != "" {
		p.Name = stripe.String(name)
	}
	c, err := a.client.V1Customers.Create(ctx, p)
	if err != nil {
		return "", a.fail("create customer", err)
	}
	return c.ID, nil
}

// CreatePaymentIntent implements Account. The currency is a three-letter
// ISO code, sent in lower case.
func (a *StripeAccount) CreatePaymentIntent(ctx context.Context, amountMinor int64, currency, customerID string, metadata map[string]string) (string, string, error) {
	if amountMinor <= 0 {
		return "", "", fmt.Errorf("%w: amount %d is not positive", ErrInvalidInput, amountMinor)
	}
	cur := strings.ToLower(currency)
	if len(cur) != 3 || strings.Trim(cur, "abcdefghijklmnopqrstuvwxyz") != "" {
		return "", "", fmt.Errorf("%w: currency %q is not a three-letter code", ErrInvalidInput, currency)
	}
	p := &stripe.PaymentIntentCreateParams{
		Amount:   stripe.Int64(amountMinor),
		Currency: stripe.String(cur),
		Metadata: a.metadata(metadata),
	}
	if customerID != "" {
		p.Customer = stripe.String(customerID)
	}
	pi, err := a.client.V1PaymentIntents.Create(ctx, p)
	if err != nil {
		return "", "", a.fail("create payment intent", err)
	}
	return pi.ID, pi.ClientSecret, nil
}

// VerifyWebhook implements WebhookVerifier: payload must carry a valid
// Stripe-Signature (t=timestamp,v1=HMAC-SHA256 of "timestamp.payload"
// under the webhook secret) no older than five minutes. Events of any API
// version are accepted: the account, not this library, picks the version.
func (a *StripeAccount) VerifyWebhook(payload []byte, sigHeader string) (string, error) {
	if a.webhook == nil {
		return "", ErrNoWebhookSecret
	}
	ev, err := webhook.ConstructEventWithOptions(payload, sigHeader, *a.webhook,
		webhook.ConstructEventOptions{IgnoreAPIVersionMismatch: true})
	if err != nil {
		return "", a.r.error(fmt.Errorf("%w: %w", ErrInvalidWebhook, err))
	}
	if ev.Type == "" {
		return "", fmt.Errorf("%w: the event has no type", ErrInvalidWebhook)
	}
	return string(ev.Type), nil
}
