package orders_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantkit/tenantkit"
	"github.com/tenantkit/tenantkit/examples/orders"
	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

// StorefrontPlatform is two branded tenants, acme and globex, and the
// example app's handler behind kit.Middleware; the browser test uses it too.
func storefrontPlatform(t *testing.T) (*tenantkittest.Platform, string) {
	t.Helper()
	ctx := context.Background()
	p := tenantkittest.NewPlatform(t, orders.Migrations())
	p.Tenant(t, "acme", catalog.TierShared)
	p.Tenant(t, "globex", catalog.TierSchema)
	for slug, b := range map[string]catalog.Branding{
		"acme":   {DisplayName: "Acme Eats", PrimaryColor: "#d9480f", SecondaryColor: "#ffd8a8", FontFamily: "Georgia, serif"},
		"globex": {DisplayName: "Globex Grill", PrimaryColor: "#1971c2", AccentColor: "#2f9e44", CustomCSS: "h1 { letter-spacing: 2px; }"},
	} {
		if err := p.Store().SetBranding(ctx, "test", slug, b); err != nil {
			t.Fatal(err)
		}
	}
	kit := p.ListeningKit(t, tenantkit.Config{})
	srv := httptest.NewServer(kit.Middleware(orders.Handler(kit)))
	t.Cleanup(srv.Close)
	return p, srv.URL
}

func getPage(t *testing.T, base, slug string) (string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/", nil)
	req.Host = slug + ".localhost"
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET / as %s: %d %s", slug, resp.StatusCode, b.String())
	}
	return b.String(), resp.Header
}

var rootRule = regexp.MustCompile(`--color-primary:\s*(#[0-9a-f]{6})`)

// TestStorefrontIsEachTenantsBrandInTheInitialHTML: GET / renders each
// tenant's own colours, font and custom CSS into the page's head, before
// any script, with a nonce that the Content-Security-Policy names. Custom
// CSS written straight into the catalog, bypassing validation, is
// sanitized again on its way to the page.
func TestStorefrontIsEachTenantsBrandInTheInitialHTML(t *testing.T) {
	t.Parallel()
	p, base := storefrontPlatform(t)
	for slug, want := range map[string]string{"acme": "#d9480f", "globex": "#1971c2"} {
		page, h := getPage(t, base, slug)
		m := rootRule.FindStringSubmatch(page)
		if m == nil || m[1] != want {
			t.Fatalf("%s: --color-primary %v, want %s\n%s", slug, m, want, page)
		}
		if strings.Index(page, "--color-primary") > strings.Index(page, "</head>") {
			t.Fatalf("%s: the brand is not in the head", slug)
		}
		nonce := regexp.MustCompile(`<style nonce="([^"]+)"`).FindStringSubmatch(page)
		if nonce == nil || !strings.Contains(h.Get("Content-Security-Policy"), "'nonce-"+nonce[1]+"'") {
			t.Fatalf("%s: style nonce %v, CSP %q", slug, nonce, h.Get("Content-Security-Policy"))
		}
	}
	if page, _ := getPage(t, base, "acme"); !strings.Contains(page, `"Georgia", serif`) || !strings.Contains(page, "Acme Eats") {
		t.Fatalf("acme's font and name missing:\n%s", page)
	}
	if page, _ := getPage(t, base, "globex"); !strings.Contains(page, "letter-spacing") {
		t.Fatalf("globex's custom CSS missing:\n%s", page)
	}

	// Hostile CSS that never went through validation (an older release, a
	// hand-edited row) still cannot break out of the style element.
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, p.Catalog.OwnerDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `UPDATE tenantkit.branding SET custom_css = $1, version = version + 1
		WHERE tenant_id = (SELECT id FROM tenantkit.tenants WHERE slug = 'globex')`,
		`</style><script>alert(1)</script> a{background:url(javascript:alert(1))} @import url(https://evil.example/x.css);`); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		page, _ := getPage(t, base, "globex")
		if strings.Contains(page, "letter-spacing") {
			if time.Now().After(deadline) {
				t.Fatal("the page never showed the changed custom CSS")
			}
			continue // the cached tenant context has not seen the change yet
		}
		for _, bad := range []string{"<script", "javascript:", "@import", "evil.example"} {
			if strings.Contains(page, bad) {
				t.Fatalf("%q reached the page:\n%s", bad, page)
			}
		}
		if strings.Count(page, "</style") != strings.Count(page, "<style") {
			t.Fatalf("a style element was closed early:\n%s", page)
		}
		break
	}
}
