package client_test

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tenantkit/tenantkit/client"
	"github.com/tenantkit/tenantkit/internal/adminapi"
	"github.com/tenantkit/tenantkit/internal/keys"
	"github.com/tenantkit/tenantkit/internal/registry"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

var stripeSecret = tenantkittest.Secret("sk_test_client_secret_0123456789")

// withRegistry serves integrations, with a local key-encryption key.
func withRegistry(t *testing.T) func(*adminapi.Config) {
	keyFile := filepath.Join(t.TempDir(), "kek.json")
	if _, err := keys.LocalKEK(keys.LocalConfig{Path: keyFile, Create: true}); err != nil {
		t.Fatal(err)
	}
	return func(c *adminapi.Config) {
		r, _, err := registry.Standard(registry.StandardConfig{Store: c.Store, KMS: registry.KMSConfig{KeyFile: keyFile}})
		if err != nil {
			t.Fatal(err)
		}
		c.Registry = r
	}
}

func TestIntegrations(t *testing.T) {
	t.Parallel()
	b := setup(t, withRegistry(t))
	ctx := context.Background()
	if _, err := b.c.CreateTenant(ctx, client.CreateTenantParams{Slug: "acme", Name: "Acme"}); err != nil {
		t.Fatal(err)
	}
	provs, err := b.c.Providers(ctx)
	if err != nil || len(provs["payment"]) == 0 {
		t.Fatalf("providers: %+v %v", provs, err)
	}
	var stripe *client.Provider
	for i, p := range provs["payment"] {
		if p.Provider == "stripe" {
			stripe = &provs["payment"][i]
		}
	}
	if stripe == nil || stripe.Type != "payment" || len(stripe.Credentials) == 0 || stripe.Credentials[0].Name == "" {
		t.Fatalf("stripe: %+v", stripe)
	}

	v, err := b.c.SetIntegration(ctx, "acme", client.IntegrationParams{Type: "payment", Provider: "stripe",
		Credentials: map[string]string{"secret_key": stripeSecret}})
	if err != nil || v.Type != "payment" || v.Provider != "stripe" || v.Source != "tenant" || !v.Active || v.ID == "" ||
		v.Credentials["secret_key"] != "••••6789" {
		t.Fatalf("set: %+v %v", v, err)
	}
	if got, err := b.c.GetIntegration(ctx, "acme", "payment"); err != nil || got.ID != v.ID || got.Credentials["secret_key"] != "••••6789" {
		t.Fatalf("get: %+v %v", got, err)
	}
	vs, err := b.c.ListIntegrations(ctx, "acme")
	if err != nil || len(vs) == 0 {
		t.Fatalf("list: %+v %v", vs, err)
	}
	for _, v := range vs {
		for _, c := range v.Credentials {
			if strings.Contains(c, stripeSecret) {
				t.Fatalf("a secret came back: %+v", v)
			}
		}
	}
	_, err = b.c.SetIntegration(ctx, "acme", client.IntegrationParams{Type: "payment", Provider: "paypal"})
	if e := wantError(t, err, http.StatusUnprocessableEntity, "invalid-integration"); !strings.Contains(e.Detail, `"paypal"`) {
		t.Fatalf("unknown provider: %+v", e)
	}
	_, err = b.c.GetIntegration(ctx, "acme", "fax")
	wantError(t, err, http.StatusUnprocessableEntity, "invalid-integration")
	_, err = b.c.TestIntegration(ctx, "acme", "email")
	wantError(t, err, http.StatusNotFound, "no-integration")

	if err := b.c.RemoveIntegration(ctx, "acme", "payment"); err != nil {
		t.Fatal(err)
	}
	_, err = b.c.GetIntegration(ctx, "acme", "payment")
	wantError(t, err, http.StatusNotFound, "no-integration")
	wantError(t, b.c.RemoveIntegration(ctx, "acme", "payment"), http.StatusNotFound, "no-integration")
}

func TestIntegrationsNeedARegistry(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, err := b.c.Providers(context.Background())
	wantError(t, err, http.StatusNotImplemented, "not-implemented")
	_, err = b.c.ListIntegrations(context.Background(), "acme")
	wantError(t, err, http.StatusNotImplemented, "not-implemented")
}
