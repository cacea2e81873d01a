package cli

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stripe/stripe-go/v86/webhook"

	"github.com/tenantkit/tenantkit/internal/billing"
	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/keys"
	"github.com/tenantkit/tenantkit/internal/pgcluster"
	"github.com/tenantkit/tenantkit/internal/stripemock"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

// TestPlansPricesAreCheckedWithStripeWhenBillingIsOn: with
// TENANTKIT_STRIPE_SECRET_KEY set, tenantkit plans update asks Stripe
// (stripe-mock behind a recording proxy) for each price it is given: a
// price Stripe does not have is refused in one line, exit 1, the plan
// unchanged; one it has is stored. Without the key, prices are checked for
// form only and Stripe is not called.
func TestPlansPricesAreCheckedWithStripeWhenBillingIsOn(t *testing.T) {
	t.Parallel()
	db := tenantkittest.NewCatalog(t)
	_, p := stripemock.ForTest(t)
	p.Override(http.MethodGet, "/v1/prices/price_gone", http.StatusNotFound,
		`{"error":{"type":"invalid_request_error","code":"resource_missing","message":"No such price: 'price_gone'","param":"id"}}`)
	vars := map[string]string{"TENANTKIT_DATABASE_URL": db.OwnerDSN(),
		"TENANTKIT_STRIPE_SECRET_KEY": stripemock.TestKey, "TENANTKIT_STRIPE_API_BASE": p.URL()}

	r := runCLI(t, vars, "plans", "update", "pro", "--base-price", "price_pro", "--metered", "api_calls=price_gone@api_calls")
	if r.exit != exitError || r.stderr != "tenantkit: some fields are invalid: billing.metered.api_calls.price Stripe has no price price_gone\n" {
		t.Fatalf("a price Stripe does not have: exit %d\n%s%s", r.exit, r.stdout, r.stderr)
	}
	if r := runCLI(t, vars, "plans", "get", "pro"); !strings.Contains(r.stdout, "Billing:       -\n") {
		t.Fatalf("the refused prices were written:\n%s", r.stdout)
	}
	if n := len(p.CallsTo(http.MethodGet, "/v1/prices/")); n != 2 {
		t.Fatalf("%d price lookups, want 2", n)
	}

	r = runCLI(t, vars, "plans", "update", "pro", "--base-price", "price_pro", "--metered", "api_calls=price_api@api_calls")
	if r.exit != exitOK || !strings.Contains(r.stdout, "Billing:       base price_pro; api_calls price_api@api_calls\n") {
		t.Fatalf("prices Stripe has: exit %d\n%s%s", r.exit, r.stdout, r.stderr)
	}

	p.Reset()
	delete(vars, "TENANTKIT_STRIPE_SECRET_KEY")
	if r := runCLI(t, vars, "plans", "update", "pro", "--base-price", "price_gone"); r.exit != exitOK || len(p.Calls()) != 0 {
		t.Fatalf("billing off: exit %d, %d calls to Stripe\n%s", r.exit, len(p.Calls()), r.stderr)
	}
	vars["TENANTKIT_STRIPE_SECRET_KEY"] = "pk_test_123"
	if r := runCLI(t, vars, "plans", "list"); r.exit != exitUsage || !strings.Contains(r.stderr, "TENANTKIT_STRIPE_SECRET_KEY") {
		t.Fatalf("a publishable key: exit %d\n%s", r.exit, r.stderr)
	}
}

// TestServeSyncsTenantsToStripe: serve with billing on and no application
// runs River for the billing sync alone. A plan given prices through the
// admin API (checked with Stripe) and a tenant created on it through the
// API: within seconds the drain job has made the tenant's customer and
// subscription, carrying its tenant id. The Stripe secret key and webhook
// secret come from the platform keyring.
func TestServeSyncsTenantsToStripe(t *testing.T) {
	t.Parallel()
	db := tenantkittest.NewCatalog(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, p := stripemock.ForTest(t)
	port, err := pgcluster.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	// The Stripe secrets sit in the platform keyring, not the
	// environment: serve opens them with the key file.
	keyFile := filepath.Join(t.TempDir(), "kek.json")
	if _, err := keys.LocalKEK(keys.LocalConfig{Path: keyFile, Create: true}); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"TENANTKIT_DATABASE_URL": db.OwnerDSN(), "TENANTKIT_ADMIN_TOKEN": testToken,
		"TENANTKIT_KEY_FILE": keyFile, "TENANTKIT_STRIPE_API_BASE": p.URL()}
	if r := runCLI(t, vars, "catalog", "migrate"); r.exit != exitOK {
		t.Fatalf("catalog migrate: %+v", r)
	}
	for name, v := range map[string]string{"secret-key": stripemock.TestKey, "webhook-secret": "whsec_serve_test"} {
		if r := runCLIWithInput(t, vars, v+"\n", "billing", "secret", "set", name); r.exit != exitOK {
			t.Fatalf("billing secret set %s: %+v", name, r)
		}
	}
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	stderr := &tenantkittest.SyncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(sctx, []string{"serve", "--addr", addr, "--billing-grace", "0s"}, env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: stderr, getenv: mapEnv(vars)})
	}()
	base := "http://" + addr
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		select {
		case code := <-done:
			t.Fatalf("serve exited %d before serving:\n%s", code, stderr)
		default:
		}
		if resp, err := http.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve not ready after a minute:\n%s", stderr)
		}
	}
	api := func(method, path, body string) (int, string) {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testToken)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	p.Override(http.MethodGet, "/v1/prices/price_gone", http.StatusNotFound,
		`{"error":{"type":"invalid_request_error","code":"resource_missing","message":"No such price: 'price_gone'","param":"id"}}`)
	if code, body := api(http.MethodPatch, "/api/v1/plans/pro", `{"billing":{"base_price":"price_gone"}}`); code != http.StatusUnprocessableEntity ||
		!strings.Contains(body, "billing.base_price") {
		t.Fatalf("a price Stripe does not have, through the API: %d %s", code, body)
	}
	if code, body := api(http.MethodPatch, "/api/v1/plans/pro", `{"billing":{"base_price":"price_pro","trial_days":7}}`); code != http.StatusOK {
		t.Fatalf("pro's prices: %d %s", code, body)
	}
	code, body := api(http.MethodPost, "/api/v1/tenants", `{"slug":"acme","name":"Acme","plan":"pro"}`)
	if code != http.StatusCreated {
		t.Fatalf("create acme: %d %s", code, body)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		subs := p.CallsTo(http.MethodPost, "/v1/subscriptions")
		if len(subs) == 1 && subs[0].Status == http.StatusOK {
			if f := subs[0].Form; f.Get("items[0][price]") != "price_pro" || f.Get("trial_period_days") != "7" || f.Get("metadata[tenant]") != "acme" {
				t.Fatalf("acme's subscription: %v", f)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no subscription for acme 30s after it was created: %+v\n%s", subs, stderr)
		}
	}
	viaServer := map[string]string{"TENANTKIT_SERVER": base, "TENANTKIT_ADMIN_TOKEN": testToken}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		r := runCLI(t, viaServer, "billing", "status", "acme")
		if r.exit == exitOK && strings.Contains(r.stdout, "Subscription:  sub_") && strings.Contains(r.stdout, "Backlog:       none\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tenantkit billing status acme: exit %d\n%s%s", r.exit, r.stdout, r.stderr)
		}
	}
	// Dunning through the webhook: a signed failed payment suspends acme
	// at once (grace 0); a signed paid invoice resumes it; a bad signature
	// is refused.
	var acme struct{ ID string }
	_, body = api(http.MethodGet, "/api/v1/tenants/acme", "")
	_ = json.Unmarshal([]byte(body), &acme)
	// Each event is made a second after the one before, as Stripe's are.
	made := time.Now().Add(-time.Minute)
	hook := func(id, typ, key string) (int, string) {
		made = made.Add(time.Second)
		payload, _ := json.Marshal(map[string]any{"id": id, "object": "event", "api_version": "2026-06-24.dahlia", "created": made.Unix(),
			"type": typ, "data": map[string]any{"object": map[string]any{"id": "in_1", "object": "invoice",
				"parent": map[string]any{"subscription_details": map[string]any{"metadata": map[string]string{"tenant_id": acme.ID}}}}}})
		sp := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: key, Timestamp: time.Now()})
		req, _ := http.NewRequest(http.MethodPost, base+"/webhooks/stripe", strings.NewReader(string(payload)))
		req.Header.Set("Stripe-Signature", sp.Header)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	status := func() string {
		_, body := api(http.MethodGet, "/api/v1/tenants/acme", "")
		var tn struct {
			Status           string `json:"status"`
			SuspensionReason string `json:"suspension_reason"`
		}
		_ = json.Unmarshal([]byte(body), &tn)
		return tn.Status + " " + tn.SuspensionReason
	}
	if code, body := hook("evt_bad", "invoice.payment_failed", "whsec_not_ours"); code != http.StatusBadRequest || !strings.Contains(body, "bad-signature") {
		t.Fatalf("a bad signature: %d %s", code, body)
	}
	for _, step := range []struct{ id, typ, want string }{
		{"evt_failed", "invoice.payment_failed", "suspended payment overdue"},
		{"evt_paid", "invoice.paid", "active "},
	} {
		if code, body := hook(step.id, step.typ, "whsec_serve_test"); code != http.StatusOK {
			t.Fatalf("%s: %d %s", step.typ, code, body)
		}
		for deadline := time.Now().Add(15 * time.Second); status() != step.want; time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("after %s acme is %q, want %q", step.typ, status(), step.want)
			}
		}
	}
	if code, body := api(http.MethodGet, "/metrics", ""); code != http.StatusOK || !strings.Contains(body, "tenantkit_billing_outbox_pending 0\n") ||
		!strings.Contains(body, `tenantkit_billing_webhook_events_total{outcome="handled",type="invoice.paid"} 1`) ||
		!strings.Contains(body, "tenantkit_billing_sync_errors_total 0\n") {
		t.Fatalf("billing metrics: %d\n%s", code, body)
	}
	if r := runCLI(t, viaServer, "billing", "report", "--tenant", "acme"); r.exit != exitOK || !strings.Contains(r.stdout, " 0 not taken\n") {
		t.Fatalf("billing report through the server: exit %d\n%s%s", r.exit, r.stdout, r.stderr)
	}
	if r := runCLI(t, viaServer, "billing", "report", "--period", "2026-13"); r.exit != exitError || !strings.Contains(r.stderr, "period") {
		t.Fatalf("billing report of a bad period through the server: exit %d\n%s%s", r.exit, r.stdout, r.stderr)
	}
	if r := runCLI(t, viaServer, "billing", "portal", "acme", "--return-url", "https://app.example/"); r.exit != exitOK || !strings.HasPrefix(r.stdout, "https://") {
		t.Fatalf("billing portal through the server: exit %d\n%s%s", r.exit, r.stdout, r.stderr)
	}
	if r := runCLI(t, viaServer, "billing", "checkout", "acme", "--plan", "pro", "--success-url", "https://app.example/ok", "--cancel-url", "nope"); r.exit != exitError ||
		!strings.Contains(r.stderr, "cancel_url") {
		t.Fatalf("billing checkout with a bad URL: exit %d\n%s%s", r.exit, r.stdout, r.stderr)
	}
	if r := runCLI(t, map[string]string{"TENANTKIT_DATABASE_URL": db.OwnerDSN()}, "billing", "portal", "acme"); r.exit != exitUsage ||
		!strings.Contains(r.stderr, "billing is off") {
		t.Fatalf("billing portal against the catalog without a key: exit %d\n%s", r.exit, r.stderr)
	}
	if r := runCLI(t, map[string]string{"TENANTKIT_DATABASE_URL": db.OwnerDSN()}, "billing", "status", "nosuch"); r.exit != exitError ||
		r.stderr != "tenantkit: no such tenant\n" {
		t.Fatalf("billing status of an unknown tenant: exit %d\n%s", r.exit, r.stderr)
	}
	stop()
	if code := <-done; code != exitOK {
		t.Fatalf("serve exited %d:\n%s", code, stderr)
	}
}

// TestBillingReportCanRunAgain: tenantkit billing report sends acme's new
// usage to its meter and prints the reconciliation; run again it sends
// nothing and shows no difference. It needs the catalog and a key.
func TestBillingReportCanRunAgain(t *testing.T) {
	t.Parallel()
	db := tenantkittest.NewCatalog(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, _ := stripemock.ForTest(t)
	vars := map[string]string{"TENANTKIT_DATABASE_URL": db.OwnerDSN(), "TENANTKIT_STRIPE_SECRET_KEY": stripemock.TestKey, "TENANTKIT_STRIPE_API_BASE": s.URL()}
	if r := runCLI(t, vars, "plans", "update", "pro", "--base-price", "price_pro", "--metered", "api_calls=price_api@api_calls"); r.exit != exitOK {
		t.Fatalf("plans update: %+v", r)
	}
	if r := runCLI(t, vars, "tenants", "create", "acme", "--name", "Acme", "--plan", "pro"); r.exit != exitOK {
		t.Fatalf("tenants create: %+v", r)
	}
	pool, err := pgxpool.New(ctx, db.OwnerDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	store, err := catalog.NewStore(catalog.StoreConfig{Pool: pool})
	if err != nil {
		t.Fatal(err)
	}
	b, err := billing.New(billing.Config{SecretKey: stripemock.TestKey, APIBase: s.URL()})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := billing.NewSyncer(b, store, billing.SyncConfig{}).Drain(ctx, 10, nil); err != nil || res.Applied != 1 {
		t.Fatalf("drain: %+v, %v", res, err)
	}
	acme, _ := store.GetTenant(ctx, "acme")
	period := time.Now().UTC().Format("2006-01")
	if _, err := store.WriteUsage(ctx, catalog.UsageBatch{ID: uuid.New(), Deltas: []catalog.UsageDelta{{Tenant: acme.ID, Period: period, APICalls: 42}}}); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, vars, "billing", "report", "--tenant", "acme")
	if r.exit != exitOK || !strings.Contains(r.stdout, "1 meter events sent, 0 not taken") || !strings.Contains(r.stdout, "acme    api_calls  api_calls  42       42        0            0") {
		t.Fatalf("billing report: exit %d\n%s%s", r.exit, r.stdout, r.stderr)
	}
	if r := runCLI(t, vars, "billing", "report"); r.exit != exitOK || !strings.Contains(r.stdout, "0 meter events sent") {
		t.Fatalf("billing report again: exit %d\n%s%s", r.exit, r.stdout, r.stderr)
	}
	delete(vars, "TENANTKIT_STRIPE_SECRET_KEY")
	if r := runCLI(t, vars, "billing", "report"); r.exit != exitUsage || !strings.Contains(r.stderr, "TENANTKIT_STRIPE_SECRET_KEY") {
		t.Fatalf("billing report without a key: %+v", r)
	}
}

// TestServeRefusesUnknownBillingChoices: a billing flag of an unknown
// value is a one-line usage error before anything starts.
func TestServeRefusesUnknownBillingChoices(t *testing.T) {
	t.Parallel()
	vars := map[string]string{"TENANTKIT_DATABASE_URL": "postgres://127.0.0.1:1/x", "TENANTKIT_ADMIN_TOKEN": testToken}
	for _, c := range [][]string{
		{"--billing-cancel", "sometimes"},
		{"--billing-upgrade-proration", "never"},
		{"--billing-on-subscription-deleted", "delete"},
		{"--billing-grace", "-1h"},
	} {
		r := runCLI(t, vars, append([]string{"serve"}, c...)...)
		if r.exit != exitUsage || !strings.Contains(r.stderr, c[0]) || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("serve %v: exit %d\n%s", c, r.exit, r.stderr)
		}
	}
}
