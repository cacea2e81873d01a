package client_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenantkit/tenantkit/api"
	"github.com/tenantkit/tenantkit/client"
	"github.com/tenantkit/tenantkit/internal/adminapi"
	"github.com/tenantkit/tenantkit/internal/dnstest"
	"github.com/tenantkit/tenantkit/internal/domains"
)

// wantError fails the test unless err is an *client.Error of status and
// kind, and returns it.
func wantError(t *testing.T, err error, status int, kind string) *client.Error {
	t.Helper()
	var e *client.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T), want a %d %s *client.Error", err, err, status, kind)
	}
	if e.Status != status || e.Kind() != kind || e.Type != client.ProblemTypePrefix+kind {
		t.Fatalf("error %+v, want %d %s", e, status, kind)
	}
	return e
}

func ptr[T any](v T) *T { return &v }

func TestTenantLifecycle(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	created, err := b.c.CreateTenant(ctx, client.CreateTenantParams{Slug: "acme", Name: "Acme Corp"})
	if err != nil {
		t.Fatal(err)
	}
	if created.ID == "" || created.Slug != "acme" || created.Name != "Acme Corp" || created.Status != client.StatusActive ||
		created.Plan != "free" || created.CreatedAt.IsZero() || created.Placement != nil {
		t.Fatalf("created %+v", created)
	}
	for _, ref := range []string{"acme", created.ID} {
		if got, err := b.c.GetTenant(ctx, ref); err != nil || got != created.Tenant {
			t.Fatalf("get %s: %+v %v, want %+v", ref, got, err, created.Tenant)
		}
	}
	got, err := b.c.UpdateTenant(ctx, "acme", client.UpdateTenantParams{Name: ptr("Acme Inc")})
	if err != nil || got.Name != "Acme Inc" || got.Plan != "free" {
		t.Fatalf("update: %+v %v", got, err)
	}
	if got, err = b.c.SuspendTenant(ctx, "acme", "unpaid invoice"); err != nil || got.Status != client.StatusSuspended || got.SuspensionReason != "unpaid invoice" {
		t.Fatalf("suspend: %+v %v", got, err)
	}
	if got, err = b.c.ResumeTenant(ctx, created.ID); err != nil || got.Status != client.StatusActive || got.SuspensionReason != "" {
		t.Fatalf("resume: %+v %v", got, err)
	}
	if got, err = b.c.DeleteTenant(ctx, "acme"); err != nil || got.Status != client.StatusDeleted || got.DeletedAt == nil {
		t.Fatalf("delete: %+v %v", got, err)
	}
	_, err = b.c.UpdateTenant(ctx, "acme", client.UpdateTenantParams{Name: ptr("Again")})
	wantError(t, err, http.StatusConflict, "tenant-deleted")

	// Every change is audited under the client's actor.
	var actors []string
	rows, err := b.pool.Query(ctx, "SELECT DISTINCT actor FROM tenantkit.audit_log")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			t.Fatal(err)
		}
		actors = append(actors, a)
	}
	if rows.Err() != nil || len(actors) != 1 || actors[0] != "api:test" {
		t.Fatalf("audit actors %q (%v), want api:test", actors, rows.Err())
	}
}

func TestProblemsComeBackAsErrors(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	if _, err := b.c.CreateTenant(ctx, client.CreateTenantParams{Slug: "acme", Name: "Acme"}); err != nil {
		t.Fatal(err)
	}

	_, err := b.c.GetTenant(ctx, "nosuch")
	e := wantError(t, err, http.StatusNotFound, "tenant-not-found")
	if e.Title != "Not Found" || e.Detail != "no such tenant" || e.Instance != "/api/v1/tenants/nosuch" || e.Errors != nil {
		t.Fatalf("404: %+v", e)
	}
	if want := "admin API: no such tenant (404 tenant-not-found)"; err.Error() != want {
		t.Fatalf("404 reads %q, want %q", err, want)
	}

	_, err = b.c.CreateTenant(ctx, client.CreateTenantParams{Slug: "a-", Name: " "})
	e = wantError(t, err, http.StatusUnprocessableEntity, "invalid-fields")
	var fields []string
	for _, f := range e.Errors {
		if f.Message == "" {
			t.Fatalf("field error without a message: %+v", e.Errors)
		}
		fields = append(fields, f.Field)
	}
	if strings.Join(fields, ",") != "slug,name" || !strings.Contains(err.Error(), ": slug must be") {
		t.Fatalf("422 names %q: %v", fields, err)
	}

	_, err = b.c.CreateTenant(ctx, client.CreateTenantParams{Slug: "acme", Name: "Acme Again"})
	wantError(t, err, http.StatusConflict, "slug-taken")

	// The server places no data: asking it to is not implemented.
	_, err = b.c.CreateTenant(ctx, client.CreateTenantParams{Slug: "globex", Name: "Globex", Tier: client.TierSchema})
	wantError(t, err, http.StatusNotImplemented, "not-implemented")
	_, err = b.c.PurgeTenant(ctx, "acme")
	wantError(t, err, http.StatusNotImplemented, "not-implemented")

	for name, tok := range map[string]string{"wrong": "wrong-token-0123456789", "none": ""} {
		c, err := client.New(client.Config{BaseURL: b.url, Token: tok})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.ListTenants(ctx, client.TenantListParams{})
		wantError(t, err, http.StatusUnauthorized, "unauthorized")
		// Health and readiness need no token.
		if err := c.Health(ctx); err != nil {
			t.Fatalf("%s token: health: %v", name, err)
		}
		if err := c.Ready(ctx); err != nil {
			t.Fatalf("%s token: ready: %v", name, err)
		}
	}
}

// An answer that is not problem details, like a proxy's error page, is an
// *Error all the same, of type about:blank.
func TestAnswerWithoutProblemDetails(t *testing.T) {
	t.Parallel()
	b := setup(t)
	proxy := front(t, b.url, func(w http.ResponseWriter, r *http.Request, _ http.Handler) {
		http.Error(w, "<html>bad gateway</html>", http.StatusBadGateway)
	})
	c := newClient(t, client.Config{BaseURL: proxy.URL, MaxRetries: -1})
	_, err := c.GetTenant(context.Background(), "acme")
	var e *client.Error
	if !errors.As(err, &e) || e.Status != http.StatusBadGateway || e.Type != "about:blank" || e.Title != "Bad Gateway" || e.Detail != "" {
		t.Fatalf("error %#v", err)
	}
	if want := "admin API: Bad Gateway (502 about:blank)"; err.Error() != want {
		t.Fatalf("reads %q, want %q", err, want)
	}
}

// A request that gets no answer returns the transport's error, wrapped:
// no *client.Error is made up for it.
func TestNoAnswerIsWrapped(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	c := newClient(t, client.Config{BaseURL: dead, MaxRetries: -1})
	_, err = c.GetTenant(context.Background(), "acme")
	var (
		ue *url.Error
		oe *net.OpError
		e  *client.Error
	)
	if !errors.As(err, &ue) || !errors.As(err, &oe) || errors.As(err, &e) {
		t.Fatalf("error %v (%T), want a wrapped *url.Error", err, err)
	}
}

func TestConfig(t *testing.T) {
	t.Parallel()
	for _, cfg := range []client.Config{
		{BaseURL: "ftp://example.com"},
		{BaseURL: "example.com:8080"},
		{BaseURL: "http://"},
		{BaseURL: "http://u:p@example.com"},
		{BaseURL: "http://example.com/?x=1"},
		{Actor: strings.Repeat("a", 101)},
		{Actor: "ops\nalice"},
		{RetryWaitMax: -1},
	} {
		if _, err := client.New(cfg); err == nil {
			t.Errorf("New(%+v) passed", cfg)
		}
	}
	// The zero Config is a client of a local tenantkit serve; a base URL
	// may hold a path prefix.
	for _, cfg := range []client.Config{{}, {BaseURL: "https://admin.example.com/tenantkit/"}} {
		if _, err := client.New(cfg); err != nil {
			t.Errorf("New(%+v): %v", cfg, err)
		}
	}
}

// The client reaches an API served under a path prefix.
func TestBaseURLWithPrefix(t *testing.T) {
	t.Parallel()
	b := setup(t)
	proxy := front(t, b.url, func(w http.ResponseWriter, r *http.Request, pass http.Handler) {
		http.StripPrefix("/admin", pass).ServeHTTP(w, r)
	})
	c := newClient(t, client.Config{BaseURL: proxy.URL + "/admin/"})
	if _, err := c.CreateTenant(context.Background(), client.CreateTenantParams{Slug: "acme", Name: "Acme"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.c.GetTenant(context.Background(), "acme"); err != nil {
		t.Fatal(err)
	}
}

func TestReadyIsNotRetried(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	ts := newServer(t, adminapi.Config{ReadyFunc: func(context.Context) error {
		calls.Add(1)
		return errors.New("catalog down")
	}})
	c := newClient(t, client.Config{BaseURL: ts.URL})
	e := wantError(t, c.Ready(context.Background()), http.StatusServiceUnavailable, "unavailable")
	if calls.Load() != 1 || e.Detail != "catalog unavailable" {
		t.Fatalf("ready asked %d times: %+v", calls.Load(), e)
	}
	if err := c.Health(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestOpenAPIIsTheContract: the server's document is the one this module
// holds, whatever token the client has.
func TestOpenAPIIsTheContract(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := newClient(t, client.Config{BaseURL: b.url, Token: "not-the-token-0123456789"})
	doc, err := c.OpenAPI(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(bytes.TrimSpace(doc), bytes.TrimSpace(api.OpenAPI)) {
		t.Fatalf("the server's contract is not api.OpenAPI: %.200s", doc)
	}
}

func TestDomains(t *testing.T) {
	t.Parallel()
	dns, err := dnstest.Start(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dns.Close()
	b := setup(t, func(c *adminapi.Config) {
		c.BaseDomain = "platform.test"
		c.Proof = domains.Proof{Resolver: dns.Addr(), Timeout: 2 * time.Second}.Check
	})
	ctx := context.Background()
	tn, err := b.c.CreateTenant(ctx, client.CreateTenantParams{Slug: "acme", Name: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	d, err := b.c.AddDomain(ctx, "acme", "shop.acme.test")
	if err != nil || d.Host != "shop.acme.test" || d.TenantID != tn.ID || d.VerificationToken == "" || d.VerifiedAt != nil ||
		d.TXTRecord != (client.ProofRecord{Name: "_tenantkit-challenge.shop.acme.test", Type: "TXT", Value: d.VerificationToken}) || d.Status != "pending" {
		t.Fatalf("add: %+v %v", d, err)
	}
	_, err = b.c.AddDomain(ctx, "acme", "www.platform.test")
	wantError(t, err, http.StatusUnprocessableEntity, "invalid-fields")
	dns.SetTXT(d.TXTRecord.Name, "stale-token")
	_, err = b.c.VerifyDomain(ctx, "shop.acme.test")
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Record != d.TXTRecord.Name || len(ce.Found) != 1 || ce.Found[0] != "stale-token" {
		t.Fatalf("verify with a wrong record: %v", err)
	}
	wantError(t, err, http.StatusUnprocessableEntity, "domain-proof-missing")
	dns.SetTXT(d.TXTRecord.Name, d.VerificationToken)
	if d, err = b.c.VerifyDomain(ctx, "shop.acme.test"); err != nil || d.VerifiedAt == nil || !d.Resolves || d.Status != "verified" {
		t.Fatalf("verify: %+v %v", d, err)
	}
	if got, err := b.c.GetDomain(ctx, "shop.acme.test"); err != nil || got.Host != d.Host || got.SSLStatus != "pending" {
		t.Fatalf("get: %+v %v", got, err)
	}
	if ds, err := b.c.ListDomains(ctx, "acme"); err != nil || len(ds) != 1 || ds[0].Host != "shop.acme.test" {
		t.Fatalf("list: %+v %v", ds, err)
	}
	_, err = b.c.AddDomain(ctx, "acme", "shop.acme.test")
	wantError(t, err, http.StatusConflict, "domain-taken")
	_, err = b.c.VerifyDomain(ctx, "nosuch.acme.test")
	wantError(t, err, http.StatusNotFound, "domain-not-found")
	if _, err := b.c.RemoveDomain(ctx, "shop.acme.test"); err != nil {
		t.Fatal(err)
	}
	_, err = b.c.GetDomain(ctx, "shop.acme.test")
	wantError(t, err, http.StatusNotFound, "domain-not-found")
}
