package adminapi_test

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tenantkit/tenantkit/internal/adminapi"
	"github.com/tenantkit/tenantkit/internal/keys"
	"github.com/tenantkit/tenantkit/internal/problem"
	"github.com/tenantkit/tenantkit/internal/registry"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

var apiSecret = tenantkittest.Secret("sk_test_adminapi_secret_0123456789")

func withRegistry(t *testing.T) func(*adminapi.Config) {
	t.Helper()
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

// TestIntegrationsAreWriteOnlyAndRefusedWhenIncomplete: a credential set
// through the API never comes back — not in the answer, the view, the
// list, an error or a problem — and a configuration its provider would
// refuse is refused when it is set.
func TestIntegrationsAreWriteOnlyAndRefusedWhenIncomplete(t *testing.T) {
	t.Parallel()
	b := setup(t, withRegistry(t))
	b.create(t, "acme")
	var bodies []string
	path := "/api/v1/tenants/acme/integrations/payment"
	w := b.do(t, "PUT", path, `{"provider":"stripe","credentials":{"secret_key":"`+apiSecret+`"}}`)
	v := decode[registry.View](t, w, http.StatusOK)
	bodies = append(bodies, w.Body.String())
	if v.Source != registry.SourceTenant || v.Credentials["secret_key"] != "••••6789" || v.Provider != "stripe" {
		t.Fatalf("set: %+v", v)
	}
	for _, p := range []string{path, "/api/v1/tenants/acme/integrations"} {
		w := b.do(t, "GET", p, "")
		if w.Code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", p, w.Code, w.Body)
		}
		bodies = append(bodies, w.Body.String())
	}
	// A provider that does not exist, and a missing required credential.
	w = b.do(t, "PUT", path, `{"provider":"paypal","credentials":{"secret_key":"`+apiSecret+`"}}`)
	p := wantProblem(t, w, http.StatusUnprocessableEntity, problem.InvalidIntegration)
	if !strings.Contains(p.Detail, `"paypal"`) || !strings.Contains(p.Detail, "stripe") {
		t.Fatalf("unknown provider: %s", p.Detail)
	}
	bodies = append(bodies, w.Body.String())
	w = b.do(t, "PUT", "/api/v1/tenants/acme/integrations/sms", `{"provider":"twilio","credentials":{"auth_token":"`+apiSecret+`"},"settings":{"from":"+15005550006"}}`)
	p = wantProblem(t, w, http.StatusUnprocessableEntity, problem.InvalidIntegration)
	if !strings.Contains(p.Detail, `"account_sid" is required`) {
		t.Fatalf("missing credential: %s", p.Detail)
	}
	bodies = append(bodies, w.Body.String())
	// The test action reaches Stripe's API, which this machine cannot:
	// the failure names the provider and shows no secret.
	w = b.do(t, "POST", path+"/test", "")
	if w.Code == http.StatusOK {
		t.Fatalf("test against an unreachable Stripe passed: %s", w.Body)
	}
	bodies = append(bodies, w.Body.String())
	w = b.do(t, "GET", "/api/v1/tenants/acme/integrations/fax", "")
	wantProblem(t, w, http.StatusUnprocessableEntity, problem.InvalidIntegration)
	w = b.do(t, "GET", "/api/v1/tenants/acme/integrations/email", "")
	wantProblem(t, w, http.StatusNotFound, problem.NoIntegration)
	for _, body := range bodies {
		if strings.Contains(body, apiSecret) {
			t.Fatalf("an answer shows the secret: %s", body)
		}
	}
	var stored string
	if err := b.pool.QueryRow(t.Context(), "SELECT credentials::text FROM tenantkit.integrations").Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stored, apiSecret) {
		t.Fatal("the catalog holds the secret in the clear")
	}
	if w := b.do(t, "DELETE", path, ""); w.Code != http.StatusNoContent {
		t.Fatalf("delete: %d %s", w.Code, w.Body)
	}
	wantProblem(t, b.do(t, "DELETE", path, ""), http.StatusNotFound, problem.NoIntegration)
}

func TestIntegrationRoutesWithoutRegistryAnswer501(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.create(t, "acme")
	wantProblem(t, b.do(t, "GET", "/api/v1/tenants/acme/integrations", ""), http.StatusNotImplemented, problem.NotImplemented)
}

// TestProvidersListEachTypesProviders: the providers of every integration
// type, with the credentials each needs; without a registry, 501.
func TestProvidersListEachTypesProviders(t *testing.T) {
	t.Parallel()
	b := setup(t, withRegistry(t))
	w := b.do(t, "GET", "/api/v1/integrations/providers", "")
	got := decode[map[string][]struct {
		Provider    string `json:"provider"`
		Credentials []struct {
			Name     string `json:"name"`
			Required bool   `json:"required"`
		} `json:"credentials"`
	}](t, w, http.StatusOK)
	for _, typ := range []string{"email", "storage", "payment", "sms"} {
		if len(got[typ]) == 0 {
			t.Errorf("no %s providers: %s", typ, w.Body)
		}
	}
	var stripe bool
	for _, p := range got["payment"] {
		if p.Provider == "stripe" && len(p.Credentials) > 0 && p.Credentials[0].Name == "secret_key" && p.Credentials[0].Required {
			stripe = true
		}
	}
	if !stripe {
		t.Errorf("payment providers lack stripe with its required secret_key: %s", w.Body)
	}
	bare := setup(t)
	wantProblem(t, bare.do(t, "GET", "/api/v1/integrations/providers", ""), http.StatusNotImplemented, problem.NotImplemented)
}
