package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/tenantkit/tenantkit/client"
	"github.com/tenantkit/tenantkit/internal/adminapi"
	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/jobs"
)

type testArgs struct{ N int }

func (testArgs) Kind() string { return "test" }

// jobsBundle is a client of an admin API with a jobs client, and an
// insert-only client of the same queue to enqueue with.
type jobsBundle struct {
	c     *client.Client
	store *catalog.Store
	river *river.Client[pgx.Tx]
}

func setupJobs(t *testing.T) jobsBundle {
	t.Helper()
	store, pool := newCatalog(t)
	rc, err := jobs.NewClient(pool)
	if err != nil {
		t.Fatal(err)
	}
	ts := newServer(t, adminapi.Config{Store: store, Jobs: rc})
	return jobsBundle{c: newClient(t, client.Config{BaseURL: ts.URL}), store: store, river: rc}
}

// enqueue inserts a job of tenant slug, as a tenant job carries it.
func (b jobsBundle) enqueue(t *testing.T, slug string, opts river.InsertOpts) int64 {
	t.Helper()
	tn, err := b.store.GetTenant(context.Background(), slug)
	if err != nil {
		t.Fatal(err)
	}
	opts.Metadata, _ = json.Marshal(map[string]string{"tenant_id": tn.ID.String(), "tenant": slug})
	res, err := b.river.Insert(context.Background(), testArgs{N: 1}, &opts)
	if err != nil {
		t.Fatal(err)
	}
	return res.Job.ID
}

func TestJobs(t *testing.T) {
	t.Parallel()
	b := setupJobs(t)
	ctx := context.Background()
	for _, slug := range []string{"acme", "globex"} {
		if _, err := b.c.CreateTenant(ctx, client.CreateTenantParams{Slug: slug, Name: slug}); err != nil {
			t.Fatal(err)
		}
	}
	var want []int64
	for range 5 {
		want = append(want, b.enqueue(t, "acme", river.InsertOpts{}))
	}
	pending := b.enqueue(t, "globex", river.InsertOpts{Pending: true})
	slices.Reverse(want)

	page, err := b.c.ListJobs(ctx, client.JobListParams{Tenant: "acme", Limit: 2})
	if err != nil || len(page.Jobs) != 2 || page.Next == "" || page.Jobs[0].ID != want[0] || page.Jobs[0].Tenant != "acme" {
		t.Fatalf("first page: %+v %v", page, err)
	}
	var got []int64
	for j, err := range b.c.Jobs(ctx, client.JobListParams{Tenant: "acme", Limit: 2}) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, j.ID)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Jobs: %v, want %v", got, want)
	}
	if page, err := b.c.ListJobs(ctx, client.JobListParams{State: client.JobPending, Kind: "test"}); err != nil ||
		len(page.Jobs) != 1 || page.Jobs[0].ID != pending || page.Next != "" {
		t.Fatalf("pending: %+v %v", page, err)
	}

	j, err := b.c.GetJob(ctx, want[0])
	if err != nil || j.State != client.JobAvailable || j.Kind != "test" || string(j.Args) != `{"N":1}` || j.Errors == nil || j.Tags == nil {
		t.Fatalf("get: %+v %v", j, err)
	}
	if j, err = b.c.CancelJob(ctx, want[0]); err != nil || j.State != client.JobCancelled || j.FinalizedAt == nil {
		t.Fatalf("cancel: %+v %v", j, err)
	}
	if j, err = b.c.RetryJob(ctx, want[0]); err != nil || j.State != client.JobAvailable {
		t.Fatalf("retry: %+v %v", j, err)
	}

	var e *client.Error
	if _, err := b.c.RetryJob(ctx, pending); !errors.As(err, &e) || e.Status != 409 || e.Kind() != "job-state" {
		t.Fatalf("retry of a pending job: %v", err)
	}
	if _, err := b.c.GetJob(ctx, 1<<40); !errors.As(err, &e) || e.Status != 404 || e.Kind() != "job-not-found" {
		t.Fatalf("unknown job: %v", err)
	}
	if _, err := b.c.ListJobs(ctx, client.JobListParams{Tenant: "nosuch"}); !errors.As(err, &e) || e.Kind() != "tenant-not-found" {
		t.Fatalf("unknown tenant: %v", err)
	}
	if _, err := b.c.ListJobs(ctx, client.JobListParams{State: "lost"}); !errors.As(err, &e) || e.Kind() != "invalid-fields" ||
		len(e.Errors) != 1 || e.Errors[0].Field != "state" {
		t.Fatalf("bad state: %v", err)
	}
}
