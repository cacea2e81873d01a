package adminapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantkit/tenantkit/internal/adminapi"
	"github.com/tenantkit/tenantkit/internal/branding"
	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/contract"
	"github.com/tenantkit/tenantkit/internal/dnstest"
	"github.com/tenantkit/tenantkit/internal/domains"
	"github.com/tenantkit/tenantkit/internal/problem"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

func TestMain(m *testing.M) { tenantkittest.Main(contract.Covering(m)) }

const token = "adminapi-test-token-0123456789"

// typePrefix is spelled out rather than taken from package problem: the
// type URIs are a public contract and a change to them must fail here.
const typePrefix = "urn:tenantkit:problem:"

type bundle struct {
	pool  *pgxpool.Pool
	store *catalog.Store
	h     http.Handler
}

// setup gives the test its own migrated catalog and an API over it; opts
// adjust the API's Config.
func setup(t *testing.T, opts ...func(*adminapi.Config)) *bundle {
	t.Helper()
	return setupPolicy(t, branding.Policy{}, opts...)
}

// setupPolicy is setup with the catalog's branding policy p.
func setupPolicy(t *testing.T, p branding.Policy, opts ...func(*adminapi.Config)) *bundle {
	t.Helper()
	db := tenantkittest.NewCatalog(t)
	cfg, err := pgxpool.ParseConfig(db.OwnerDSN())
	if err != nil {
		t.Fatal(err)
	}
	// Queries that forget their schema fail loudly.
	cfg.ConnConfig.RuntimeParams["search_path"] = ""
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	store, err := catalog.NewStore(catalog.StoreConfig{Pool: pool, BrandingPolicy: p})
	if err != nil {
		t.Fatal(err)
	}
	acfg := adminapi.Config{Store: store, Token: token, Logger: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(&acfg)
	}
	api, err := adminapi.New(acfg)
	if err != nil {
		t.Fatal(err)
	}
	return &bundle{pool: pool, store: store, h: contract.Handler(t, api.Handler())}
}

// do sends a request carrying the admin token (and a JSON Content-Type when
// there is a body). hdr holds header name/value pairs that override those;
// an empty value removes the header.
func (b *bundle) do(t *testing.T, method, path, body string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			r.Header.Del(hdr[i])
		} else {
			r.Header.Set(hdr[i], hdr[i+1])
		}
	}
	w := httptest.NewRecorder()
	b.h.ServeHTTP(w, r)
	return w
}

// create makes a tenant through the API and returns it.
func (b *bundle) create(t *testing.T, slug string) catalog.Tenant {
	t.Helper()
	return decode[catalog.Tenant](t, b.do(t, "POST", "/api/v1/tenants", fmt.Sprintf(`{"slug":%q,"name":"Tenant %s"}`, slug, slug)), http.StatusCreated)
}

// state is what a failed write must leave as it was.
type state struct {
	Tenants, Audit, Domains int
	Digest                  string // of every tenant and domain row
	// Entitlements is a digest of every plan, limit, feature, override,
	// flag and settings row.
	Entitlements string
}

func (b *bundle) state(t *testing.T) state {
	t.Helper()
	var s state
	err := b.pool.QueryRow(context.Background(), `SELECT
		(SELECT count(*) FROM tenantkit.tenants),
		(SELECT count(*) FROM tenantkit.audit_log),
		(SELECT count(*) FROM tenantkit.domains),
		md5(coalesce((SELECT string_agg(t::text, '|' ORDER BY t.id) FROM tenantkit.tenants t), '') ||
			coalesce((SELECT string_agg(d::text, '|' ORDER BY d.host) FROM tenantkit.domains d), '')),
		md5(concat_ws('#',
			(SELECT string_agg(x::text, '|' ORDER BY x::text) FROM tenantkit.plans x),
			(SELECT string_agg(x::text, '|' ORDER BY x::text) FROM tenantkit.plan_limits x),
			(SELECT string_agg(x::text, '|' ORDER BY x::text) FROM tenantkit.plan_features x),
			(SELECT string_agg(x::text, '|' ORDER BY x::text) FROM tenantkit.tenant_limits x),
			(SELECT string_agg(x::text, '|' ORDER BY x::text) FROM tenantkit.tenant_features x),
			(SELECT string_agg(x::text, '|' ORDER BY x::text) FROM tenantkit.flags x),
			(SELECT string_agg(x::text, '|' ORDER BY x::text) FROM tenantkit.flag_overrides x),
			(SELECT string_agg(x::text, '|' ORDER BY x::text) FROM tenantkit.tenant_settings x)))`,
	).Scan(&s.Tenants, &s.Audit, &s.Domains, &s.Digest, &s.Entitlements)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// writesNothing runs fn, a failing write, and fails the test if it changed
// a tenant, a domain, a plan, a flag, settings or the audit log.
func (b *bundle) writesNothing(t *testing.T, what string, fn func()) {
	t.Helper()
	before := b.state(t)
	fn()
	if after := b.state(t); after != before {
		t.Fatalf("%s: catalog changed from %+v to %+v", what, before, after)
	}
}

func decode[T any](t *testing.T, w *httptest.ResponseRecorder, status int) T {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d; body %s", w.Code, status, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q, want application/json", ct)
	}
	var v T
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
		t.Fatalf("decode %s: %v", w.Body, err)
	}
	return v
}

// wantProblem checks that w is a problem of kind with status and returns it.
func wantProblem(t *testing.T, w *httptest.ResponseRecorder, status int, kind string) problem.Problem {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d; body %s", w.Code, status, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json; body %s", ct, w.Body)
	}
	var p problem.Problem
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
		t.Fatalf("decode problem %s: %v", w.Body, err)
	}
	if p.Type != typePrefix+kind || p.Status != status {
		t.Fatalf("problem type %q status %d, want %q %d", p.Type, p.Status, typePrefix+kind, status)
	}
	return p
}

// wantFields checks that w is an invalid-fields problem naming exactly fields.
func wantFields(t *testing.T, w *httptest.ResponseRecorder, fields ...string) problem.Problem {
	t.Helper()
	p := wantProblem(t, w, http.StatusUnprocessableEntity, "invalid-fields")
	var got []string
	for _, e := range p.Errors {
		if e.Message == "" {
			t.Fatalf("field %q has no message", e.Field)
		}
		got = append(got, e.Field)
	}
	if !slices.Equal(got, fields) {
		t.Fatalf("invalid fields %v, want %v; body %s", got, fields, w.Body)
	}
	return p
}

func TestNewRequiresStoreAndLongToken(t *testing.T) {
	t.Parallel()
	b := setup(t)
	if _, err := adminapi.New(adminapi.Config{Token: token}); err == nil {
		t.Fatal("New without a Store succeeded")
	}
	if _, err := adminapi.New(adminapi.Config{Store: b.store, Token: "short"}); err == nil {
		t.Fatal("New with a 5-character token succeeded")
	}
}

func TestHealthzNeedsNoToken(t *testing.T) {
	t.Parallel()
	b := setup(t)
	w := b.do(t, "GET", "/healthz", "", "Authorization", "")
	if got := decode[map[string]string](t, w, http.StatusOK); got["status"] != "ok" {
		t.Fatalf("healthz %v", got)
	}
}

func TestReadyz(t *testing.T) {
	t.Parallel()
	var down error
	b := setup(t, func(c *adminapi.Config) {
		c.ReadyFunc = func(context.Context) error { return down }
	})
	w := b.do(t, "GET", "/readyz", "", "Authorization", "")
	if got := decode[map[string]string](t, w, http.StatusOK); got["status"] != "ready" {
		t.Fatalf("readyz %v", got)
	}
	down = errors.New("dial tcp 10.0.0.7:5432: connection refused")
	w = b.do(t, "GET", "/readyz", "", "Authorization", "")
	wantProblem(t, w, http.StatusServiceUnavailable, "unavailable")
	if strings.Contains(w.Body.String(), "10.0.0.7") {
		t.Fatalf("readyz leaks the cause: %s", w.Body)
	}
}

func TestCreateTenant(t *testing.T) {
	t.Parallel()
	b := setup(t)
	w := b.do(t, "POST", "/api/v1/tenants", `{"slug":"acme","name":"Acme Inc","plan":"pro"}`)
	tn := decode[catalog.Tenant](t, w, http.StatusCreated)
	if tn.ID == uuid.Nil || tn.Slug != "acme" || tn.Name != "Acme Inc" || tn.Plan != "pro" || tn.Status != "active" || tn.DeletedAt != nil {
		t.Fatalf("created %+v", tn)
	}
	loc := w.Header().Get("Location")
	if loc != "/api/v1/tenants/"+tn.ID.String() {
		t.Fatalf("Location %q", loc)
	}
	if got := decode[catalog.Tenant](t, b.do(t, "GET", loc, ""), http.StatusOK); got.ID != tn.ID || got.Slug != "acme" {
		t.Fatalf("GET Location gave %+v", got)
	}

	free := decode[catalog.Tenant](t, b.do(t, "POST", "/api/v1/tenants", `{"slug":"globex","name":"Globex"}`), http.StatusCreated)
	if free.Plan != "free" {
		t.Fatalf("plan omitted gave plan %q, want free", free.Plan)
	}
	// Content-Type parameters and +json types are JSON too.
	w = b.do(t, "POST", "/api/v1/tenants", `{"slug":"initech","name":"Initech"}`, "Content-Type", "application/json; charset=utf-8")
	decode[catalog.Tenant](t, w, http.StatusCreated)
}

func TestCreateTenantNamesEveryInvalidField(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cases := []struct {
		body   string
		fields []string
	}{
		{`{"slug":"Acme","name":"Acme"}`, []string{"slug"}},
		{`{"slug":"ab","name":"Acme"}`, []string{"slug"}},
		{`{"slug":"` + strings.Repeat("a", 64) + `","name":"Acme"}`, []string{"slug"}},
		{`{"slug":"-acme","name":"Acme"}`, []string{"slug"}},
		{`{"slug":"www","name":"Acme"}`, []string{"slug"}},
		{`{"slug":"api","name":"Acme"}`, []string{"slug"}},
		{`{"slug":"admin","name":"Acme"}`, []string{"slug"}},
		{`{"name":"Acme"}`, []string{"slug"}},
		{`{"slug":"acme","name":""}`, []string{"name"}},
		{`{"slug":"acme","name":"   "}`, []string{"name"}},
		{`{"slug":"acme"}`, []string{"name"}},
		{`{"slug":"acme","name":"` + strings.Repeat("x", 201) + `"}`, []string{"name"}},
		{`{"slug":"acme","name":"Acme","plan":"gold"}`, []string{"plan"}},
		{`{"slug":"API","name":"","plan":"gold"}`, []string{"slug", "name", "plan"}},
		{`{}`, []string{"slug", "name"}},
	}
	for _, c := range cases {
		b.writesNothing(t, c.body, func() {
			wantFields(t, b.do(t, "POST", "/api/v1/tenants", c.body), c.fields...)
		})
	}
	if s := b.state(t); s.Tenants != 0 || s.Audit != 0 {
		t.Fatalf("invalid requests left %+v", s)
	}
}

func TestCreateTenantSlugTaken(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.create(t, "acme")
	b.writesNothing(t, "second acme", func() {
		wantProblem(t, b.do(t, "POST", "/api/v1/tenants", `{"slug":"acme","name":"Other"}`), http.StatusConflict, "slug-taken")
	})
	// A deleted tenant keeps its slug.
	decode[catalog.Tenant](t, b.do(t, "DELETE", "/api/v1/tenants/acme", ""), http.StatusOK)
	b.writesNothing(t, "acme after delete", func() {
		wantProblem(t, b.do(t, "POST", "/api/v1/tenants", `{"slug":"acme","name":"Other"}`), http.StatusConflict, "slug-taken")
	})
}

func TestBadBodiesWriteNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.create(t, "acme")
	const (
		create  = "/api/v1/tenants"
		tenant  = "/api/v1/tenants/acme"
		suspend = "/api/v1/tenants/acme/suspend"
		domains = "/api/v1/tenants/acme/domains"
	)
	cases := []struct {
		method, path, body string
		status             int
		kind, field        string
	}{
		{"POST", create, `{"slug":"globex",`, 400, "malformed-json", ""},
		{"POST", create, `{"slug":"globex" "name":"G"}`, 400, "malformed-json", ""},
		{"POST", create, ``, 400, "malformed-json", ""},
		{"POST", create, "  \n", 400, "malformed-json", ""},
		{"POST", create, `null`, 400, "malformed-json", ""},
		{"POST", create, `[]`, 400, "malformed-json", ""},
		{"POST", create, `"globex"`, 400, "malformed-json", ""},
		{"POST", create, `{"slug":"globex","name":"G","colour":"red"}`, 400, "malformed-json", ""},
		{"POST", create, `{"slug":"globex","name":"G"} x`, 400, "malformed-json", ""},
		{"POST", create, `{"slug":"globex","name":"G"}{"slug":"initech","name":"I"}`, 400, "malformed-json", ""},
		{"POST", create, `{"slug":"globex","name":"G"}]`, 400, "malformed-json", ""},
		{"POST", create, `{"slug":123,"name":"G"}`, 422, "invalid-fields", "slug"},
		{"POST", create, `{"slug":"globex","name":["G"]}`, 422, "invalid-fields", "name"},
		{"POST", create, `{"slug":"globex","name":"G","plan":true}`, 422, "invalid-fields", "plan"},
		{"PATCH", tenant, ``, 400, "malformed-json", ""},
		{"PATCH", tenant, `{"name":`, 400, "malformed-json", ""},
		{"PATCH", tenant, `null`, 400, "malformed-json", ""},
		{"PATCH", tenant, `{"status":"deleted"}`, 400, "malformed-json", ""},
		{"PATCH", tenant, `{"name":"A"} {}`, 400, "malformed-json", ""},
		{"PATCH", tenant, `{"plan":5}`, 422, "invalid-fields", "plan"},
		{"POST", suspend, ``, 400, "malformed-json", ""},
		{"POST", suspend, `{"reason":"x","until":"never"}`, 400, "malformed-json", ""},
		{"POST", suspend, `{"reason":42}`, 422, "invalid-fields", "reason"},
		{"POST", domains, `{"host":`, 400, "malformed-json", ""},
		{"POST", domains, `{"hosts":["a.example"]}`, 400, "malformed-json", ""},
		{"POST", domains, `{"host":1}`, 422, "invalid-fields", "host"},
	}
	for _, c := range cases {
		what := c.method + " " + c.path + " " + c.body
		b.writesNothing(t, what, func() {
			w := b.do(t, c.method, c.path, c.body, "Content-Type", "application/json")
			if c.field != "" {
				wantFields(t, w, c.field)
				return
			}
			wantProblem(t, w, c.status, c.kind)
		})
	}
}

func TestUnsupportedMediaType(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.create(t, "acme")
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "json"} {
		for _, path := range []string{"/api/v1/tenants", "/api/v1/tenants/acme/suspend"} {
			b.writesNothing(t, ct, func() {
				w := b.do(t, "POST", path, `{"slug":"globex","name":"G","reason":"r"}`, "Content-Type", ct)
				wantProblem(t, w, http.StatusUnsupportedMediaType, "unsupported-media-type")
			})
		}
	}
}

func TestBodyOverOneMiB(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.create(t, "acme")
	huge := strings.Repeat("x", 1<<20)
	bodies := map[string]string{
		"long name":           `{"slug":"globex","name":"` + huge + `"}`,
		"padding after value": `{"slug":"globex","name":"G"}` + strings.Repeat(" ", 1<<20),
	}
	for what, body := range bodies {
		b.writesNothing(t, what, func() {
			wantProblem(t, b.do(t, "POST", "/api/v1/tenants", body), http.StatusRequestEntityTooLarge, "request-too-large")
		})
	}
	b.writesNothing(t, "suspend", func() {
		body := `{"reason":"` + huge + `"}`
		wantProblem(t, b.do(t, "POST", "/api/v1/tenants/acme/suspend", body), http.StatusRequestEntityTooLarge, "request-too-large")
	})
}

func TestEveryAPIRouteNeedsTheToken(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tn := b.create(t, "acme")
	if _, err := b.store.AddDomain(context.Background(), "test", "acme", "shop.acme.example", ""); err != nil {
		t.Fatal(err)
	}
	auths := map[string]string{
		"missing":        "",
		"empty bearer":   "Bearer ",
		"wrong":          "Bearer wrong-token-0123456789abcd",
		"prefix":         "Bearer " + token[:len(token)-1],
		"longer":         "Bearer " + token + "x",
		"basic":          "Basic " + token,
		"no scheme":      token,
		"token in realm": `Bearer realm="` + token + `"`,
	}
	routes := []struct{ method, path, body string }{
		{"GET", "/api/v1/tenants", ""},
		{"POST", "/api/v1/tenants", `{"slug":"globex","name":"Globex"}`},
		{"GET", "/api/v1/tenants/acme", ""},
		{"GET", "/api/v1/tenants/" + tn.ID.String(), ""},
		{"PATCH", "/api/v1/tenants/acme", `{"name":"Hacked"}`},
		{"DELETE", "/api/v1/tenants/acme", ""},
		{"POST", "/api/v1/tenants/acme/suspend", `{"reason":"because"}`},
		{"POST", "/api/v1/tenants/acme/resume", ""},
		{"POST", "/api/v1/tenants/acme/domains", `{"host":"evil.example"}`},
		{"POST", "/api/v1/domains/shop.acme.example/verify", ""},
		{"GET", "/api/v1/plans", ""},
		{"POST", "/api/v1/plans", `{"name":"team","display_name":"Team"}`},
		{"PATCH", "/api/v1/plans/free", `{"rank":99}`},
		{"DELETE", "/api/v1/plans/enterprise", ""},
		{"POST", "/api/v1/tenants/acme/plan", `{"plan":"enterprise"}`},
		{"PATCH", "/api/v1/tenants/acme/overrides", `{"limits":{"max_users":1000}}`},
		{"GET", "/api/v1/tenants/acme/usage-gauges", ""},
		{"PUT", "/api/v1/tenants/acme/usage-gauges/users", `{"value":1}`},
		{"POST", "/api/v1/flags", `{"key":"evil"}`},
		{"PUT", "/api/v1/flags/evil/overrides/acme", `{"value":true}`},
		{"GET", "/api/v1/flags/evil/evaluations", ""},
		{"GET", "/api/v1/tenants/acme/flags", ""},
		{"GET", "/api/v1/tenants/acme/settings", ""},
		{"PATCH", "/api/v1/tenants/acme/settings", `{"tax_rate":1}`},
		{"GET", "/api/v1/no-such-route", ""},
	}
	for name, auth := range auths {
		for _, rt := range routes {
			what := name + ": " + rt.method + " " + rt.path
			b.writesNothing(t, what, func() {
				w := b.do(t, rt.method, rt.path, rt.body, "Authorization", auth)
				wantProblem(t, w, http.StatusUnauthorized, "unauthorized")
				if got := w.Header().Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
					t.Fatalf("%s: WWW-Authenticate %q", what, got)
				}
				if strings.Contains(w.Body.String(), tn.Name) {
					t.Fatalf("%s: 401 shows tenant data: %s", what, w.Body)
				}
			})
		}
	}
}

func TestUnknownAPIRoute(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.create(t, "acme")
	for _, path := range []string{"/api/v1/nope", "/api/v1/tenants/acme/nope", "/api/v1/domains/x.example/nope", "/api/v1/tenants/acme/domains/x"} {
		wantProblem(t, b.do(t, "GET", path, ""), http.StatusNotFound, "not-found")
	}
}

func TestListTenantsPaginates(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, s := range []string{"delta", "alpha", "echo", "charlie", "bravo"} {
		b.create(t, s)
	}
	var got []string
	path := "/api/v1/tenants?limit=2"
	for pages := 0; path != ""; pages++ {
		if pages == 10 {
			t.Fatalf("no last page after %v", got)
		}
		w := b.do(t, "GET", path, "")
		page := decode[catalog.Page](t, w, http.StatusOK)
		for _, tn := range page.Tenants {
			got = append(got, tn.Slug)
		}
		link := w.Header().Get("Link")
		if page.Next == "" {
			if link != "" || len(page.Tenants) != 1 {
				t.Fatalf("last page %+v with Link %q", page, link)
			}
			path = ""
			continue
		}
		want := fmt.Sprintf(`</api/v1/tenants?after=%s&limit=2>; rel="next"`, page.Next)
		if link != want || len(page.Tenants) != 2 || page.Next != page.Tenants[1].Slug {
			t.Fatalf("page %+v Link %q, want %s", page, link, want)
		}
		path = strings.TrimSuffix(strings.TrimPrefix(link, "<"), `>; rel="next"`)
	}
	if strings.Join(got, ",") != "alpha,bravo,charlie,delta,echo" {
		t.Fatalf("pages gave %v", got)
	}

	all := decode[catalog.Page](t, b.do(t, "GET", "/api/v1/tenants", ""), http.StatusOK)
	if len(all.Tenants) != 5 || all.Next != "" {
		t.Fatalf("default page %+v", all)
	}
	if w := b.do(t, "GET", "/api/v1/tenants?after=delta", ""); len(decode[catalog.Page](t, w, http.StatusOK).Tenants) != 1 {
		t.Fatalf("after=delta: %s", w.Body)
	}
}

func TestListTenantsFiltersByStatus(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, s := range []string{"alpha", "bravo", "charlie", "delta"} {
		b.create(t, s)
	}
	decode[catalog.Tenant](t, b.do(t, "POST", "/api/v1/tenants/bravo/suspend", `{"reason":"unpaid"}`), http.StatusOK)
	decode[catalog.Tenant](t, b.do(t, "POST", "/api/v1/tenants/delta/suspend", `{"reason":"abuse"}`), http.StatusOK)
	decode[catalog.Tenant](t, b.do(t, "DELETE", "/api/v1/tenants/charlie", ""), http.StatusOK)
	for status, want := range map[string]string{"active": "alpha", "suspended": "bravo,delta", "deleted": "charlie"} {
		page := decode[catalog.Page](t, b.do(t, "GET", "/api/v1/tenants?status="+status, ""), http.StatusOK)
		var got []string
		for _, tn := range page.Tenants {
			if tn.Status != status {
				t.Fatalf("status=%s listed %+v", status, tn)
			}
			got = append(got, tn.Slug)
		}
		if strings.Join(got, ",") != want {
			t.Fatalf("status=%s gave %v, want %s", status, got, want)
		}
	}
	w := b.do(t, "GET", "/api/v1/tenants?status=suspended&limit=1", "")
	if link := w.Header().Get("Link"); link != `</api/v1/tenants?after=bravo&limit=1&status=suspended>; rel="next"` {
		t.Fatalf("Link %q loses the filter", link)
	}
	wantFields(t, b.do(t, "GET", "/api/v1/tenants?status=gone", ""), "status")
}

func TestListTenantsRejectsBadLimit(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.create(t, "acme")
	for _, limit := range []string{"abc", "0", "501", "-1", "1.5", "2e2", "99999999999999999999"} {
		p := wantFields(t, b.do(t, "GET", "/api/v1/tenants?limit="+limit, ""), "limit")
		// One message, whichever bound is broken.
		if p.Errors[0].Message != "must be a whole number between 1 and 500" {
			t.Errorf("limit=%s: %q", limit, p.Errors[0].Message)
		}
	}
	for _, limit := range []string{"1", "500"} {
		decode[catalog.Page](t, b.do(t, "GET", "/api/v1/tenants?limit="+limit, ""), http.StatusOK)
	}
}

func TestGetTenant(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tn := b.create(t, "acme")
	for _, ref := range []string{"acme", tn.ID.String()} {
		got := decode[catalog.Tenant](t, b.do(t, "GET", "/api/v1/tenants/"+ref, ""), http.StatusOK)
		if got.ID != tn.ID || got.Slug != "acme" || got.Name != "Tenant acme" {
			t.Fatalf("GET %s gave %+v", ref, got)
		}
	}
	for _, ref := range []string{"nobody", uuid.NewString()} {
		wantProblem(t, b.do(t, "GET", "/api/v1/tenants/"+ref, ""), http.StatusNotFound, "tenant-not-found")
	}
}

func TestUpdateTenant(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tn := b.create(t, "acme")
	got := decode[catalog.Tenant](t, b.do(t, "PATCH", "/api/v1/tenants/acme", `{"name":"Acme Inc"}`), http.StatusOK)
	if got.Name != "Acme Inc" || got.Plan != "free" || got.Slug != "acme" {
		t.Fatalf("after name patch %+v", got)
	}
	got = decode[catalog.Tenant](t, b.do(t, "PATCH", "/api/v1/tenants/"+tn.ID.String(), `{"plan":"enterprise"}`), http.StatusOK)
	if got.Name != "Acme Inc" || got.Plan != "enterprise" {
		t.Fatalf("after plan patch %+v", got)
	}
	if got := decode[catalog.Tenant](t, b.do(t, "GET", "/api/v1/tenants/acme", ""), http.StatusOK); got.Name != "Acme Inc" || got.Plan != "enterprise" {
		t.Fatalf("GET after patches %+v", got)
	}

	cases := []struct {
		body   string
		fields []string
	}{
		{`{"name":""}`, []string{"name"}},
		{`{"name":"  "}`, []string{"name"}},
		{`{"plan":"gold"}`, []string{"plan"}},
		{`{"name":"Fine","plan":"gold"}`, []string{"plan"}},
		{`{"name":"","plan":""}`, []string{"name", "plan"}},
	}
	for _, c := range cases {
		b.writesNothing(t, c.body, func() {
			wantFields(t, b.do(t, "PATCH", "/api/v1/tenants/acme", c.body), c.fields...)
		})
	}
	b.writesNothing(t, "unknown tenant", func() {
		wantProblem(t, b.do(t, "PATCH", "/api/v1/tenants/nobody", `{"name":"X"}`), http.StatusNotFound, "tenant-not-found")
	})
}

func TestSuspendAndResume(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.create(t, "acme")
	got := decode[catalog.Tenant](t, b.do(t, "POST", "/api/v1/tenants/acme/suspend", `{"reason":"unpaid invoice"}`), http.StatusOK)
	if got.Status != "suspended" || got.SuspensionReason != "unpaid invoice" {
		t.Fatalf("suspended %+v", got)
	}
	if got := decode[catalog.Tenant](t, b.do(t, "GET", "/api/v1/tenants/acme", ""), http.StatusOK); got.Status != "suspended" || got.SuspensionReason != "unpaid invoice" {
		t.Fatalf("GET after suspend %+v", got)
	}
	for _, body := range []string{`{}`, `{"reason":""}`, `{"reason":"` + strings.Repeat("r", 501) + `"}`} {
		b.writesNothing(t, body, func() {
			wantFields(t, b.do(t, "POST", "/api/v1/tenants/acme/suspend", body), "reason")
		})
	}
	b.writesNothing(t, "suspend unknown", func() {
		wantProblem(t, b.do(t, "POST", "/api/v1/tenants/nobody/suspend", `{"reason":"r"}`), http.StatusNotFound, "tenant-not-found")
	})
	got = decode[catalog.Tenant](t, b.do(t, "POST", "/api/v1/tenants/acme/resume", ""), http.StatusOK)
	if got.Status != "active" || got.SuspensionReason != "" {
		t.Fatalf("resumed %+v", got)
	}
	b.writesNothing(t, "resume unknown", func() {
		wantProblem(t, b.do(t, "POST", "/api/v1/tenants/"+uuid.NewString()+"/resume", ""), http.StatusNotFound, "tenant-not-found")
	})
}

func TestDeleteIsSoft(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tn := b.create(t, "acme")
	got := decode[catalog.Tenant](t, b.do(t, "DELETE", "/api/v1/tenants/acme", ""), http.StatusOK)
	if got.ID != tn.ID || got.Status != "deleted" || got.DeletedAt == nil {
		t.Fatalf("deleted %+v", got)
	}
	for _, ref := range []string{"acme", tn.ID.String()} {
		if got := decode[catalog.Tenant](t, b.do(t, "GET", "/api/v1/tenants/"+ref, ""), http.StatusOK); got.Status != "deleted" || got.DeletedAt == nil {
			t.Fatalf("GET %s after delete %+v", ref, got)
		}
	}
	b.writesNothing(t, "second delete", func() {
		if got := decode[catalog.Tenant](t, b.do(t, "DELETE", "/api/v1/tenants/"+tn.ID.String(), ""), http.StatusOK); got.Status != "deleted" {
			t.Fatalf("second delete %+v", got)
		}
	})
	for _, rq := range []struct{ method, path, body string }{
		{"POST", "/api/v1/tenants/acme/resume", ""},
		{"POST", "/api/v1/tenants/acme/suspend", `{"reason":"r"}`},
		{"PATCH", "/api/v1/tenants/acme", `{"name":"Back"}`},
		{"PATCH", "/api/v1/tenants/" + tn.ID.String(), `{"plan":"pro"}`},
	} {
		b.writesNothing(t, rq.method+" "+rq.path, func() {
			wantProblem(t, b.do(t, rq.method, rq.path, rq.body), http.StatusConflict, "tenant-deleted")
		})
	}
	b.writesNothing(t, "delete unknown", func() {
		wantProblem(t, b.do(t, "DELETE", "/api/v1/tenants/nobody", ""), http.StatusNotFound, "tenant-not-found")
	})
}

func TestWritesAreAuditedWithActor(t *testing.T) {
	t.Parallel()
	b := setup(t)
	alice := []string{"X-Tenantkit-Actor", "alice"}
	tn := decode[catalog.Tenant](t, b.do(t, "POST", "/api/v1/tenants", `{"slug":"acme","name":"Acme"}`, alice...), http.StatusCreated)
	decode[catalog.Tenant](t, b.do(t, "PATCH", "/api/v1/tenants/acme", `{"name":"Acme Inc"}`, alice...), http.StatusOK)
	decode[catalog.Tenant](t, b.do(t, "POST", "/api/v1/tenants/acme/suspend", `{"reason":"unpaid"}`, alice...), http.StatusOK)
	decode[catalog.Tenant](t, b.do(t, "POST", "/api/v1/tenants/acme/resume", "", "X-Tenantkit-Actor", "bob"), http.StatusOK)
	decode[catalog.Tenant](t, b.do(t, "DELETE", "/api/v1/tenants/acme", ""), http.StatusOK)
	entries, err := b.store.Audit(context.Background(), tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Actor+" "+e.Action)
	}
	want := []string{"api:alice tenant.create", "api:alice tenant.update", "api:alice tenant.suspend", "api:bob tenant.resume", "api tenant.delete"}
	if !slices.Equal(got, want) {
		t.Fatalf("audit %q, want %q", got, want)
	}
	if !strings.Contains(string(entries[2].After), `"unpaid"`) {
		t.Fatalf("suspend audit after %s", entries[2].After)
	}
}

func TestDomains(t *testing.T) {
	t.Parallel()
	dns, err := dnstest.Start(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dns.Close()
	var changed []string
	b := setup(t, func(c *adminapi.Config) {
		c.BaseDomain = "platform.example"
		c.Proof = domains.Proof{Resolver: dns.Addr(), Timeout: 2 * time.Second}.Check
		c.DomainChanged = func(host string) { changed = append(changed, host) }
	})
	tn := b.create(t, "acme")
	b.create(t, "globex")
	w := b.do(t, "POST", "/api/v1/tenants/acme/domains", `{"host":"Shop.Acme.Example."}`, "X-Tenantkit-Actor", "alice")
	d := decode[catalog.DomainView](t, w, http.StatusCreated)
	if d.Host != "shop.acme.example" || d.TenantID != tn.ID || d.VerifiedAt != nil || d.VerificationToken == "" ||
		d.TXTRecord.Name != "_tenantkit-challenge.shop.acme.example" || d.TXTRecord.Value != d.VerificationToken || d.Status != "pending" {
		t.Fatalf("added %+v", d)
	}
	for _, host := range []string{"platform.example", "acme.platform.example", "192.0.2.1", "*.acme.example"} {
		b.writesNothing(t, "claim "+host, func() {
			wantFields(t, b.do(t, "POST", "/api/v1/tenants/acme/domains", fmt.Sprintf(`{"host":%q}`, host)), "host")
		})
	}
	// Without its TXT record, or with another value in it, the domain is
	// not verified and nothing is written.
	for _, values := range [][]string{nil, {"not-the-token"}} {
		if values != nil {
			dns.SetTXT("_tenantkit-challenge.shop.acme.example", values...)
		}
		b.writesNothing(t, fmt.Sprintf("verify with %q", values), func() {
			w := b.do(t, "POST", "/api/v1/domains/shop.acme.example/verify", "")
			p := wantProblem(t, w, http.StatusUnprocessableEntity, "domain-proof-missing")
			if p.Record != "_tenantkit-challenge.shop.acme.example" || !slices.Equal(p.Found, values) {
				t.Fatalf("problem %+v", p)
			}
		})
	}
	dns.SetTXT("_tenantkit-challenge.shop.acme.example", d.VerificationToken)
	for _, host := range []string{"", "localhost", "not a host", "-bad.example", "a..example", strings.Repeat("a", 64) + ".example"} {
		b.writesNothing(t, "host "+host, func() {
			wantFields(t, b.do(t, "POST", "/api/v1/tenants/acme/domains", fmt.Sprintf(`{"host":%q}`, host)), "host")
		})
	}
	for _, ref := range []string{"acme", "globex"} {
		b.writesNothing(t, "duplicate on "+ref, func() {
			w := b.do(t, "POST", "/api/v1/tenants/"+ref+"/domains", `{"host":"SHOP.acme.example"}`)
			wantProblem(t, w, http.StatusConflict, "domain-taken")
		})
	}
	b.writesNothing(t, "unknown tenant", func() {
		w := b.do(t, "POST", "/api/v1/tenants/nobody/domains", `{"host":"x.example"}`)
		wantProblem(t, w, http.StatusNotFound, "tenant-not-found")
	})

	v := decode[catalog.DomainView](t, b.do(t, "POST", "/api/v1/domains/shop.acme.example/verify", "", "X-Tenantkit-Actor", "alice"), http.StatusOK)
	if v.Host != "shop.acme.example" || v.VerifiedAt == nil || v.TenantID != tn.ID || !v.Resolves || v.Status != "verified" {
		t.Fatalf("verified %+v", v)
	}
	again := decode[catalog.DomainView](t, b.do(t, "POST", "/api/v1/domains/shop.acme.example/verify", ""), http.StatusOK)
	if again.VerifiedAt == nil || !again.VerifiedAt.Equal(*v.VerifiedAt) {
		t.Fatalf("second verify %+v", again)
	}
	if got := decode[catalog.DomainView](t, b.do(t, "GET", "/api/v1/domains/SHOP.acme.example", ""), http.StatusOK); got.Host != v.Host || !got.Resolves {
		t.Fatalf("get %+v", got)
	}
	list := decode[struct{ Domains []catalog.DomainView }](t, b.do(t, "GET", "/api/v1/tenants/acme/domains", ""), http.StatusOK)
	if len(list.Domains) != 1 || list.Domains[0].Host != "shop.acme.example" {
		t.Fatalf("list %+v", list)
	}
	if list := decode[struct{ Domains []catalog.DomainView }](t, b.do(t, "GET", "/api/v1/tenants/globex/domains", ""), http.StatusOK); len(list.Domains) != 0 {
		t.Fatalf("globex's list %+v", list)
	}
	if id, err := b.store.TenantIDByVerifiedHost(context.Background(), "shop.acme.example"); err != nil || id != tn.ID {
		t.Fatalf("verified host resolves to %v, %v", id, err)
	}
	for _, host := range []string{"nothing.example", "not-a-host"} {
		b.writesNothing(t, "verify "+host, func() {
			wantProblem(t, b.do(t, "POST", "/api/v1/domains/"+host+"/verify", ""), http.StatusNotFound, "domain-not-found")
		})
	}

	entries, err := b.store.Audit(context.Background(), tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Actor+" "+e.Action)
	}
	if want := []string{"api tenant.create", "api:alice domain.add", "api:alice domain.verify"}; !slices.Equal(got, want) {
		t.Fatalf("audit %q, want %q", got, want)
	}
	if r := decode[catalog.DomainView](t, b.do(t, "DELETE", "/api/v1/domains/shop.acme.example", ""), http.StatusOK); r.Host != "shop.acme.example" {
		t.Fatalf("remove %+v", r)
	}
	if _, err := b.store.TenantIDByVerifiedHost(context.Background(), "shop.acme.example"); !errors.Is(err, catalog.ErrTenantNotFound) {
		t.Fatalf("a removed domain resolves: %v", err)
	}
	wantProblem(t, b.do(t, "DELETE", "/api/v1/domains/shop.acme.example", ""), http.StatusNotFound, "domain-not-found")
	if !slices.Equal(changed, []string{"shop.acme.example", "shop.acme.example", "shop.acme.example"}) {
		t.Fatalf("DomainChanged told of %q", changed)
	}
}

func TestInternalErrorsShowNothing(t *testing.T) {
	t.Parallel()
	var logged bytes.Buffer
	b := setup(t, func(c *adminapi.Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logged, nil))
	})
	b.pool.Close() // every query now fails in a way that is not the client's fault
	for _, rq := range []struct{ method, path, body string }{
		{"GET", "/api/v1/tenants", ""},
		{"GET", "/api/v1/tenants/acme", ""},
		{"POST", "/api/v1/tenants", `{"slug":"acme","name":"Acme"}`},
	} {
		logged.Reset()
		w := b.do(t, rq.method, rq.path, rq.body)
		p := wantProblem(t, w, http.StatusInternalServerError, "internal")
		if strings.Contains(w.Body.String(), "closed") || len(p.Errors) != 0 {
			t.Fatalf("%s %s: 500 shows its cause: %s", rq.method, rq.path, w.Body)
		}
		if !strings.Contains(logged.String(), "closed") {
			t.Fatalf("%s %s: cause not logged: %q", rq.method, rq.path, logged.String())
		}
	}
}

func TestProblemFor(t *testing.T) {
	t.Parallel()
	cases := []struct {
		err    error
		status int
		kind   string
	}{
		{fmt.Errorf("%w: %q", catalog.ErrTenantNotFound, "x"), 404, "tenant-not-found"},
		{fmt.Errorf("%w: %q", catalog.ErrSlugTaken, "x"), 409, "slug-taken"},
		{fmt.Errorf("%w: %q", catalog.ErrTenantDeleted, "x"), 409, "tenant-deleted"},
		{fmt.Errorf("%w: %q", catalog.ErrDomainTaken, "x"), 409, "domain-taken"},
		{fmt.Errorf("%w: %q", catalog.ErrDomainNotFound, "x"), 404, "domain-not-found"},
		{fmt.Errorf("wrapped: %w", &catalog.ValidationError{Fields: []catalog.FieldError{{Field: "slug", Message: "bad"}}}), 422, "invalid-fields"},
		{errors.New("pq: secret detail"), 500, "internal"},
		{context.DeadlineExceeded, 500, "internal"},
	}
	for _, c := range cases {
		p := adminapi.ProblemFor(c.err)
		if p.Status != c.status || p.Type != typePrefix+c.kind {
			t.Errorf("ProblemFor(%v) = %d %s, want %d %s", c.err, p.Status, p.Type, c.status, c.kind)
		}
		if c.status == 500 && strings.Contains(p.Detail, "secret") {
			t.Errorf("ProblemFor(%v) shows the cause: %q", c.err, p.Detail)
		}
	}
}

func TestWrongMethodIsAProblemWithAllow(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.create(t, "acme")
	cases := []struct{ method, path, allow string }{
		{"PUT", "/api/v1/tenants", "GET, POST"},
		{"POST", "/api/v1/tenants/acme", "DELETE, GET, PATCH"},
		{"GET", "/api/v1/tenants/acme/suspend", "POST"},
		{"POST", "/healthz", "GET"},
	}
	for _, c := range cases {
		w := b.do(t, c.method, c.path, "")
		wantProblem(t, w, http.StatusMethodNotAllowed, "method-not-allowed")
		if got := w.Header().Get("Allow"); got != c.allow {
			t.Errorf("%s %s: Allow %q, want %q", c.method, c.path, got, c.allow)
		}
	}
	wantProblem(t, b.do(t, "GET", "/api/v1", ""), http.StatusNotFound, "not-found")
}

func TestBearerSchemeIsCaseInsensitive(t *testing.T) {
	t.Parallel()
	b := setup(t)
	r := httptest.NewRequest("GET", "/api/v1/tenants", nil)
	r.Header.Set("Authorization", "bearer "+token)
	w := httptest.NewRecorder()
	b.h.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		t.Fatalf("lower-case scheme: %d %s", w.Code, w.Body)
	}
}
