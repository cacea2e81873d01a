package tracing

import (
	"context"
	"log/slog"
	"sync"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// exporter reports export failures to the Tracing's logger. The batch
// processor would hand them to otel.Handle, which prints to the process's
// global logger on every batch; instead the error stops here, is logged
// once per outage, and is kept for Shutdown to return.
type exporter struct {
	sdktrace.SpanExporter
	log *slog.Logger

	mu      sync.Mutex
	dropped int   // batches lost in the current outage; 0 when exports succeed
	err     error // first failure since the last takeErr
}

func (e *exporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	err := e.SpanExporter.ExportSpans(ctx, spans)
	e.mu.Lock()
	defer e.mu.Unlock()
	if err == nil {
		if e.dropped > 0 {
			e.log.LogAttrs(ctx, slog.LevelInfo, "tracing: span export recovered", slog.Int("batches_dropped", e.dropped))
			e.dropped = 0
		}
		return nil
	}
	if e.dropped == 0 {
		e.log.LogAttrs(ctx, slog.LevelWarn, "tracing: span export failing, dropping spans",
			slog.Int("spans", len(spans)), slog.String("err", err.Error()))
	}
	e.dropped++
	if e.err == nil {
		e.err = err
	}
	return nil
}

// takeErr returns the first export failure since it was last called, and
// forgets it.
func (e *exporter) takeErr() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	err := e.err
	e.err = nil
	return err
}
