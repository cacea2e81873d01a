package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/png"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantkit/tenantkit"
	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/integration"
	"github.com/tenantkit/tenantkit/internal/keys"
	"github.com/tenantkit/tenantkit/internal/registry"
	"github.com/tenantkit/tenantkit/internal/server"
	"github.com/tenantkit/tenantkit/internal/storage"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

const assetHost = "assets.example.test"

type assetBundle struct {
	h   http.Handler
	reg *registry.Registry
}

// assetServer is a server with an asset host and the local provider as
// the platform's default storage.
func assetServer(t *testing.T) assetBundle {
	t.Helper()
	db := tenantkittest.NewCatalog(t)
	cfg, err := pgxpool.ParseConfig(db.OwnerDSN())
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = ""
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	log := slog.New(slog.DiscardHandler)
	kit, err := tenantkit.New(tenantkit.Config{Pool: pool, DatabaseURL: db.OwnerDSN(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kit.Close)
	store, err := catalog.NewStore(catalog.StoreConfig{Pool: pool})
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "kek.json")
	if _, err := keys.LocalKEK(keys.LocalConfig{Path: keyFile, Create: true}); err != nil {
		t.Fatal(err)
	}
	reg, _, err := registry.Standard(registry.StandardConfig{Store: store, KMS: registry.KMSConfig{KeyFile: keyFile}, Logger: log,
		Defaults: map[integration.Type]registry.Default{integration.Storage: {Provider: "local", Settings: map[string]string{"root": t.TempDir()}}}})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{Pool: pool, Kit: kit, AdminToken: token, Logger: log, Registry: reg, AssetHost: assetHost})
	if err != nil {
		t.Fatal(err)
	}
	return assetBundle{h: srv.Handler(), reg: reg}
}

func (b assetBundle) do(t *testing.T, method, host, path, contentType string, body []byte) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, path, bytes.NewReader(body))
	r.Host = host
	r.Header.Set("Authorization", "Bearer "+token)
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	w := httptest.NewRecorder()
	b.h.ServeHTTP(w, r)
	return w
}

// TestAssetHostServesUploadedLogos: a logo uploaded through the admin API
// is served on the asset host at the URL the branding names, as the image
// it is, with nosniff and a CSP that allows nothing; any other path, a
// tenant id that is not a UUID, and the admin API on the asset host are
// 404. A stored object that is not an image (a tenant's own bucket may
// hold anything) is not served.
func TestAssetHostServesUploadedLogos(t *testing.T) {
	t.Parallel()
	b := assetServer(t)
	w := b.do(t, "POST", "admin.example.test", "/api/v1/tenants", "application/json", []byte(`{"slug":"acme","name":"Acme"}`))
	if w.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", w.Code, w.Body)
	}
	var tn catalog.Tenant
	decodeJSON(t, w.Body.Bytes(), &tn)
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, 3, 3))); err != nil {
		t.Fatal(err)
	}
	img := buf.Bytes()
	w = b.do(t, "PUT", "admin.example.test", "/api/v1/tenants/acme/branding/logo", "image/png", img)
	var br catalog.Branding
	decodeJSON(t, w.Body.Bytes(), &br)
	if w.Code != http.StatusOK || !strings.HasPrefix(br.LogoURL, "https://"+assetHost+"/t/"+tn.ID.String()+"/logo?v=") {
		t.Fatalf("upload: %d %s", w.Code, w.Body)
	}
	path := strings.TrimPrefix(br.LogoURL, "https://"+assetHost)
	for _, host := range []string{assetHost, "ASSETS.example.test:443"} {
		w = b.do(t, "GET", host, path, "", nil)
		if w.Code != http.StatusOK || !bytes.Equal(w.Body.Bytes(), img) {
			t.Fatalf("GET %s%s: %d, %d bytes", host, path, w.Code, w.Body.Len())
		}
		for k, v := range map[string]string{"Content-Type": "image/png", "X-Content-Type-Options": "nosniff",
			"Content-Security-Policy": "default-src 'none'", "Cache-Control": "public, max-age=300"} {
			if got := w.Header().Get(k); got != v {
				t.Fatalf("%s: %q, want %q", k, got, v)
			}
		}
	}
	id := tn.ID.String()
	for _, p := range []string{"/t/" + id + "/favicon", "/t/" + id + "/logo.png", "/t/" + id + "/../logo", "/t/acme/logo",
		"/t/" + strings.ToUpper(id) + "/logo", "/t/" + id + "/logo/x", "/api/v1/tenants", "/healthz", "/", "/t/00000000-0000-0000-0000-000000000001/logo"} {
		if w := b.do(t, "GET", assetHost, p, "", nil); w.Code != http.StatusNotFound || strings.Contains(w.Body.String(), "acme") {
			t.Fatalf("GET %s on the asset host: %d %s", p, w.Code, w.Body)
		}
	}
	if w := b.do(t, "POST", assetHost, path, "", nil); w.Code != http.StatusNotFound {
		t.Fatalf("POST on the asset host: %d", w.Code)
	}
	// What the tenant's bucket holds under the key is sniffed again.
	res, err := b.reg.Resolve(context.Background(), tn.ID, tn.Slug, integration.Storage)
	if err != nil {
		t.Fatal(err)
	}
	html := "<html><script>alert(1)</script></html>"
	if err := res.Provider.(storage.Bucket).Put(context.Background(), "tenantkit/branding/favicon", strings.NewReader(html), int64(len(html)), "image/png"); err != nil {
		t.Fatal(err)
	}
	if w := b.do(t, "GET", assetHost, "/t/"+id+"/favicon", "", nil); w.Code != http.StatusNotFound || strings.Contains(w.Body.String(), "script") {
		t.Fatalf("HTML stored as the favicon: %d %s", w.Code, w.Body)
	}
}

func decodeJSON(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
}
