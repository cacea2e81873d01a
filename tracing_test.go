package tenantkit_test

import (
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	collectortracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/tenantkit/tenantkit"
	"github.com/tenantkit/tenantkit/examples/orders"
	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/tracing"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

// otlpReceiver collects the spans posted to it over OTLP/HTTP.
type otlpReceiver struct {
	mu    sync.Mutex
	spans []*tracepb.Span
}

func (o *otlpReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	raw, err := io.ReadAll(body)
	var req collectortracepb.ExportTraceServiceRequest
	if err == nil {
		err = proto.Unmarshal(raw, &req)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	o.mu.Lock()
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			o.spans = append(o.spans, ss.GetSpans()...)
		}
	}
	o.mu.Unlock()
	out, _ := proto.Marshal(&collectortracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

func attrs(s *tracepb.Span) map[string]string {
	out := map[string]string{}
	for _, kv := range s.GetAttributes() {
		out[kv.GetKey()] = kv.GetValue().GetStringValue()
	}
	return out
}

// TestTracesCarryTheTenant: with an OTLP endpoint configured, a request
// through the pipeline exports a server span named by its route and a
// scoped-transaction span under it, both naming the tenant.
func TestTracesCarryTheTenant(t *testing.T) {
	t.Parallel()
	recv := &otlpReceiver{}
	collector := httptest.NewServer(recv)
	defer collector.Close()
	p := tenantkittest.NewPlatform(t, orders.Migrations())
	id := p.Tenant(t, "acme", catalog.TierSchema)
	cfg := unlimited(tenantkit.Config{
		Resolvers:     tenantkit.ResolverConfig{BaseDomain: "example.test"},
		Observability: tenantkit.ObservabilityConfig{Tracing: tracing.Config{Endpoint: collector.URL, BatchTimeout: 50 * time.Millisecond}},
	})
	cfg.DatabaseURL = p.Catalog.OwnerDSN()
	kit, err := tenantkit.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /orders/{id}", func(w http.ResponseWriter, r *http.Request) {
		if err := kit.Tx(r.Context(), func(tx pgx.Tx) error {
			_, err := tx.Exec(r.Context(), "SELECT count(*) FROM orders")
			return err
		}); err != nil {
			t.Error(err)
		}
	})
	req := httptest.NewRequest(http.MethodGet, "http://acme.example.test/orders/7", nil)
	rec := httptest.NewRecorder()
	kit.Middleware(mux).ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	kit.Close() // flushes the spans
	recv.mu.Lock()
	defer recv.mu.Unlock()
	byName := map[string]*tracepb.Span{}
	for _, s := range recv.spans {
		byName[s.GetName()] = s
	}
	server, tx := byName["GET /orders/{id}"], byName[tracing.TxSpanName]
	if server == nil || tx == nil {
		t.Fatalf("spans: %v", recv.spans)
	}
	if string(tx.GetParentSpanId()) != string(server.GetSpanId()) || string(tx.GetTraceId()) != string(server.GetTraceId()) {
		t.Fatal("the transaction's span is not the request's child")
	}
	for _, s := range []*tracepb.Span{server, tx} {
		a := attrs(s)
		if a[tracing.AttrTenantID] != id.String() || a[tracing.AttrTenantSlug] != "acme" || a[tracing.AttrTenantTier] != "schema" || a[tracing.AttrTenantPlan] != "free" {
			t.Fatalf("span %s: attributes %v", s.GetName(), a)
		}
	}
}

// TestJobsAreTraced: a tenant's job runs in a consumer span naming its
// kind, id and tenant, and the scoped transaction it runs is its child.
func TestJobsAreTraced(t *testing.T) {
	t.Parallel()
	recv := &otlpReceiver{}
	collector := httptest.NewServer(recv)
	defer collector.Close()
	p := tenantkittest.NewPlatform(t, orders.Migrations())
	id := p.Tenant(t, "acme", catalog.TierShared)
	var kitp atomic.Pointer[tenantkit.Kit] // set before any job is enqueued
	workers := river.NewWorkers()
	river.AddWorker(workers, river.WorkFunc(func(ctx context.Context, job *river.Job[noteArgs]) error {
		return kitp.Load().Tx(ctx, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, "SELECT count(*) FROM orders")
			return err
		})
	}))
	kit := p.ListeningKit(t, tenantkit.Config{
		Observability: tenantkit.ObservabilityConfig{Tracing: tracing.Config{Endpoint: collector.URL, BatchTimeout: 50 * time.Millisecond}},
		Jobs:          &tenantkit.JobsConfig{Workers: workers, FetchPollInterval: 100 * time.Millisecond},
	})
	kitp.Store(kit)
	res, err := kit.Enqueue(p.Scoped(t, kit, "acme"), noteArgs{Tag: "traced"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var job, tx *tracepb.Span
	waitUntil(t, 20*time.Second, "the job's spans to be exported", func() bool {
		recv.mu.Lock()
		defer recv.mu.Unlock()
		for _, s := range recv.spans {
			switch s.GetName() {
			case tracing.JobSpanName:
				job = s
			case tracing.TxSpanName:
				tx = s
			}
		}
		return job != nil && tx != nil
	})
	a := attrs(job)
	if a[tracing.AttrJobKind] != (noteArgs{}).Kind() || a[tracing.AttrTenantID] != id.String() || a[tracing.AttrTenantSlug] != "acme" {
		t.Fatalf("the job's span: attributes %v", a)
	}
	for _, kv := range job.GetAttributes() {
		if kv.GetKey() == tracing.AttrJobID && kv.GetValue().GetIntValue() != res.Job.ID {
			t.Fatalf("the job's span names job %d, want %d", kv.GetValue().GetIntValue(), res.Job.ID)
		}
	}
	if string(tx.GetParentSpanId()) != string(job.GetSpanId()) {
		t.Fatal("the job's transaction span is not the job span's child")
	}
}
