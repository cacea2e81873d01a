package payment

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/tenantkit/tenantkit/internal/integration"
)

// Sentinel errors.
var (
	// ErrUnknownProvider is returned by New for a provider it does not know.
	ErrUnknownProvider = errors.New("payment: unknown provider")
	// ErrUnauthorized is matched (errors.Is) by a *ProviderError whose
	// provider refused the credentials: HTTP 401 or 403.
	ErrUnauthorized = errors.New("payment: credentials refused")
	// ErrInvalidInput is wrapped by the errors of calls given an argument
	// the provider would refuse (a non-positive amount, a malformed
	// currency), before anything is sent.
	ErrInvalidInput = errors.New("payment: invalid input")
	// ErrNoWebhookSecret is returned by VerifyWebhook when the account was
	// configured without a webhook secret.
	ErrNoWebhookSecret = errors.New("payment: no webhook secret configured")
	// ErrInvalidWebhook is wrapped by VerifyWebhook's errors for a payload
	// whose signature is missing, malformed, wrong or too old.
	ErrInvalidWebhook = errors.New("payment: webhook not verified")
)

// Account is a tenant's account with a payment provider.
type Account interface {
	// Test checks the credentials with an authenticated read.
	Test(ctx context.Context) error
	// CreateCustomer creates a customer and returns its id.
	CreateCustomer(ctx context.Context, email, name string, metadata map[string]string) (id string, err error)
	// CreatePaymentIntent creates a payment intent of amountMinor in the
	// currency's smallest unit (cents for usd) for customerID (none when
	// empty) and returns its id and the client secret a browser confirms
	// it with.
	CreatePaymentIntent(ctx context.Context, amountMinor int64, currency, customerID string, metadata map[string]string) (id, clientSecret string, err error)
}

// WebhookVerifier checks a provider's webhook signature. The Accounts New
// returns implement it.
type WebhookVerifier interface {
	// VerifyWebhook checks payload against the signature header the
	// provider sent with it and returns the event's type.
	VerifyWebhook(payload []byte, sigHeader string) (eventType string, err error)
}

// ProviderStripe is the Stripe provider's name, as Specs lists it and New
// takes it.
const ProviderStripe = "stripe"

type provider = integration.Provider[Account]

func providers() map[string]provider {
	return map[string]provider{
		ProviderStripe: {Spec: stripeSpec(), Build: newStripe},
	}
}

// Specs describes every payment provider, sorted by name.
func Specs() []integration.Spec {
	return integration.SpecsOf(providers())
}

// New builds the named provider's Account for cfg.Tenant, after checking
// cfg against the provider's Spec. The Account also implements
// integration.Tester and WebhookVerifier. Configuration errors wrap
// integration.ErrInvalidConfig and name fields, never credential values.
func New(provider string, cfg integration.Config) (Account, error) {
	return integration.Build(providers(), provider, cfg, ErrUnknownProvider, newRedactor(cfg.Credentials).error)
}

// invalidConfig reports a field value the spec's presence check cannot
// catch, naming the field only.
func invalidConfig(provider, kind, field, why string) error {
	return fmt.Errorf("%w: %s %s: %s %q %s", integration.ErrInvalidConfig, integration.Payment, provider, kind, field, why)
}

// baseURL parses the base_url setting; nil when it is empty.
func baseURL(provider string, settings map[string]string) (*url.URL, error) {
	raw := strings.TrimSpace(settings["base_url"])
	if raw == "" {
		return nil, nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.User != nil {
		return nil, invalidConfig(provider, "setting", "base_url", "must be an http(s) URL")
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return u, nil
}

// ProviderError is a provider's refusal: the provider, the operation, the
// HTTP status, the provider's error type and code, its message with every
// credential value removed, and its request id.
type ProviderError struct {
	Provider  string
	Op        string
	Status    int
	Type      string
	Code      string
	Message   string
	RequestID string
}

func (e *ProviderError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "payment %s: %s", e.Provider, e.Op)
	if e.Status != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.Status)
	}
	for _, s := range []string{e.Type, e.Code, e.Message} {
		if s != "" {
			fmt.Fprintf(&b, ": %s", s)
		}
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " (request %s)", e.RequestID)
	}
	return b.String()
}

// Is reports whether target is ErrUnauthorized and the status says the
// credentials were refused.
func (e *ProviderError) Is(target error) bool {
	return target == ErrUnauthorized && (e.Status == 401 || e.Status == 403)
}
