package tracing

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Attribute keys set on every span of a tenant's request.
const (
	AttrTenantID   = "tenant.id"
	AttrTenantSlug = "tenant.slug"
	AttrTenantTier = "tenant.tier"
	AttrTenantPlan = "tenant.plan"
)

// TxSpanName is the name of the spans StartTx starts.
const TxSpanName = "tenantkit.tx"

// TenantAttributes returns the tenant's attributes, to pass to EndRequest
// and StartTx.
func TenantAttributes(id, slug, tier, plan string) []attribute.KeyValue {
	return []attribute.KeyValue{
		attribute.String(AttrTenantID, id),
		attribute.String(AttrTenantSlug, slug),
		attribute.String(AttrTenantTier, tier),
		attribute.String(AttrTenantPlan, plan),
	}
}

// StartRequest starts the server span of r, named "HTTP " and the method
// until EndRequest names it after its route. It continues the trace of a
// W3C traceparent header in r, whatever global propagator the process set.
// The span carries the method only: the path may hold secrets such as
// invitation tokens, and the route that EndRequest records has its shape.
// With a nil t it returns r's context and a no-op span.
func (t *Tracing) StartRequest(r *http.Request) (context.Context, trace.Span) {
	if t == nil {
		return r.Context(), noop.Span{}
	}
	ctx := t.prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	name, method := requestMethod(r.Method)
	return t.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(method))
}

// requestMethod returns the span name and method attribute for method.
// Methods outside HTTP's own become "_OTHER", as OpenTelemetry's
// conventions ask, so that a client cannot mint span names.
func requestMethod(method string) (string, attribute.KeyValue) {
	switch method {
	case http.MethodGet:
		return "HTTP GET", semconv.HTTPRequestMethodGet
	case http.MethodHead:
		return "HTTP HEAD", semconv.HTTPRequestMethodHead
	case http.MethodPost:
		return "HTTP POST", semconv.HTTPRequestMethodPost
	case http.MethodPut:
		return "HTTP PUT", semconv.HTTPRequestMethodPut
	case http.MethodPatch:
		return "HTTP PATCH", semconv.HTTPRequestMethodPatch
	case http.MethodDelete:
		return "HTTP DELETE", semconv.HTTPRequestMethodDelete
	case http.MethodOptions:
		return "HTTP OPTIONS", semconv.HTTPRequestMethodOptions
	case http.MethodConnect:
		return "HTTP CONNECT", semconv.HTTPRequestMethodConnect
	case http.MethodTrace:
		return "HTTP TRACE", semconv.HTTPRequestMethodTrace
	}
	return "HTTP _OTHER", semconv.HTTPRequestMethodOther
}

// EndRequest records how the request of span ended and ends it. route is
// the pattern that matched, as http.Request.Pattern gives it
// ("GET /orders/{id}"): it becomes the span's name, and its path part the
// http.route attribute; an empty route (nothing matched) leaves the name
// as StartRequest set it. status is the response's status code, 0 meaning
// 200 as net/http sends it for a handler that wrote nothing; a 5xx marks
// the span as failed. tenant is TenantAttributes' result, or nil before a
// tenant was resolved.
func (t *Tracing) EndRequest(span trace.Span, route string, status int, tenant []attribute.KeyValue) {
	if t == nil || span == nil {
		return
	}
	if !span.IsRecording() {
		span.End()
		return
	}
	if status == 0 {
		status = http.StatusOK
	}
	if route != "" {
		span.SetName(route)
		span.SetAttributes(semconv.HTTPRoute(routePath(route)))
	}
	span.SetAttributes(semconv.HTTPResponseStatusCode(status))
	span.SetAttributes(tenant...)
	if status >= 500 {
		span.SetAttributes(semconv.ErrorTypeKey.String(strconv.Itoa(status)))
		span.SetStatus(codes.Error, "")
	}
	span.End()
}

// routePath returns the path of a ServeMux pattern, "[METHOD ][HOST]/PATH".
func routePath(pattern string) string {
	if _, rest, ok := strings.Cut(pattern, " "); ok {
		pattern = strings.TrimLeft(rest, " \t")
	}
	if i := strings.IndexByte(pattern, '/'); i > 0 {
		pattern = pattern[i:]
	}
	return pattern
}

// StartTx starts a client span named TxSpanName for one PostgreSQL
// transaction of a tenant, a child of ctx's span, and returns a func that
// ends it, recording err as the span's failure when it is not nil. With a
// nil t it returns ctx and a func that does nothing.
func (t *Tracing) StartTx(ctx context.Context, tenant []attribute.KeyValue) (context.Context, func(error)) {
	if t == nil {
		return ctx, endNothing
	}
	ctx, span := t.tracer.Start(ctx, TxSpanName, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(semconv.DBSystemNamePostgreSQL), trace.WithAttributes(tenant...))
	return ctx, func(err error) {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}
}

func endNothing(error) {}

// JobSpanName is the name of the spans StartJob starts.
const JobSpanName = "tenantkit.job"

// Job span attributes.
const (
	AttrJobKind = "tenantkit.job.kind"
	AttrJobID   = "tenantkit.job.id"
)

// StartJob starts a consumer span named JobSpanName for one run of a
// tenant's background job, and returns a func that ends it, recording err
// as the span's failure when it is not nil. With a nil t it returns ctx
// and a func that does nothing.
func (t *Tracing) StartJob(ctx context.Context, kind string, id int64, tenant []attribute.KeyValue) (context.Context, func(error)) {
	if t == nil {
		return ctx, endNothing
	}
	ctx, span := t.tracer.Start(ctx, JobSpanName, trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(attribute.String(AttrJobKind, kind), attribute.Int64(AttrJobID, id)), trace.WithAttributes(tenant...))
	return ctx, func(err error) {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}
}
