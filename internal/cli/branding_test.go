package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

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
