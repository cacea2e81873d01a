package tracing_test

import (
	"context"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/tenantkit/tenantkit/internal/tracing"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

// A caller's trace context, as it arrives in a traceparent header.
const (
	callerTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	callerSpanID  = "00f067aa0ba902b7"
)

var acme = tracing.TenantAttributes("0192d3c4-acme", "acme", "dedicated", "enterprise")

var acmeAttrs = map[string]any{
	tracing.AttrTenantID:   "0192d3c4-acme",
	tracing.AttrTenantSlug: "acme",
	tracing.AttrTenantTier: "dedicated",
	tracing.AttrTenantPlan: "enterprise",
}

// setup returns a Tracing exporting to a receiver of its own, shut down
// when the test ends if the test did not.
func setup(t testing.TB, cfg tracing.Config) (*tracing.Tracing, *receiver) {
	t.Helper()
	rcv := newReceiver(t)
	if cfg.Endpoint == "" {
		cfg.Endpoint = rcv.URL
	}
	if cfg.BatchTimeout == 0 {
		cfg.BatchTimeout = 10 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	tr, err := tracing.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if tr == nil {
		t.Fatal("New returned a nil Tracing for a configured endpoint")
	}
	t.Cleanup(func() { _ = tr.Shutdown(context.Background()) })
	return tr, rcv
}

func shutdown(t testing.TB, tr *tracing.Tracing) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tr.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// middleware is the thin middleware StartRequest and EndRequest are made
// for; the tenant is fixed here, where the real one resolves it.
func middleware(tr *tracing.Tracing, tenant []attribute.KeyValue, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, span := tr.StartRequest(r)
		sw := &statusWriter{ResponseWriter: w}
		r = r.WithContext(ctx)
		next.ServeHTTP(sw, r)
		tr.EndRequest(span, r.Pattern, sw.status, tenant)
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

// ordersApp serves GET /orders/{id}, in one traced transaction.
func ordersApp(tr *tracing.Tracing) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /orders/{id}", func(w http.ResponseWriter, r *http.Request) {
		_, end := tr.StartTx(r.Context(), acme)
		end(nil)
		_, _ = io.WriteString(w, "order "+r.PathValue("id"))
	})
	return middleware(tr, acme, mux)
}

func hexID(b []byte) string { return hex.EncodeToString(b) }

func TestRequestAndTxSpansReachReceiver(t *testing.T) {
	t.Parallel()
	token := "Bearer otlp-token-tracing-0123456789"
	tr, rcv := setup(t, tracing.Config{ServiceName: "tenantkit-test", Headers: map[string]string{"Authorization": token}})

	app := httptest.NewServer(ordersApp(tr))
	req, err := http.NewRequest(http.MethodGet, app.URL+"/orders/42", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Traceparent", "00-"+callerTraceID+"-"+callerSpanID+"-01")
	resp, err := app.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "order 42" {
		t.Fatalf("GET /orders/42: %d %q", resp.StatusCode, body)
	}
	app.Close() // waits for the middleware to have ended its span
	shutdown(t, tr)

	server := rcv.span(t, "GET /orders/{id}")
	if got := hexID(server.GetTraceId()); got != callerTraceID {
		t.Errorf("server span trace id = %s, want the traceparent's %s", got, callerTraceID)
	}
	if got := hexID(server.GetParentSpanId()); got != callerSpanID {
		t.Errorf("server span parent = %s, want the traceparent's span %s", got, callerSpanID)
	}
	if server.GetKind() != tracepb.Span_SPAN_KIND_SERVER {
		t.Errorf("server span kind = %v", server.GetKind())
	}
	if server.GetStatus().GetCode() != tracepb.Status_STATUS_CODE_UNSET {
		t.Errorf("server span status = %v, want unset for a 200", server.GetStatus())
	}
	wantAttrs(t, "server span", attrs(server.GetAttributes()), map[string]any{
		"http.route":                "/orders/{id}",
		"http.request.method":       "GET",
		"http.response.status_code": int64(200),
	})
	wantAttrs(t, "server span", attrs(server.GetAttributes()), acmeAttrs)

	tx := rcv.span(t, tracing.TxSpanName)
	if hexID(tx.GetTraceId()) != callerTraceID {
		t.Errorf("tx span trace id = %x, want %s", tx.GetTraceId(), callerTraceID)
	}
	if hexID(tx.GetParentSpanId()) != hexID(server.GetSpanId()) {
		t.Errorf("tx span parent = %x, want the server span %x", tx.GetParentSpanId(), server.GetSpanId())
	}
	if tx.GetKind() != tracepb.Span_SPAN_KIND_CLIENT {
		t.Errorf("tx span kind = %v", tx.GetKind())
	}
	wantAttrs(t, "tx span", attrs(tx.GetAttributes()), map[string]any{"db.system.name": "postgresql"})
	wantAttrs(t, "tx span", attrs(tx.GetAttributes()), acmeAttrs)

	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	for i, h := range rcv.headers {
		if h.Get("Authorization") != token {
			t.Errorf("export %d: Authorization header not sent", i)
		}
		if h.Get("Content-Encoding") != "gzip" {
			t.Errorf("export %d: Content-Encoding = %q, want gzip", i, h.Get("Content-Encoding"))
		}
		if rcv.paths[i] != "/v1/traces" {
			t.Errorf("export %d: posted to %s", i, rcv.paths[i])
		}
	}
	for _, s := range rcv.services {
		if s != "tenantkit-test" {
			t.Errorf("service.name = %q", s)
		}
	}
}

func TestEndRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		method     string
		route      string
		status     int
		wantName   string
		wantRoute  any // nil: no http.route
		wantStatus int64
		wantError  bool
	}{
		{"ok", "GET", "GET /orders/{id}", 200, "GET /orders/{id}", "/orders/{id}", 200, false},
		{"nothing written", "GET", "GET /health", 0, "GET /health", "/health", 200, false},
		{"client error is no span error", "DELETE", "DELETE /orders/{id}", 404, "DELETE /orders/{id}", "/orders/{id}", 404, false},
		{"server error", "POST", "POST /orders", 503, "POST /orders", "/orders", 503, true},
		{"host pattern", "GET", "GET acme.example.com/orders", 200, "GET acme.example.com/orders", "/orders", 200, false},
		{"unmatched keeps the method name", "GET", "", 404, "HTTP GET", nil, 404, false},
		{"unknown method", "BREW", "", 405, "HTTP _OTHER", nil, 405, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tr, rcv := setup(t, tracing.Config{})
			_, span := tr.StartRequest(httptest.NewRequest(tt.method, "/x", nil))
			tr.EndRequest(span, tt.route, tt.status, acme)
			shutdown(t, tr)

			got := rcv.span(t, tt.wantName)
			a := attrs(got.GetAttributes())
			if a["http.route"] != tt.wantRoute {
				t.Errorf("http.route = %#v, want %#v", a["http.route"], tt.wantRoute)
			}
			wantAttrs(t, tt.name, a, map[string]any{"http.response.status_code": tt.wantStatus})
			wantAttrs(t, tt.name, a, acmeAttrs)
			if tt.method == "BREW" {
				wantAttrs(t, tt.name, a, map[string]any{"http.request.method": "_OTHER"})
			}
			isError := got.GetStatus().GetCode() == tracepb.Status_STATUS_CODE_ERROR
			if isError != tt.wantError {
				t.Errorf("span status = %v, want error %v", got.GetStatus(), tt.wantError)
			}
			if tt.wantError && a["error.type"] != "503" {
				t.Errorf("error.type = %#v, want \"503\"", a["error.type"])
			}
		})
	}
}

func TestStartTxRecordsError(t *testing.T) {
	t.Parallel()
	tr, rcv := setup(t, tracing.Config{})
	_, end := tr.StartTx(context.Background(), acme)
	end(errors.New("deadlock detected"))
	shutdown(t, tr)

	tx := rcv.span(t, tracing.TxSpanName)
	if tx.GetStatus().GetCode() != tracepb.Status_STATUS_CODE_ERROR || tx.GetStatus().GetMessage() != "deadlock detected" {
		t.Errorf("tx status = %v, want error \"deadlock detected\"", tx.GetStatus())
	}
	if len(tx.GetEvents()) != 1 || tx.GetEvents()[0].GetName() != "exception" {
		t.Errorf("tx events = %v, want one exception", tx.GetEvents())
	}
	if len(tx.GetParentSpanId()) != 0 {
		t.Errorf("tx without a request has parent %x, want a root span", tx.GetParentSpanId())
	}
	wantAttrs(t, "tx span", attrs(tx.GetAttributes()), acmeAttrs)
}

func TestSamplingFollowsCaller(t *testing.T) {
	t.Parallel()
	// A ratio this small never samples a new trace, so whatever reaches
	// the receiver was sampled because its caller's was.
	tr, rcv := setup(t, tracing.Config{SampleRatio: 1e-12})
	serve := func(traceparent, route string) {
		r := httptest.NewRequest(http.MethodGet, "/x", nil)
		if traceparent != "" {
			r.Header.Set("Traceparent", traceparent)
		}
		ctx, span := tr.StartRequest(r)
		_, end := tr.StartTx(ctx, acme)
		end(nil)
		tr.EndRequest(span, route, 200, acme)
	}
	for range 20 {
		serve("", "GET /new")
	}
	serve("00-"+callerTraceID+"-"+callerSpanID+"-00", "GET /unsampled")
	serve("00-"+callerTraceID+"-"+callerSpanID+"-01", "GET /sampled")
	shutdown(t, tr)

	if n := rcv.spanCount(); n != 2 {
		t.Errorf("received %d spans, want the sampled request's 2", n)
	}
	if got := hexID(rcv.span(t, "GET /sampled").GetTraceId()); got != callerTraceID {
		t.Errorf("sampled span trace id = %s, want %s", got, callerTraceID)
	}
	rcv.span(t, tracing.TxSpanName)
}

func TestRootRequestStartsTrace(t *testing.T) {
	t.Parallel()
	tr, rcv := setup(t, tracing.Config{})
	ctx, span := tr.StartRequest(httptest.NewRequest(http.MethodGet, "/x", nil))
	if !span.SpanContext().IsValid() || !span.IsRecording() {
		t.Fatalf("span %v recording %v, want a valid recording span", span.SpanContext(), span.IsRecording())
	}
	_, end := tr.StartTx(ctx, acme)
	end(nil)
	tr.EndRequest(span, "GET /x", 200, acme)
	shutdown(t, tr)

	server := rcv.span(t, "GET /x")
	if len(server.GetParentSpanId()) != 0 {
		t.Errorf("root request span has parent %x", server.GetParentSpanId())
	}
	if hexID(server.GetTraceId()) != span.SpanContext().TraceID().String() {
		t.Errorf("trace id %x, want %s", server.GetTraceId(), span.SpanContext().TraceID())
	}
	if tx := rcv.span(t, tracing.TxSpanName); hexID(tx.GetParentSpanId()) != hexID(server.GetSpanId()) {
		t.Errorf("tx parent %x, want %x", tx.GetParentSpanId(), server.GetSpanId())
	}
}

func TestEndpointPath(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t)
	tr, _ := setup(t, tracing.Config{Endpoint: rcv.URL + "/otel/"})
	_, end := tr.StartTx(context.Background(), acme)
	end(nil)
	shutdown(t, tr)
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if len(rcv.paths) == 0 || rcv.paths[0] != "/otel/v1/traces" {
		t.Errorf("posted to %q, want /otel/v1/traces", rcv.paths)
	}
}

func TestExportOutage(t *testing.T) {
	t.Parallel()
	// The token is checked by hand rather than with tenantkittest.Secret:
	// that package imports the module's root, which imports this one, and
	// this package's tests should not need the whole module to build.
	token := "Bearer otlp-token-outage-0123456789"
	var logs tenantkittest.SyncBuffer
	tr, rcv := setup(t, tracing.Config{
		Headers: map[string]string{"Authorization": token},
		Logger:  slog.New(slog.NewTextHandler(&logs, nil)),
	})
	rcv.setStatus(http.StatusBadRequest)
	export := func(n int) {
		_, end := tr.StartTx(context.Background(), acme)
		end(nil)
		waitFor(t, "an export attempt", func() bool { return rcv.requestCount() >= n })
	}
	export(1)
	export(2)
	if n := strings.Count(logs.String(), "span export failing"); n != 1 {
		t.Errorf("two failed exports logged %d times, want once per outage:\n%s", n, logs.String())
	}

	rcv.setStatus(http.StatusOK)
	export(3)
	waitFor(t, "the recovery to be logged", func() bool { return strings.Contains(logs.String(), "span export recovered") })
	if !strings.Contains(logs.String(), "batches_dropped=2") {
		t.Errorf("recovery does not count the 2 batches dropped:\n%s", logs.String())
	}

	rcv.setStatus(http.StatusBadRequest)
	_, end := tr.StartTx(context.Background(), acme)
	end(nil)
	err := tr.Shutdown(context.Background())
	if err == nil || !strings.Contains(err.Error(), "400") {
		t.Errorf("Shutdown with a failing last export = %v, want the 400", err)
	}
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Errorf("second Shutdown = %v, want nil", err)
	}
	for _, out := range []string{logs.String(), errString(err)} {
		if strings.Contains(out, strings.TrimPrefix(token, "Bearer ")) {
			t.Errorf("the exporter's token was printed: %s", out)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestNewOff(t *testing.T) {
	t.Parallel()
	tr, err := tracing.New(tracing.Config{})
	if tr != nil || err != nil {
		t.Fatalf("New with no endpoint = %v, %v; want nil, nil", tr, err)
	}
}

func TestNewRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  tracing.Config
	}{
		{"negative ratio", tracing.Config{Endpoint: "http://127.0.0.1:4318", SampleRatio: -0.1}},
		{"negative ratio with tracing off", tracing.Config{SampleRatio: -1}},
		{"ratio above 1", tracing.Config{Endpoint: "http://127.0.0.1:4318", SampleRatio: 10}},
		{"NaN ratio", tracing.Config{Endpoint: "http://127.0.0.1:4318", SampleRatio: math.NaN()}},
		{"negative batch timeout", tracing.Config{Endpoint: "http://127.0.0.1:4318", BatchTimeout: -time.Second}},
		{"no scheme", tracing.Config{Endpoint: "127.0.0.1:4318"}},
		{"grpc scheme", tracing.Config{Endpoint: "grpc://127.0.0.1:4317"}},
		{"credentials in URL", tracing.Config{Endpoint: "https://user:pass@otel.example.com"}},
		{"no host", tracing.Config{Endpoint: "http:///v1"}},
		{"query", tracing.Config{Endpoint: "http://127.0.0.1:4318?x=1"}},
		{"not a URL", tracing.Config{Endpoint: "http://[::1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tr, err := tracing.New(tt.cfg)
			if err == nil {
				_ = tr.Shutdown(context.Background())
				t.Fatal("New accepted the config")
			}
			if tr != nil {
				t.Errorf("New returned a Tracing with error %v", err)
			}
			if strings.Contains(err.Error(), "pass") {
				t.Errorf("error %q repeats the URL's password", err)
			}
		})
	}
}

func TestNilTracing(t *testing.T) {
	t.Parallel()
	var tr *tracing.Tracing
	r := httptest.NewRequest(http.MethodGet, "/orders/42", nil)
	r.Header.Set("Traceparent", "00-"+callerTraceID+"-"+callerSpanID+"-01")

	ctx, span := tr.StartRequest(r)
	if ctx != r.Context() {
		t.Error("StartRequest on nil changed the request's context")
	}
	if span == nil || span.IsRecording() || span.SpanContext().IsValid() {
		t.Errorf("StartRequest on nil returned span %#v, want a no-op", span)
	}
	txCtx, end := tr.StartTx(ctx, acme)
	if txCtx != ctx {
		t.Error("StartTx on nil changed the context")
	}
	end(errors.New("boom"))
	end(nil)
	tr.EndRequest(span, "GET /orders/{id}", 500, acme)
	tr.EndRequest(nil, "", 0, nil)
	if _, s := tr.Tracer().Start(ctx, "x"); s.IsRecording() {
		t.Error("Tracer on nil records")
	}
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown on nil = %v", err)
	}
}

// perRequest is what the middleware and the transaction layer do per
// request.
func perRequest(tr *tracing.Tracing, r *http.Request) {
	ctx, span := tr.StartRequest(r)
	_, end := tr.StartTx(ctx, acme)
	end(nil)
	tr.EndRequest(span, "GET /orders/{id}", 200, acme)
	_ = tr.Tracer()
}

func TestNilTracingAllocatesNothing(t *testing.T) {
	var tr *tracing.Tracing
	r := httptest.NewRequest(http.MethodGet, "/orders/42", nil)
	if n := testing.AllocsPerRun(1000, func() { perRequest(tr, r) }); n != 0 {
		t.Errorf("tracing off allocates %v times per request, want 0", n)
	}
}

func BenchmarkNilTracing(b *testing.B) {
	var tr *tracing.Tracing
	r := httptest.NewRequest(http.MethodGet, "/orders/42", nil)
	b.ReportAllocs()
	for b.Loop() {
		perRequest(tr, r)
	}
}

// BenchmarkTracing is the same request with tracing on and every trace
// sampled, exporting to a receiver in the same process.
func BenchmarkTracing(b *testing.B) {
	tr, _ := setup(b, tracing.Config{BatchTimeout: time.Second})
	r := httptest.NewRequest(http.MethodGet, "/orders/42", nil)
	b.ReportAllocs()
	for b.Loop() {
		perRequest(tr, r)
	}
}
