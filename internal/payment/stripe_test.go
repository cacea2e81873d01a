package payment_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tenantkit/tenantkit/internal/integration"
	"github.com/tenantkit/tenantkit/internal/payment"
)

const (
	testKey     = "sk_test_51TenantKitExampleKey0123456789abcdef"
	testWebhook = "whsec_tenantkitExampleSigningSecret0123"
)

// request is what the fake Stripe saw.
type request struct {
	method, path, auth, contentType, idempotency, version string
	form                                                  url.Values
}

// fakeStripe answers Stripe API paths with canned JSON, as Stripe
// documents it, and records every request.
type fakeStripe struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []request
	// answers maps "METHOD /path" to a status and a JSON body.
	answers map[string]answer
}

type answer struct {
	status int
	body   string
}

func newFakeStripe(t *testing.T, answers map[string]answer) *fakeStripe {
	f := &fakeStripe{answers: answers}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(body))
		f.mu.Lock()
		f.got = append(f.got, request{method: r.Method, path: r.URL.Path, auth: r.Header.Get("Authorization"),
			contentType: r.Header.Get("Content-Type"), idempotency: r.Header.Get("Idempotency-Key"),
			version: r.Header.Get("Stripe-Version"), form: form})
		f.mu.Unlock()
		a, ok := f.answers[r.Method+" "+r.URL.Path]
		if !ok {
			a = answer{404, `{"error":{"message":"Unrecognized request URL (` + r.Method + `: ` + r.URL.Path + `).","type":"invalid_request_error"}}`}
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Request-Id", "req_test123")
		w.WriteHeader(a.status)
		io.WriteString(w, a.body)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeStripe) requests() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]request(nil), f.got...)
}

// The bodies below are trimmed from Stripe's API reference examples.
const (
	balanceJSON  = `{"object":"balance","available":[{"amount":0,"currency":"usd","source_types":{"card":0}}],"livemode":false,"pending":[{"amount":0,"currency":"usd","source_types":{"card":0}}]}`
	customerJSON = `{"id":"cus_NffrFeUfNV2Hib","object":"customer","created":1680893993,"email":"jennyrosen@example.com","livemode":false,"metadata":{},"name":"Jenny Rosen"}`
	intentJSON   = `{"id":"pi_3MtwBwLkdIwHu7ix28a3tqPa","object":"payment_intent","amount":1999,"currency":"eur","customer":"cus_NffrFeUfNV2Hib","client_secret":"pi_3MtwBwLkdIwHu7ix28a3tqPa_secret_YrKJUKribcBjcG8HVhfZluoGH","status":"requires_payment_method","livemode":false}`
	authError    = `{"error":{"message":"Invalid API Key provided: sk_test_****************************cdef","type":"invalid_request_error"}}`
)

type setup struct {
	tenant  uuid.UUID
	stripe  *fakeStripe
	account payment.Account
}

func newSetup(t *testing.T, answers map[string]answer) setup {
	t.Helper()
	s := setup{tenant: uuid.New(), stripe: newFakeStripe(t, answers)}
	a, err := payment.New(payment.ProviderStripe, integration.Config{Tenant: s.tenant, TenantSlug: "acme",
		Credentials: map[string]string{"secret_key": testKey, "webhook_secret": testWebhook},
		Settings:    map[string]string{"base_url": s.stripe.srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	s.account = a
	return s
}

func (s setup) only(t *testing.T) request {
	t.Helper()
	got := s.stripe.requests()
	if len(got) != 1 {
		t.Fatalf("%d requests, want 1: %+v", len(got), got)
	}
	r := got[0]
	if r.auth != "Bearer "+testKey {
		t.Fatalf("Authorization %q", r.auth)
	}
	if r.version == "" {
		t.Fatal("no Stripe-Version header")
	}
	return r
}

func wantForm(t *testing.T, form url.Values, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got := form.Get(k); got != v {
			t.Errorf("form %s = %q, want %q (form %v)", k, got, v, form)
		}
	}
	if len(form) != len(want) {
		t.Errorf("form has %d fields, want %d: %v", len(form), len(want), form)
	}
}

func TestStripeTest(t *testing.T) {
	t.Parallel()
	s := newSetup(t, map[string]answer{"GET /v1/balance": {200, balanceJSON}})
	if err := s.account.Test(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r := s.only(t); r.method != "GET" || r.path != "/v1/balance" {
		t.Fatalf("%s %s", r.method, r.path)
	}
}

func TestStripeTestRefusedKey(t *testing.T) {
	t.Parallel()
	s := newSetup(t, map[string]answer{"GET /v1/balance": {401, authError}})
	err := s.account.Test(context.Background())
	if !errors.Is(err, payment.ErrUnauthorized) {
		t.Fatalf("want ErrUnauthorized, got %v", err)
	}
	var pe *payment.ProviderError
	if !errors.As(err, &pe) || pe.Status != 401 || pe.Type != "invalid_request_error" || pe.RequestID != "req_test123" {
		t.Fatalf("%#v", err)
	}
	if strings.Contains(err.Error(), testKey) {
		t.Fatalf("the error shows the key: %v", err)
	}
}

func TestStripeCreateCustomer(t *testing.T) {
	t.Parallel()
	s := newSetup(t, map[string]answer{"POST /v1/customers": {200, customerJSON}})
	id, err := s.account.CreateCustomer(context.Background(), "jennyrosen@example.com", "Jenny Rosen",
		map[string]string{"plan": "pro", "tenant": "forged"})
	if err != nil {
		t.Fatal(err)
	}
	if id != "cus_NffrFeUfNV2Hib" {
		t.Fatalf("id %q", id)
	}
	r := s.only(t)
	if r.method != "POST" || r.path != "/v1/customers" || r.contentType != "application/x-www-form-urlencoded" || r.idempotency == "" {
		t.Fatalf("%+v", r)
	}
	wantForm(t, r.form, map[string]string{
		"email":                 "jennyrosen@example.com",
		"name":                  "Jenny Rosen",
		"metadata[plan]":        "pro",
		"metadata[tenant]":      s.tenant.String(), // not the caller's forged one
		"metadata[tenant_slug]": "acme",
	})
}

func TestStripeCreatePaymentIntent(t *testing.T) {
	t.Parallel()
	s := newSetup(t, map[string]answer{"POST /v1/payment_intents": {200, intentJSON}})
	id, secret, err := s.account.CreatePaymentIntent(context.Background(), 1999, "EUR", "cus_NffrFeUfNV2Hib", map[string]string{"invoice": "in_42"})
	if err != nil {
		t.Fatal(err)
	}
	if id != "pi_3MtwBwLkdIwHu7ix28a3tqPa" || secret != "pi_3MtwBwLkdIwHu7ix28a3tqPa_secret_YrKJUKribcBjcG8HVhfZluoGH" {
		t.Fatalf("id %q, client secret %q", id, secret)
	}
	r := s.only(t)
	if r.method != "POST" || r.path != "/v1/payment_intents" || r.contentType != "application/x-www-form-urlencoded" || r.idempotency == "" {
		t.Fatalf("%+v", r)
	}
	wantForm(t, r.form, map[string]string{
		"amount":                "1999",
		"currency":              "eur",
		"customer":              "cus_NffrFeUfNV2Hib",
		"metadata[invoice]":     "in_42",
		"metadata[tenant]":      s.tenant.String(),
		"metadata[tenant_slug]": "acme",
	})
}

func TestStripePaymentIntentInputChecked(t *testing.T) {
	t.Parallel()
	s := newSetup(t, nil)
	for _, c := range []struct {
		amount   int64
		currency string
	}{{0, "usd"}, {-5, "usd"}, {100, "euro"}, {100, "u$d"}, {100, ""}} {
		_, _, err := s.account.CreatePaymentIntent(context.Background(), c.amount, c.currency, "", nil)
		if !errors.Is(err, payment.ErrInvalidInput) {
			t.Errorf("%d %q: want ErrInvalidInput, got %v", c.amount, c.currency, err)
		}
	}
	if n := len(s.stripe.requests()); n != 0 {
		t.Fatalf("%d requests sent", n)
	}
}

// Two tenants' accounts in one process each send their own key: no
// global key is shared.
func TestStripeAccountsKeepTheirOwnKeys(t *testing.T) {
	t.Parallel()
	f := newFakeStripe(t, map[string]answer{"GET /v1/balance": {200, balanceJSON}})
	keys := []string{"sk_test_tenantA000000000000000", "rk_live_tenantB111111111111111"}
	for _, k := range keys {
		a, err := payment.New(payment.ProviderStripe, integration.Config{Tenant: uuid.New(),
			Credentials: map[string]string{"secret_key": k}, Settings: map[string]string{"base_url": f.srv.URL}})
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Test(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	got := f.requests()
	if len(got) != 2 || got[0].auth != "Bearer "+keys[0] || got[1].auth != "Bearer "+keys[1] {
		t.Fatalf("%+v", got)
	}
}

// sign makes a Stripe-Signature header the documented way:
// t=<unix time>,v1=<hex HMAC-SHA256 of "<unix time>.<payload>">.
func sign(payload []byte, secret string, at time.Time) string {
	ts := fmt.Sprint(at.Unix())
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "." + string(payload)))
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}

func TestStripeVerifyWebhook(t *testing.T) {
	t.Parallel()
	s := newSetup(t, nil)
	v, ok := s.account.(payment.WebhookVerifier)
	if !ok {
		t.Fatalf("%T is no WebhookVerifier", s.account)
	}
	// An event of another API version than the library's is accepted.
	payload := []byte(`{"id":"evt_1NG8Du2eZvKYlo2CUI79vXWy","object":"event","api_version":"2019-02-19","created":1686089970,"type":"invoice.paid","data":{"object":{"id":"in_1","object":"invoice"}}}`)
	now := time.Now()
	typ, err := v.VerifyWebhook(payload, sign(payload, testWebhook, now))
	if err != nil {
		t.Fatal(err)
	}
	if typ != "invoice.paid" {
		t.Fatalf("type %q", typ)
	}

	tampered := []byte(strings.Replace(string(payload), "invoice.paid", "invoice.voided", 1))
	for name, c := range map[string]struct {
		payload []byte
		header  string
	}{
		"tampered payload": {tampered, sign(payload, testWebhook, now)},
		"other secret":     {payload, sign(payload, "whsec_someoneElse", now)},
		"an hour old":      {payload, sign(payload, testWebhook, now.Add(-time.Hour))},
		"no header":        {payload, ""},
		"garbage header":   {payload, "v1=zz"},
	} {
		_, err := v.VerifyWebhook(c.payload, c.header)
		if !errors.Is(err, payment.ErrInvalidWebhook) {
			t.Errorf("%s: want ErrInvalidWebhook, got %v", name, err)
		}
	}
}

func TestStripeVerifyWebhookWithoutSecret(t *testing.T) {
	t.Parallel()
	a, err := payment.New(payment.ProviderStripe, integration.Config{Credentials: map[string]string{"secret_key": testKey}})
	if err != nil {
		t.Fatal(err)
	}
	payload := []byte(`{"type":"invoice.paid"}`)
	_, err = a.(payment.WebhookVerifier).VerifyWebhook(payload, sign(payload, testWebhook, time.Now()))
	if !errors.Is(err, payment.ErrNoWebhookSecret) {
		t.Fatalf("want ErrNoWebhookSecret, got %v", err)
	}
}

func TestStripeConfig(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		creds    map[string]string
		settings map[string]string
		want     string
	}{
		{map[string]string{}, nil, `credential "secret_key" is required`},
		{map[string]string{"secret_key": "pk_test_publishableNotSecret"}, nil, `credential "secret_key" must start with sk_test_, sk_live_ or rk_`},
		{map[string]string{"secret_key": testKey, "webhook_secret": "notawebhooksecret"}, nil, `credential "webhook_secret" must start with whsec_`},
		{map[string]string{"secret_key": testKey}, map[string]string{"base_url": "ftp://stripe.example"}, `setting "base_url" must be an http(s) URL`},
		{map[string]string{"secret_key": testKey, "api_key": "x"}, nil, `credential "api_key" is not one stripe takes`},
	} {
		_, err := payment.New(payment.ProviderStripe, integration.Config{Credentials: c.creds, Settings: c.settings})
		if !errors.Is(err, integration.ErrInvalidConfig) {
			t.Fatalf("want ErrInvalidConfig, got %v", err)
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v lacks %q", err, c.want)
		}
		for _, v := range c.creds {
			if strings.Contains(err.Error(), v) {
				t.Errorf("%v shows a credential", err)
			}
		}
	}
	if _, err := payment.New("paypal", integration.Config{}); !errors.Is(err, payment.ErrUnknownProvider) {
		t.Fatalf("want ErrUnknownProvider, got %v", err)
	}
}

func TestSpecs(t *testing.T) {
	t.Parallel()
	specs := payment.Specs()
	if len(specs) != 1 || specs[0].Provider != "stripe" || specs[0].Type != integration.Payment {
		t.Fatalf("%+v", specs)
	}
}

// formatted is every way a value may end up in a log or a message.
func formatted(vs ...any) string {
	var b strings.Builder
	for _, v := range vs {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%d", "%x"} {
			fmt.Fprintf(&b, verb+"\n", v)
		}
		if err, ok := v.(error); ok {
			for e := errors.Unwrap(err); e != nil; e = errors.Unwrap(e) {
				fmt.Fprintf(&b, "%v %+v %#v\n", e, e, e)
			}
		}
		slog.New(slog.NewTextHandler(&b, nil)).Info("value", "v", v)
		slog.New(slog.NewJSONHandler(&b, nil)).Info("value", "v", v)
	}
	return b.String()
}

// A deliberately failing Stripe that echoes both credentials in every
// error: nothing returned shows them.
func TestStripeNeverShowsCredentials(t *testing.T) {
	t.Parallel()
	echo := `{"error":{"message":"bad key ` + testKey + ` and ` + testWebhook + `","type":"invalid_request_error","code":"` + testKey + `","request_log_url":"https://dashboard.stripe.com/logs/` + testKey + `"}}`
	answers := map[string]answer{}
	for _, p := range []string{"GET /v1/balance", "POST /v1/customers", "POST /v1/payment_intents"} {
		answers[p] = answer{401, echo}
	}
	s := newSetup(t, answers)
	ctx := context.Background()
	values := []any{s.account}
	values = append(values, s.account.Test(ctx))
	id, err := s.account.CreateCustomer(ctx, "a@example.com", testKey, map[string]string{"k": testWebhook})
	values = append(values, id, err)
	pi, cs, err := s.account.CreatePaymentIntent(ctx, 100, "usd", testKey, nil)
	values = append(values, pi, cs, err)
	typ, werr := s.account.(payment.WebhookVerifier).VerifyWebhook([]byte(`{"type":"x"}`), "t=1,v1="+testWebhook)
	values = append(values, typ, werr)
	for _, i := range []int{1, 3, 6, 8} {
		if values[i] == nil {
			t.Fatalf("value %d: the failing provider returned no error", i)
		}
	}
	if !errors.Is(values[1].(error), payment.ErrUnauthorized) {
		t.Fatalf("Test = %v", values[1])
	}
	if !strings.Contains(values[3].(error).Error(), "bad key [redacted] and [redacted]") {
		t.Fatalf("CreateCustomer = %v", values[3])
	}
	text := formatted(values...)
	for _, secret := range []string{testKey, testWebhook} {
		for _, form := range []string{secret, fmt.Sprintf("%x", secret)} {
			if strings.Contains(text, form) {
				t.Fatalf("a credential shows in:\n%s", text)
			}
		}
	}
	if len(s.stripe.requests()) != 3 {
		t.Fatalf("%d requests: a refused key was retried", len(s.stripe.requests()))
	}
}
