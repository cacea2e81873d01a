package mailer

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/google/uuid"

	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/email"
	"github.com/tenantkit/tenantkit/internal/integration"
	"github.com/tenantkit/tenantkit/internal/registry"
)

// Config configures a Mailer.
type Config struct {
	// Registry resolves each tenant's email provider. Required.
	Registry *registry.Registry
	// Store reads tenants' verified domains. Required.
	Store *catalog.Store
	// PlatformFrom is the platform's own sender, used for tenants whose
	// from-address is not on a verified domain. Required.
	PlatformFrom email.Address
	// Renderer renders templates. Defaults to the built-in templates.
	Renderer *email.Renderer
}

// Mailer sends tenants' mail.
type Mailer struct {
	cfg     Config
	mu      sync.Mutex
	domains map[uuid.UUID][]string
}

// New returns a Mailer.
func New(cfg Config) (*Mailer, error) {
	if cfg.Registry == nil || cfg.Store == nil {
		return nil, errors.New("mailer: Config.Registry and Store are required")
	}
	if cfg.PlatformFrom.Email == "" {
		return nil, errors.New("mailer: Config.PlatformFrom is required")
	}
	if cfg.Renderer == nil {
		r, err := email.NewRenderer(email.RendererConfig{})
		if err != nil {
			return nil, err
		}
		cfg.Renderer = r
	}
	return &Mailer{cfg: cfg, domains: map[uuid.UUID][]string{}}, nil
}

// Invalidate drops what is cached of tenant (its verified domains).
func (m *Mailer) Invalidate(tenant uuid.UUID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.domains, tenant)
}

// Reset drops everything cached.
func (m *Mailer) Reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.domains = map[uuid.UUID][]string{}
}

// Branding is a tenant's branding as its mail shows it.
func Branding(t *catalog.TenantContext) email.Branding {
	b := t.Branding
	product := b.DisplayName
	if product == "" {
		product = t.Name
	}
	from := b.FromName
	if from == "" {
		from = product
	}
	return email.Branding{
		ProductName: product, LogoURL: b.LogoURL, PrimaryColor: b.PrimaryColor, AccentColor: b.AccentColor,
		FromName: from, FromEmail: b.FromEmail, SupportURL: b.SupportURL,
	}
}

func (m *Mailer) verified(ctx context.Context, tenant uuid.UUID) ([]string, error) {
	m.mu.Lock()
	ds, ok := m.domains[tenant]
	m.mu.Unlock()
	if ok {
		return ds, nil
	}
	ds, err := m.cfg.Store.VerifiedDomains(ctx, tenant)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	m.domains[tenant] = ds
	m.mu.Unlock()
	return ds, nil
}

// Result says how a message went out.
type Result struct {
	ID       string        `json:"id"`
	Provider string        `json:"provider"`
	Source   string        `json:"source"`
	From     email.Address `json:"from"`
}

// Send sends msg for t through its resolved email provider. The From is
// chosen by the tenant's branding and verified domains: msg.From, when
// set, is the tenant's wish, held to the same rule.
func (m *Mailer) Send(ctx context.Context, t *catalog.TenantContext, msg email.Message) (Result, error) {
	b := Branding(t)
	if msg.From.Email != "" {
		b.FromEmail = msg.From.Email
		if msg.From.Name != "" {
			b.FromName = msg.From.Name
		}
	}
	domains, err := m.verified(ctx, t.ID)
	if err != nil {
		return Result{}, err
	}
	msg.From = email.ChooseFrom(b, domains, m.cfg.PlatformFrom)
	p, err := m.cfg.Registry.Resolve(ctx, t.ID, t.Slug, integration.Email)
	if err != nil {
		return Result{}, err
	}
	s, ok := p.Provider.(email.Sender)
	if !ok {
		return Result{}, fmt.Errorf("mailer: %s's email provider cannot send", t.Slug)
	}
	id, err := s.Send(ctx, msg)
	if err != nil {
		return Result{}, err
	}
	return Result{ID: id, Provider: p.Name, Source: p.Source, From: msg.From}, nil
}

// SendTemplate renders template name with t's branding and data and sends
// it to to.
func (m *Mailer) SendTemplate(ctx context.Context, t *catalog.TenantContext, name string, to email.Address, data any) (Result, error) {
	subject, text, html, err := m.cfg.Renderer.Render(name, Branding(t), data)
	if err != nil {
		return Result{}, err
	}
	return m.Send(ctx, t, email.Message{To: []email.Address{to}, Subject: subject, Text: text, HTML: html, Tag: name})
}
