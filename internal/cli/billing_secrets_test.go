package cli

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantkit/tenantkit/internal/keys"
	"github.com/tenantkit/tenantkit/internal/stripemock"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

// TestBillingSecretsInThePlatformKeyring: the Stripe secret key set with
// tenantkit billing secret set (from standard input) is sealed in the
// catalog, never in clear; with the key-encryption key given and no key in
// the environment, the CLI bills with it (plans' prices are checked with
// Stripe); a key in the environment wins over it; keys rotate re-wraps it
// and it still opens; bad input is a one-line error that stores nothing;
// unset removes it and billing is off again.
func TestBillingSecretsInThePlatformKeyring(t *testing.T) {
	t.Parallel()
	db := tenantkittest.NewCatalog(t)
	_, p := stripemock.ForTest(t)
	keyFile := filepath.Join(t.TempDir(), "kek.json")
	if _, err := keys.LocalKEK(keys.LocalConfig{Path: keyFile, Create: true}); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"TENANTKIT_DATABASE_URL": db.OwnerDSN(), "TENANTKIT_STRIPE_API_BASE": p.URL()}
	withKEK := map[string]string{"TENANTKIT_KEY_FILE": keyFile}
	for k, v := range vars {
		withKEK[k] = v
	}
	if r := runCLI(t, vars, "catalog", "migrate"); r.exit != exitOK {
		t.Fatalf("catalog migrate: %+v", r)
	}

	for _, c := range []struct {
		vars       map[string]string
		in, want   string
		args       []string
		exitStatus int
	}{
		{withKEK, "pk_test_publishable\n", "secret or restricted key", []string{"secret-key"}, exitUsage},
		{withKEK, "", "no secret on standard input", []string{"secret-key"}, exitUsage},
		{withKEK, "sk_test_a\nsk_test_b\n", "one line", []string{"secret-key"}, exitUsage},
		{withKEK, "nothook\n", "whsec_", []string{"webhook-secret"}, exitUsage},
		{withKEK, "sk_test_x\n", "want secret-key or webhook-secret", []string{"api-key"}, exitUsage},
		{vars, stripemock.TestKey + "\n", "key-encryption key", []string{"secret-key"}, exitUsage},
		{map[string]string{"TENANTKIT_SERVER": "http://127.0.0.1:1", "TENANTKIT_ADMIN_TOKEN": testToken, "TENANTKIT_KEY_FILE": keyFile}, stripemock.TestKey + "\n", "not --server", []string{"secret-key"}, exitUsage},
	} {
		r := runCLIWithInput(t, c.vars, c.in, append([]string{"billing", "secret", "set"}, c.args...)...)
		if r.exit != c.exitStatus || !strings.Contains(r.stderr, c.want) {
			t.Errorf("billing secret set %v <<%q: exit %d\n%s", c.args, c.in, r.exit, r.stderr)
		}
		requireOneErrorLine(t, r)
	}
	if r := runCLI(t, vars, "billing", "secret", "list"); r.exit != exitOK || r.stdout != "no billing secrets in the catalog\n" {
		t.Fatalf("bad input stored something: %+v", r)
	}

	r := runCLIWithInput(t, withKEK, stripemock.TestKey+"\n", "billing", "secret", "set", "secret-key")
	if r.exit != exitOK || !strings.Contains(r.stdout, "billing secret-key ••••") || strings.Contains(r.stdout, stripemock.TestKey) {
		t.Fatalf("billing secret set secret-key: %+v", r)
	}
	if r := runCLIWithInput(t, withKEK, "whsec_from_the_keyring\n", "billing", "secret", "set", "webhook-secret"); r.exit != exitOK {
		t.Fatalf("billing secret set webhook-secret: %+v", r)
	}
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, db.OwnerDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var clear bool
	if err := pool.QueryRow(ctx, "SELECT bool_or(position($1::bytea IN sealed) > 0 OR position('whsec_from'::bytea IN sealed) > 0) FROM tenantkit.platform_secrets",
		[]byte(stripemock.TestKey)).Scan(&clear); err != nil || clear {
		t.Fatalf("a secret stored in clear: %v, %v", clear, err)
	}

	// Billing on from the keyring: a price Stripe does not have is refused.
	p.Override(http.MethodGet, "/v1/prices/price_gone", http.StatusNotFound,
		`{"error":{"type":"invalid_request_error","code":"resource_missing","message":"No such price: 'price_gone'","param":"id"}}`)
	if r := runCLI(t, withKEK, "plans", "update", "pro", "--base-price", "price_gone"); r.exit != exitError || !strings.Contains(r.stderr, "Stripe has no price price_gone") {
		t.Fatalf("billing from the keyring: %+v", r)
	}
	if n := len(p.CallsTo(http.MethodGet, "/v1/prices/price_gone")); n != 1 {
		t.Fatalf("%d price lookups, want 1", n)
	}
	for _, c := range p.Calls() {
		if c.Key != stripemock.TestKey {
			t.Fatalf("a call to Stripe without the keyring's key: %q", c.Key)
		}
	}
	// Without the KEK the keyring is not read: billing is off.
	p.Reset()
	if r := runCLI(t, vars, "plans", "update", "pro", "--base-price", "price_gone"); r.exit != exitOK || len(p.Calls()) != 0 {
		t.Fatalf("without the KEK: %+v, %d calls", r, len(p.Calls()))
	}
	// The environment's key wins.
	env := map[string]string{"TENANTKIT_STRIPE_SECRET_KEY": "sk_test_environment0123"}
	for k, v := range withKEK {
		env[k] = v
	}
	if r := runCLI(t, env, "plans", "update", "pro", "--base-price", "price_pro"); r.exit != exitOK {
		t.Fatalf("with the environment's key: %+v", r)
	}
	if calls := p.Calls(); len(calls) != 1 || calls[0].Key != "sk_test_environment0123" {
		t.Fatalf("the environment's key did not win: %+v", calls)
	}

	// keys rotate re-wraps the secrets; they still open with the file.
	r = runCLI(t, withKEK, "keys", "rotate")
	if r.exit != exitOK || !strings.Contains(r.stdout, "platform secrets: 2 re-wrapped, 0 skipped (set again meanwhile), 0 remaining\n") {
		t.Fatalf("keys rotate: %+v", r)
	}
	if r := runCLI(t, withKEK, "keys", "status"); r.exit != exitOK || !strings.Contains(r.stdout, "seals 2 of 2 platform secrets") {
		t.Fatalf("keys status: %+v", r)
	}
	p.Reset()
	if r := runCLI(t, withKEK, "plans", "update", "pro", "--base-price", "price_gone"); r.exit != exitError || len(p.Calls()) != 1 {
		t.Fatalf("billing from the keyring after rotation: %+v, %d calls", r, len(p.Calls()))
	}
	r = runCLI(t, withKEK, "billing", "secret", "list")
	if r.exit != exitOK || !strings.Contains(r.stdout, "secret-key") || !strings.Contains(r.stdout, "webhook-secret") || strings.Contains(r.stdout, "whsec_") {
		t.Fatalf("billing secret list: %+v", r)
	}

	// A KEK that did not seal it: one line, not a silent billing-off.
	otherKEK := filepath.Join(t.TempDir(), "other.json")
	if _, err := keys.LocalKEK(keys.LocalConfig{Path: otherKEK, Create: true}); err != nil {
		t.Fatal(err)
	}
	wrong := map[string]string{"TENANTKIT_KEY_FILE": otherKEK, "TENANTKIT_DATABASE_URL": db.OwnerDSN()}
	if r := runCLI(t, wrong, "plans", "update", "pro", "--base-price", "price_gone"); r.exit != exitError || !strings.Contains(r.stderr, "no configured KEK") {
		t.Fatalf("the wrong KEK: %+v", r)
	} else {
		requireOneErrorLine(t, r)
	}

	if r := runCLI(t, vars, "billing", "secret", "unset", "secret-key"); r.exit != exitOK {
		t.Fatalf("unset: %+v", r)
	}
	if r := runCLI(t, vars, "billing", "secret", "unset", "secret-key"); r.exit != exitError || !strings.Contains(r.stderr, "no billing secret-key") {
		t.Fatalf("unset again: %+v", r)
	}
	p.Reset()
	if r := runCLI(t, withKEK, "plans", "update", "pro", "--base-price", "price_gone"); r.exit != exitOK || len(p.Calls()) != 0 {
		t.Fatalf("after unset billing is still on: %+v, %d calls", r, len(p.Calls()))
	}
}
