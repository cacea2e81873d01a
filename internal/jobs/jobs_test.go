package jobs_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/tenantkit/tenantkit/internal/jobs"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

func TestMain(m *testing.M) { tenantkittest.Main(m) }

type testArgs struct{ N int }

func (testArgs) Kind() string { return "test" }

type otherArgs struct{}

func (otherArgs) Kind() string { return "other" }

type bundle struct {
	pool *pgxpool.Pool
	c    *river.Client[pgx.Tx]
}

// setup gives the test a migrated catalog (River's schema included) and an
// insert-only client of it, over a pool whose queries must name their
// schema.
func setup(t *testing.T) bundle {
	t.Helper()
	db := tenantkittest.NewCatalog(t)
	cfg, err := pgxpool.ParseConfig(db.OwnerDSN())
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = ""
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	c, err := jobs.NewClient(pool)
	if err != nil {
		t.Fatal(err)
	}
	return bundle{pool: pool, c: c}
}

// insert enqueues args for tenant (uuid.Nil: none) with opts.
func (b bundle) insert(t *testing.T, args river.JobArgs, tenant uuid.UUID, slug string, opts river.InsertOpts) int64 {
	t.Helper()
	md := map[string]any{"trace_id": "abc", "tenantkit_commit": map[string]any{"xid": 42}}
	if tenant != uuid.Nil {
		md["tenant_id"], md["tenant"] = tenant.String(), slug
	}
	opts.Metadata, _ = json.Marshal(md)
	res, err := b.c.Insert(context.Background(), args, &opts)
	if err != nil {
		t.Fatal(err)
	}
	return res.Job.ID
}

func ids(js []jobs.Job) []int64 {
	out := make([]int64, len(js))
	for i, j := range js {
		out[i] = j.ID
	}
	return out
}

func TestListPagesNewestFirstWithFilters(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	acme, globex := uuid.New(), uuid.New()
	var all []int64
	for i := range 5 {
		all = append(all, b.insert(t, testArgs{N: i}, acme, "acme", river.InsertOpts{}))
	}
	later := b.insert(t, otherArgs{}, globex, "globex", river.InsertOpts{ScheduledAt: time.Now().Add(time.Hour)})
	pending := b.insert(t, testArgs{N: 9}, globex, "globex", river.InsertOpts{Pending: true})
	none := b.insert(t, otherArgs{}, uuid.Nil, "", river.InsertOpts{})
	all = append(all, later, pending, none)
	slices.Reverse(all)

	// Every page of 3, following Next.
	var got []int64
	var p jobs.ListParams
	p.Limit = 3
	for pages := 0; ; pages++ {
		page, err := jobs.List(ctx, b.c, p)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ids(page.Jobs)...)
		if page.Next == "" {
			if pages != 2 {
				t.Fatalf("%d pages, want 3", pages+1)
			}
			break
		}
		if len(page.Jobs) != 3 {
			t.Fatalf("a page before the last holds %d jobs", len(page.Jobs))
		}
		if p.After, err = jobs.ParseCursor(page.Next); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(got, all) {
		t.Fatalf("pages hold %v, want %v", got, all)
	}

	cases := []struct {
		name string
		p    jobs.ListParams
		want []int64
	}{
		{"tenant", jobs.ListParams{TenantID: globex}, []int64{pending, later}},
		{"state", jobs.ListParams{State: "scheduled"}, []int64{later}},
		{"pending", jobs.ListParams{State: "pending"}, []int64{pending}},
		{"kind", jobs.ListParams{Kind: "other"}, []int64{none, later}},
		{"all three", jobs.ListParams{TenantID: globex, State: "pending", Kind: "test"}, []int64{pending}},
		{"no match", jobs.ListParams{TenantID: acme, Kind: "other"}, []int64{}},
	}
	for _, tc := range cases {
		page, err := jobs.List(ctx, b.c, tc.p)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !slices.Equal(ids(page.Jobs), tc.want) || page.Next != "" {
			t.Errorf("%s: %v next %q, want %v", tc.name, ids(page.Jobs), page.Next, tc.want)
		}
	}
	if _, err := jobs.List(ctx, b.c, jobs.ListParams{State: "lost"}); err == nil {
		t.Error("a state River does not have was listed")
	}
	if _, err := jobs.ParseCursor("not a cursor!"); err == nil {
		t.Error("a malformed cursor was read")
	}
}

// TestAJobShowsItsTenantAndNoOtherMetadata: the view carries the tenant
// of the metadata, and none of the rest (trace ids, the commit marker).
func TestAJobShowsItsTenantAndNoOtherMetadata(t *testing.T) {
	t.Parallel()
	b := setup(t)
	acme := uuid.New()
	id := b.insert(t, testArgs{N: 7}, acme, "acme", river.InsertOpts{Tags: []string{"billing"}, MaxAttempts: 3, Priority: 2})
	j, err := jobs.Get(context.Background(), b.c, id)
	if err != nil {
		t.Fatal(err)
	}
	if j.TenantID != acme.String() || j.Tenant != "acme" || j.Kind != "test" || j.State != "available" ||
		j.MaxAttempts != 3 || j.Priority != 2 || !slices.Equal(j.Tags, []string{"billing"}) || !jsonEqual(j.Args, `{"N":7}`) {
		t.Fatalf("job %+v", j)
	}
	out, _ := json.Marshal(j)
	var keys map[string]any
	_ = json.Unmarshal(out, &keys)
	for _, k := range []string{"metadata", "trace_id", "tenantkit_commit"} {
		if _, ok := keys[k]; ok {
			t.Errorf("the view shows %s: %s", k, out)
		}
	}
	if keys["errors"] == nil || keys["tags"] == nil {
		t.Errorf("errors and tags must be lists: %s", out)
	}
}

func TestViewOfAFailedJob(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cases := []struct {
		name     string
		metadata string
		wantID   string
	}{
		{"tenant", `{"tenant_id":"7d1e5c5e-4d55-4d2b-9a38-0a7f0b7a2f10","tenant":"acme"}`, "7d1e5c5e-4d55-4d2b-9a38-0a7f0b7a2f10"},
		{"no tenant", `{}`, ""},
		{"not a uuid", `{"tenant_id":"acme","tenant":"acme"}`, ""},
		{"not a string", `{"tenant_id":42}`, ""},
		{"not an object", `[]`, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			j := jobs.View(&rivertype.JobRow{ID: 1, Kind: "test", State: rivertype.JobStateRetryable, Metadata: []byte(tc.metadata),
				EncodedArgs: []byte(`{}`), Errors: []rivertype.AttemptError{{At: at, Attempt: 1, Error: "boom", Trace: "goroutine 1"}}})
			if j.TenantID != tc.wantID {
				t.Fatalf("tenant id %q, want %q", j.TenantID, tc.wantID)
			}
			if len(j.Errors) != 1 || j.Errors[0] != (jobs.AttemptError{At: at, Attempt: 1, Error: "boom"}) {
				t.Fatalf("errors %+v", j.Errors)
			}
		})
	}
}

func TestRetryAndCancel(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	id := b.insert(t, testArgs{}, uuid.New(), "acme", river.InsertOpts{})
	j, err := jobs.Cancel(ctx, b.c, id)
	if err != nil || j.State != "cancelled" || j.FinalizedAt == nil {
		t.Fatalf("cancel: %+v %v", j, err)
	}
	if j, err = jobs.Retry(ctx, b.c, id); err != nil || j.State != "available" || j.FinalizedAt != nil {
		t.Fatalf("retry: %+v %v", j, err)
	}
	pending := b.insert(t, testArgs{}, uuid.New(), "acme", river.InsertOpts{Pending: true})
	if _, err := jobs.Retry(ctx, b.c, pending); !errors.Is(err, jobs.ErrPending) {
		t.Fatalf("retry of a pending job: %v, want ErrPending", err)
	}
	if j, _ := jobs.Get(ctx, b.c, pending); j.State != "pending" {
		t.Fatalf("a refused retry left the job %s", j.State)
	}
	for _, f := range []func(context.Context, *river.Client[pgx.Tx], int64) (jobs.Job, error){jobs.Get, jobs.Retry, jobs.Cancel} {
		if _, err := f(ctx, b.c, 1<<40); !errors.Is(err, jobs.ErrNotFound) {
			t.Fatalf("unknown job: %v, want ErrNotFound", err)
		}
	}
}

func TestParseID(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "0", "-1", "1.5", "abc", "99999999999999999999"} {
		if _, err := jobs.ParseID(s); !errors.Is(err, jobs.ErrNotFound) {
			t.Errorf("ParseID(%q): %v, want ErrNotFound", s, err)
		}
	}
	if id, err := jobs.ParseID("42"); id != 42 || err != nil {
		t.Errorf("ParseID(42): %d %v", id, err)
	}
}

func TestCollectorReportsQueueDepthAndAge(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	acme := uuid.New()
	for range 3 {
		b.insert(t, testArgs{}, acme, "acme", river.InsertOpts{})
	}
	b.insert(t, testArgs{}, acme, "acme", river.InsertOpts{Pending: true})
	b.insert(t, testArgs{}, acme, "acme", river.InsertOpts{Queue: "email", ScheduledAt: time.Now().Add(time.Hour)})
	done := b.insert(t, testArgs{}, acme, "acme", river.InsertOpts{Queue: "email"})
	if _, err := jobs.Cancel(ctx, b.c, done); err != nil {
		t.Fatal(err)
	}
	// The oldest available job of default has waited a minute.
	if _, err := b.pool.Exec(ctx, `UPDATE tenantkit_jobs.river_job SET scheduled_at = now() - interval '60 seconds'
		WHERE id = (SELECT min(id) FROM tenantkit_jobs.river_job)`); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(jobs.Collector(b.pool))
	got := gather(t, reg)
	want := map[string]float64{
		"tenantkit_jobs_queue_depth{queue=default,state=available}": 3,
		"tenantkit_jobs_queue_depth{queue=default,state=pending}":   1,
		"tenantkit_jobs_queue_depth{queue=default,state=scheduled}": 0,
		"tenantkit_jobs_queue_depth{queue=default,state=retryable}": 0,
		"tenantkit_jobs_queue_depth{queue=default,state=running}":   0,
		"tenantkit_jobs_queue_depth{queue=email,state=available}":   0,
		"tenantkit_jobs_queue_depth{queue=email,state=pending}":     0,
		"tenantkit_jobs_queue_depth{queue=email,state=scheduled}":   1,
		"tenantkit_jobs_queue_depth{queue=email,state=retryable}":   0,
		"tenantkit_jobs_queue_depth{queue=email,state=running}":     0,
		"tenantkit_jobs_oldest_available_age_seconds{queue=email}":  0,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (reported %v), want %v", k, g, ok, v)
		}
	}
	age := got["tenantkit_jobs_oldest_available_age_seconds{queue=default}"]
	if age < 59 || age > 120 {
		t.Errorf("oldest available age of default %v, want about 60", age)
	}
	if len(got) != len(want)+1 {
		t.Errorf("%d series, want %d: %v", len(got), len(want)+1, got)
	}
}

// gather renders every series of reg as name{label=value,…} → value.
func gather(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName() + "{"
			for i, l := range m.GetLabel() {
				if i > 0 {
					key += ","
				}
				key += fmt.Sprintf("%s=%s", l.GetName(), l.GetValue())
			}
			out[key+"}"] = m.GetGauge().GetValue()
		}
	}
	return out
}

func jsonEqual(a json.RawMessage, b string) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal([]byte(b), &y) == nil && fmt.Sprint(x) == fmt.Sprint(y)
}
