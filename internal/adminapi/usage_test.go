package adminapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tenantkit/tenantkit/internal/catalog"
)

// october is the billing period the usage tests write, away from the
// current month so that the default period shows apart.
const october = "2024-10"

// writeUsage adds deltas in one flush, their load counted at now.
func (b *bundle) writeUsage(t *testing.T, deltas ...catalog.UsageDelta) {
	t.Helper()
	if _, err := b.store.WriteUsage(context.Background(), catalog.UsageBatch{ID: uuid.New(), At: time.Now(), Deltas: deltas}); err != nil {
		t.Fatal(err)
	}
}

// seedUsage gives acme and globex usage in october, and acme 5 calls this
// month.
func (b *bundle) seedUsage(t *testing.T) (acme, globex catalog.Tenant, now string) {
	t.Helper()
	acme, globex = b.create(t, "acme"), b.create(t, "globex")
	now = catalog.Period(time.Now())
	b.writeUsage(t,
		catalog.UsageDelta{Tenant: acme.ID, Period: october, APICalls: 1234, ComputeMicros: 90_000_000, DBMicros: 2_500_000,
			DBQueries: 42, BandwidthBytes: 5 << 20, Users: []uint64{1, 2, 3}},
		catalog.UsageDelta{Tenant: globex.ID, Period: october, APICalls: 7, Users: []uint64{9}},
		catalog.UsageDelta{Tenant: acme.ID, Period: now, APICalls: 5},
	)
	at := time.Date(2024, 10, 3, 4, 5, 6, 0, time.UTC)
	if err := b.store.RecordStorage(context.Background(), at, []catalog.StorageSample{{Tenant: acme.ID, Bytes: 3<<20 + 1, Method: "estimate"}}); err != nil {
		t.Fatal(err)
	}
	return acme, globex, now
}

// wantAcmeOctober checks every number seedUsage wrote for acme in october.
func wantAcmeOctober(t *testing.T, u catalog.UsageReport, id uuid.UUID) {
	t.Helper()
	sampled := time.Date(2024, 10, 3, 4, 5, 6, 0, time.UTC)
	if u.TenantID != id || u.Slug != "acme" || u.Period != october || u.APICalls != 1234 || u.ComputeMs != 90_000 || u.DBMs != 2500 ||
		u.DBQueries != 42 || u.BandwidthBytes != 5<<20 || u.StorageBytes != 3<<20+1 || u.StorageMethod != "estimate" ||
		u.StorageSampledAt == nil || !u.StorageSampledAt.Equal(sampled) || u.ActiveUsers != 3 || u.UpdatedAt == nil {
		t.Fatalf("acme in %s: %+v", october, u)
	}
}

func TestTenantUsageRoute(t *testing.T) {
	t.Parallel()
	b := setup(t)
	acme, _, now := b.seedUsage(t)

	for _, ref := range []string{"acme", acme.ID.String()} {
		u := decode[catalog.UsageReport](t, b.do(t, "GET", "/api/v1/tenants/"+ref+"/usage?period="+october, ""), http.StatusOK)
		wantAcmeOctober(t, u, acme.ID)
	}
	// A month without usage is zeros, not an error.
	u := decode[catalog.UsageReport](t, b.do(t, "GET", "/api/v1/tenants/globex/usage?period=2025-01", ""), http.StatusOK)
	if u.Slug != "globex" || u.Period != "2025-01" || u.APICalls != 0 || u.UpdatedAt != nil {
		t.Fatalf("globex in 2025-01: %+v", u)
	}
	for _, p := range []string{"2026-13", "2026-1", "26-10", "2024-10-01", "october", "2026-00"} {
		wantFields(t, b.do(t, "GET", "/api/v1/tenants/acme/usage?period="+p, ""), "period")
	}
	wantProblem(t, b.do(t, "GET", "/api/v1/tenants/nosuch/usage?period="+october, ""), http.StatusNotFound, "tenant-not-found")
	wantProblem(t, b.do(t, "GET", "/api/v1/tenants/nosuch/usage", ""), http.StatusNotFound, "tenant-not-found")

	// Without a period: this month.
	u = decode[catalog.UsageReport](t, b.do(t, "GET", "/api/v1/tenants/acme/usage", ""), http.StatusOK)
	if catalog.Period(time.Now()) != now {
		t.Skip("the month changed during the test")
	}
	if u.Period != now || u.APICalls != 5 || u.ActiveUsers != 0 {
		t.Fatalf("acme this month: %+v", u)
	}
}

func TestUsageExportRoute(t *testing.T) {
	t.Parallel()
	b := setup(t)
	acme, globex, now := b.seedUsage(t)
	b.create(t, "initech") // no usage: not listed

	out := decode[struct {
		Period  string
		Tenants []catalog.UsageReport
	}](t, b.do(t, "GET", "/api/v1/usage?period="+october, ""), http.StatusOK)
	if out.Period != october || len(out.Tenants) != 2 {
		t.Fatalf("export of %s: %+v", october, out)
	}
	wantAcmeOctober(t, out.Tenants[0], acme.ID)
	if g := out.Tenants[1]; g.TenantID != globex.ID || g.Slug != "globex" || g.APICalls != 7 || g.ActiveUsers != 1 || g.Period != october {
		t.Fatalf("globex in the export: %+v", g)
	}

	w := b.do(t, "GET", "/api/v1/usage?period=2025-01", "")
	if decode[struct{ Period string }](t, w, http.StatusOK).Period != "2025-01" || !strings.Contains(w.Body.String(), `"tenants":[]`) {
		t.Fatalf("an empty month: %s", w.Body)
	}
	for _, p := range []string{"2026-13", "202410", "all"} {
		wantFields(t, b.do(t, "GET", "/api/v1/usage?period="+p, ""), "period")
	}

	// Without a period: this month.
	out = decode[struct {
		Period  string
		Tenants []catalog.UsageReport
	}](t, b.do(t, "GET", "/api/v1/usage", ""), http.StatusOK)
	if catalog.Period(time.Now()) != now {
		t.Skip("the month changed during the test")
	}
	if out.Period != now || len(out.Tenants) != 1 || out.Tenants[0].Slug != "acme" || out.Tenants[0].APICalls != 5 {
		t.Fatalf("export of this month: %+v", out)
	}
}

// The load route serves tenantkit top.
func TestLoadRouteForTop(t *testing.T) {
	t.Parallel()
	b := setup(t)
	quiet, loud := b.create(t, "quiet"), b.create(t, "loud")
	period := catalog.Period(time.Now())
	b.writeUsage(t,
		catalog.UsageDelta{Tenant: quiet.ID, Period: period, APICalls: 10, DBMicros: 1000},
		catalog.UsageDelta{Tenant: loud.ID, Period: period, APICalls: 30, DBMicros: 9000},
	)
	ev := catalog.NoisyEvent{Tenant: loud.ID, Dimension: catalog.NoisyRequests, Share: 0.75, Since: time.Now(), Noisy: true,
		Recommendation: "throttle loud", Command: "tenantkit tenants limits loud --set api_rps=20", Throttled: true, DetectedBy: "test"}
	if err := b.store.RecordNoisy(context.Background(), ev); err != nil {
		t.Fatal(err)
	}

	rep := decode[catalog.LoadReport](t, b.do(t, "GET", "/api/v1/load", ""), http.StatusOK)
	if rep.WindowSeconds != 60 || rep.At.IsZero() || len(rep.Tenants) != 2 {
		t.Fatalf("default window: %+v", rep)
	}
	l, q := rep.Tenants[0], rep.Tenants[1]
	if l.Slug != "loud" || q.Slug != "quiet" || l.Requests != 30 || q.Requests != 10 || l.RequestShare != 0.75 || l.Usage.APICalls != 30 {
		t.Fatalf("ranking: %+v", rep.Tenants)
	}
	if len(l.Noisy) != 1 || l.Noisy[0].Command != ev.Command || !l.Noisy[0].Throttled || l.Noisy[0].Recommendation != ev.Recommendation || len(q.Noisy) != 0 {
		t.Fatalf("noisy findings: loud %+v, quiet %+v", l.Noisy, q.Noisy)
	}
	for window, secs := range map[string]float64{"30s": 30, "10s": 10, "1h": 3600, "2m30s": 150} {
		if rep := decode[catalog.LoadReport](t, b.do(t, "GET", "/api/v1/load?window="+window, ""), http.StatusOK); rep.WindowSeconds != secs {
			t.Fatalf("window %s: %v seconds", window, rep.WindowSeconds)
		}
	}
	for _, window := range []string{"9s", "5s", "0s", "-1m", "1h1s", "2h", "60", "soon"} {
		wantFields(t, b.do(t, "GET", "/api/v1/load?window="+window, ""), "window")
	}
}

func TestUsageRoutesNeedTheTokenAndGET(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.seedUsage(t)
	for _, path := range []string{"/api/v1/tenants/acme/usage?period=" + october, "/api/v1/usage?period=" + october, "/api/v1/load"} {
		w := b.do(t, "GET", path, "", "Authorization", "Bearer wrong-token-0123456789abcd")
		wantProblem(t, w, http.StatusUnauthorized, "unauthorized")
		if strings.Contains(w.Body.String(), "1234") || strings.Contains(w.Body.String(), "tenants\":") {
			t.Fatalf("GET %s: 401 shows usage: %s", path, w.Body)
		}
		wantProblem(t, b.do(t, "GET", path, "", "Authorization", ""), http.StatusUnauthorized, "unauthorized")
		w = b.do(t, "POST", path, "{}")
		wantProblem(t, w, http.StatusMethodNotAllowed, "method-not-allowed")
		if allow := w.Header().Get("Allow"); allow != "GET" {
			t.Fatalf("POST %s: Allow %q", path, allow)
		}
	}
}

// The billing export comes a page at a time: limit sets its size, the
// next page's address is in the Link header and in next, and following
// them lists every tenant once, by slug.
func TestUsageExportPages(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var deltas []catalog.UsageDelta
	for i := range 7 {
		tn := b.create(t, "tenant-"+string(rune('a'+i)))
		deltas = append(deltas, catalog.UsageDelta{Tenant: tn.ID, Period: october, APICalls: int64(i + 1)})
	}
	b.writeUsage(t, deltas...)
	type page struct {
		Period  string
		Tenants []catalog.UsageReport
		Next    string
	}
	var slugs []string
	path := "/api/v1/usage?period=" + october + "&limit=3"
	for pages := 0; path != ""; pages++ {
		if pages == 5 {
			t.Fatal("more than 5 pages of 3 for 7 tenants")
		}
		w := b.do(t, "GET", path, "")
		link := w.Header().Get("Link")
		p := decode[page](t, w, http.StatusOK)
		for _, u := range p.Tenants {
			slugs = append(slugs, u.Slug)
		}
		path = ""
		if p.Next != "" {
			want := "<" + "/api/v1/usage?after=" + p.Next + "&limit=3&period=" + october + `>; rel="next"`
			if link != want {
				t.Fatalf("Link %q, want %q", link, want)
			}
			path = strings.TrimSuffix(strings.TrimPrefix(link, "<"), `>; rel="next"`)
		} else if link != "" || len(p.Tenants) != 1 {
			t.Fatalf("last page: %d tenants, Link %q", len(p.Tenants), link)
		}
	}
	if got := strings.Join(slugs, ","); got != "tenant-a,tenant-b,tenant-c,tenant-d,tenant-e,tenant-f,tenant-g" {
		t.Fatalf("pages listed %s", got)
	}
	for _, l := range []string{"0", "-1", "5001", "many"} {
		wantFields(t, b.do(t, "GET", "/api/v1/usage?limit="+l, ""), "limit")
	}
}
