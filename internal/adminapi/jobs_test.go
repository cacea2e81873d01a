package adminapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/tenantkit/tenantkit/internal/adminapi"
	"github.com/tenantkit/tenantkit/internal/contract"
	"github.com/tenantkit/tenantkit/internal/jobs"
)

type testArgs struct{ N int }

func (testArgs) Kind() string { return "test" }

type otherArgs struct{}

func (otherArgs) Kind() string { return "other" }

// jobsBundle is an API with a jobs client, and an insert-only client of
// the same queue to enqueue with.
type jobsBundle struct {
	*bundle
	river *river.Client[pgx.Tx]
}

func setupJobs(t *testing.T) jobsBundle {
	t.Helper()
	b := setup(t)
	c, err := jobs.NewClient(b.pool)
	if err != nil {
		t.Fatal(err)
	}
	api, err := adminapi.New(adminapi.Config{Store: b.store, Token: token, Jobs: c, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	b.h = contract.Handler(t, api.Handler())
	return jobsBundle{bundle: b, river: c}
}

// enqueue inserts args for tenant slug ("" for none) as a tenant job
// carries it, and returns the job's id.
func (b jobsBundle) enqueue(t *testing.T, args river.JobArgs, slug string, opts river.InsertOpts) int64 {
	t.Helper()
	md := map[string]any{"trace_id": "t-1"}
	if slug != "" {
		tn, err := b.store.GetTenant(context.Background(), slug)
		if err != nil {
			t.Fatal(err)
		}
		md["tenant_id"], md["tenant"] = tn.ID.String(), slug
		md["tenantkit_commit"] = map[string]any{"xid": 7}
	}
	opts.Metadata, _ = json.Marshal(md)
	res, err := b.river.Insert(context.Background(), args, &opts)
	if err != nil {
		t.Fatal(err)
	}
	return res.Job.ID
}

func jobIDs(js []jobs.Job) []int64 {
	out := make([]int64, len(js))
	for i, j := range js {
		out[i] = j.ID
	}
	return out
}

// TestJobsArePagedNewestFirst: the pages, followed by next or by the Link
// header, hold every job once, newest first.
func TestJobsArePagedNewestFirst(t *testing.T) {
	t.Parallel()
	b := setupJobs(t)
	b.create(t, "acme")
	var want []int64
	for i := range 5 {
		want = append(want, b.enqueue(t, testArgs{N: i}, "acme", river.InsertOpts{}))
	}
	slices.Reverse(want)

	var got []int64
	path := "/api/v1/jobs?limit=2"
	for range 10 {
		w := b.do(t, "GET", path, "")
		page := decode[jobs.Page](t, w, http.StatusOK)
		got = append(got, jobIDs(page.Jobs)...)
		link := w.Header().Get("Link")
		if page.Next == "" {
			if link != "" {
				t.Fatalf("the last page has a Link: %s", link)
			}
			break
		}
		wantLink := fmt.Sprintf(`</api/v1/jobs?after=%s&limit=2>; rel="next"`, url.QueryEscape(page.Next))
		if link != wantLink {
			t.Fatalf("Link %q, want %q", link, wantLink)
		}
		path = strings.TrimSuffix(strings.TrimPrefix(link, "<"), `>; rel="next"`)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("pages hold %v, want %v", got, want)
	}
	// The default page holds them all.
	if page := decode[jobs.Page](t, b.do(t, "GET", "/api/v1/jobs", ""), http.StatusOK); !slices.Equal(jobIDs(page.Jobs), want) || page.Next != "" {
		t.Fatalf("default page %v next %q", jobIDs(page.Jobs), page.Next)
	}
}

func TestJobsAreFiltered(t *testing.T) {
	t.Parallel()
	b := setupJobs(t)
	acme, globex := b.create(t, "acme"), b.create(t, "globex")
	a1 := b.enqueue(t, testArgs{N: 1}, "acme", river.InsertOpts{})
	g1 := b.enqueue(t, otherArgs{}, "globex", river.InsertOpts{})
	g2 := b.enqueue(t, testArgs{N: 2}, "globex", river.InsertOpts{Pending: true})
	platform := b.enqueue(t, otherArgs{}, "", river.InsertOpts{})
	cases := []struct {
		query string
		want  []int64
	}{
		{"tenant=acme", []int64{a1}},
		{"tenant=" + globex.ID.String(), []int64{g2, g1}},
		{"state=pending", []int64{g2}},
		{"kind=other", []int64{platform, g1}},
		{"tenant=globex&state=available&kind=other", []int64{g1}},
		{"state=completed", []int64{}},
	}
	for _, tc := range cases {
		page := decode[jobs.Page](t, b.do(t, "GET", "/api/v1/jobs?"+tc.query, ""), http.StatusOK)
		if !slices.Equal(jobIDs(page.Jobs), tc.want) {
			t.Errorf("?%s: %v, want %v", tc.query, jobIDs(page.Jobs), tc.want)
		}
	}
	page := decode[jobs.Page](t, b.do(t, "GET", "/api/v1/jobs?tenant=acme", ""), http.StatusOK)
	if j := page.Jobs[0]; j.TenantID != acme.ID.String() || j.Tenant != "acme" {
		t.Fatalf("acme's job names tenant %q %q", j.TenantID, j.Tenant)
	}

	wantProblem(t, b.do(t, "GET", "/api/v1/jobs?tenant=nosuch", ""), http.StatusNotFound, "tenant-not-found")
	wantFields(t, b.do(t, "GET", "/api/v1/jobs?state=lost", ""), "state")
	wantFields(t, b.do(t, "GET", "/api/v1/jobs?limit=0&state=done&after=not-a-cursor", ""), "limit", "state", "after")
	wantFields(t, b.do(t, "GET", "/api/v1/jobs?limit=501", ""), "limit")
	wantFields(t, b.do(t, "GET", "/api/v1/jobs?limit=ten", ""), "limit")
}

// TestAJobAsTheAPIShowsIt: the fields of a job, its errors, and none of
// its metadata but the tenant.
func TestAJobAsTheAPIShowsIt(t *testing.T) {
	t.Parallel()
	b := setupJobs(t)
	acme := b.create(t, "acme")
	id := b.enqueue(t, testArgs{N: 3}, "acme", river.InsertOpts{Queue: "billing", Tags: []string{"invoice"}})
	if _, err := b.pool.Exec(context.Background(), `UPDATE tenantkit_jobs.river_job SET state = 'retryable', attempt = 1, attempted_at = now(),
		errors = ARRAY['{"at":"2026-01-02T03:04:05Z","attempt":1,"error":"smtp: 451 try later","trace":"goroutine 7"}'::jsonb]
		WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	w := b.do(t, "GET", fmt.Sprintf("/api/v1/jobs/%d", id), "")
	if w.Code != http.StatusOK {
		t.Fatalf("GET job: %d %s", w.Code, w.Body)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(w.Body.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"id": fmt.Sprint(id), "kind": `"test"`, "queue": `"billing"`, "state": `"retryable"`,
		"tenant_id": `"` + acme.ID.String() + `"`, "tenant": `"acme"`, "attempt": "1", "max_attempts": "25", "priority": "1",
		"args": `{"N":3}`, "errors": `[{"at":"2026-01-02T03:04:05Z","attempt":1,"error":"smtp: 451 try later"}]`,
		"finalized_at": "null", "tags": `["invoice"]`,
	}
	for k, v := range want {
		if string(raw[k]) != v {
			t.Errorf("%s = %s, want %s", k, raw[k], v)
		}
	}
	for _, k := range []string{"created_at", "scheduled_at", "attempted_at"} {
		if len(raw[k]) < 10 || string(raw[k]) == "null" {
			t.Errorf("%s = %s", k, raw[k])
		}
	}
	if len(raw) != 16 {
		t.Errorf("%d fields, want 16: %s", len(raw), w.Body)
	}
	for _, bad := range []string{"tenantkit_commit", "trace_id", "goroutine"} {
		if strings.Contains(w.Body.String(), bad) {
			t.Errorf("the answer shows %s: %s", bad, w.Body)
		}
	}
}

func TestJobsAreRetriedAndCancelled(t *testing.T) {
	t.Parallel()
	b := setupJobs(t)
	b.create(t, "acme")
	id := b.enqueue(t, testArgs{}, "acme", river.InsertOpts{})
	path := fmt.Sprintf("/api/v1/jobs/%d", id)
	if j := decode[jobs.Job](t, b.do(t, "POST", path+"/cancel", ""), http.StatusOK); j.State != "cancelled" || j.FinalizedAt == nil {
		t.Fatalf("cancelled job %+v", j)
	}
	if j := decode[jobs.Job](t, b.do(t, "POST", path+"/retry", ""), http.StatusOK); j.State != "available" || j.FinalizedAt != nil {
		t.Fatalf("retried job %+v", j)
	}
	pending := b.enqueue(t, testArgs{}, "acme", river.InsertOpts{Pending: true})
	wantProblem(t, b.do(t, "POST", fmt.Sprintf("/api/v1/jobs/%d/retry", pending), ""), http.StatusConflict, "job-state")
	if j := decode[jobs.Job](t, b.do(t, "GET", fmt.Sprintf("/api/v1/jobs/%d", pending), ""), http.StatusOK); j.State != "pending" {
		t.Fatalf("a refused retry left the job %s", j.State)
	}
	for _, p := range []string{"/api/v1/jobs/999999", "/api/v1/jobs/abc", "/api/v1/jobs/0", "/api/v1/jobs/-1"} {
		wantProblem(t, b.do(t, "GET", p, ""), http.StatusNotFound, "job-not-found")
		wantProblem(t, b.do(t, "POST", p+"/retry", ""), http.StatusNotFound, "job-not-found")
		wantProblem(t, b.do(t, "POST", p+"/cancel", ""), http.StatusNotFound, "job-not-found")
	}
	wantProblem(t, b.do(t, "GET", path, "", "Authorization", ""), http.StatusUnauthorized, "unauthorized")
}

// TestJobsNeedAJobsClient: a server without one answers 501 on every jobs
// route.
func TestJobsNeedAJobsClient(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, r := range [][2]string{{"GET", "/api/v1/jobs"}, {"GET", "/api/v1/jobs/1"}, {"POST", "/api/v1/jobs/1/retry"}, {"POST", "/api/v1/jobs/1/cancel"}} {
		wantProblem(t, b.do(t, r[0], r[1], ""), http.StatusNotImplemented, "not-implemented")
	}
}
