// Package contract holds the admin API to its OpenAPI document in tests.
//
// Handler wraps an admin API handler: every request that reaches it and
// every answer it gives is validated against api/openapi.json, and a test
// that sends or gets something the contract does not describe fails. The
// rules are symmetric:
//   - a request the contract accepts must get an answer the contract
//     describes, status, headers and body;
//   - a request the contract refuses (a field of the wrong type, no bearer
//     token, a path or method it does not list) must be refused by the
//     server too, with a 4xx problem the contract describes.
//
// The package is imported only by tests; the tenantkit binary does not
// carry a validator.
package contract

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/tenantkit/tenantkit/api"
)

// Contract is the loaded document and a router over it.
type Contract struct {
	Doc    *openapi3.T
	router routers.Router

	mu   sync.Mutex
	seen map[string]int // answers validated, by operationId
}

// The image uploads' bodies are bytes: validated as strings, as
// application/octet-stream is.
func init() {
	for _, t := range []string{"image/png", "image/jpeg", "image/webp", "image/x-icon", "image/vnd.microsoft.icon"} {
		openapi3filter.RegisterBodyDecoder(t, openapi3filter.FileBodyDecoder)
	}
}

// Load parses and validates the document (OpenAPI 3.1 with JSON Schema
// 2020-12) and builds its router.
func Load(doc []byte) (*Contract, error) {
	loader := openapi3.NewLoader()
	t, err := loader.LoadFromData(doc)
	if err != nil {
		return nil, fmt.Errorf("contract: load: %w", err)
	}
	if err := t.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("contract: the document is not valid OpenAPI: %w", err)
	}
	// Tests serve on any address: route on paths alone.
	t.Servers = openapi3.Servers{{URL: "/"}}
	r, err := gorillamux.NewRouter(t)
	if err != nil {
		return nil, fmt.Errorf("contract: router: %w", err)
	}
	return &Contract{Doc: t, router: r, seen: map[string]int{}}, nil
}

var current = sync.OnceValues(func() (*Contract, error) { return Load(api.OpenAPI) })

// Current is the contract of api.OpenAPI, loaded once per test binary, so
// that Uncovered sees the operations every test exercised.
func Current(tb testing.TB) *Contract {
	tb.Helper()
	c, err := current()
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// Handler returns h validated against the current contract: each request
// to an admin path (see Admin) and its answer are checked, and a breach
// fails tb. Other paths pass through unchecked.
func Handler(tb testing.TB, h http.Handler) http.Handler {
	return Current(tb).Handler(tb, h)
}

// Admin reports whether path belongs to the admin API, as the server
// routes it.
func Admin(path string) bool {
	return path == "/healthz" || path == "/readyz" || path == "/api/v1" || strings.HasPrefix(path, "/api/v1/")
}

// Handler returns h validated against c; see the package comment.
func (c *Contract) Handler(tb testing.TB, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !Admin(r.URL.Path) {
			h.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			// The client went away mid-body; the server sees the same.
			r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), errReader{err}))
			h.ServeHTTP(w, r)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if err := c.Check(r, body, rec.Code, rec.Header(), rec.Body.Bytes()); err != nil {
			tb.Errorf("contract: %s %s → %d: %v\nanswer: %s", r.Method, r.URL.RequestURI(), rec.Code, err, truncate(rec.Body.Bytes()))
		}
		for k, vs := range rec.Header() {
			w.Header()[k] = vs
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	})
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func truncate(b []byte) string {
	if len(b) > 600 {
		return string(b[:600]) + "…"
	}
	return string(b)
}

// Check validates one exchange: the request r with body, and the answer
// of status with header and respBody.
func (c *Contract) Check(r *http.Request, body []byte, status int, header http.Header, respBody []byte) error {
	req := r.Clone(context.Background())
	req.Body = io.NopCloser(bytes.NewReader(body))
	if req.Header.Get("Content-Type") == "" && len(bytes.TrimSpace(body)) > 0 {
		// The server reads a body without a type as JSON.
		req.Header.Set("Content-Type", "application/json")
	}
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		// Not in the contract: the server must not serve it either (401
		// comes first without the token).
		if status != http.StatusNotFound && status != http.StatusMethodNotAllowed && status != http.StatusUnauthorized {
			return fmt.Errorf("the contract has no such operation (%v), yet the server answered %d", err, status)
		}
		return c.checkProblem(header, respBody)
	}
	in := &openapi3filter.RequestValidationInput{
		Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: bearer, MultiError: true},
	}
	reqErr := openapi3filter.ValidateRequest(req.Context(), in)
	if reqErr != nil && (status < 400 || status >= 500) {
		return fmt.Errorf("the contract refuses the request (%v), yet the server answered %d", reqErr, status)
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: status, Header: header,
		Body:    io.NopCloser(bytes.NewReader(respBody)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if err := openapi3filter.ValidateResponse(req.Context(), out); err != nil {
		return fmt.Errorf("the answer breaks the contract: %w", err)
	}
	if err := checkHeaders(route.Operation, status, header); err != nil {
		return err
	}
	c.mu.Lock()
	c.seen[route.Operation.OperationID]++
	c.mu.Unlock()
	return nil
}

// checkHeaders checks that the headers the contract promises for status
// (Location, Link aside: it is absent on a last page) are there.
func checkHeaders(op *openapi3.Operation, status int, header http.Header) error {
	resp := op.Responses.Status(status)
	if resp == nil || resp.Value == nil {
		return nil
	}
	for name := range resp.Value.Headers {
		if name == "Link" || name == "WWW-Authenticate" {
			continue
		}
		if header.Get(name) == "" {
			return fmt.Errorf("the contract promises a %s header on %d, and there is none", name, status)
		}
	}
	return nil
}

func (c *Contract) checkProblem(header http.Header, body []byte) error {
	if ct := header.Get("Content-Type"); ct != "application/problem+json" {
		return fmt.Errorf("an unknown route's answer is %q, not a problem", ct)
	}
	schema := c.Doc.Components.Schemas["Problem"]
	v, err := openapi3filter.RegisteredBodyDecoder("application/json")(bytes.NewReader(body), header, schema, nil)
	if err != nil {
		return err
	}
	return schema.Value.VisitJSON(v, openapi3.EnableJSONSchema2020())
}

// bearer holds the adminToken scheme to what the contract says: a bearer
// token is sent. Whether it is the right one is the server's to say (401).
func bearer(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	if in.SecuritySchemeName != "adminToken" {
		return fmt.Errorf("unknown security scheme %q", in.SecuritySchemeName)
	}
	scheme, _, ok := strings.Cut(in.RequestValidationInput.Request.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return errors.New("no bearer token")
	}
	return nil
}

// Seen returns how many answers of each operation were validated.
func (c *Contract) Seen() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.seen))
	for k, v := range c.seen {
		out[k] = v
	}
	return out
}

// Uncovered lists the operations of the contract no validated answer
// came from, sorted.
func (c *Contract) Uncovered() []string {
	seen := c.Seen()
	var out []string
	for _, item := range c.Doc.Paths.Map() {
		for _, op := range item.Operations() {
			if seen[op.OperationID] == 0 {
				out = append(out, op.OperationID)
			}
		}
	}
	slices.Sort(out)
	return out
}

// Runner is what TestMain runs: *testing.M.
type Runner interface{ Run() int }

// Covering returns m, run so that a whole run (no -run or -skip filter)
// fails when an operation of the contract got no validated answer: the
// package's tests must exercise every route of the admin API, so that
// none can drift from the document unseen.
func Covering(m Runner) Runner { return covering{m} }

type covering struct{ m Runner }

func (c covering) Run() int {
	code := c.m.Run()
	if code != 0 || filtered() {
		return code
	}
	con, err := current()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if missing := con.Uncovered(); len(missing) > 0 {
		fmt.Fprintf(os.Stderr, "contract: no test of this package got a validated answer from %d operations of api/openapi.yaml: %s\n",
			len(missing), strings.Join(missing, ", "))
		return 1
	}
	return code
}

func filtered() bool {
	for _, name := range []string{"test.run", "test.skip"} {
		if f := flag.Lookup(name); f != nil && f.Value.String() != "" {
			return true
		}
	}
	return false
}

// Transport returns base (nil: http.DefaultTransport) validating, from
// the client's side, each admin-API exchange it carries against the
// current contract: for servers a test runs in another process.
func Transport(tb testing.TB, base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{tb: tb, c: Current(tb), base: base}
}

type transport struct {
	tb   testing.TB
	c    *Contract
	base http.RoundTripper
}

func (t *transport) RoundTrip(r *http.Request) (*http.Response, error) {
	if !Admin(r.URL.Path) {
		return t.base.RoundTrip(r)
	}
	var body []byte
	if r.Body != nil {
		var err error
		if body, err = io.ReadAll(r.Body); err != nil {
			return nil, err
		}
		_ = r.Body.Close()
		r = r.Clone(r.Context())
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		return resp, err
	}
	respBody, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(respBody))
	if err := t.c.Check(r, body, resp.StatusCode, resp.Header, respBody); err != nil {
		t.tb.Errorf("contract: %s %s → %d: %v\nanswer: %s", r.Method, r.URL.RequestURI(), resp.StatusCode, err, truncate(respBody))
	}
	return resp, nil
}
