package cli

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/contract"
	"github.com/tenantkit/tenantkit/internal/jobs"
	"github.com/tenantkit/tenantkit/internal/pgcluster"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

type countArgs struct{ N int }

func (countArgs) Kind() string { return "count" }

type emailArgs struct{ To string }

func (emailArgs) Kind() string { return "send_email" }

// seedJobs gives db's catalog tenants acme and globex and six jobs, ids 1
// to 6: 1 acme count available, 2 acme send_email retryable after a failed
// attempt, 3 globex count running, 4 globex count pending (its
// transaction not yet known committed), 5 a platform send_email completed,
// 6 acme count scheduled in an hour. It returns the catalog's jobs client.
func seedJobs(t *testing.T, db *tenantkittest.Database) *river.Client[pgx.Tx] {
	t.Helper()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, db.OwnerDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	store, err := catalog.NewStore(catalog.StoreConfig{Pool: pool})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	for _, slug := range []string{"acme", "globex"} {
		tn, err := store.CreateTenant(ctx, "test", catalog.CreateParams{Slug: slug, Name: slug})
		if err != nil {
			t.Fatal(err)
		}
		ids[slug] = tn.ID.String()
	}
	rc, err := jobs.NewClient(pool)
	if err != nil {
		t.Fatal(err)
	}
	insert := func(args river.JobArgs, slug string, opts river.InsertOpts, set string) {
		t.Helper()
		md := map[string]any{}
		if slug != "" {
			md = map[string]any{"tenant_id": ids[slug], "tenant": slug, "tenantkit_commit": map[string]any{"xid": 1234}}
		}
		opts.Metadata, _ = json.Marshal(md)
		res, err := rc.Insert(ctx, args, &opts)
		if err != nil {
			t.Fatal(err)
		}
		if set != "" {
			if _, err := pool.Exec(ctx, "UPDATE tenantkit_jobs.river_job SET "+set+" WHERE id = $1", res.Job.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	insert(countArgs{N: 1}, "acme", river.InsertOpts{}, "")
	insert(emailArgs{To: "ops@acme.example"}, "acme", river.InsertOpts{Queue: "email", Tags: []string{"billing"}},
		`state = 'retryable', attempt = 1, attempted_at = now(), scheduled_at = now() + interval '30 seconds',
		errors = ARRAY['{"at":"2026-01-02T03:04:05Z","attempt":1,"error":"smtp: 451 4.7.1 try again later","trace":""}'::jsonb]`)
	insert(countArgs{N: 3}, "globex", river.InsertOpts{}, "state = 'running', attempt = 1, attempted_at = now()")
	insert(countArgs{N: 4}, "globex", river.InsertOpts{Pending: true}, "")
	insert(emailArgs{To: "billing@platform.example"}, "", river.InsertOpts{Queue: "email"},
		"state = 'completed', attempt = 1, attempted_at = now(), finalized_at = now()")
	insert(countArgs{N: 6}, "acme", river.InsertOpts{ScheduledAt: time.Now().Add(time.Hour)}, "")
	return rc
}

func jobSteps(next string) []step {
	return []step{
		{"jobs_list", []string{"jobs", "list"}, exitOK},
		{"jobs_list_json", []string{"jobs", "list", "--tenant", "acme", "-o", "json"}, exitOK},
		{"jobs_list_page", []string{"jobs", "list", "--limit", "2"}, exitOK},
		{"jobs_list_next_page", []string{"jobs", "list", "--limit", "2", "--after", next}, exitOK},
		{"jobs_list_filtered", []string{"jobs", "list", "--tenant", "globex", "--state", "pending", "--kind", "count"}, exitOK},
		{"jobs_list_kind", []string{"jobs", "list", "--kind", "send_email"}, exitOK},
		{"jobs_list_unknown_tenant", []string{"jobs", "list", "--tenant", "nosuch"}, exitError},
		{"jobs_list_bad_state", []string{"jobs", "list", "--state", "lost"}, exitError},
		{"jobs_list_bad_cursor", []string{"jobs", "list", "--after", "nope"}, exitError},
		{"jobs_list_bad_limit", []string{"jobs", "list", "--limit", "0"}, exitUsage},
		{"jobs_show", []string{"jobs", "show", "2"}, exitOK},
		{"jobs_show_json", []string{"jobs", "show", "2", "-o", "json"}, exitOK},
		{"jobs_show_platform", []string{"jobs", "show", "5"}, exitOK},
		{"jobs_show_unknown", []string{"jobs", "show", "99"}, exitError},
		{"jobs_show_not_an_id", []string{"jobs", "show", "acme"}, exitError},
		{"jobs_show_args", []string{"jobs", "show"}, exitUsage},
		{"jobs_cancel", []string{"jobs", "cancel", "1"}, exitOK},
		{"jobs_retry", []string{"jobs", "retry", "1"}, exitOK},
		{"jobs_retry_json", []string{"jobs", "retry", "2", "-o", "json"}, exitOK},
		{"jobs_retry_pending", []string{"jobs", "retry", "4"}, exitError},
		{"jobs_retry_running", []string{"jobs", "retry", "3"}, exitOK},
		{"jobs_cancel_running", []string{"jobs", "cancel", "3"}, exitOK},
		{"jobs_cancel_completed", []string{"jobs", "cancel", "5"}, exitOK},
		{"jobs_retry_unknown", []string{"jobs", "retry", "99"}, exitError},
	}
}

// TestJobsGolden runs the jobs commands on the same six jobs, against the
// catalog and through a server.
func TestJobsGolden(t *testing.T) {
	t.Parallel()
	direct, db := directTarget(t)
	rc := seedJobs(t, db)
	// The cursor after the first page of two: ids are the same in both
	// catalogs, and so is it.
	page, err := jobs.List(context.Background(), rc, jobs.ListParams{Limit: 2})
	if err != nil || page.Next == "" {
		t.Fatalf("first page: %+v %v", page, err)
	}
	checkModes(t, jobSteps(page.Next), map[string]func(*testing.T) target{
		"direct": func(*testing.T) target { return direct },
		"http": func(t *testing.T) target {
			db := tenantkittest.NewCatalog(t)
			seedJobs(t, db)
			return httpTargetOn(t, db)
		},
	})
}

// TestServeReportsJobsAndServesRiverUI: tenantkit serve reports the
// queues' depth on /metrics and serves River's UI at /admin/jobs/ to the
// admin token, as a browser sends it.
func TestServeReportsJobsAndServesRiverUI(t *testing.T) {
	t.Parallel()
	db := tenantkittest.NewCatalog(t)
	seedJobs(t, db)
	port, err := pgcluster.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	const token = "serve-jobs-token-0123456789"
	vars := map[string]string{"TENANTKIT_DATABASE_URL": db.OwnerDSN(), "TENANTKIT_ADMIN_TOKEN": token}
	ctx, cancel := context.WithCancel(context.Background())
	stderr := &tenantkittest.SyncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--addr", addr}, env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: stderr, getenv: mapEnv(vars)})
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != exitOK {
			t.Errorf("serve exited %d:\n%s", code, stderr)
		}
	})
	c := &http.Client{Timeout: 5 * time.Second, Transport: contract.Transport(t, nil)}
	get := func(path string, basic bool) (int, http.Header, string) {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
		if basic {
			req.SetBasicAuth("admin", token)
		} else {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := c.Do(req)
		if err != nil {
			return 0, nil, ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		if code, _, _ := get("/readyz", false); code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve not ready on %s after a minute:\n%s", addr, stderr)
		}
	}
	code, _, metrics := get("/metrics", false)
	for _, want := range []string{
		`tenantkit_jobs_queue_depth{queue="default",state="available"} 1`,
		`tenantkit_jobs_queue_depth{queue="default",state="running"} 1`,
		`tenantkit_jobs_queue_depth{queue="default",state="pending"} 1`,
		`tenantkit_jobs_queue_depth{queue="default",state="scheduled"} 1`,
		`tenantkit_jobs_queue_depth{queue="email",state="retryable"} 1`,
		`tenantkit_jobs_oldest_available_age_seconds{queue="default"}`,
	} {
		if code != http.StatusOK || !strings.Contains(metrics, want) {
			t.Fatalf("/metrics (%d) lacks %s:\n%s", code, want, metrics)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/admin/jobs/", nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != `Basic realm="tenantkit"` {
		t.Fatalf("/admin/jobs/ without the token: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	if code, h, body := get("/admin/jobs/", true); code != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
		t.Fatalf("/admin/jobs/: %d %s %.200s", code, h.Get("Content-Type"), body)
	}
	if code, _, body := get("/admin/jobs/api/jobs?state=pending", true); code != http.StatusOK || !strings.Contains(body, `"id":4`) {
		t.Fatalf("/admin/jobs/api/jobs?state=pending: %d %s", code, body)
	}
}
