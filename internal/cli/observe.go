package cli

import (
	"context"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/storagesample"
)

// observeOptions are the observability options serve and dev share.
type observeOptions struct {
	topK            int
	flushInterval   time.Duration
	noisyShare      float64
	noisySustain    time.Duration
	noisyWindow     time.Duration
	throttleNoisy   bool
	accessLog       bool
	otelEndpoint    string
	storageInterval time.Duration
}

// observeFlags adds the observability flags; dev's defaults react faster
// (a demo should show a noisy tenant within a minute) and log less.
func observeFlags(cmd *cobra.Command, o *observeOptions, e env, dev bool) {
	f := cmd.Flags()
	flush, window, sustain, storage := 10*time.Second, time.Minute, 30*time.Second, 5*time.Minute
	if dev {
		flush, window, sustain, storage = 2*time.Second, 30*time.Second, 10*time.Second, 20*time.Second
	}
	f.IntVar(&o.topK, "metrics-top-k", 20, "tenants with their own label in metrics; the rest are \"other\"")
	f.DurationVar(&o.flushInterval, "usage-flush", flush, "how often usage counted in memory is written to the catalog (at most this much is lost in a crash)")
	f.Float64Var(&o.noisyShare, "noisy-share", 0.5, "share of shared-tier database time or of requests above which a tenant is noisy")
	f.DurationVar(&o.noisySustain, "noisy-sustain", sustain, "how long a tenant must stay over --noisy-share to be flagged")
	f.DurationVar(&o.noisyWindow, "noisy-window", window, "the sliding window over which shares of load are measured")
	f.BoolVar(&o.throttleNoisy, "throttle-noisy", false, "throttle noisy tenants automatically (rate and concurrent transactions) until they calm down")
	f.BoolVar(&o.accessLog, "access-log", !dev, "log one line per tenant request, with the tenant's id, slug and tier")
	f.StringVar(&o.otelEndpoint, "otel-endpoint", e.getenv("OTEL_EXPORTER_OTLP_ENDPOINT"),
		"OTLP/HTTP endpoint to export traces to, e.g. http://127.0.0.1:4318 (env OTEL_EXPORTER_OTLP_ENDPOINT); default: no tracing")
	f.DurationVar(&o.storageInterval, "storage-sample", storage, "how often each tenant's storage is measured (0: never)")
}

// runStorageSampler measures every tenant's storage every interval and
// records it as usage and as the storage_mb gauge, until ctx is done; it
// also prunes the recent-load table.
func runStorageSampler(ctx context.Context, store *catalog.Store, interval time.Duration, log *slog.Logger) error {
	if interval <= 0 {
		return nil
	}
	s, err := storagesample.New(storagesample.Config{Placements: store, Logger: log})
	if err != nil {
		return err
	}
	s.Run(ctx, interval, func(ctx context.Context, samples []storagesample.Sample, err error) {
		if err != nil {
			log.WarnContext(ctx, "sample tenants' storage", "err", err)
		}
		out := make([]catalog.StorageSample, 0, len(samples))
		for _, sm := range samples {
			out = append(out, catalog.StorageSample{Tenant: sm.Tenant, Bytes: sm.Bytes, Method: sm.Method})
		}
		if err := store.RecordStorage(ctx, time.Now(), out); err != nil {
			log.WarnContext(ctx, "record tenants' storage", "err", err)
		}
		if err := store.PruneUsage(ctx, time.Now()); err != nil {
			log.WarnContext(ctx, "prune recent load", "err", err)
		}
	})
	return nil
}
