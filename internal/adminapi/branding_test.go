package adminapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/tenantkit/tenantkit/internal/catalog"
)

// TestBranding: a tenant's branding through the API. It is stored in
// canonical form with its version as ETag; hostile values are refused
// naming their field and write nothing; If-Match guards the replace.
func TestBranding(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.create(t, "acme")
	w := b.do(t, "GET", "/api/v1/tenants/acme/branding", "")
	if got := decode[catalog.Branding](t, w, http.StatusOK); got.Version != 0 || w.Header().Get("ETag") != `"v0"` {
		t.Fatalf("never written: %+v %s", got, w.Header().Get("ETag"))
	}
	body := `{"display_name":"Acme","primary_color":"RED","secondary_color":"rgb(0, 128, 255)","font_family":"Inter, sans-serif",
		"custom_css":".btn { color: var(--color-primary); }","terms_url":"https://acme.example/terms"}`
	w = b.do(t, "PUT", "/api/v1/tenants/acme/branding", body, "If-Match", `"v0"`)
	got := decode[catalog.Branding](t, w, http.StatusOK)
	if got.PrimaryColor != "#ff0000" || got.SecondaryColor != "#0080ff" || got.FontFamily != `"Inter", sans-serif` ||
		got.Version != 1 || w.Header().Get("ETag") != `"v1"` || !strings.Contains(got.CustomCSS, "var(--color-primary)") {
		t.Fatalf("stored: %+v %s", got, w.Header().Get("ETag"))
	}
	for field, hostile := range map[string]string{
		"custom_css":    `{"custom_css":"</style><script>alert(1)</script>"}`,
		"primary_color": `{"primary_color":"red;}body{x:y"}`,
		"font_family":   `{"font_family":"x;}</style><script>"}`,
		"logo_url":      `{"logo_url":"javascript:alert(1)"}`,
		"terms_url":     `{"terms_url":"http://acme.example/terms"}`,
	} {
		b.writesNothing(t, field, func() {
			p := wantProblem(t, b.do(t, "PUT", "/api/v1/tenants/acme/branding", hostile), http.StatusUnprocessableEntity, "invalid-fields")
			for _, e := range p.Errors {
				if e.Field != field {
					t.Fatalf("%s: errors %+v", field, p.Errors)
				}
			}
			if len(p.Errors) == 0 {
				t.Fatalf("%s: no field named", field)
			}
		})
	}
	b.writesNothing(t, "stale If-Match", func() {
		wantProblem(t, b.do(t, "PUT", "/api/v1/tenants/acme/branding", `{"display_name":"Stale"}`, "If-Match", `"v0"`), http.StatusPreconditionFailed, "precondition-failed")
	})
	wantProblem(t, b.do(t, "PUT", "/api/v1/tenants/acme/branding", `{}`, "If-Match", `W/"v1"`), http.StatusBadRequest, "bad-etag")
	if got := decode[catalog.Branding](t, b.do(t, "PUT", "/api/v1/tenants/acme/branding", `{"display_name":"Acme 2"}`, "If-Match", `"v1"`), http.StatusOK); got.Version != 2 || got.PrimaryColor != "" {
		t.Fatalf("replaced: %+v", got)
	}
	wantProblem(t, b.do(t, "GET", "/api/v1/tenants/nobody/branding", ""), http.StatusNotFound, "tenant-not-found")
}
