package tenantkit_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tenantkit/tenantkit"
	"github.com/tenantkit/tenantkit/examples/orders"
	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/meter"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

// seriesOf counts the series of the metric families named with prefix,
// and the distinct values of their tenant label.
func seriesOf(t *testing.T, g prometheus.Gatherer, prefix string) (series int, tenants map[string]bool) {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	tenants = map[string]bool{}
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), prefix) {
			continue
		}
		series += len(mf.GetMetric())
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "tenant" {
					tenants[l.GetValue()] = true
				}
			}
		}
	}
	return series, tenants
}

// TestSeriesCountDoesNotGrowWithTenants: the same traffic shape from 10 and
// from 10,000 tenants yields the same number of series: the top K tenants
// by load get their own label, the rest are "other".
func TestSeriesCountDoesNotGrowWithTenants(t *testing.T) {
	t.Parallel()
	const topK = 5
	counts := map[int]int{}
	for _, n := range []int{10, 10000} {
		reg := prometheus.NewRegistry()
		b := setup(t, unlimited(tenantkit.Config{
			Resolvers:     tenantkit.ResolverConfig{BaseDomain: "example.test"},
			Observability: tenantkit.ObservabilityConfig{TopK: topK},
			Registerer:    reg,
		}))
		tenantkit.ManualLoadTicks(b.kit)
		conn, err := pgx.Connect(context.Background(), b.db.OwnerDSN())
		if err != nil {
			t.Fatal(err)
		}
		_, err = conn.Exec(context.Background(),
			`INSERT INTO tenantkit.tenants (slug, name, plan) SELECT 'tenant-' || g, 'Tenant ' || g, 'free' FROM generate_series(1, $1::int) g`, n)
		conn.Close(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		round := func() {
			var wg sync.WaitGroup
			for w := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 1 + w; i <= n; i += 8 {
						if res := b.do(t, fmt.Sprintf("tenant-%d.example.test", i), nil); res.status != http.StatusOK {
							t.Errorf("tenant-%d: %d %s", i, res.status, res.kind)
							return
						}
					}
				}()
			}
			wg.Wait()
		}
		// Some tenants are busier than others, so the top K are clear.
		for i := 1; i <= topK+2; i++ {
			for range i * 3 {
				b.do(t, fmt.Sprintf("tenant-%d.example.test", i), nil)
			}
		}
		round()
		tenantkit.TickLoad(b.kit)
		round()
		series, tenants := seriesOf(t, reg, "tenantkit_http_requests_total")
		if len(tenants) != topK+1 || !tenants["other"] {
			t.Fatalf("%d tenants: tenant label values %v, want %d of them and other", n, tenants, topK+1)
		}
		counts[n] = series
		t.Logf("%d tenants: %d request series, tenant labels %v", n, series, tenants)
	}
	if counts[10] != counts[10000] {
		t.Fatalf("request series: %d with 10 tenants, %d with 10,000", counts[10], counts[10000])
	}
}

// usageKit is a platform with two shared tenants and a Kit metering them,
// serving a handler that reads the body, queries for tenant "busy" only,
// and answers with a body of a known size.
type usageKit struct {
	p       *tenantkittest.Platform
	kit     *tenantkit.Kit
	handler http.Handler
	reg     *prometheus.Registry
}

func newUsageKit(t *testing.T, obs tenantkit.ObservabilityConfig) *usageKit {
	t.Helper()
	p := tenantkittest.NewPlatform(t, orders.Migrations())
	p.Tenant(t, "busy", catalog.TierShared)
	p.Tenant(t, "idle", catalog.TierShared)
	reg := prometheus.NewRegistry()
	kit := p.Kit(t, unlimited(tenantkit.Config{
		Resolvers:     tenantkit.ResolverConfig{JWT: &tenantkit.JWTConfig{Secret: secret}},
		Observability: obs,
		Registerer:    reg,
	}))
	u := &usageKit{p: p, kit: kit, reg: reg}
	u.handler = kit.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			t.Error(err)
		}
		tn, _ := tenantkit.FromContext(r.Context())
		if tn.Slug == "busy" {
			var n int
			if err := kit.QueryRow(r.Context(), "SELECT count(*) FROM orders").Scan(&n); err != nil {
				t.Error(err)
			}
		}
		_, _ = w.Write([]byte("0123456789"))
	}))
	return u
}

// opaque hides a reader's type, so the request's length is unknown and
// the middleware counts the body as it is read.
type opaque struct{ io.Reader }

func (u *usageKit) request(t *testing.T, slug, user string, body string, known bool) {
	t.Helper()
	var rd io.Reader = strings.NewReader(body)
	if !known {
		rd = opaque{rd}
	}
	req := httptest.NewRequest(http.MethodPost, "http://app.example.test/x", rd)
	req.Header.Set("Authorization", "Bearer "+token(t, jwt.MapClaims{"tenant_id": slug, "sub": user}))
	rec := httptest.NewRecorder()
	u.handler.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Errorf("%s: %d %s", slug, rec.Code, rec.Body)
	}
}

// TestUsageIsExactUnderConcurrentRequests: api calls, bandwidth (request
// plus response bodies, of known and unknown length) and distinct users
// come out exact after concurrent requests and a flush; database time goes
// to the tenant whose transaction spent it, and only to it.
func TestUsageIsExactUnderConcurrentRequests(t *testing.T) {
	t.Parallel()
	u := newUsageKit(t, tenantkit.ObservabilityConfig{})
	const workers, perWorker = 8, 60
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				slug := "busy"
				if i%3 == 0 {
					slug = "idle"
				}
				u.request(t, slug, fmt.Sprintf("user-%d", (w*perWorker+i)%7), "abcde", i%2 == 0)
			}
		}()
	}
	wg.Wait()
	if err := u.kit.FlushUsage(context.Background()); err != nil {
		t.Fatal(err)
	}
	period := catalog.Period(time.Now())
	busy, err := u.p.Store().UsageFor(context.Background(), "busy", period)
	if err != nil {
		t.Fatal(err)
	}
	idle, _ := u.p.Store().UsageFor(context.Background(), "idle", period)
	wantIdle := int64(workers * perWorker / 3)
	wantBusy := int64(workers*perWorker) - wantIdle
	if busy.APICalls != wantBusy || idle.APICalls != wantIdle {
		t.Fatalf("api calls: busy %d idle %d, want %d and %d", busy.APICalls, idle.APICalls, wantBusy, wantIdle)
	}
	if busy.BandwidthBytes != wantBusy*15 || idle.BandwidthBytes != wantIdle*15 {
		t.Fatalf("bandwidth: busy %d idle %d, want %d and %d (5 in + 10 out each)", busy.BandwidthBytes, idle.BandwidthBytes, wantBusy*15, wantIdle*15)
	}
	if busy.ActiveUsers != 7 || idle.ActiveUsers != 7 {
		t.Fatalf("active users: busy %d idle %d, want 7 each", busy.ActiveUsers, idle.ActiveUsers)
	}
	if busy.DBQueries < wantBusy || busy.DBMs <= 0 || idle.DBQueries != 0 || idle.DBMs != 0 {
		t.Fatalf("database: busy %d queries %.3f ms, idle %d queries %.3f ms", busy.DBQueries, busy.DBMs, idle.DBQueries, idle.DBMs)
	}
	if busy.ComputeMs <= 0 {
		t.Fatalf("compute: %+v", busy)
	}
	// The metrics (before any tick, every tenant is "other"): database
	// time by tier, scoped transactions timed by tier, the shared pool's
	// connections, the cache's hit ratio, every request counted.
	want := map[string]func(v float64) bool{
		`tenantkit_tenant_db_queries_total{tenant="other",tier="shared"}`:                                                      func(v float64) bool { return v >= float64(wantBusy) },
		`tenantkit_scoped_tx_duration_seconds_count{tier="shared"}`:                                                            func(v float64) bool { return v == float64(wantBusy) },
		`tenantkit_tenant_cache_hit_ratio`:                                                                                     func(v float64) bool { return v > 0.9 },
		`tenantkit_usage_flushes_total{result="ok"}`:                                                                           func(v float64) bool { return v >= 1 },
		`tenantkit_http_requests_total{method="POST",plan="free",route="unmatched",status="200",tenant="other",tier="shared"}`: func(v float64) bool { return v == float64(workers*perWorker) },
	}
	got := flatten(t, u.reg)
	for name, ok := range want {
		if v, found := got[name]; !found || !ok(v) {
			t.Errorf("%s = %v (found %v)", name, v, found)
		}
	}
	pools := 0
	for name := range got {
		if strings.HasPrefix(name, "tenantkit_pool_connections{") && strings.Contains(name, `cluster="test"`) {
			pools++
		}
	}
	if pools == 0 {
		t.Errorf("no pool connections reported: %v", got)
	}
	// A second flush with nothing new adds nothing.
	if err := u.kit.FlushUsage(context.Background()); err != nil {
		t.Fatal(err)
	}
	again, _ := u.p.Store().UsageFor(context.Background(), "busy", period)
	if again.APICalls != busy.APICalls || again.ActiveUsers != busy.ActiveUsers {
		t.Fatalf("an empty flush changed usage: %+v then %+v", busy, again)
	}
}

// lostAck is a sink whose first write commits but reports a failure, as
// when the connection drops before the commit's answer arrives.
type lostAck struct {
	meter.Sink
	mu    sync.Mutex
	calls int
	ids   []string
}

func (l *lostAck) WriteUsage(ctx context.Context, b meter.Batch) error {
	l.mu.Lock()
	l.calls++
	first := l.calls == 1
	l.ids = append(l.ids, b.ID.String())
	l.mu.Unlock()
	if err := l.Sink.WriteUsage(ctx, b); err != nil {
		return err
	}
	if first {
		return errors.New("connection reset after commit")
	}
	return nil
}

// TestRetriedFlushIsCountedOnce: a flush whose commit's answer was lost is
// retried with the same id, and the catalog counts it once.
func TestRetriedFlushIsCountedOnce(t *testing.T) {
	t.Parallel()
	u := newUsageKit(t, tenantkit.ObservabilityConfig{})
	sink := &lostAck{}
	tenantkit.SetUsageSinkFunc(u.kit, func(s meter.Sink) meter.Sink { sink.Sink = s; return sink })
	for i := range 5 {
		u.request(t, "idle", fmt.Sprint("u", i), "", true)
	}
	if err := u.kit.FlushUsage(context.Background()); err == nil {
		t.Fatal("the first flush reported no error")
	}
	for i := range 3 { // counted while the batch is pending: the next batch
		u.request(t, "idle", fmt.Sprint("u", i), "", true)
	}
	for range 2 {
		if err := u.kit.FlushUsage(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := u.p.Store().UsageFor(context.Background(), "idle", catalog.Period(time.Now()))
	if got.APICalls != 8 || got.ActiveUsers != 5 {
		t.Fatalf("after a retried flush: %d calls, %d users; want 8 and 5", got.APICalls, got.ActiveUsers)
	}
	if len(sink.ids) < 2 || sink.ids[0] != sink.ids[1] {
		t.Fatalf("the retry carried another id: %v", sink.ids)
	}
}

// TestRequestLinesNameTheTenant: the access log line and the application's
// own lines through LogHandler carry the tenant's id, slug and tier.
func TestRequestLinesNameTheTenant(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	var mu sync.Mutex
	log := slog.New(tenantkit.LogHandler(slog.NewJSONHandler(&lockedWriter{w: &buf, mu: &mu}, nil)))
	p := tenantkittest.NewPlatform(t, orders.Migrations())
	id := p.Tenant(t, "acme", catalog.TierSchema)
	kit := p.Kit(t, unlimited(tenantkit.Config{
		Resolvers:     tenantkit.ResolverConfig{BaseDomain: "example.test"},
		Observability: tenantkit.ObservabilityConfig{AccessLog: true},
		Logger:        log,
	}))
	h := kit.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.InfoContext(r.Context(), "app line")
	}))
	if res := serve(t, h, "acme.example.test", nil); res.status != http.StatusOK {
		t.Fatalf("%+v", res)
	}
	mu.Lock()
	defer mu.Unlock()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("log lines: %q", lines)
	}
	for _, l := range lines {
		for _, want := range []string{`"tenant_id":"` + id.String() + `"`, `"tenant_slug":"acme"`, `"tenant_tier":"schema"`} {
			if strings.Count(l, want) != 1 {
				t.Fatalf("line %s: want %s once", l, want)
			}
		}
	}
	if !strings.Contains(lines[1], `"msg":"request"`) || !strings.Contains(lines[1], `"status":200`) {
		t.Fatalf("request line: %s", lines[1])
	}
}

// flatten returns every sample of g by its name and sorted labels, as
// the exposition format writes them; histograms as _count.
func flatten(t *testing.T, g prometheus.Gatherer) map[string]float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			name := mf.GetName()
			var v float64
			switch {
			case m.Counter != nil:
				v = m.GetCounter().GetValue()
			case m.Gauge != nil:
				v = m.GetGauge().GetValue()
			case m.Histogram != nil:
				name, v = name+"_count", float64(m.GetHistogram().GetSampleCount())
			default:
				continue
			}
			if len(labels) > 0 {
				name += "{" + strings.Join(labels, ",") + "}"
			}
			out[name] = v
		}
	}
	return out
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// TestActiveUsersWithoutTokens: users of requests resolved without a token
// are counted through ObservabilityConfig.UserFunc (a session cookie here)
// and Kit.CountUser (named by the handler), once each per period however
// they arrive, together with the token's subjects.
func TestActiveUsersWithoutTokens(t *testing.T) {
	t.Parallel()
	p := tenantkittest.NewPlatform(t, orders.Migrations())
	p.Tenant(t, "acme", catalog.TierShared)
	p.Tenant(t, "globex", catalog.TierShared)
	kit := p.Kit(t, unlimited(tenantkit.Config{
		Resolvers: tenantkit.ResolverConfig{BaseDomain: "example.test", JWT: &tenantkit.JWTConfig{Secret: secret}},
		Observability: tenantkit.ObservabilityConfig{UserFunc: func(r *http.Request) string {
			if c, err := r.Cookie("session"); err == nil {
				return strings.TrimPrefix(c.Value, "user:")
			}
			return ""
		}},
	}))
	h := kit.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u := r.Header.Get("X-Api-Key-Owner"); u != "" {
			kit.CountUser(r.Context(), u)
		}
	}))
	send := func(host string, header func(*http.Request)) {
		t.Helper()
		req := httptest.NewRequest(http.MethodGet, "http://"+host+"/", nil)
		header(req)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: %d %s", host, rec.Code, rec.Body)
		}
	}
	user := func(n int) string { return fmt.Sprintf("u%d", n) }
	for i := range 30 {
		// u0–u4 by cookie, u3–u7 named by the handler, u6–u9 by token:
		// ten active users of acme, each counted once.
		send("acme.example.test", func(r *http.Request) { r.AddCookie(&http.Cookie{Name: "session", Value: "user:" + user(i%5)}) })
		send("acme.example.test", func(r *http.Request) { r.Header.Set("X-Api-Key-Owner", user(3+i%5)) })
		send("app.example.test", func(r *http.Request) {
			r.Header.Set("Authorization", "Bearer "+token(t, jwt.MapClaims{"tenant_id": "acme", "sub": user(6 + i%4)}))
		})
		// Anonymous requests count nobody.
		send("globex.example.test", func(*http.Request) {})
	}
	// Outside a request, and without a tenant, CountUser is a no-op.
	kit.CountUser(context.Background(), "nobody")
	if err := kit.FlushUsage(context.Background()); err != nil {
		t.Fatal(err)
	}
	period := catalog.Period(time.Now())
	acme, err := p.Store().UsageFor(context.Background(), "acme", period)
	if err != nil {
		t.Fatal(err)
	}
	globex, err := p.Store().UsageFor(context.Background(), "globex", period)
	if err != nil {
		t.Fatal(err)
	}
	if acme.ActiveUsers != 10 || acme.APICalls != 90 {
		t.Fatalf("acme: %d active users over %d calls, want 10 over 90", acme.ActiveUsers, acme.APICalls)
	}
	if globex.ActiveUsers != 0 || globex.APICalls != 30 {
		t.Fatalf("globex: %d active users over %d calls, want 0 over 30", globex.ActiveUsers, globex.APICalls)
	}
}

// TestIdleTenantsLeaveTheMeterAndComeBack: a process keeps usage counters
// only for tenants with recent traffic — idle ones are dropped once their
// usage is flushed — and a tenant that comes back through a context cached
// before the drop is counted all the same.
func TestIdleTenantsLeaveTheMeterAndComeBack(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	b := setup(t, unlimited(tenantkit.Config{
		Resolvers:     tenantkit.ResolverConfig{BaseDomain: "example.test"},
		Observability: tenantkit.ObservabilityConfig{Bucket: time.Second, Window: time.Second, EvictIdle: time.Nanosecond},
		Registerer:    reg,
	}))
	tenantkit.ManualLoadTicks(b.kit)
	slugs := []string{"acme", "globex", "initech"}
	for _, s := range slugs {
		b.tenant(t, s, "free")
	}
	round := func() {
		t.Helper()
		for _, s := range slugs {
			for range 5 {
				if res := b.do(t, s+".example.test", nil); res.status != http.StatusOK {
					t.Fatalf("%s: %+v", s, res)
				}
			}
		}
		if err := b.kit.FlushUsage(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	round()
	held := func() (float64, float64) {
		got := flatten(t, reg)
		return got["tenantkit_meter_tenants"], got["tenantkit_meter_evictions_total"]
	}
	if n, _ := held(); n != 3 {
		t.Fatalf("%v tenants held after traffic, want 3", n)
	}
	for range 11 { // ten idle windows park them
		tenantkit.TickLoad(b.kit)
	}
	if err := b.kit.FlushUsage(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n, ev := held(); n != 0 || ev != 3 {
		t.Fatalf("after idling: %v tenants held, %v dropped; want 0 and 3", n, ev)
	}
	round() // through the contexts cached before the drop
	if n, _ := held(); n != 3 {
		t.Fatalf("%v tenants held after they came back, want 3", n)
	}
	for _, s := range slugs {
		u, err := b.store.UsageFor(context.Background(), s, catalog.Period(time.Now()))
		if err != nil {
			t.Fatal(err)
		}
		if u.APICalls != 10 {
			t.Fatalf("%s: %d api calls, want 10", s, u.APICalls)
		}
	}
}

// TestTheKitPrunesUsage: a process embedding the Kit prunes the catalog's
// recent load itself, with no server running: buckets older than the
// hour kept go.
func TestTheKitPrunesUsage(t *testing.T) {
	t.Parallel()
	b := setup(t, tenantkit.Config{Observability: tenantkit.ObservabilityConfig{FlushInterval: time.Hour}})
	tenantkit.PruneUsageEvery(b.kit, 50*time.Millisecond)
	tn := b.tenant(t, "acme", "free")
	conn, err := pgx.Connect(context.Background(), b.db.OwnerDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), `INSERT INTO tenantkit.usage_load (tenant_id, bucket, requests, compute_us, db_us, bandwidth_bytes)
		VALUES ($1, now() - interval '2 hours', 1, 0, 0, 0), ($1, now(), 1, 0, 0, 0)`, tn.ID); err != nil {
		t.Fatal(err)
	}
	b.startListening(t)
	count := func() int {
		var n int
		if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM tenantkit.usage_load`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	eventually(t, "the old bucket pruned", func() bool { return count() == 1 })
}
