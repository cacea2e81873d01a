package tenantkit

import (
	"context"
	"html/template"

	"github.com/tenantkit/tenantkit/internal/branding"
	"github.com/tenantkit/tenantkit/internal/catalog"
)

// BrandingConfig is the platform's side of white-labeling.
type BrandingConfig struct {
	// Defaults is the platform's own branding: each field a tenant leaves
	// unset takes its value from here. Defaults to none (the renderer's
	// own colours and font).
	Defaults Branding
	// AssetHost is the host (and port) that serves tenants' assets, such
	// as "assets.example.com": logos, favicons and url() in custom CSS
	// must be https URLs on it, and the CSP allows images and fonts from
	// it. Defaults to none: no asset URL.
	AssetHost string
}

func (k *Kit) brandingPolicy() branding.Policy {
	return branding.Policy{AssetHost: k.cfg.Branding.AssetHost}
}

// Branding returns the branding of the request's tenant, each unset field
// taken from Config.Branding.Defaults; the defaults alone without a
// tenant. It comes from the cached tenant context: no query.
func (k *Kit) Branding(ctx context.Context) Branding {
	d := k.cfg.Branding.Defaults
	t, ok := FromContext(ctx)
	if !ok {
		return d
	}
	b := t.Branding
	out := catalog.FromRender(b.Render().WithDefaults(d.Render()), b.FromEmail, b.Version)
	if out.DisplayName == "" {
		out.DisplayName = t.Name
	}
	return out
}

// BrandingHead returns what a page's <head> needs to render in the
// request's tenant's brand from its first paint: a <style nonce> with the
// CSS custom properties --color-primary, --color-secondary,
// --color-accent and --font-family, then the tenant's custom CSS
// (sanitized again as it is written), and the favicon's <link>. Use the
// same nonce in the response's Content-Security-Policy (Kit.CSP).
func (k *Kit) BrandingHead(ctx context.Context, nonce string) template.HTML {
	return branding.StyleHTML(k.Branding(ctx).Render(), nonce, k.brandingPolicy())
}

// CSP returns the Content-Security-Policy header value of a page that
// renders BrandingHead with nonce: inline style and script only with the
// nonce, images and fonts from the page's origin and the asset host.
func (k *Kit) CSP(nonce string) string { return branding.CSP(nonce, k.brandingPolicy()) }

// NewNonce returns a fresh CSP nonce, one per response.
func NewNonce() string { return branding.NewNonce() }
