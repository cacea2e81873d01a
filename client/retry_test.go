package client_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenantkit/tenantkit/client"
)

// front starts a server in front of the admin API at target: h answers
// each request itself, or hands it to pass, a proxy to the API. It is not
// an admin API: the API behind it is one newServer started.
func front(t *testing.T, target string, h func(w http.ResponseWriter, r *http.Request, pass http.Handler)) *httptest.Server {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	pass := httputil.NewSingleHostReverseProxy(u)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h(w, r, pass) }))
	t.Cleanup(ts.Close)
	return ts
}

// refuser answers the first n requests with refuse, and passes the others
// to the API. It counts them all.
type refuser struct {
	n      int32
	refuse func(w http.ResponseWriter, r *http.Request)
	seen   atomic.Int32
}

func (f *refuser) handle(w http.ResponseWriter, r *http.Request, pass http.Handler) {
	if f.seen.Add(1) <= f.n {
		f.refuse(w, r)
		return
	}
	pass.ServeHTTP(w, r)
}

// problem answers a problem of status, with Retry-After when not empty.
func problem(status int, retryAfter string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // the server read the request, and did nothing with it
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, `{"type":"urn:tenantkit:problem:test","title":"`+http.StatusText(status)+`","status":`+
			strconv.Itoa(status)+`,"detail":"refused by the front"}`)
	}
}

// hangUp closes the connection without an answer.
func hangUp(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		conn.Close()
	}
}

// retrySetup starts the API with f in front of it, and a client of the
// front that waits at most 10 s before a retry.
func retrySetup(t *testing.T, f *refuser, cfg client.Config) (*client.Client, bundle) {
	t.Helper()
	b := setup(t)
	cfg.BaseURL = front(t, b.url, f.handle).URL
	cfg.RetryWaitMin = 10 * time.Millisecond
	if cfg.RetryWaitMax == 0 {
		cfg.RetryWaitMax = 10 * time.Second
	}
	return newClient(t, cfg), b
}

func TestRetryAfterSeconds(t *testing.T) {
	t.Parallel()
	f := &refuser{n: 1, refuse: problem(http.StatusTooManyRequests, "1")}
	c, _ := retrySetup(t, f, client.Config{})
	start := time.Now()
	page, err := c.ListTenants(context.Background(), client.TenantListParams{})
	if err != nil || page.Tenants == nil {
		t.Fatalf("after a 429: %+v %v", page, err)
	}
	if waited := time.Since(start); waited < 900*time.Millisecond || waited > 20*time.Second {
		t.Fatalf("waited %s after Retry-After: 1", waited)
	}
	if n := f.seen.Load(); n != 2 {
		t.Fatalf("%d requests, want 2", n)
	}
}

func TestRetryAfterDate(t *testing.T) {
	t.Parallel()
	f := &refuser{n: 1, refuse: func(w http.ResponseWriter, r *http.Request) {
		problem(http.StatusServiceUnavailable, time.Now().Add(2*time.Second).UTC().Format(http.TimeFormat))(w, r)
	}}
	c, _ := retrySetup(t, f, client.Config{})
	start := time.Now()
	if _, err := c.ListTenants(context.Background(), client.TenantListParams{}); err != nil {
		t.Fatalf("after a 503: %v", err)
	}
	// The date has whole seconds: the wait is between one and two.
	if waited := time.Since(start); waited < 500*time.Millisecond || waited > 20*time.Second {
		t.Fatalf("waited %s after a Retry-After 2 s ahead", waited)
	}
	if n := f.seen.Load(); n != 2 {
		t.Fatalf("%d requests, want 2", n)
	}
}

// A POST refused with 503 or 429 is sent again, body and all: the server
// did not do it. It is done once.
func TestPostIsRetriedWhenRefused(t *testing.T) {
	t.Parallel()
	for _, status := range []int{http.StatusServiceUnavailable, http.StatusTooManyRequests} {
		f := &refuser{n: 2, refuse: problem(status, "")}
		c, b := retrySetup(t, f, client.Config{})
		tn, err := c.CreateTenant(context.Background(), client.CreateTenantParams{Slug: "acme", Name: "Acme Corp"})
		if err != nil || tn.Slug != "acme" || tn.Name != "Acme Corp" {
			t.Fatalf("%d: create after two refusals: %+v %v", status, tn, err)
		}
		page, err := b.c.ListTenants(context.Background(), client.TenantListParams{})
		if err != nil || len(page.Tenants) != 1 || f.seen.Load() != 3 {
			t.Fatalf("%d: %d requests made %+v (%v)", status, f.seen.Load(), page.Tenants, err)
		}
	}
}

// What may have been done is not done again: a POST or a PATCH is not
// retried after a 500, a 502 or a lost connection. A GET is, after a 502
// or a lost connection; never after a 500 or an answer it cannot read.
func TestRetryOnlyWhatIsSafe(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cases := []struct {
		name   string
		refuse func(http.ResponseWriter, *http.Request)
		call   func(*client.Client) error
		sent   int32 // requests the front sees
		status int   // of the *client.Error; 0 for success, -1 for another error
	}{
		{"POST 500", problem(500, ""), func(c *client.Client) error {
			_, err := c.CreateTenant(ctx, client.CreateTenantParams{Slug: "acme", Name: "Acme"})
			return err
		}, 1, 500},
		{"POST 502", problem(502, ""), func(c *client.Client) error {
			_, err := c.SuspendTenant(ctx, "acme", "x")
			return err
		}, 1, 502},
		{"POST lost", hangUp, func(c *client.Client) error {
			_, err := c.CreateTenant(ctx, client.CreateTenantParams{Slug: "acme", Name: "Acme"})
			return err
		}, 1, -1},
		{"PATCH 504", problem(504, ""), func(c *client.Client) error {
			_, err := c.UpdateTenant(ctx, "acme", client.UpdateTenantParams{Name: ptr("X")})
			return err
		}, 1, 504},
		{"GET 500", problem(500, ""), func(c *client.Client) error {
			_, err := c.ListTenants(ctx, client.TenantListParams{})
			return err
		}, 1, 500},
		{"GET 502", problem(502, ""), func(c *client.Client) error {
			_, err := c.ListTenants(ctx, client.TenantListParams{})
			return err
		}, 2, 0},
		{"GET lost", hangUp, func(c *client.Client) error {
			_, err := c.ListTenants(ctx, client.TenantListParams{})
			return err
		}, 2, 0},
		{"GET unreadable", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"tenants":[`)
		}, func(c *client.Client) error {
			_, err := c.ListTenants(ctx, client.TenantListParams{})
			return err
		}, 1, -1},
		{"DELETE 504", problem(504, ""), func(c *client.Client) error {
			return c.DeleteFlag(ctx, "nosuch")
		}, 2, 404},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := &refuser{n: 1, refuse: tc.refuse}
			c, _ := retrySetup(t, f, client.Config{})
			err := tc.call(c)
			var e *client.Error
			switch {
			case tc.status == 0 && err != nil:
				t.Fatalf("failed: %v", err)
			case tc.status > 0 && (!errors.As(err, &e) || e.Status != tc.status):
				t.Fatalf("error %v, want a %d", err, tc.status)
			case tc.status < 0 && (err == nil || errors.As(err, &e)):
				t.Fatalf("error %v, want one that is not a *client.Error", err)
			}
			if n := f.seen.Load(); n != tc.sent {
				t.Fatalf("%d requests, want %d", n, tc.sent)
			}
		})
	}
}

func TestRetriesEnd(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	// After MaxRetries, the last answer is the error.
	f := &refuser{n: 100, refuse: problem(http.StatusServiceUnavailable, "")}
	c, _ := retrySetup(t, f, client.Config{MaxRetries: 2})
	_, err := c.GetTenant(ctx, "acme")
	if e := wantError(t, err, http.StatusServiceUnavailable, "test"); e.Detail != "refused by the front" || f.seen.Load() != 3 {
		t.Fatalf("%d requests: %+v", f.seen.Load(), e)
	}

	// A negative MaxRetries never retries.
	f = &refuser{n: 100, refuse: problem(http.StatusServiceUnavailable, "")}
	c, _ = retrySetup(t, f, client.Config{MaxRetries: -1})
	_, err = c.GetTenant(ctx, "acme")
	if wantError(t, err, http.StatusServiceUnavailable, "test"); f.seen.Load() != 1 {
		t.Fatalf("%d requests, want 1", f.seen.Load())
	}

	// A Retry-After beyond RetryWaitMax is not waited for: the error says
	// how long the server asked for.
	f = &refuser{n: 100, refuse: problem(http.StatusTooManyRequests, "120")}
	c, _ = retrySetup(t, f, client.Config{RetryWaitMax: 2 * time.Second})
	start := time.Now()
	_, err = c.GetTenant(ctx, "acme")
	if e := wantError(t, err, http.StatusTooManyRequests, "test"); e.RetryAfter != 120*time.Second || f.seen.Load() != 1 || time.Since(start) > 10*time.Second {
		t.Fatalf("%d requests in %s: %+v", f.seen.Load(), time.Since(start), e)
	}

	// Nor is one beyond the context's deadline.
	f = &refuser{n: 100, refuse: problem(http.StatusTooManyRequests, "5")}
	c, _ = retrySetup(t, f, client.Config{})
	dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err = c.GetTenant(dctx, "acme")
	if e := wantError(t, err, http.StatusTooManyRequests, "test"); e.RetryAfter != 5*time.Second || f.seen.Load() != 1 || dctx.Err() != nil {
		t.Fatalf("%d requests, context %v: %+v", f.seen.Load(), dctx.Err(), e)
	}
}

// Cancelling the context during the wait before a retry ends the call at
// once, with the context's error and the answer it was waiting to retry.
func TestCancelDuringTheWait(t *testing.T) {
	t.Parallel()
	f := &refuser{n: 100, refuse: problem(http.StatusTooManyRequests, "8")}
	c, _ := retrySetup(t, f, client.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	_, err := c.CreateTenant(ctx, client.CreateTenantParams{Slug: "acme", Name: "Acme"})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	wantError(t, err, http.StatusTooManyRequests, "test")
	if took := time.Since(start); took > 5*time.Second || f.seen.Load() != 1 {
		t.Fatalf("returned after %s and %d requests", took, f.seen.Load())
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"1", time.Second},
		{" 120 ", 2 * time.Minute},
		{"99999999999999999999", 0}, // overflows: not a number this client reads
		{"9999999999", 24 * time.Hour},
		{"-5", 0},
		{"1.5", 0},
		{"soon", 0},
		{"Sun, 01 Mar 2026 12:00:30 GMT", 30 * time.Second},
		{"Sunday, 01-Mar-26 12:01:00 GMT", time.Minute}, // RFC 850
		{"Sun Mar  1 12:00:10 2026", 10 * time.Second},  // asctime
		{"Sun, 01 Mar 2026 11:59:00 GMT", 0},            // past
	} {
		if got := client.ParseRetryAfter(c.in, now); got != c.want {
			t.Errorf("Retry-After %q: %s, want %s", c.in, got, c.want)
		}
	}
}
