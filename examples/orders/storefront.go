package orders

import (
	"bytes"
	"html/template"
	"net/http"

	"github.com/tenantkit/tenantkit"
)

var storefrontTemplate = template.Must(template.New("storefront.html.tmpl").ParseFS(templateFiles, "templates/storefront.html.tmpl"))

// storefront serves GET /: the tenant's shop page, rendered on the server
// in the tenant's brand. Its colours, font and custom CSS are in the
// initial HTML (Kit.BrandingHead), so the first paint is already the
// tenant's; the Content-Security-Policy allows only the style and script
// that carry this response's nonce.
func (a *app) storefront(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	recent, err := tenantkit.Query(ctx, a.kit, orderSQL+" ORDER BY o.id DESC LIMIT 5", nil, scanOrder)
	if err != nil {
		serverError(w, err)
		return
	}
	nonce := tenantkit.NewNonce()
	var page bytes.Buffer
	if err := storefrontTemplate.Execute(&page, map[string]any{
		"Brand": a.kit.Branding(ctx), "Head": a.kit.BrandingHead(ctx, nonce), "Nonce": nonce, "Orders": recent,
	}); err != nil {
		fail(w, http.StatusInternalServerError, "could not render the page")
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", a.kit.CSP(nonce))
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(page.Bytes())
}
