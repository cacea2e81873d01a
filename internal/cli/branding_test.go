package cli

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantkit/tenantkit/internal/adminapi"
	"github.com/tenantkit/tenantkit/internal/branding"
	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/contract"
	"github.com/tenantkit/tenantkit/internal/integration"
	"github.com/tenantkit/tenantkit/internal/keys"
	"github.com/tenantkit/tenantkit/internal/registry"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

// TestBrandingGetSet: tenantkit branding set changes the fields given and
// keeps the others, stores them in canonical form, reads custom CSS from a
// file, and refuses hostile CSS in one line without writing.
func TestBrandingGetSet(t *testing.T) {
	t.Parallel()
	db := tenantkittest.NewCatalog(t)
	vars := map[string]string{"TENANTKIT_DATABASE_URL": db.OwnerDSN()}
	if r := runCLI(t, vars, "tenants", "create", "acme", "--name", "Acme"); r.exit != exitOK {
		t.Fatalf("create: %+v", r)
	}
	if r := runCLI(t, vars, "branding", "set", "acme", "--primary-color", "RED", "--display-name", "Acme Eats"); r.exit != exitOK ||
		!strings.Contains(r.stdout, "primary_color:    #ff0000") || !strings.Contains(r.stdout, "version:          1") {
		t.Fatalf("set: %+v", r)
	}
	css := filepath.Join(t.TempDir(), "brand.css")
	if err := os.WriteFile(css, []byte(".btn { color: var(--color-primary) }"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := runCLI(t, vars, "branding", "set", "acme", "--custom-css", "@"+css); r.exit != exitOK || !strings.Contains(r.stdout, "display_name:     Acme Eats") {
		t.Fatalf("set custom css: %+v", r)
	}
	r := runCLI(t, vars, "branding", "set", "acme", "--custom-css", "</style><script>alert(1)</script>")
	requireOneErrorLine(t, r)
	if !strings.Contains(r.stderr, "custom_css") {
		t.Fatalf("hostile css: %s", r.stderr)
	}
	if r := runCLI(t, vars, "branding", "get", "acme", "-o", "json"); r.exit != exitOK || !strings.Contains(r.stdout, `"version": 2`) ||
		!strings.Contains(r.stdout, "var(--color-primary)") || strings.Contains(r.stdout, "script") {
		t.Fatalf("get: %+v", r)
	}
	requireOneErrorLine(t, runCLI(t, vars, "branding", "set", "acme"))
}

// TestBrandingUpload: tenantkit branding upload sends a logo to the
// server, which stores it and points the branding at the asset host; a
// disguised file is refused in one line; without --server it is a usage
// error.
func TestBrandingUpload(t *testing.T) {
	t.Parallel()
	db := tenantkittest.NewCatalog(t)
	pool, err := pgxpool.New(context.Background(), db.OwnerDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	store, err := catalog.NewStore(catalog.StoreConfig{Pool: pool, BrandingPolicy: branding.Policy{AssetHost: "assets.example.test"}})
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "kek.json")
	if _, err := keys.LocalKEK(keys.LocalConfig{Path: keyFile, Create: true}); err != nil {
		t.Fatal(err)
	}
	reg, _, err := registry.Standard(registry.StandardConfig{Store: store, KMS: registry.KMSConfig{KeyFile: keyFile},
		Defaults: map[integration.Type]registry.Default{integration.Storage: {Provider: "local", Settings: map[string]string{"root": t.TempDir()}}}})
	if err != nil {
		t.Fatal(err)
	}
	api, err := adminapi.New(adminapi.Config{Store: store, Token: testToken, Registry: reg, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(contract.Handler(t, api.Handler()))
	t.Cleanup(ts.Close)
	vars := map[string]string{"TENANTKIT_SERVER": ts.URL, "TENANTKIT_ADMIN_TOKEN": testToken}
	if r := runCLI(t, vars, "tenants", "create", "acme", "--name", "Acme"); r.exit != exitOK {
		t.Fatalf("create: %+v", r)
	}
	dir := t.TempDir()
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, 2, 2))); err != nil {
		t.Fatal(err)
	}
	logo, fake := filepath.Join(dir, "logo.png"), filepath.Join(dir, "fake.png")
	if err := os.WriteFile(logo, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(fake, []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := runCLI(t, vars, "branding", "upload", "acme", "logo", logo); r.exit != exitOK ||
		!strings.Contains(r.stdout, "logo_url:         https://assets.example.test/t/") || !strings.Contains(r.stdout, "version:          1") {
		t.Fatalf("upload: %+v", r)
	}
	r := runCLI(t, vars, "branding", "upload", "acme", "favicon", fake)
	requireOneErrorLine(t, r)
	if !strings.Contains(r.stderr, "favicon") {
		t.Fatalf("fake favicon: %s", r.stderr)
	}
	if r := runCLI(t, vars, "branding", "get", "acme", "-o", "json"); r.exit != exitOK || !strings.Contains(r.stdout, `"version": 1`) || strings.Contains(r.stdout, "favicon_url") {
		t.Fatalf("get: %+v", r)
	}
	r = runCLI(t, map[string]string{"TENANTKIT_DATABASE_URL": db.OwnerDSN()}, "branding", "upload", "acme", "logo", logo)
	requireOneErrorLine(t, r)
	if r.exit != exitUsage || !strings.Contains(r.stderr, "--server") {
		t.Fatalf("direct: %+v", r)
	}
	requireOneErrorLine(t, runCLI(t, vars, "branding", "upload", "acme", "banner", logo))
}
