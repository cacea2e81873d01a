package registry

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/integration"
)

// SetParams configure a tenant's integration of Type. Credentials not
// given keep their stored values while the provider stays the same.
type SetParams struct {
	Type        integration.Type  `json:"type"`
	Provider    string            `json:"provider"`
	Credentials map[string]string `json:"credentials,omitempty"`
	Settings    map[string]string `json:"settings,omitempty"`
	// Active defaults to true.
	Active *bool `json:"active,omitempty"`
}

// View is an integration as people see it: credentials masked.
type View struct {
	ID          *uuid.UUID        `json:"id,omitempty"`
	Type        integration.Type  `json:"type"`
	Provider    string            `json:"provider"`
	Source      string            `json:"source"`
	Active      bool              `json:"active"`
	Settings    map[string]string `json:"settings"`
	Credentials map[string]string `json:"credentials"`
	UpdatedAt   *time.Time        `json:"updated_at,omitempty"`
}

// Mask shows that a secret is set without showing it: its last four
// characters when it is long enough that they give nothing away.
func Mask(secret string) string {
	if len(secret) >= 16 {
		return "••••" + secret[len(secret)-4:]
	}
	return "••••"
}

// Set validates p against its provider's spec and stores it with every
// credential encrypted under the tenant's data key. An unknown provider
// or a missing required credential is refused here, not at send time. The
// audit record names the fields set, never their values.
func (r *Registry) Set(ctx context.Context, actor, tenantRef string, p SetParams) (View, error) {
	t, err := r.cfg.Store.GetTenant(ctx, tenantRef)
	if err != nil {
		return View{}, err
	}
	spec, err := r.spec(p.Type, p.Provider)
	if err != nil {
		return View{}, err
	}
	in := catalog.Integration{ID: uuid.New(), TenantID: t.ID, Type: string(p.Type), Provider: p.Provider,
		Settings: orEmpty(p.Settings), Credentials: map[string][]byte{}, Active: p.Active == nil || *p.Active}
	kept := map[string]string{}
	prev, err := r.cfg.Store.GetIntegration(ctx, t.ID, string(p.Type))
	switch {
	case err == nil && prev.Provider == p.Provider:
		in.ID = prev.ID // same id: the kept ciphertexts stay bound to it
		for field, ct := range prev.Credentials {
			if _, given := p.Credentials[field]; !given {
				in.Credentials[field], kept[field] = ct, "(kept)"
			}
		}
	case err != nil && !errors.Is(err, catalog.ErrIntegrationNotFound):
		return View{}, err
	}
	check := map[string]string{}
	for f := range kept {
		check[f] = "kept"
	}
	for f, v := range p.Credentials {
		check[f] = v
	}
	if err := spec.Validate(check, in.Settings); err != nil {
		return View{}, err
	}
	audited := map[string]any{"type": p.Type, "provider": p.Provider, "settings": in.Settings, "active": in.Active}
	fields := map[string]string{}
	for field, value := range p.Credentials {
		ct, err := r.cfg.Cipher.Encrypt(ctx, t.ID, in.ID.String(), field, []byte(value))
		if err != nil {
			return View{}, fmt.Errorf("registry: encrypt %q: %w", field, err)
		}
		in.Credentials[field], fields[field] = ct, "set"
	}
	for f := range kept {
		fields[f] = "kept"
	}
	audited["credentials"] = fields
	out, err := r.cfg.Store.PutIntegration(ctx, actor, in, audited)
	if err != nil {
		return View{}, err
	}
	r.Invalidate(t.ID)
	masked := map[string]string{}
	for f, v := range p.Credentials {
		masked[f] = Mask(v)
	}
	for f := range kept {
		masked[f] = "••••"
	}
	return tenantView(out, masked), nil
}

func tenantView(in catalog.Integration, masked map[string]string) View {
	id, at := in.ID, in.UpdatedAt
	return View{ID: &id, Type: integration.Type(in.Type), Provider: in.Provider, Source: SourceTenant, Active: in.Active,
		Settings: in.Settings, Credentials: masked, UpdatedAt: &at}
}

func orEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// Show returns what serves tenantRef for typ, masked: its own
// integration, or the platform default.
func (r *Registry) Show(ctx context.Context, tenantRef string, typ integration.Type) (View, error) {
	if _, err := r.Specs(typ); err != nil {
		return View{}, err
	}
	t, err := r.cfg.Store.GetTenant(ctx, tenantRef)
	if err != nil {
		return View{}, err
	}
	in, err := r.cfg.Store.GetIntegration(ctx, t.ID, string(typ))
	if err == nil {
		creds, err := r.decrypt(ctx, in)
		if err != nil {
			return View{}, err
		}
		masked := map[string]string{}
		for f, v := range creds {
			masked[f] = Mask(v)
		}
		return tenantView(in, masked), nil
	}
	if !errors.Is(err, catalog.ErrIntegrationNotFound) {
		return View{}, err
	}
	d, ok := r.cfg.Defaults[typ]
	if !ok {
		return View{}, fmt.Errorf("%w: %s for %s", ErrNoProvider, typ, t.Slug)
	}
	masked := map[string]string{}
	for f, v := range d.Credentials {
		masked[f] = Mask(v)
	}
	return View{Type: typ, Provider: d.Provider, Source: SourcePlatform, Active: true, Settings: orEmpty(d.Settings), Credentials: masked}, nil
}

// List shows every type for tenantRef.
func (r *Registry) List(ctx context.Context, tenantRef string) ([]View, error) {
	var out []View
	for _, typ := range integration.Types() {
		if _, ok := r.cfg.Kinds[typ]; !ok {
			continue
		}
		v, err := r.Show(ctx, tenantRef, typ)
		if errors.Is(err, ErrNoProvider) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// Remove deletes tenantRef's own integration of typ.
func (r *Registry) Remove(ctx context.Context, actor, tenantRef string, typ integration.Type) error {
	if _, err := r.Specs(typ); err != nil {
		return err
	}
	t, err := r.cfg.Store.GetTenant(ctx, tenantRef)
	if err != nil {
		return err
	}
	if err := r.cfg.Store.DeleteIntegration(ctx, actor, t.ID, string(typ)); err != nil {
		return err
	}
	r.Invalidate(t.ID)
	return nil
}

// Test checks the credentials of what serves tenantRef for typ against
// the provider.
func (r *Registry) Test(ctx context.Context, tenantRef string, typ integration.Type) (View, error) {
	v, err := r.Show(ctx, tenantRef, typ)
	if err != nil {
		return v, err
	}
	t, err := r.cfg.Store.GetTenant(ctx, tenantRef)
	if err != nil {
		return v, err
	}
	r.Invalidate(t.ID) // test what is stored now
	p, err := r.Resolve(ctx, t.ID, t.Slug, typ)
	if err != nil {
		return v, err
	}
	tester, ok := p.Provider.(integration.Tester)
	if !ok {
		return v, fmt.Errorf("registry: %s provider %s cannot be tested", typ, v.Provider)
	}
	if err := tester.Test(ctx); err != nil {
		return v, fmt.Errorf("%w: %s %s: %s", ErrTestFailed, typ, v.Provider, strings.TrimSpace(err.Error()))
	}
	return v, nil
}

// ErrTestFailed: the provider refused the credentials or could not be
// reached.
var ErrTestFailed = errors.New("registry: test failed")
