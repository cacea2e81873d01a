package tenantkit

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/meter"
)

// connStateKey holds, in each tenant connection's custom data, whose
// scoped work the connection is doing.
const connStateKey = "tenantkit.obs"

// connState is the tenant a connection is acquired for, and the start of
// the statement it is running.
type connState struct {
	entry *meter.Entry
	tier  uint8
	start time.Time
	n     int
}

func stateOf(c *pgx.Conn) *connState {
	st, _ := c.PgConn().CustomData()[connStateKey].(*connState)
	return st
}

// poolConfig adjusts every tenant pool: the application's PoolConfigFunc
// first, then the tracer that attributes database time to tenants.
func (k *Kit) poolConfig(pc *pgxpool.Config) {
	if k.cfg.StatementCacheSize > 0 {
		pc.ConnConfig.StatementCacheCapacity = k.cfg.StatementCacheSize
	}
	if k.cfg.PoolConfigFunc != nil {
		k.cfg.PoolConfigFunc(pc)
	}
	if k.obs == nil {
		return
	}
	pc.ConnConfig.Tracer = &dbTracer{o: k.obs, next: pc.ConnConfig.Tracer}
	// The binding is made on every acquire, and so replaced on the next:
	// nothing needs undoing on release. An AfterRelease hook would cost
	// every scoped statement ~20 µs, since pgxpool then hands each released
	// connection back from a new goroutine, and the next acquire finds none
	// idle (BenchmarkScopedQueryRow went from 1.75× to 2.15× with one).
	prepare := pc.PrepareConn
	if prepare == nil && pc.BeforeAcquire != nil {
		before := pc.BeforeAcquire
		prepare = func(ctx context.Context, c *pgx.Conn) (bool, error) { return before(ctx, c), nil }
	}
	pc.PrepareConn = func(ctx context.Context, c *pgx.Conn) (bool, error) {
		k.bindConn(ctx, c)
		if prepare != nil {
			return prepare(ctx, c)
		}
		return true, nil
	}
}

// bindConn marks c as doing the work of the tenant of ctx, the scoped
// transaction that acquired it, or of no tenant when ctx has none.
func (k *Kit) bindConn(ctx context.Context, c *pgx.Conn) {
	st := stateOf(c)
	if st == nil {
		st = &connState{}
		c.PgConn().CustomData()[connStateKey] = st
	}
	st.entry = nil
	if t, ok := FromContext(ctx); ok {
		st.entry, st.tier = k.extra(t).entry, tierOf(t)
	}
}

// dbTracer attributes statements' count and time to the tenant the
// connection works for, in the meter and in metrics.
type dbTracer struct {
	o    *observer
	next pgx.QueryTracer
}

func (d *dbTracer) begin(c *pgx.Conn) {
	if st := stateOf(c); st != nil && st.entry != nil {
		st.start, st.n = time.Now(), 0
	}
}

func (d *dbTracer) end(c *pgx.Conn, queries int) {
	st := stateOf(c)
	if st == nil || st.entry == nil || st.start.IsZero() {
		return
	}
	now := time.Now()
	dur := now.Sub(st.start)
	st.start = time.Time{}
	st.entry.DB(now, dur, queries, st.tier == tierShared)
	s := d.o.dbSeriesOf(dbKey{tier: st.tier, gen: st.entry.LabelGen()})
	s.seconds.Add(dur.Seconds())
	s.queries.Add(float64(queries))
}

func (d *dbTracer) TraceQueryStart(ctx context.Context, c *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	d.begin(c)
	if d.next != nil {
		return d.next.TraceQueryStart(ctx, c, data)
	}
	return ctx
}

func (d *dbTracer) TraceQueryEnd(ctx context.Context, c *pgx.Conn, data pgx.TraceQueryEndData) {
	d.end(c, 1)
	if d.next != nil {
		d.next.TraceQueryEnd(ctx, c, data)
	}
}

func (d *dbTracer) TraceBatchStart(ctx context.Context, c *pgx.Conn, data pgx.TraceBatchStartData) context.Context {
	d.begin(c)
	if bt, ok := d.next.(pgx.BatchTracer); ok {
		return bt.TraceBatchStart(ctx, c, data)
	}
	return ctx
}

func (d *dbTracer) TraceBatchQuery(ctx context.Context, c *pgx.Conn, data pgx.TraceBatchQueryData) {
	if st := stateOf(c); st != nil {
		st.n++
	}
	if bt, ok := d.next.(pgx.BatchTracer); ok {
		bt.TraceBatchQuery(ctx, c, data)
	}
}

func (d *dbTracer) TraceBatchEnd(ctx context.Context, c *pgx.Conn, data pgx.TraceBatchEndData) {
	n := 0
	if st := stateOf(c); st != nil {
		n = st.n
	}
	d.end(c, n)
	if bt, ok := d.next.(pgx.BatchTracer); ok {
		bt.TraceBatchEnd(ctx, c, data)
	}
}

func (d *dbTracer) TracePrepareStart(ctx context.Context, c *pgx.Conn, data pgx.TracePrepareStartData) context.Context {
	d.begin(c)
	if pt, ok := d.next.(pgx.PrepareTracer); ok {
		return pt.TracePrepareStart(ctx, c, data)
	}
	return ctx
}

func (d *dbTracer) TracePrepareEnd(ctx context.Context, c *pgx.Conn, data pgx.TracePrepareEndData) {
	d.end(c, 0)
	if pt, ok := d.next.(pgx.PrepareTracer); ok {
		pt.TracePrepareEnd(ctx, c, data)
	}
}

// poolCollector reports the tenant pools' connections per cluster and
// database at scrape time.
type poolCollector struct{ k *Kit }

var (
	poolConnsDesc = prometheus.NewDesc("tenantkit_pool_connections", "Connections of a tenant pool, by state (idle, acquired, constructing).",
		[]string{"cluster", "database", "state"}, nil)
	poolMaxDesc = prometheus.NewDesc("tenantkit_pool_max_connections", "Most connections a tenant pool may hold.",
		[]string{"cluster", "database"}, nil)
	poolAcquiresDesc = prometheus.NewDesc("tenantkit_pool_acquires_total", "Connections acquired from a tenant pool.",
		[]string{"cluster", "database"}, nil)
	poolWaitsDesc = prometheus.NewDesc("tenantkit_pool_empty_acquires_total", "Acquires that waited for a connection.",
		[]string{"cluster", "database"}, nil)
	poolWaitDesc = prometheus.NewDesc("tenantkit_pool_acquire_wait_seconds_total", "Time spent acquiring connections.",
		[]string{"cluster", "database"}, nil)
)

// Describe sends nothing: the collector is unchecked, its pools come and go.
func (poolCollector) Describe(chan<- *prometheus.Desc) {}

func (p poolCollector) Collect(ch chan<- prometheus.Metric) {
	for _, ps := range p.k.router.PoolStats() {
		s, c, db := ps.Stat, ps.Cluster, ps.Database
		ch <- prometheus.MustNewConstMetric(poolConnsDesc, prometheus.GaugeValue, float64(s.IdleConns()), c, db, "idle")
		ch <- prometheus.MustNewConstMetric(poolConnsDesc, prometheus.GaugeValue, float64(s.AcquiredConns()), c, db, "acquired")
		ch <- prometheus.MustNewConstMetric(poolConnsDesc, prometheus.GaugeValue, float64(s.ConstructingConns()), c, db, "constructing")
		ch <- prometheus.MustNewConstMetric(poolMaxDesc, prometheus.GaugeValue, float64(s.MaxConns()), c, db)
		ch <- prometheus.MustNewConstMetric(poolAcquiresDesc, prometheus.CounterValue, float64(s.AcquireCount()), c, db)
		ch <- prometheus.MustNewConstMetric(poolWaitsDesc, prometheus.CounterValue, float64(s.EmptyAcquireCount()), c, db)
		ch <- prometheus.MustNewConstMetric(poolWaitDesc, prometheus.CounterValue, s.AcquireDuration().Seconds(), c, db)
	}
}

// accessLog logs one request line with the tenant's id, slug and tier.
func (k *Kit) accessLog(r *http.Request, t *Tenant, route string, status int, dur time.Duration, in, out int64) {
	k.log.LogAttrs(r.Context(), slog.LevelInfo, "request",
		slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.String("route", route),
		slog.Int("status", status), slog.Duration("duration", dur), slog.Int64("bytes_in", in), slog.Int64("bytes_out", out),
		slog.String(logTenantID, t.ID.String()), slog.String(logTenantSlug, t.Slug), slog.String(logTenantTier, tierNames[tierOf(t)]))
}

// usageSink writes the meter's batches to the catalog.
type usageSink struct{ k *Kit }

func (s usageSink) WriteUsage(ctx context.Context, b meter.Batch) error {
	cb := catalog.UsageBatch{ID: b.ID, Instance: s.k.obs.cfg.Instance, At: time.Now(), Deltas: make([]catalog.UsageDelta, 0, len(b.Deltas))}
	for _, d := range b.Deltas {
		cb.Deltas = append(cb.Deltas, catalog.UsageDelta{Tenant: d.Tenant, Period: d.Period, APICalls: d.APICalls,
			ComputeMicros: d.ComputeMicros, DBMicros: d.DBMicros, DBQueries: d.DBQueries, BandwidthBytes: d.BandwidthBytes,
			Jobs: d.Jobs, JobMicros: d.JobMicros, Users: d.Users})
	}
	_, err := s.k.store.WriteUsage(ctx, cb)
	return err
}

// countedSink counts flushes by result.
type countedSink struct {
	meter.Sink
	o *observer
}

func (c countedSink) WriteUsage(ctx context.Context, b meter.Batch) error {
	err := c.Sink.WriteUsage(ctx, b)
	if err != nil {
		c.o.flushes.WithLabelValues("error").Inc()
	} else {
		c.o.flushes.WithLabelValues("ok").Inc()
	}
	return err
}

// runObserver flushes usage, ticks the load window and records noisy
// findings until ctx is done; the last flush happens on the way out.
func (k *Kit) runObserver(ctx context.Context) {
	o := k.obs
	var sink meter.Sink = usageSink{k}
	if k.sinkFunc != nil {
		sink = k.sinkFunc(sink)
	}
	sink = countedSink{sink, o}
	done := make(chan struct{}, 4)
	go func() {
		defer func() { done <- struct{}{} }()
		o.meter.Run(ctx, sink, o.cfg.FlushInterval, func(err error) {
			k.log.WarnContext(ctx, "tenantkit: flush usage; it stays pending and is retried", "err", err)
		})
	}()
	go func() {
		defer func() { done <- struct{}{} }()
		if !k.manualTick {
			o.meter.RunTicker(ctx)
		}
	}()
	go func() {
		defer func() { done <- struct{}{} }()
		k.recordNoisy(ctx)
	}()
	go func() {
		defer func() { done <- struct{}{} }()
		k.pruneUsage(ctx)
	}()
	for range 4 {
		<-done
	}
}

// noisyEvent is the meter's NoisyFunc: it runs inside Tick, so it only
// sets the gauge and hands the finding on.
func (o *observer) noisyEvent(ev meter.Event) {
	name := ev.Name
	if ev.Noisy {
		o.noisy.WithLabelValues(name, ev.Dimension).Set(ev.Share)
	} else {
		o.noisy.DeleteLabelValues(name, ev.Dimension)
	}
	select {
	case o.events <- ev:
	default: // the recorder is behind: the gauge and the next refresh tell
	}
}

// usagePrune is how often a process prunes the catalog's recent load, old
// flush ids and stale noisy findings: every process does, so that an
// application that embeds the Kit without running the server keeps them
// bounded. Concurrent prunes are harmless.
const usagePrune = 5 * time.Minute

// pruneUsage prunes the usage tables every usagePrune until ctx is done.
func (k *Kit) pruneUsage(ctx context.Context) {
	interval := k.pruneEvery
	if interval <= 0 {
		interval = usagePrune
	}
	every(ctx, interval, func() {
		if err := k.store.PruneUsage(ctx, time.Now()); err != nil && ctx.Err() == nil {
			k.log.WarnContext(ctx, "tenantkit: prune usage", "err", err)
		}
	})
}

// every calls fn every interval until ctx is done.
func every(ctx context.Context, interval time.Duration, fn func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}

// noisyRefresh is how often a noisy finding is confirmed in the catalog.
const noisyRefresh = time.Minute

// recordNoisy logs, audits and records noisy findings with their
// recommendation, and keeps confirming them while they last.
func (k *Kit) recordNoisy(ctx context.Context) {
	live := map[[2]string]catalog.NoisyEvent{}
	tick := time.NewTicker(noisyRefresh)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-k.obs.events:
			ne, err := k.noisyFinding(ctx, ev)
			if err != nil {
				k.log.WarnContext(ctx, "tenantkit: noisy tenant", "tenant", ev.Tenant, "err", err)
				continue
			}
			key := [2]string{ne.Tenant.String(), ne.Dimension}
			if ne.Noisy {
				live[key] = ne
				k.log.WarnContext(ctx, "tenantkit: noisy tenant", "tenant", ne.Tenant, "dimension", ne.Dimension,
					"share", ne.Share, "throttled", ne.Throttled, "recommendation", ne.Recommendation)
			} else {
				delete(live, key)
				k.log.InfoContext(ctx, "tenantkit: tenant calmed down", "tenant", ne.Tenant, "dimension", ne.Dimension, "share", ne.Share)
			}
			if err := k.store.RecordNoisy(ctx, ne); err != nil {
				k.log.WarnContext(ctx, "tenantkit: record noisy tenant", "tenant", ne.Tenant, "err", err)
			}
		case <-tick.C:
			for _, ne := range live {
				if err := k.store.RefreshNoisy(ctx, ne); err != nil {
					k.log.WarnContext(ctx, "tenantkit: refresh noisy tenant", "tenant", ne.Tenant, "err", err)
				}
			}
		}
	}
}

// noisyFinding turns the meter's event into a finding with a
// recommendation.
func (k *Kit) noisyFinding(ctx context.Context, ev meter.Event) (catalog.NoisyEvent, error) {
	ne := catalog.NoisyEvent{Tenant: ev.Tenant, Dimension: ev.Dimension, Share: ev.Share, Since: ev.Since, Noisy: ev.Noisy,
		DetectedBy: k.obs.cfg.Instance, Throttled: ev.Noisy && k.obs.cfg.Throttle}
	if !ev.Noisy {
		return ne, nil
	}
	t, err := k.cache.ByID(ctx, ev.Tenant)
	if err != nil {
		return ne, err
	}
	rate := 0.0
	for _, l := range k.obs.meter.Loads() {
		if l.Tenant == ev.Tenant {
			rate = l.RequestRate
		}
	}
	ne.Recommendation, ne.Command = recommend(t, ev, rate, k.obs.window())
	return ne, nil
}

func (o *observer) window() time.Duration {
	if o.cfg.Window > 0 {
		return o.cfg.Window
	}
	return time.Minute
}

// recommend says what to do about a noisy tenant, with the exact command.
func recommend(t *Tenant, ev meter.Event, rate float64, window time.Duration) (text, command string) {
	pct := int(ev.Share*100 + 0.5)
	rps := max(int(rate/2), 1)
	throttle := fmt.Sprintf("tenantkit tenants limits %s --set api_rps=%d --set max_concurrent_tx=1", t.Slug, rps)
	shared := t.Placement != nil && t.Placement.Tier == catalog.TierShared
	target := catalog.TierSchema
	if ev.Share >= 0.8 {
		target = catalog.TierDedicated
	}
	move := fmt.Sprintf("tenantkit move %s --to %s", t.Slug, target)
	switch {
	case ev.Dimension == catalog.NoisyDBTime:
		return fmt.Sprintf("%s takes %d%% of the shared tier's database time over the last %s: move it off the shared tier (%s), or throttle it (%s)",
			t.Slug, pct, window, move, throttle), move
	case shared:
		return fmt.Sprintf("%s sends %d%% of all requests over the last %s: throttle it (%s), or move it off the shared tier (%s)",
			t.Slug, pct, window, throttle, move), throttle
	default:
		return fmt.Sprintf("%s sends %d%% of all requests over the last %s: throttle it (%s)", t.Slug, pct, window, throttle), throttle
	}
}

// throttled reports whether t is being throttled as a noisy tenant.
func (k *Kit) throttled(t *Tenant) bool {
	if k.obs == nil || !k.obs.cfg.Throttle {
		return false
	}
	e := k.extra(t).entry
	return e != nil && e.Throttled()
}

// Load returns this process's view of tenants' load over the sliding
// window, busiest first, with noisy tenants marked.
func (k *Kit) Load() []TenantLoad {
	if k.obs == nil {
		return nil
	}
	return k.obs.meter.Loads()
}

// TenantLoad is a tenant's load over the sliding window in this process.
type TenantLoad = meter.Load

// FlushUsage writes the usage counted so far to the catalog now (a
// pending batch first). Start flushes every FlushInterval and on the way
// out; call it before exiting a process that does not run Start.
func (k *Kit) FlushUsage(ctx context.Context) error {
	if k.obs == nil {
		return nil
	}
	var sink meter.Sink = usageSink{k}
	if k.sinkFunc != nil {
		sink = k.sinkFunc(sink)
	}
	return k.obs.meter.Flush(ctx, countedSink{sink, k.obs})
}
