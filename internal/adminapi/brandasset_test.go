package adminapi_test

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tenantkit/tenantkit/internal/adminapi"
	"github.com/tenantkit/tenantkit/internal/branding"
	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/integration"
	"github.com/tenantkit/tenantkit/internal/keys"
	"github.com/tenantkit/tenantkit/internal/registry"
)

const assetHost = "assets.example.test"

// withStorage gives the API a registry whose platform default storage is
// the local provider under root.
func withStorage(t *testing.T, root string) func(*adminapi.Config) {
	t.Helper()
	keyFile := filepath.Join(t.TempDir(), "kek.json")
	if _, err := keys.LocalKEK(keys.LocalConfig{Path: keyFile, Create: true}); err != nil {
		t.Fatal(err)
	}
	return func(c *adminapi.Config) {
		r, _, err := registry.Standard(registry.StandardConfig{Store: c.Store, KMS: registry.KMSConfig{KeyFile: keyFile},
			Defaults: map[integration.Type]registry.Default{integration.Storage: {Provider: "local", Settings: map[string]string{"root": root}}}})
		if err != nil {
			t.Fatal(err)
		}
		c.Registry = r
	}
}

// pngImage is a real, small PNG.
func pngImage(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 2, 2))
	img.Set(0, 0, color.RGBA{R: 0xd9, G: 0x48, B: 0x0f, A: 0xff})
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// icoImage starts as an ICO file does (reserved 0, type 1, one image).
var icoImage = append([]byte{0, 0, 1, 0, 1, 0, 16, 16, 0, 0, 1, 0, 32, 0}, make([]byte, 64)...)

func (b *bundle) upload(t *testing.T, ref, asset, contentType string, body []byte) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest("PUT", "/api/v1/tenants/"+ref+"/branding/"+asset, bytes.NewReader(body))
	r.Header.Set("Authorization", "Bearer "+token)
	r.Header.Set("Content-Type", contentType)
	w := httptest.NewRecorder()
	b.h.ServeHTTP(w, r)
	return w
}

// TestBrandingUploadStoresTheImageAndPointsAtIt: an uploaded logo lands
// in the tenant's storage (here the platform's local default) and the
// branding points at it on the asset host, one version on, every other
// field kept; a favicon too.
func TestBrandingUploadStoresTheImageAndPointsAtIt(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	b := setupPolicy(t, branding.Policy{AssetHost: assetHost}, withStorage(t, root))
	tn := b.create(t, "acme")
	decode[catalog.Branding](t, b.do(t, "PUT", "/api/v1/tenants/acme/branding", `{"display_name":"Acme","primary_color":"red"}`), http.StatusOK)
	img := pngImage(t)
	w := b.upload(t, "acme", "logo", "image/png", img)
	got := decode[catalog.Branding](t, w, http.StatusOK)
	want := "https://" + assetHost + "/t/" + tn.ID.String() + "/logo?v=2"
	if got.LogoURL != want || got.Version != 2 || w.Header().Get("ETag") != `"v2"` || got.DisplayName != "Acme" || got.PrimaryColor != "#ff0000" {
		t.Fatalf("after upload: %+v %s", got, w.Header().Get("ETag"))
	}
	stored, err := os.ReadFile(filepath.Join(root, tn.ID.String(), "objects", "tenantkit", "branding", "logo"))
	if err != nil || !bytes.Equal(stored, img) {
		t.Fatalf("stored object: %v (%d bytes, want %d)", err, len(stored), len(img))
	}
	w = b.upload(t, tn.ID.String(), "favicon", "image/vnd.microsoft.icon", icoImage)
	got = decode[catalog.Branding](t, w, http.StatusOK)
	if got.FaviconURL != "https://"+assetHost+"/t/"+tn.ID.String()+"/favicon?v=3" || got.LogoURL != want || got.Version != 3 {
		t.Fatalf("after favicon: %+v", got)
	}
	if g := decode[catalog.Branding](t, b.do(t, "GET", "/api/v1/tenants/acme/branding", ""), http.StatusOK); g != got {
		t.Fatalf("read back %+v, want %+v", g, got)
	}
}

// TestBrandingUploadRefusesWhatIsNotTheImageItClaims: markup sent as an
// image, SVG, a type not taken, and an image over 1 MiB are refused and
// change nothing: neither the branding nor the stored object.
func TestBrandingUploadRefusesWhatIsNotTheImageItClaims(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	b := setupPolicy(t, branding.Policy{AssetHost: assetHost}, withStorage(t, root))
	tn := b.create(t, "acme")
	img := pngImage(t)
	decode[catalog.Branding](t, b.upload(t, "acme", "logo", "image/png", img), http.StatusOK)
	svg := `<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>`
	for _, c := range []struct {
		name, contentType, body, asset string
		status                         int
		kind                           string
	}{
		{"html as png", "image/png", "<!DOCTYPE html><html><script>alert(1)</script></html>", "logo", http.StatusUnprocessableEntity, "invalid-image"},
		{"svg as png", "image/png", svg, "logo", http.StatusUnprocessableEntity, "invalid-image"},
		{"svg as jpeg favicon", "image/jpeg", svg, "favicon", http.StatusUnprocessableEntity, "invalid-image"},
		{"png as jpeg", "image/jpeg", string(img), "logo", http.StatusUnprocessableEntity, "invalid-image"},
		{"ico as logo", "image/x-icon", string(icoImage), "logo", http.StatusUnsupportedMediaType, "unsupported-media-type"},
		{"svg declared", "image/svg+xml", svg, "logo", http.StatusUnsupportedMediaType, "unsupported-media-type"},
		{"oversized", "image/png", string(img) + strings.Repeat("\x00", 1<<20), "logo", http.StatusRequestEntityTooLarge, "request-too-large"},
	} {
		b.writesNothing(t, c.name, func() {
			before := decode[catalog.Branding](t, b.do(t, "GET", "/api/v1/tenants/acme/branding", ""), http.StatusOK)
			wantProblem(t, b.upload(t, "acme", c.asset, c.contentType, []byte(c.body)), c.status, c.kind)
			if after := decode[catalog.Branding](t, b.do(t, "GET", "/api/v1/tenants/acme/branding", ""), http.StatusOK); after != before {
				t.Fatalf("%s: branding changed: %+v", c.name, after)
			}
		})
		stored, err := os.ReadFile(filepath.Join(root, tn.ID.String(), "objects", "tenantkit", "branding", "logo"))
		if err != nil || !bytes.Equal(stored, img) {
			t.Fatalf("%s: stored logo changed: %v", c.name, err)
		}
		if _, err := os.Stat(filepath.Join(root, tn.ID.String(), "objects", "tenantkit", "branding", "favicon")); !os.IsNotExist(err) {
			t.Fatalf("%s: a favicon was stored: %v", c.name, err)
		}
	}
	wantProblem(t, b.upload(t, "nobody", "logo", "image/png", img), http.StatusNotFound, "tenant-not-found")
}

// TestBrandingUploadNeedsAnAssetHostAndStorage: without an asset host the
// routes answer 501; without storage (no registry; no platform default)
// 501 and 409.
func TestBrandingUploadNeedsAnAssetHostAndStorage(t *testing.T) {
	t.Parallel()
	img := pngImage(t)
	b := setup(t, withStorage(t, t.TempDir()))
	b.create(t, "acme")
	wantProblem(t, b.upload(t, "acme", "logo", "image/png", img), http.StatusNotImplemented, "not-implemented")
	b = setupPolicy(t, branding.Policy{AssetHost: assetHost})
	b.create(t, "acme")
	wantProblem(t, b.upload(t, "acme", "logo", "image/png", img), http.StatusNotImplemented, "not-implemented")
	b = setupPolicy(t, branding.Policy{AssetHost: assetHost}, withRegistry(t))
	b.create(t, "acme")
	b.writesNothing(t, "no storage", func() {
		wantProblem(t, b.upload(t, "acme", "favicon", "image/png", img), http.StatusConflict, "no-storage")
	})
}
