package stripemock_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v86"

	"github.com/tenantkit/tenantkit/internal/stripemock"
)

// startServer runs a stripe-mock for the test. The first run on a machine
// builds it, so the bound is generous; later starts take a second or two.
func startServer(t *testing.T) *stripemock.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	s, err := stripemock.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("stripe-mock log:\n%s", s.Log())
		}
	})
	return s
}

func startProxy(t *testing.T, upstream string) *stripemock.Proxy {
	t.Helper()
	p, err := stripemock.NewProxy(upstream)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// newClient is a stripe-go client whose every backend calls baseURL, the
// way tenantkit points it at stripe-mock. retries is stripe-go's
// MaxNetworkRetries: 0 keeps a failure a single call.
func newClient(baseURL string, retries int64) *stripe.Client {
	return newClientWith(baseURL, retries, &http.Client{Timeout: 10 * time.Second})
}

func newClientWith(baseURL string, retries int64, hc *http.Client) *stripe.Client {
	return stripe.NewClient(stripemock.TestKey, stripe.WithBackends(stripe.NewBackendsWithConfig(&stripe.BackendConfig{
		URL:               stripe.String(baseURL),
		HTTPClient:        hc,
		MaxNetworkRetries: stripe.Int64(retries),
		// stripe-go logs every failed call to stderr; these fail on purpose.
		LeveledLogger: &stripe.LeveledLogger{Level: stripe.LevelNull},
	})))
}

func callCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func createCustomer(ctx context.Context, c *stripe.Client, tenantID, key string) (*stripe.Customer, error) {
	params := &stripe.CustomerCreateParams{Email: stripe.String(tenantID + "@example.test")}
	params.AddMetadata("tenant_id", tenantID)
	params.SetIdempotencyKey(key)
	return c.V1Customers.Create(ctx, params)
}

// stripeError returns err as the *stripe.Error stripe-go makes of an API
// error answer, failing the test when it is not one.
func stripeError(t *testing.T, err error) *stripe.Error {
	t.Helper()
	var se *stripe.Error
	if !errors.As(err, &se) {
		t.Fatalf("error %T %v is not a *stripe.Error", err, err)
	}
	return se
}

func TestProxyRecordsCalls(t *testing.T) {
	srv := startServer(t)
	proxy := startProxy(t, srv.URL())
	client := newClient(proxy.URL(), 0)
	ctx := callCtx(t)

	cus, err := createCustomer(ctx, client, "tenant-a", "create-customer:tenant-a")
	if err != nil {
		t.Fatal(err)
	}
	// stripe-mock reflects scalar parameters into its answer: the email
	// coming back shows the body reached it intact through the proxy.
	if cus.Email != "tenant-a@example.test" {
		t.Errorf("customer email = %q: the form did not reach stripe-mock intact", cus.Email)
	}
	calls := proxy.CallsTo(http.MethodPost, "/v1/customers")
	if len(calls) != 1 {
		t.Fatalf("calls to POST /v1/customers = %+v, want 1", calls)
	}
	c := calls[0]
	if c.Method != http.MethodPost || c.Path != "/v1/customers" || c.Status != http.StatusOK {
		t.Errorf("call = %s %s → %d, want POST /v1/customers → 200", c.Method, c.Path, c.Status)
	}
	if got := c.Form.Get("metadata[tenant_id]"); got != "tenant-a" {
		t.Errorf("form metadata[tenant_id] = %q, want tenant-a (form %v)", got, c.Form)
	}
	if c.IdempotencyKey != "create-customer:tenant-a" {
		t.Errorf("idempotency key = %q", c.IdempotencyKey)
	}
	if c.StripeVersion != stripe.APIVersion {
		t.Errorf("Stripe-Version = %q, want %q", c.StripeVersion, stripe.APIVersion)
	}

	// The same key again: real Stripe would replay the first answer;
	// stateless stripe-mock makes a new customer with a new id. Only the
	// proxy's record shows the retry was a retry.
	again, err := createCustomer(ctx, client, "tenant-a", "create-customer:tenant-a")
	if err != nil {
		t.Fatal(err)
	}
	if again.ID == cus.ID {
		t.Logf("stripe-mock replayed %s for a reused idempotency key: it may have grown state", cus.ID)
	}
	// A parameter the spec does not know is refused by stripe-mock, as by
	// Stripe: the proxy records the 400 it forwarded.
	bad := &stripe.CustomerCreateParams{}
	bad.AddExtra("no_such_param", "1")
	_, err = client.V1Customers.Create(ctx, bad)
	if se := stripeError(t, err); se.HTTPStatusCode != http.StatusBadRequest || se.Type != stripe.ErrorTypeInvalidRequest {
		t.Errorf("unknown parameter: %d %s, want 400 invalid_request_error", se.HTTPStatusCode, se.Type)
	}

	calls = proxy.Calls()
	if len(calls) != 3 || calls[1].IdempotencyKey != "create-customer:tenant-a" ||
		calls[2].Status != http.StatusBadRequest || calls[2].Form.Get("no_such_param") != "1" {
		t.Errorf("calls = %+v, want the create, its retry, then the refused one", calls)
	}
	// Calls hands out copies: changing one changes no record.
	calls[0].Form.Set("metadata[tenant_id]", "changed")
	if got := proxy.Calls()[0].Form.Get("metadata[tenant_id]"); got != "tenant-a" {
		t.Errorf("a caller's change reached the record: %q", got)
	}
	proxy.Reset()
	if got := proxy.Calls(); len(got) != 0 {
		t.Errorf("after Reset, calls = %+v", got)
	}
}

func TestProxyConcurrentCalls(t *testing.T) {
	srv := startServer(t)
	proxy := startProxy(t, srv.URL())
	client := newClient(proxy.URL(), 0)
	ctx := callCtx(t)

	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			tenant := fmt.Sprintf("tenant-%02d", i)
			if _, err := createCustomer(ctx, client, tenant, "key-"+tenant); err != nil {
				errs <- err
			}
			_ = proxy.Calls() // read while others write, for the race detector
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	keys := map[string]string{}
	for _, c := range proxy.CallsTo(http.MethodPost, "/v1/customers") {
		if c.Status != http.StatusOK {
			t.Errorf("call %+v: status %d", c, c.Status)
		}
		keys[c.IdempotencyKey] = c.Form.Get("metadata[tenant_id]")
	}
	if len(keys) != n {
		t.Fatalf("recorded %d distinct keys, want %d: %v", len(keys), n, keys)
	}
	for i := range n {
		tenant := fmt.Sprintf("tenant-%02d", i)
		if keys["key-"+tenant] != tenant {
			t.Errorf("key-%s was sent with tenant %q", tenant, keys["key-"+tenant])
		}
	}
}

func TestProxyDown(t *testing.T) {
	srv := startServer(t)
	proxy := startProxy(t, srv.URL())
	// stripe-go's default of two retries, as production runs it.
	client := newClient(proxy.URL(), 2)
	ctx := callCtx(t)

	proxy.SetDown(true)
	_, err := createCustomer(ctx, client, "tenant-b", "create-customer:tenant-b")
	se := stripeError(t, err)
	if se.HTTPStatusCode != http.StatusServiceUnavailable || se.Type != stripe.ErrorTypeAPI ||
		se.Msg != "stripe-mock proxy: down" {
		t.Errorf("while down: %d %s %q, want 503 api_error", se.HTTPStatusCode, se.Type, se.Msg)
	}
	// stripe-go v86 retries connection errors and 5xx answers it cannot
	// parse, but not a 5xx with a Stripe error body: an outage reaches the
	// caller after one call, and the caller's own retry must reuse the key.
	calls := proxy.Calls()
	if len(calls) != 1 {
		t.Errorf("while down, %d calls, want 1 (stripe-go does not retry a Stripe-shaped 503): %+v", len(calls), calls)
	}
	for _, c := range calls {
		if c.Status != http.StatusServiceUnavailable || c.IdempotencyKey != "create-customer:tenant-b" ||
			c.Form.Get("metadata[tenant_id]") != "tenant-b" {
			t.Errorf("call while down = %+v, want 503 with the key and the form", c)
		}
	}

	proxy.SetDown(false)
	proxy.Reset()
	if _, err := createCustomer(ctx, client, "tenant-b", "create-customer:tenant-b"); err != nil {
		t.Fatalf("after the outage: %v", err)
	}
	if calls := proxy.Calls(); len(calls) != 1 || calls[0].Status != http.StatusOK {
		t.Errorf("after the outage, calls = %+v, want one 200", calls)
	}
}

func TestProxyOverrideMissingPrice(t *testing.T) {
	srv := startServer(t)
	proxy := startProxy(t, srv.URL())
	client := newClient(proxy.URL(), 0)
	ctx := callCtx(t)

	// stripe-mock finds every id: without the override the price exists.
	if p, err := client.V1Prices.Retrieve(ctx, "price_missing", nil); err != nil || p.ID != "price_missing" {
		t.Fatalf("stripe-mock GET price_missing = %+v, %v; want it found", p, err)
	}

	proxy.Override(http.MethodGet, "/v1/prices/price_missing", http.StatusNotFound,
		`{"error":{"type":"invalid_request_error","code":"resource_missing","message":"No such price: 'price_missing'","param":"id"}}`)
	_, err := client.V1Prices.Retrieve(ctx, "price_missing", nil)
	se := stripeError(t, err)
	if se.Code != stripe.ErrorCodeResourceMissing || se.HTTPStatusCode != http.StatusNotFound ||
		se.Type != stripe.ErrorTypeInvalidRequest || se.Param != "id" {
		t.Errorf("overridden: code %q status %d type %q param %q", se.Code, se.HTTPStatusCode, se.Type, se.Param)
	}
	var invalid *stripe.InvalidRequestError
	if !errors.As(err, &invalid) {
		t.Errorf("error %v does not unwrap to *stripe.InvalidRequestError", err)
	}
	// Only that method and path: other prices still come from stripe-mock.
	if _, err := client.V1Prices.Retrieve(ctx, "price_other", nil); err != nil {
		t.Errorf("GET price_other: %v", err)
	}
	if calls := proxy.CallsTo(http.MethodGet, "/v1/prices/price_missing"); len(calls) != 2 ||
		calls[0].Status != http.StatusOK || calls[1].Status != http.StatusNotFound {
		t.Errorf("calls to price_missing = %+v, want 200 then 404", calls)
	}

	proxy.ClearOverrides()
	if _, err := client.V1Prices.Retrieve(ctx, "price_missing", nil); err != nil {
		t.Errorf("after ClearOverrides: %v", err)
	}
}

func TestRestartSamePorts(t *testing.T) {
	srv := startServer(t)
	proxy := startProxy(t, srv.URL())
	// Every direct call dials anew: a connection pooled from before Stop
	// would fail with a broken pipe or a reset, racing with the kill,
	// where a new one is refused.
	direct := newClientWith(srv.URL(), 0, &http.Client{Timeout: 10 * time.Second,
		Transport: &http.Transport{DisableKeepAlives: true}})
	viaProxy := newClient(proxy.URL(), 0)
	ctx := callCtx(t)
	url := srv.URL()

	if _, err := createCustomer(ctx, direct, "tenant-c", "c-1"); err != nil {
		t.Fatal(err)
	}

	srv.Stop()
	_, err := createCustomer(ctx, direct, "tenant-c", "c-2")
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("while stopped: %v, want connection refused", err)
	}
	// Through the proxy, an unreachable upstream is a 502 Stripe error.
	_, err = createCustomer(ctx, viaProxy, "tenant-c", "c-3")
	if se := stripeError(t, err); se.HTTPStatusCode != http.StatusBadGateway || se.Type != stripe.ErrorTypeAPI {
		t.Errorf("via proxy while stopped: %d %s, want 502 api_error", se.HTTPStatusCode, se.Type)
	}
	if calls := proxy.Calls(); len(calls) != 1 || calls[0].Status != http.StatusBadGateway {
		t.Errorf("proxy calls while stopped = %+v, want one 502", calls)
	}

	restartCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := srv.Restart(restartCtx); err != nil {
		t.Fatal(err)
	}
	if srv.URL() != url {
		t.Fatalf("URL changed across Restart: %s → %s", url, srv.URL())
	}
	if _, err := createCustomer(ctx, direct, "tenant-c", "c-4"); err != nil {
		t.Errorf("after Restart: %v", err)
	}
	if _, err := createCustomer(ctx, viaProxy, "tenant-c", "c-5"); err != nil {
		t.Errorf("via proxy after Restart: %v", err)
	}
}

func TestNewProxyRejectsBadUpstream(t *testing.T) {
	for _, u := range []string{"", "127.0.0.1:12111", "ftp://127.0.0.1", "http://"} {
		if p, err := stripemock.NewProxy(u); err == nil {
			_ = p.Close()
			t.Errorf("NewProxy(%q) succeeded", u)
		}
	}
}
