package tracing_test

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	collectortracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// receiver is an OTLP/HTTP trace receiver on loopback: it decodes what the
// real exporter posts and keeps it for the test to look at.
type receiver struct {
	URL string

	mu       sync.Mutex
	status   int // answered to every export; 0 means 200
	requests int
	paths    []string
	headers  []http.Header
	services []string // service.name of each resource received
	spans    []*tracepb.Span
}

func newReceiver(t testing.TB) *receiver {
	t.Helper()
	rcv := &receiver{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := rcv.receive(r); err != nil {
			t.Errorf("receiver: %v", err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rcv.respond(w)
	}))
	t.Cleanup(srv.Close)
	rcv.URL = srv.URL
	return rcv
}

func (rcv *receiver) receive(r *http.Request) error {
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/v1/traces") {
		return &unexpected{r.Method + " " + r.URL.Path}
	}
	body := io.Reader(r.Body)
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			return err
		}
		body = zr
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	var req collectortracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(raw, &req); err != nil {
		return err
	}
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	rcv.requests++
	rcv.paths = append(rcv.paths, r.URL.Path)
	rcv.headers = append(rcv.headers, r.Header.Clone())
	if rcv.status != 0 && rcv.status != http.StatusOK {
		return nil // a failing backend keeps nothing
	}
	for _, rs := range req.GetResourceSpans() {
		rcv.services = append(rcv.services, attrs(rs.GetResource().GetAttributes())["service.name"].(string))
		for _, ss := range rs.GetScopeSpans() {
			rcv.spans = append(rcv.spans, ss.GetSpans()...)
		}
	}
	return nil
}

func (rcv *receiver) respond(w http.ResponseWriter) {
	rcv.mu.Lock()
	status := rcv.status
	rcv.mu.Unlock()
	if status != 0 && status != http.StatusOK {
		http.Error(w, "receiver told to fail", status)
		return
	}
	raw, _ := proto.Marshal(&collectortracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(raw)
}

func (rcv *receiver) setStatus(status int) {
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	rcv.status = status
}

func (rcv *receiver) requestCount() int {
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	return rcv.requests
}

// span returns the one span received with name, failing the test when
// there is none or more than one.
func (rcv *receiver) span(t *testing.T, name string) *tracepb.Span {
	t.Helper()
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	var found []*tracepb.Span
	var names []string
	for _, s := range rcv.spans {
		names = append(names, s.GetName())
		if s.GetName() == name {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("received %d spans named %q; all received: %q", len(found), name, names)
	}
	return found[0]
}

func (rcv *receiver) spanCount() int {
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	return len(rcv.spans)
}

type unexpected struct{ what string }

func (e *unexpected) Error() string { return "unexpected request " + e.what }

// attrs flattens OTLP attributes to their Go values.
func attrs(kvs []*commonpb.KeyValue) map[string]any {
	m := make(map[string]any, len(kvs))
	for _, kv := range kvs {
		switch v := kv.GetValue().GetValue().(type) {
		case *commonpb.AnyValue_StringValue:
			m[kv.GetKey()] = v.StringValue
		case *commonpb.AnyValue_IntValue:
			m[kv.GetKey()] = v.IntValue
		case *commonpb.AnyValue_BoolValue:
			m[kv.GetKey()] = v.BoolValue
		default:
			m[kv.GetKey()] = kv.GetValue().String()
		}
	}
	return m
}

// wantAttrs fails the test unless got holds every key of want, with the
// same value.
func wantAttrs(t *testing.T, span string, got map[string]any, want map[string]any) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: attribute %s = %#v, want %#v (all: %v)", span, k, got[k], v, got)
		}
	}
}

// waitFor polls cond until it holds, failing the test after 10s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
