package tracing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// instrumentationName names the tracer, as OpenTelemetry asks: after the
// code that makes the spans.
const instrumentationName = "github.com/tenantkit/tenantkit"

// Config configures New.
type Config struct {
	// Endpoint is the base URL of an OTLP/HTTP receiver, such as
	// "http://127.0.0.1:4318"; spans are posted to Endpoint + "/v1/traces",
	// in plain HTTP when the scheme is http and over TLS when it is https.
	// Credentials go in Headers, not in the URL. Defaults to "": tracing is
	// off and New returns (nil, nil).
	Endpoint string
	// Headers are sent with every export, typically an Authorization or an
	// API-key header of a hosted backend. Defaults to none.
	Headers map[string]string
	// ServiceName is the service.name resource attribute. Defaults to
	// "tenantkit".
	ServiceName string
	// SampleRatio is the fraction of new traces recorded, between 0 and 1;
	// a request that arrives with a traceparent follows its caller's
	// decision instead. Defaults to 1: every trace (0 also means 1).
	SampleRatio float64
	// BatchTimeout is the longest a finished span waits before it is
	// exported with the others of its batch. Defaults to 5s.
	BatchTimeout time.Duration
	// Logger receives export failures, once at the start of an outage and
	// once at its end with the number of batches dropped. Defaults to
	// slog.Default().
	Logger *slog.Logger
}

func (c *Config) validate() error {
	if c.SampleRatio < 0 || c.SampleRatio > 1 || math.IsNaN(c.SampleRatio) {
		return fmt.Errorf("tracing: Config.SampleRatio %v is not between 0 and 1", c.SampleRatio)
	}
	if c.BatchTimeout < 0 {
		return errors.New("tracing: Config.BatchTimeout is negative")
	}
	if c.Endpoint == "" {
		return nil
	}
	_, err := parseEndpoint(c.Endpoint)
	return err
}

// parseEndpoint checks Endpoint and returns it parsed. It rejects user
// information because the exporter would drop it silently, and because a
// password in a URL ends up in error messages.
func parseEndpoint(endpoint string) (*url.URL, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, errors.New("tracing: Config.Endpoint is not a URL")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, errors.New("tracing: Config.Endpoint must be an http or https URL")
	case u.User != nil:
		return nil, errors.New("tracing: Config.Endpoint must not hold credentials; put them in Headers")
	case u.Host == "":
		return nil, errors.New("tracing: Config.Endpoint has no host")
	case u.RawQuery != "" || u.Fragment != "":
		return nil, errors.New("tracing: Config.Endpoint must not have a query or fragment")
	}
	return u, nil
}

func (c *Config) applyDefaults() {
	if c.ServiceName == "" {
		c.ServiceName = "tenantkit"
	}
	if c.SampleRatio == 0 {
		c.SampleRatio = 1
	}
	if c.BatchTimeout == 0 {
		c.BatchTimeout = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Tracing owns a TracerProvider that exports over OTLP/HTTP. A nil
// *Tracing is tracing turned off: every method is then a no-op. It is safe
// for concurrent use.
type Tracing struct {
	provider *sdktrace.TracerProvider
	exporter *exporter
	tracer   trace.Tracer
	prop     propagation.TraceContext
}

// New returns a Tracing exporting to cfg.Endpoint, or nil and no error when
// cfg.Endpoint is empty. The rest of cfg is checked either way, so that a
// mistake shows before tracing is turned on. New does not connect: the
// first batch does. Shutdown must be called to flush the last spans.
func New(cfg Config) (*Tracing, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Endpoint == "" {
		return nil, nil
	}
	cfg.applyDefaults()
	otlp, err := newOTLPExporter(cfg)
	if err != nil {
		return nil, err
	}
	res, err := resource.Merge(resource.Default(),
		resource.NewWithAttributes(semconv.SchemaURL, semconv.ServiceName(cfg.ServiceName)))
	if err != nil {
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	exp := &exporter{SpanExporter: otlp, log: cfg.Logger}
	provider := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(cfg.BatchTimeout)),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.SampleRatio))),
	)
	return &Tracing{provider: provider, exporter: exp, tracer: provider.Tracer(instrumentationName)}, nil
}

// newOTLPExporter builds the exporter from options alone, so that the
// endpoint configured wins over OTEL_EXPORTER_OTLP_* variables. Batches are
// gzipped: every OTLP receiver accepts it, and spans compress well.
func newOTLPExporter(cfg Config) (*otlptrace.Exporter, error) {
	u, err := parseEndpoint(cfg.Endpoint)
	if err != nil {
		return nil, err
	}
	opts := []otlptracehttp.Option{
		otlptracehttp.WithEndpoint(u.Host),
		otlptracehttp.WithURLPath(strings.TrimSuffix(u.Path, "/") + "/v1/traces"),
		otlptracehttp.WithCompression(otlptracehttp.GzipCompression),
	}
	if u.Scheme == "http" {
		opts = append(opts, otlptracehttp.WithInsecure())
	}
	if len(cfg.Headers) > 0 {
		opts = append(opts, otlptracehttp.WithHeaders(cfg.Headers))
	}
	exp, err := otlptracehttp.New(context.Background(), opts...)
	if err != nil {
		return nil, fmt.Errorf("tracing: OTLP exporter: %w", err)
	}
	return exp, nil
}

// Tracer returns the tracer for spans of tenantkit's own, or a no-op tracer
// when t is nil.
func (t *Tracing) Tracer() trace.Tracer {
	if t == nil {
		return noop.Tracer{}
	}
	return t.tracer
}

// Shutdown exports the spans still waiting and stops the exporter; spans
// started afterwards are dropped. It returns an error when that last export
// failed or ctx ended first. A second call does nothing.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	t.exporter.takeErr() // earlier failures were logged already
	err := errors.Join(t.provider.ForceFlush(ctx), t.provider.Shutdown(ctx), t.exporter.takeErr())
	if err != nil {
		return fmt.Errorf("tracing: shut down: %w", err)
	}
	return nil
}
