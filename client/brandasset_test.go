package client_test

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tenantkit/tenantkit/client"
	"github.com/tenantkit/tenantkit/internal/adminapi"
	"github.com/tenantkit/tenantkit/internal/branding"
	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/integration"
	"github.com/tenantkit/tenantkit/internal/keys"
	"github.com/tenantkit/tenantkit/internal/registry"
)

func TestUploadLogoAndFavicon(t *testing.T) {
	t.Parallel()
	_, pool := newCatalog(t)
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
	ts := newServer(t, adminapi.Config{Store: store, Registry: reg})
	c := newClient(t, client.Config{BaseURL: ts.URL})
	ctx := context.Background()
	tn, err := c.CreateTenant(ctx, client.CreateTenantParams{Slug: "acme", Name: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, 1, 1))); err != nil {
		t.Fatal(err)
	}
	got, err := c.UploadLogo(ctx, "acme", "image/png", buf.Bytes())
	if err != nil || got.LogoURL != "https://assets.example.test/t/"+tn.ID+"/logo?v=1" || got.Version != 1 {
		t.Fatalf("logo: %+v %v", got, err)
	}
	got, err = c.UploadFavicon(ctx, "acme", "image/png", buf.Bytes())
	if err != nil || !strings.HasSuffix(got.FaviconURL, "/favicon?v=2") || got.LogoURL == "" {
		t.Fatalf("favicon: %+v %v", got, err)
	}
	_, err = c.UploadLogo(ctx, "acme", "image/png", []byte("<html><script>alert(1)</script></html>"))
	wantError(t, err, http.StatusUnprocessableEntity, "invalid-image")
	_, err = c.UploadFavicon(ctx, "acme", "image/svg+xml", []byte("<svg/>"))
	wantError(t, err, http.StatusUnsupportedMediaType, "unsupported-media-type")
	if got, err := c.GetBranding(ctx, "acme"); err != nil || got.Version != 2 {
		t.Fatalf("after refused uploads: %+v %v", got, err)
	}
}
