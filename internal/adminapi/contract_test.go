package adminapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/tenantkit/tenantkit/api"
	"github.com/tenantkit/tenantkit/internal/adminapi"
	"github.com/tenantkit/tenantkit/internal/contract"
)

// TestTheContractIsServedWithoutAToken: GET /api/v1/openapi.json answers
// the embedded document, an OpenAPI 3.1 JSON document, to anyone.
func TestTheContractIsServedWithoutAToken(t *testing.T) {
	t.Parallel()
	b := setup(t)
	w := b.do(t, "GET", "/api/v1/openapi.json", "", "Authorization", "")
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("GET /api/v1/openapi.json: %d %s", w.Code, w.Header().Get("Content-Type"))
	}
	if !bytes.Equal(w.Body.Bytes(), api.OpenAPI) {
		t.Fatal("the served document is not api.OpenAPI")
	}
	var doc struct {
		OpenAPI string         `json:"openapi"`
		Paths   map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil || doc.OpenAPI != "3.1.0" || len(doc.Paths) == 0 {
		t.Fatalf("served document: openapi %q, %d paths, %v", doc.OpenAPI, len(doc.Paths), err)
	}
}

// TestEveryRouteIsInTheContract: the routes the API serves and the
// operations of the document are the same set, each with the same need
// of the token. Together with contract.Covering, which fails the package
// when an operation got no validated answer, no route can be missing
// from the document, or in it without a handler, or untested.
func TestEveryRouteIsInTheContract(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a, err := adminapi.New(adminapi.Config{Store: b.store, Token: token, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	served, public := a.Operations()
	c := contract.Current(t)
	var documented []string
	for path, item := range c.Doc.Paths.Map() {
		for method, op := range item.Operations() {
			key := method + " " + path
			documented = append(documented, key)
			open := op.Security != nil && len(*op.Security) == 0
			if open != public[key] {
				t.Errorf("%s: public in the document %v, served without a token %v", key, open, public[key])
			}
		}
	}
	slices.Sort(documented)
	for _, op := range served {
		if !slices.Contains(documented, op) {
			t.Errorf("the API serves %s, which api/openapi.yaml does not document", op)
		}
	}
	for _, op := range documented {
		if !slices.Contains(served, op) {
			t.Errorf("api/openapi.yaml documents %s, which the API does not serve", op)
		}
	}
}

// TestTheContractCatchesADriftingAnswer: the validation the whole suite
// runs under fails a test when an answer leaves the document: a field
// renamed, a field added, a type changed, a header the document promises
// left out, or a route served that it does not list. Each handler below
// serves a real answer of the API, changed.
func TestTheContractCatchesADriftingAnswer(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.create(t, "acme")
	real := b.do(t, "GET", "/api/v1/tenants/acme", "")
	if real.Code != http.StatusOK {
		t.Fatalf("GET tenant: %d", real.Code)
	}
	var asMap map[string]any
	if err := json.Unmarshal(real.Body.Bytes(), &asMap); err != nil {
		t.Fatal(err)
	}
	change := func(f func(m map[string]any)) string {
		m := map[string]any{}
		for k, v := range asMap {
			m[k] = v
		}
		f(m)
		out, _ := json.Marshal(m)
		return string(out)
	}
	cases := []struct {
		name, method, path, body, want string
		status                         int
		header                         map[string]string
	}{
		{name: "unchanged", method: "GET", path: "/api/v1/tenants/acme", status: 200, body: real.Body.String()},
		{name: "field renamed", method: "GET", path: "/api/v1/tenants/acme", status: 200, want: "slug",
			body: change(func(m map[string]any) { m["tenant_slug"] = m["slug"]; delete(m, "slug") })},
		{name: "field added", method: "GET", path: "/api/v1/tenants/acme", status: 200, want: "shard",
			body: change(func(m map[string]any) { m["shard"] = 3 })},
		{name: "type changed", method: "GET", path: "/api/v1/tenants/acme", status: 200, want: "status",
			body: change(func(m map[string]any) { m["status"] = "paused" })},
		{name: "header missing", method: "POST", path: "/api/v1/tenants", status: 201, want: "Location",
			body: real.Body.String()},
		{name: "status not documented", method: "GET", path: "/api/v1/tenants/acme", status: 203, want: "203",
			body: real.Body.String()},
		{name: "route not documented", method: "GET", path: "/api/v1/tenants/acme/secrets", status: 200, want: "no such operation",
			body: "{}"},
		{name: "problem not a problem", method: "GET", path: "/api/v1/tenants/nope", status: 404, want: "",
			body: `{"error":"not found"}`, header: map[string]string{"Content-Type": "application/problem+json"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tc.status)
				fmt.Fprint(w, tc.body)
			})
			rec := &recordingTB{TB: t}
			r := httptest.NewRequest(tc.method, tc.path, strings.NewReader(`{"slug":"acme2"}`))
			r.Header.Set("Authorization", "Bearer "+token)
			if tc.method == "POST" {
				r.Header.Set("Content-Type", "application/json")
			}
			contract.Handler(rec, h).ServeHTTP(httptest.NewRecorder(), r)
			switch {
			case tc.name == "unchanged" && len(rec.errs) > 0:
				t.Fatalf("a real answer broke the contract: %v", rec.errs)
			case tc.name != "unchanged" && len(rec.errs) == 0:
				t.Fatalf("the contract let a drifted answer through: %s", tc.body)
			case tc.name != "unchanged" && !strings.Contains(strings.Join(rec.errs, "\n"), tc.want):
				t.Fatalf("the breach is not named (%q): %v", tc.want, rec.errs)
			}
		})
	}
}

// recordingTB records what a contract breach would fail a test with.
type recordingTB struct {
	testing.TB
	errs []string
}

func (r *recordingTB) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}
