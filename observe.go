package tenantkit

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/meter"
	"github.com/tenantkit/tenantkit/internal/tracing"
)

// ObservabilityConfig configures per-tenant metrics, usage metering,
// noisy-neighbour control, request logs and tracing.
type ObservabilityConfig struct {
	// Disabled turns off metrics and usage metering. Defaults to false.
	Disabled bool
	// TopK is how many of the busiest tenants get their own "tenant"
	// label; every other tenant is counted under "other", so the number of
	// series does not grow with the number of tenants. Defaults to 20.
	TopK int
	// FlushInterval is how often usage counted in memory is written to the
	// catalog: at most this much usage is lost when the process crashes.
	// Defaults to 10 seconds.
	FlushInterval time.Duration
	// Instance names this process in flush records. Defaults to the host
	// name and process id.
	Instance string
	// Bucket and Window are the sliding window over which tenants' shares
	// of load are judged. Default to 5 seconds and 1 minute.
	Bucket, Window time.Duration
	// NoisyShare is the share of shared-tier database time, or of
	// requests, above which a tenant is noisy once it has stayed there for
	// Sustain. Default to 0.5 and 30 seconds.
	NoisyShare float64
	Sustain    time.Duration
	// NoisyMinRequests and NoisyMinDBTime are the load in the window below
	// which nobody is judged noisy in that dimension: with little load
	// there is nobody to protect. Default to 100 requests and 1 second of
	// shared-tier database time. With few tenants on a tier, someone always
	// holds a large share: raise them (or NoisyShare) to suit.
	NoisyMinRequests int64
	NoisyMinDBTime   time.Duration
	// Throttle throttles noisy tenants automatically: their request rate
	// is capped at ThrottleRPS and their concurrent scoped transactions on
	// shared pools at ThrottleConcurrency until they calm down. Defaults
	// to false: noisy tenants are reported, not throttled.
	Throttle bool
	// ThrottleRPS defaults to 10 requests per second.
	ThrottleRPS float64
	// ThrottleConcurrency defaults to 1.
	ThrottleConcurrency int64
	// AccessLog logs one line per request, with the tenant's id, slug and
	// tier. Defaults to false.
	AccessLog bool
	// Tracing exports OpenTelemetry traces when its Endpoint is set: a
	// span per request and per scoped transaction, with tenant attributes.
	// Defaults to off.
	Tracing tracing.Config
	// RouteFunc names a request's route for metrics and traces; it runs
	// after the handler. Defaults to the pattern net/http's ServeMux
	// matched, or "unmatched".
	RouteFunc func(*http.Request) string
	// EvictIdle is how long a tenant that sent no requests stays in the
	// usage meter's memory after it went idle (about ten windows without
	// load): then, its usage flushed, its counters are dropped. A tenant
	// that comes back starts new ones. Defaults to 15 minutes; negative
	// keeps every tenant ever seen.
	EvictIdle time.Duration
	// UserFunc names a request's user for the active_users count when
	// its token named none: an application that keeps sessions in a
	// cookie, say, returns the session's user id. It runs after the
	// handler, with the request the handler saw; "" counts nobody. Defaults
	// to nil: only a token's subject is counted. Handlers may also call
	// Kit.CountUser.
	UserFunc func(*http.Request) string
}

func (c *ObservabilityConfig) defaults() {
	if c.TopK == 0 {
		c.TopK = 20
	}
	if c.FlushInterval <= 0 {
		c.FlushInterval = 10 * time.Second
	}
	if c.Instance == "" {
		host, _ := os.Hostname()
		c.Instance = host + "-" + strconv.Itoa(os.Getpid())
	}
	if c.ThrottleRPS <= 0 {
		c.ThrottleRPS = 10
	}
	if c.ThrottleConcurrency <= 0 {
		c.ThrottleConcurrency = 1
	}
}

// observer holds the Kit's metrics and its usage meter.
type observer struct {
	cfg     ObservabilityConfig
	base    time.Time // read once; request times are offsets from it
	meter   *meter.Meter
	tracing *tracing.Tracing

	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	dbTime   *prometheus.CounterVec
	dbCount  *prometheus.CounterVec
	txTime   [tierCount]prometheus.Observer
	noisy    *prometheus.GaugeVec
	flushes  *prometheus.CounterVec
	jobRuns  *prometheus.CounterVec
	jobTime  *prometheus.HistogramVec

	mu        sync.RWMutex
	series    map[seriesKey]httpSeries
	db        map[dbKey]dbSeries
	jobRunsOf map[jobKey]prometheus.Counter
	jobTimeOf map[uint32]prometheus.Observer
	labels    map[uint32]string // label generation → tenant label

	writers sync.Pool
	events  chan meter.Event
}

type seriesKey struct {
	route, method, plan string
	status              int
	tier                uint8
	gen                 uint32
}

type httpSeries struct {
	count prometheus.Counter
	dur   prometheus.Observer
}

type dbKey struct {
	tier uint8
	gen  uint32
}

type dbSeries struct{ seconds, queries prometheus.Counter }

// Tiers as small numbers, for series keys.
const (
	tierNone uint8 = iota
	tierShared
	tierSchema
	tierDedicated
	tierCount
)

var tierNames = [tierCount]string{"none", catalog.TierShared, catalog.TierSchema, catalog.TierDedicated}

func tierOf(t *Tenant) uint8 {
	if t == nil || t.Placement == nil {
		return tierNone
	}
	switch t.Placement.Tier {
	case catalog.TierShared:
		return tierShared
	case catalog.TierSchema:
		return tierSchema
	case catalog.TierDedicated:
		return tierDedicated
	}
	return tierNone
}

const otherTenants = "other"

func (k *Kit) buildObserver() error {
	cfg := k.cfg.Observability
	if cfg.Disabled {
		return nil
	}
	cfg.defaults()
	o := &observer{cfg: cfg, base: time.Now(), series: map[seriesKey]httpSeries{}, db: map[dbKey]dbSeries{}, labels: map[uint32]string{},
		jobRunsOf: map[jobKey]prometheus.Counter{}, jobTimeOf: map[uint32]prometheus.Observer{},
		events: make(chan meter.Event, 256)}
	o.writers.New = func() any { return &observedWriter{} }
	var err error
	if o.meter, err = meter.New(meter.Config{
		Bucket: cfg.Bucket, Window: cfg.Window, NoisyShare: cfg.NoisyShare, Sustain: cfg.Sustain, TopK: cfg.TopK,
		MinWindowRequests: cfg.NoisyMinRequests, MinWindowDBTime: cfg.NoisyMinDBTime,
		NoisyFunc: o.noisyEvent, LabelFunc: o.label, EvictAfter: cfg.EvictIdle,
	}); err != nil {
		return fmt.Errorf("tenantkit: usage meter: %w", err)
	}
	o.meter.SetThrottle(cfg.Throttle)
	if o.tracing, err = tracing.New(cfg.Tracing); err != nil {
		return fmt.Errorf("tenantkit: tracing: %w", err)
	}
	if o.tracing != nil {
		k.closers = append(k.closers, func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = o.tracing.Shutdown(ctx)
		})
	}
	o.register(k)
	k.obs = o
	return nil
}

func (o *observer) register(k *Kit) {
	httpLabels := []string{"route", "method", "status", "tier", "plan", "tenant"}
	o.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tenantkit_http_requests_total", Help: "Requests through the tenant pipeline; tenant is one of the top-K busiest or \"other\".",
	}, httpLabels)
	o.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "tenantkit_http_request_duration_seconds", Help: "Time to serve requests through the tenant pipeline.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, httpLabels)
	o.dbTime = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tenantkit_tenant_db_seconds_total", Help: "Database time of tenants' scoped statements.",
	}, []string{"tier", "tenant"})
	o.dbCount = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tenantkit_tenant_db_queries_total", Help: "Tenants' scoped statements.",
	}, []string{"tier", "tenant"})
	tx := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "tenantkit_scoped_tx_duration_seconds", Help: "Duration of scoped transactions and statements, by tier.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"tier"})
	for i := range tierCount {
		o.txTime[i] = tx.WithLabelValues(tierNames[i])
	}
	o.noisy = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "tenantkit_noisy_tenant_share", Help: "Share of load taken by a tenant found noisy, by dimension (db_time of the shared tier, requests); absent when calm.",
	}, []string{"tenant", "dimension"})
	o.flushes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tenantkit_usage_flushes_total", Help: "Usage flushes to the catalog, by result (ok, error).",
	}, []string{"result"})
	jobs := o.registerJobs()
	reg := k.cfg.Registerer
	if reg == nil {
		return
	}
	reg.MustRegister(jobs...)
	hits := func() float64 { h, _ := k.cache.Stats(); return float64(h) }
	misses := func() float64 { _, m := k.cache.Stats(); return float64(m) }
	reg.MustRegister(o.requests, o.duration, o.dbTime, o.dbCount, tx, o.noisy, o.flushes,
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tenantkit_tenant_cache_hits_total", Help: "Tenant-context lookups answered from memory."}, hits),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tenantkit_tenant_cache_misses_total", Help: "Tenant-context lookups that went to the catalog."}, misses),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tenantkit_tenant_cache_hit_ratio", Help: "Share of tenant-context lookups answered from memory since start."}, func() float64 {
			h, m := k.cache.Stats()
			if h+m == 0 {
				return 0
			}
			return float64(h) / float64(h+m)
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tenantkit_tenant_cache_entries", Help: "Tenant-context cache entries."}, func() float64 { return float64(k.cache.Len()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tenantkit_meter_tenants", Help: "Tenants whose usage counters this process holds in memory."}, func() float64 { return float64(o.meter.Len()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tenantkit_meter_evictions_total", Help: "Idle tenants' usage counters dropped from memory after their usage was flushed."}, func() float64 { return float64(o.meter.Evicted()) }),
		poolCollector{k},
	)
}

// label is the meter's LabelFunc: a tenant got or lost its own label.
func (o *observer) label(e *meter.Entry, gen uint32, assigned bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if assigned {
		o.labels[gen] = e.Name()
		return
	}
	name, ok := o.labels[gen]
	if !ok {
		return
	}
	delete(o.labels, gen)
	for key := range o.series {
		if key.gen == gen {
			o.requests.DeleteLabelValues(key.route, key.method, strconv.Itoa(key.status), tierNames[key.tier], key.plan, name)
			o.duration.DeleteLabelValues(key.route, key.method, strconv.Itoa(key.status), tierNames[key.tier], key.plan, name)
			delete(o.series, key)
		}
	}
	for key := range o.db {
		if key.gen == gen {
			o.dbTime.DeleteLabelValues(tierNames[key.tier], name)
			o.dbCount.DeleteLabelValues(tierNames[key.tier], name)
			delete(o.db, key)
		}
	}
	o.dropJobSeries(gen, name)
}

// labelOf returns the tenant label of a label generation; the caller
// holds mu.
func (o *observer) labelOf(gen uint32) string {
	if name, ok := o.labels[gen]; ok {
		return name
	}
	return otherTenants
}

// cachedSeries is a tenant's last request series, and its key.
type cachedSeries struct {
	key seriesKey
	s   httpSeries
}

// seriesFor returns the request series of key, from the tenant's last one
// when it has the same key (a tenant's requests often do), else from the
// shared map.
func (o *observer) seriesFor(x *tenantExtra, key seriesKey) httpSeries {
	if c := x.lastSeries.Load(); c != nil && c.key == key {
		return c.s
	}
	s := o.httpSeriesOf(key)
	x.lastSeries.Store(&cachedSeries{key: key, s: s})
	return s
}

// httpSeriesOf returns the request series of key, creating it on first use.
func (o *observer) httpSeriesOf(key seriesKey) httpSeries {
	o.mu.RLock()
	s, ok := o.series[key]
	o.mu.RUnlock()
	if ok {
		return s
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if s, ok := o.series[key]; ok {
		return s
	}
	values := []string{key.route, key.method, strconv.Itoa(key.status), tierNames[key.tier], key.plan, o.labelOf(key.gen)}
	s = httpSeries{count: o.requests.WithLabelValues(values...), dur: o.duration.WithLabelValues(values...)}
	if _, live := o.labels[key.gen]; live || key.gen == 0 {
		o.series[key] = s // a generation removed meanwhile is not cached
	}
	return s
}

func (o *observer) dbSeriesOf(key dbKey) dbSeries {
	o.mu.RLock()
	s, ok := o.db[key]
	o.mu.RUnlock()
	if ok {
		return s
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if s, ok := o.db[key]; ok {
		return s
	}
	name := o.labelOf(key.gen)
	s = dbSeries{seconds: o.dbTime.WithLabelValues(tierNames[key.tier], name), queries: o.dbCount.WithLabelValues(tierNames[key.tier], name)}
	if _, live := o.labels[key.gen]; live || key.gen == 0 {
		o.db[key] = s
	}
	return s
}

// methodLabel bounds the method label to the standard methods.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return m
	}
	return "OTHER"
}

// observedWriter counts a response's status and bytes.
type observedWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
	body   countingBody
}

func (w *observedWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *observedWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Flush lets handlers stream through the writer.
func (w *observedWriter) Flush() { _ = http.NewResponseController(w.ResponseWriter).Flush() }

// Unwrap gives http.ResponseController the underlying writer.
func (w *observedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// countingBody counts the bytes a handler reads of a request body of
// unknown length.
type countingBody struct {
	io.ReadCloser
	n int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	return n, err
}

// serve runs next for the resolved tenant t, and counts the request.
func (o *observer) serve(k *Kit, w http.ResponseWriter, r *http.Request, t *Tenant, user string, next http.Handler) {
	x := k.extra(t)
	ow := o.writers.Get().(*observedWriter)
	ow.ResponseWriter, ow.status, ow.bytes = w, 0, 0
	in := r.ContentLength
	ctx := r.Context()
	var span trace.Span
	if o.tracing != nil {
		ctx, span = o.tracing.StartRequest(r)
	}
	r2 := r.WithContext(WithTenant(ctx, t))
	if in < 0 && r.Body != nil {
		ow.body = countingBody{ReadCloser: r.Body}
		r2.Body = &ow.body
	}
	// One monotonic clock read on each side: the wall time of the start,
	// which only picks the billing period, is the base's plus the offset.
	offset := time.Since(o.base)
	next.ServeHTTP(ow, r2)
	dur := time.Since(o.base) - offset
	start := o.base.Add(offset)
	if in < 0 {
		in = ow.body.n
	}
	status := ow.status
	if status == 0 {
		status = http.StatusOK
	}
	route := o.route(r2)
	e := x.entry
	s := o.seriesFor(x, seriesKey{route: route, method: methodLabel(r.Method), plan: t.Plan, status: status, tier: tierOf(t), gen: e.LabelGen()})
	s.count.Inc()
	s.dur.Observe(dur.Seconds())
	e.Request(start, dur, in, ow.bytes)
	if user == "" && o.cfg.UserFunc != nil {
		user = o.cfg.UserFunc(r2)
	}
	if user != "" {
		e.User(start, user)
	}
	if span != nil {
		o.tracing.EndRequest(span, route, status, x.traceAttrs)
	}
	if o.cfg.AccessLog {
		k.accessLog(r2, t, route, status, dur, in, ow.bytes)
	}
	ow.ResponseWriter, ow.body = nil, countingBody{}
	o.writers.Put(ow)
}

// CountUser counts user as an active user of the tenant of ctx in the
// current billing period, for handlers that learn who the user is
// themselves (tokens are counted already, see ObservabilityConfig.UserFunc
// for the other cases). A user counts once per period however often it is
// named, in this and every other process. It does nothing without a tenant
// in ctx, for an empty user, or with observability disabled.
func (k *Kit) CountUser(ctx context.Context, user string) {
	t, ok := FromContext(ctx)
	if !ok || user == "" || k.obs == nil {
		return
	}
	k.extra(t).entry.User(time.Now(), user)
}

// refused counts a request the pipeline answered itself (no tenant, a
// suspended one, over its rate).
func (o *observer) refused(k *Kit, t *Tenant, r *http.Request, status int) {
	var gen uint32
	plan := ""
	if t != nil {
		e := k.extra(t).entry
		e.Refused()
		gen, plan = e.LabelGen(), t.Plan
	}
	o.httpSeriesOf(seriesKey{route: "refused", method: methodLabel(r.Method), plan: plan, status: status, tier: tierOf(t), gen: gen}).count.Inc()
}

func (o *observer) route(r *http.Request) string {
	if o.cfg.RouteFunc != nil {
		if s := o.cfg.RouteFunc(r); s != "" {
			return s
		}
		return "unmatched"
	}
	if r.Pattern != "" {
		return r.Pattern
	}
	return "unmatched"
}

// tx times a scoped transaction of t.
func (o *observer) tx(t *Tenant, start time.Time) {
	o.txTime[tierOf(t)].Observe(time.Since(start).Seconds())
}

// observed adds to x what observability needs of tenant tc.
func (k *Kit) observed(x *tenantExtra, tc *catalog.TenantContext) {
	if k.obs == nil {
		return
	}
	x.entry = k.obs.meter.Entry(tc.ID)
	x.entry.SetName(tc.Slug)
	tier := ""
	if tc.Placement != nil {
		tier = tc.Placement.Tier
	}
	if k.obs.tracing != nil {
		x.traceAttrs = tracing.TenantAttributes(tc.ID.String(), tc.Slug, tier, tc.Plan)
	}
}
