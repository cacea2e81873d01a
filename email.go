package tenantkit

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/tenantkit/tenantkit/internal/email"
	"github.com/tenantkit/tenantkit/internal/integration"
	"github.com/tenantkit/tenantkit/internal/keys"
	"github.com/tenantkit/tenantkit/internal/mailer"
	"github.com/tenantkit/tenantkit/internal/payment"
	"github.com/tenantkit/tenantkit/internal/registry"
	"github.com/tenantkit/tenantkit/internal/sms"
	"github.com/tenantkit/tenantkit/internal/storage"
)

// IntegrationsConfig configures tenants' own integrations (email,
// storage, payment, sms) and the platform's defaults.
type IntegrationsConfig struct {
	// KeyFile is the local key-encryption key (a Tink keyset, 0600) that
	// wraps tenants' data keys. Defaults to "": no integrations, unless
	// Vault is set.
	KeyFile string
	// VaultAddress, VaultToken and VaultKey name a Vault transit key to
	// use instead of KeyFile. Default to "".
	VaultAddress, VaultToken, VaultKey string
	// KMSKeyURI names a cloud KMS key instead (aws-kms://arn:aws:kms:…),
	// with its client's KMSCredentialsFile. Default to "".
	KMSKeyURI, KMSCredentialsFile string
	// Defaults are the platform's own accounts by type ("email",
	// "storage", "payment", "sms"), serving tenants without one. Defaults
	// to none.
	Defaults map[string]IntegrationDefault
	// EmailFrom is the platform's sender, "Name <address>": tenants whose
	// from-address is not on a verified domain send as "<Tenant> via
	// <Name>" from it. Required for Email.
	EmailFrom string
}

// IntegrationDefault is the platform's account at a provider.
type IntegrationDefault struct {
	Provider    string
	Credentials map[string]string
	Settings    map[string]string
}

// EmailMessage is an email to send; Email fills in From.
type EmailMessage = email.Message

// EmailAddress is a name and an address.
type EmailAddress = email.Address

// EmailResult says how a message went out: its provider's id, the
// provider, whether it was the tenant's own or the platform's, and the
// From used.
type EmailResult = mailer.Result

// ErrNoIntegrations is returned when the Kit has no key-encryption key
// configured (IntegrationsConfig.KeyFile or Vault).
var ErrNoIntegrations = errors.New("tenantkit: integrations are not configured")

func (k *Kit) buildIntegrations() error {
	ic := k.cfg.Integrations
	if ic.KeyFile == "" && ic.VaultAddress == "" && ic.KMSKeyURI == "" {
		return nil
	}
	defaults := map[integration.Type]registry.Default{}
	for t, d := range ic.Defaults {
		defaults[integration.Type(t)] = registry.Default{Provider: d.Provider, Credentials: d.Credentials, Settings: d.Settings}
	}
	reg, kr, err := registry.Standard(registry.StandardConfig{
		Store: k.store, Defaults: defaults, Logger: k.log,
		KMS: registry.KMSConfig{KeyFile: ic.KeyFile, Vault: keys.VaultConfig{Address: ic.VaultAddress, Token: ic.VaultToken, KeyName: ic.VaultKey},
			KeyURI: ic.KMSKeyURI, CredentialsFile: ic.KMSCredentialsFile},
	})
	if err != nil {
		return fmt.Errorf("tenantkit: integrations: %w", err)
	}
	k.registry, k.keyring = reg, kr
	if ic.EmailFrom != "" {
		from, err := registry.ParseAddress(ic.EmailFrom)
		if err != nil {
			return fmt.Errorf("tenantkit: IntegrationsConfig.EmailFrom: %w", err)
		}
		if k.mailer, err = mailer.New(mailer.Config{Registry: reg, Store: k.store, PlatformFrom: from}); err != nil {
			return err
		}
	}
	return nil
}

// invalidateIntegrations drops what is cached of a tenant's integrations.
func (k *Kit) invalidateIntegrations(id uuid.UUID) {
	if k.registry == nil {
		return
	}
	k.registry.Invalidate(id)
	k.keyring.Invalidate(id)
	if k.mailer != nil {
		k.mailer.Invalidate(id)
	}
}

func (k *Kit) resetIntegrations() {
	if k.registry == nil {
		return
	}
	k.registry.Reset()
	if k.mailer != nil {
		k.mailer.Reset()
	}
}

// Email is the tenant's mail, as Kit.Email returns it.
type Email struct {
	k   *Kit
	ctx context.Context
}

// Email returns the mail of the tenant of ctx: messages go through its own
// email integration or the platform's, from an address it may use, and
// the caller never sees which.
func (k *Kit) Email(ctx context.Context) *Email { return &Email{k, ctx} }

// Send sends m. Its From, when set, is the tenant's wish: it is used only
// on a verified domain of the tenant or the platform's.
func (e *Email) Send(m EmailMessage) (EmailResult, error) {
	t, err := e.ready()
	if err != nil {
		return EmailResult{}, err
	}
	return e.k.mailer.Send(e.ctx, t, m)
}

// SendTemplate renders template name ("welcome", "password_reset",
// "test") with the tenant's branding and data, and sends it to to.
func (e *Email) SendTemplate(name string, to EmailAddress, data any) (EmailResult, error) {
	t, err := e.ready()
	if err != nil {
		return EmailResult{}, err
	}
	return e.k.mailer.SendTemplate(e.ctx, t, name, to, data)
}

func (e *Email) ready() (*Tenant, error) {
	t, ok := FromContext(e.ctx)
	if !ok {
		return nil, ErrNoTenant
	}
	if e.k.mailer == nil {
		return nil, fmt.Errorf("%w: email needs a key file and EmailFrom", ErrNoIntegrations)
	}
	return t, nil
}

// Bucket is a tenant's object storage, confined to its own prefix or
// bucket.
type Bucket = storage.Bucket

// PaymentAccount is a tenant's payment provider account.
type PaymentAccount = payment.Account

// SMSSender sends a tenant's text messages.
type SMSSender = sms.Sender

// Storage returns the object storage serving the tenant of ctx: its own
// account or the platform's. A warm tenant's is served from memory.
func (k *Kit) Storage(ctx context.Context) (Bucket, error) {
	return resolveAs[Bucket](ctx, k, integration.Storage)
}

// Payment returns the payment account serving the tenant of ctx.
func (k *Kit) Payment(ctx context.Context) (PaymentAccount, error) {
	return resolveAs[PaymentAccount](ctx, k, integration.Payment)
}

// SMS returns the SMS sender serving the tenant of ctx.
func (k *Kit) SMS(ctx context.Context) (SMSSender, error) {
	return resolveAs[SMSSender](ctx, k, integration.SMS)
}

func resolveAs[T any](ctx context.Context, k *Kit, typ integration.Type) (T, error) {
	var zero T
	t, ok := FromContext(ctx)
	if !ok {
		return zero, ErrNoTenant
	}
	if k.registry == nil {
		return zero, ErrNoIntegrations
	}
	r, err := k.registry.Resolve(ctx, t.ID, t.Slug, typ)
	if err != nil {
		return zero, err
	}
	p, ok := r.Provider.(T)
	if !ok {
		return zero, fmt.Errorf("tenantkit: the %s provider %s is not a %T", typ, r.Name, zero)
	}
	return p, nil
}
