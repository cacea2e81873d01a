package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"

	"github.com/google/uuid"

	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/integration"
)

// Cipher encrypts a tenant's credential fields, binding each ciphertext
// to the tenant, the integration and the field. *keys.Keyring is one,
// through KeyringCipher.
type Cipher interface {
	Encrypt(ctx context.Context, tenant uuid.UUID, integrationID, field string, plaintext []byte) ([]byte, error)
	Decrypt(ctx context.Context, tenant uuid.UUID, integrationID, field string, ciphertext []byte) ([]byte, error)
}

// Kind is one type of integration as the registry builds it: its
// providers' specs and a constructor. The provider packages supply them.
type Kind struct {
	Specs func() []integration.Spec
	New   func(provider string, cfg integration.Config) (any, error)
}

// Default is the platform's own account for a type, serving every tenant
// without one of its own.
type Default struct {
	Provider    string            `json:"provider"`
	Credentials map[string]string `json:"-"`
	Settings    map[string]string `json:"settings"`
}

// Config configures a Registry.
type Config struct {
	// Store is the catalog. Required.
	Store *catalog.Store
	// Cipher encrypts credentials. Required.
	Cipher Cipher
	// Kinds are the types the registry serves, with their providers.
	// Required.
	Kinds map[integration.Type]Kind
	// Defaults are the platform's accounts by type. Defaults to none: a
	// tenant without its own account has no provider of that type.
	Defaults map[integration.Type]Default
	// HTTPClient makes providers' HTTP calls. Defaults to the providers'
	// own default.
	HTTPClient *http.Client
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Errors of the registry.
var (
	ErrUnknownType     = errors.New("registry: unknown integration type")
	ErrUnknownProvider = errors.New("registry: unknown provider")
	ErrNoProvider      = errors.New("registry: no integration and no platform default")
)

// Registry resolves tenants' integrations.
type Registry struct {
	cfg   Config
	log   *slog.Logger
	mu    sync.Mutex
	cache map[uuid.UUID]map[integration.Type]*resolved
	gen   uint64 // bumped by every invalidation, so a build that raced one is not cached
}

// Resolved is a built provider, its name and where it came from.
type Resolved struct {
	Provider any
	Name     string
	Source   string
}

type resolved = Resolved

// Sources of a provider.
const (
	SourceTenant   = "tenant"
	SourcePlatform = "platform"
)

// New returns a Registry. It checks the platform defaults against their
// providers' specs now, not at send time.
func New(cfg Config) (*Registry, error) {
	if cfg.Store == nil || cfg.Cipher == nil || cfg.Kinds == nil {
		return nil, errors.New("registry: Config.Store, Cipher and Kinds are required")
	}
	r := &Registry{cfg: cfg, log: cfg.Logger, cache: map[uuid.UUID]map[integration.Type]*resolved{}}
	if r.log == nil {
		r.log = slog.Default()
	}
	for typ, d := range cfg.Defaults {
		spec, err := r.spec(typ, d.Provider)
		if err != nil {
			return nil, fmt.Errorf("registry: platform default for %s: %w", typ, err)
		}
		if err := spec.Validate(d.Credentials, d.Settings); err != nil {
			return nil, fmt.Errorf("registry: platform default for %s: %w", typ, err)
		}
	}
	return r, nil
}

// Specs lists the providers of typ.
func (r *Registry) Specs(typ integration.Type) ([]integration.Spec, error) {
	k, ok := r.cfg.Kinds[typ]
	if !ok {
		return nil, fmt.Errorf("%w %q (one of %s)", ErrUnknownType, typ, r.typeList())
	}
	return k.Specs(), nil
}

func (r *Registry) typeList() string {
	var ts []string
	for t := range r.cfg.Kinds {
		ts = append(ts, string(t))
	}
	sort.Strings(ts)
	return strings.Join(ts, ", ")
}

func (r *Registry) spec(typ integration.Type, provider string) (integration.Spec, error) {
	specs, err := r.Specs(typ)
	if err != nil {
		return integration.Spec{}, err
	}
	var names []string
	for _, s := range specs {
		if s.Provider == provider {
			return s, nil
		}
		names = append(names, s.Provider)
	}
	return integration.Spec{}, fmt.Errorf("%w %q for %s (one of %s)", ErrUnknownProvider, provider, typ, strings.Join(names, ", "))
}

// Invalidate drops what is cached of tenant: its integrations changed.
func (r *Registry) Invalidate(tenant uuid.UUID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gen++
	delete(r.cache, tenant)
}

// Reset drops everything cached.
func (r *Registry) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gen++
	r.cache = map[uuid.UUID]map[integration.Type]*resolved{}
}

// Resolve returns the provider serving tenant for typ — its own active
// integration, else the platform default — and where it came from. A warm
// tenant is served from memory.
func (r *Registry) Resolve(ctx context.Context, tenant uuid.UUID, slug string, typ integration.Type) (Resolved, error) {
	r.mu.Lock()
	if p, ok := r.cache[tenant][typ]; ok {
		r.mu.Unlock()
		return *p, nil
	}
	gen := r.gen
	r.mu.Unlock()
	p, err := r.build(ctx, tenant, slug, typ)
	if err != nil {
		return Resolved{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gen == gen {
		if r.cache[tenant] == nil {
			r.cache[tenant] = map[integration.Type]*resolved{}
		}
		r.cache[tenant][typ] = p
	}
	return *p, nil
}

func (r *Registry) build(ctx context.Context, tenant uuid.UUID, slug string, typ integration.Type) (*resolved, error) {
	k, ok := r.cfg.Kinds[typ]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownType, typ)
	}
	in, err := r.cfg.Store.GetIntegration(ctx, tenant, string(typ))
	switch {
	case err == nil && in.Active:
		creds, err := r.decrypt(ctx, in)
		if err != nil {
			return nil, err
		}
		p, err := k.New(in.Provider, r.config(tenant, slug, creds, in.Settings))
		if err != nil {
			return nil, fmt.Errorf("registry: %s's %s integration: %w", slug, typ, err)
		}
		return &resolved{p, in.Provider, SourceTenant}, nil
	case err == nil, errors.Is(err, catalog.ErrIntegrationNotFound):
		d, ok := r.cfg.Defaults[typ]
		if !ok {
			return nil, fmt.Errorf("%w: %s for %s", ErrNoProvider, typ, slug)
		}
		p, err := k.New(d.Provider, r.config(tenant, slug, d.Credentials, d.Settings))
		if err != nil {
			return nil, fmt.Errorf("registry: platform %s default: %w", typ, err)
		}
		return &resolved{p, d.Provider, SourcePlatform}, nil
	default:
		return nil, err
	}
}

func (r *Registry) config(tenant uuid.UUID, slug string, creds, settings map[string]string) integration.Config {
	return integration.Config{Tenant: tenant, TenantSlug: slug, Credentials: creds, Settings: settings, HTTPClient: r.cfg.HTTPClient}
}

func (r *Registry) decrypt(ctx context.Context, in catalog.Integration) (map[string]string, error) {
	out := make(map[string]string, len(in.Credentials))
	for field, ct := range in.Credentials {
		pt, err := r.cfg.Cipher.Decrypt(ctx, in.TenantID, in.ID.String(), field, ct)
		if err != nil {
			return nil, fmt.Errorf("registry: credential %q of the %s integration: %w", field, in.Type, err)
		}
		out[field] = string(pt)
	}
	return out, nil
}
