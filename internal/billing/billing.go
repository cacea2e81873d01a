// Package billing is the platform billing its tenants on Stripe (stripe-go
// v86, API 2026-06-24.dahlia): a plan's prices checked against Stripe
// before the catalog takes them (Billing.CheckPrices); each tenant's
// customer and subscription kept in step with the catalog through a
// transactional outbox drained with idempotency keys (Syncer); metered
// usage reported to Billing Meters with identifiers Stripe counts once
// (ReportUsage); webhooks verified, stored once and handled in jobs, with
// dunning on a grace period (Webhook, EventWorker, OverdueWorker); Checkout
// and Customer Portal sessions (Sessions). A tenant's own Stripe account,
// its payment integration, is another thing (internal/payment).
package billing

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v86"

	"github.com/tenantkit/tenantkit/internal/catalog"
)

// Config says how to reach Stripe.
type Config struct {
	// SecretKey is the platform's Stripe secret key (sk_live_… or
	// sk_test_…). Required.
	SecretKey string
	// APIBase points the client at another server than Stripe's API
	// (stripe-mock in tests and in dev). Defaults to Stripe's.
	APIBase string
	// Timeout bounds each call to Stripe. Defaults to 20s.
	Timeout time.Duration
}

// Environment variables of the Config.
const (
	EnvSecretKey = "TENANTKIT_STRIPE_SECRET_KEY"
	EnvAPIBase   = "TENANTKIT_STRIPE_API_BASE"
)

// The names of the Stripe secrets among the platform's sealed secrets in
// the catalog (keys.SealedSecret), where they may sit instead of the
// environment.
const (
	SecretKeyName     = "stripe-secret-key"
	WebhookSecretName = "stripe-webhook-secret"
)

// FromEnv is the Config of the environment, and whether billing is on (a
// secret key is set).
func FromEnv(getenv func(string) string) (Config, bool) {
	c := Config{SecretKey: getenv(EnvSecretKey), APIBase: getenv(EnvAPIBase)}
	return c, c.SecretKey != ""
}

// Billing talks to Stripe for the platform.
type Billing struct {
	sc *stripe.Client
}

// New returns a Billing for cfg.
func New(cfg Config) (*Billing, error) {
	if !strings.HasPrefix(cfg.SecretKey, "sk_") && !strings.HasPrefix(cfg.SecretKey, "rk_") {
		return nil, errors.New("billing: the Stripe secret key must be a secret or restricted key (sk_… or rk_…)")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 20 * time.Second
	}
	bc := &stripe.BackendConfig{
		HTTPClient:    &http.Client{Timeout: cfg.Timeout},
		LeveledLogger: &stripe.LeveledLogger{Level: stripe.LevelNull},
	}
	if cfg.APIBase != "" {
		bc.URL = stripe.String(cfg.APIBase)
	}
	return &Billing{sc: stripe.NewClient(cfg.SecretKey, stripe.WithBackends(stripe.NewBackendsWithConfig(bc)))}, nil
}

// CheckPrices is the catalog's PlanCheck: each price of b must exist in
// Stripe and be active. Prices Stripe does not know, or has archived, are
// a *catalog.ValidationError naming their fields; Stripe unreachable is
// another error, and nothing is written either way.
func (b *Billing) CheckPrices(ctx context.Context, pb catalog.PlanBilling) error {
	var bad []catalog.FieldError
	for _, p := range pb.Prices() {
		field, id := p[0], p[1]
		price, err := b.sc.V1Prices.Retrieve(ctx, id, nil)
		var se *stripe.Error
		switch {
		case errors.As(err, &se) && se.Code == stripe.ErrorCodeResourceMissing:
			bad = append(bad, catalog.FieldError{Field: field, Message: fmt.Sprintf("Stripe has no price %s", id)})
		case err != nil:
			return fmt.Errorf("billing: check price %s with Stripe: %w", id, err)
		case !price.Active:
			bad = append(bad, catalog.FieldError{Field: field, Message: fmt.Sprintf("Stripe's price %s is archived", id)})
		}
	}
	return catalog.Invalid(bad...)
}
