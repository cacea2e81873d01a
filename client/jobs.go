package client

import (
	"context"
	"encoding/json"
	"iter"
	"net/http"
	"strconv"
	"time"
)

// States of a job, River's. A job is pending while whatever inserted it
// with River's Pending option holds it; available, scheduled
// (to run later) and retryable (after a failed attempt) while it waits to
// run; running; and at last completed, cancelled or discarded (out of
// attempts).
const (
	JobAvailable = "available"
	JobCancelled = "cancelled"
	JobCompleted = "completed"
	JobDiscarded = "discarded"
	JobPending   = "pending"
	JobRetryable = "retryable"
	JobRunning   = "running"
	JobScheduled = "scheduled"
)

// Job is a background job of the server's queue (River, in the catalog
// database).
type Job struct {
	ID    int64  `json:"id"`
	Kind  string `json:"kind"`
	Queue string `json:"queue"`
	// State is one of the Job… states.
	State string `json:"state"`
	// TenantID and Tenant (the tenant's slug when the job was enqueued)
	// name the tenant the job works for; empty for a job of no tenant.
	TenantID    string `json:"tenant_id,omitempty"`
	Tenant      string `json:"tenant,omitempty"`
	Attempt     int    `json:"attempt"`
	MaxAttempts int    `json:"max_attempts"`
	// Priority is 1 (worked first) to 4.
	Priority int `json:"priority"`
	// Args are the job's arguments, as it was enqueued with them.
	Args json.RawMessage `json:"args"`
	// Errors are the failed attempts, oldest first.
	Errors      []JobError `json:"errors"`
	CreatedAt   time.Time  `json:"created_at"`
	ScheduledAt time.Time  `json:"scheduled_at"`
	AttemptedAt *time.Time `json:"attempted_at"`
	FinalizedAt *time.Time `json:"finalized_at"`
	Tags        []string   `json:"tags"`
}

// JobError is one failed attempt of a job.
type JobError struct {
	At      time.Time `json:"at"`
	Attempt int       `json:"attempt"`
	Error   string    `json:"error"`
}

// JobListParams select jobs, newest first.
type JobListParams struct {
	// Tenant keeps only the jobs of that tenant (id or slug). Defaults to
	// every job, of a tenant or not.
	Tenant string
	// State keeps only the jobs in that state. Defaults to every state.
	State string
	// Kind keeps only the jobs of that kind. Defaults to every kind.
	Kind string
	// Limit is the page size, 1 to 500. Defaults to the server's, 50.
	Limit int
	// After is the Next of the page before. Defaults to the first page.
	After string
}

// JobPage is one page of jobs.
type JobPage struct {
	Jobs []Job `json:"jobs"`
	// Next is the After of the next page, an opaque cursor; empty on the
	// last page.
	Next string `json:"next,omitempty"`
}

func jobPath(id int64) string { return "/api/v1/jobs/" + strconv.FormatInt(id, 10) }

// ListJobs returns one page of jobs.
func (c *Client) ListJobs(ctx context.Context, p JobListParams) (JobPage, error) {
	q := query("tenant", p.Tenant, "state", p.State, "kind", p.Kind, "after", p.After)
	if p.Limit != 0 {
		q.Set("limit", strconv.Itoa(p.Limit))
	}
	var page JobPage
	return page, c.call(ctx, http.MethodGet, "/api/v1/jobs", q, nil, &page)
}

// Jobs iterates over every job p selects, newest first, from p.After on,
// asking for a page of p.Limit at a time. An error ends the iteration.
func (c *Client) Jobs(ctx context.Context, p JobListParams) iter.Seq2[Job, error] {
	return pages(func(after string) ([]Job, string, error) {
		q := p
		q.After = after
		page, err := c.ListJobs(ctx, q)
		return page.Jobs, page.Next, err
	}, p.After)
}

// GetJob returns a job by id.
func (c *Client) GetJob(ctx context.Context, id int64) (Job, error) {
	var j Job
	return j, c.call(ctx, http.MethodGet, jobPath(id), nil, nil, &j)
}

// RetryJob makes a job available to run again at once; one that used all
// its attempts gets one more. A running job is left as it is (the Job
// returned shows it running), and a pending one is refused with a 409
// job-state *Error: it waits for whatever inserted it to release it.
func (c *Client) RetryJob(ctx context.Context, id int64) (Job, error) {
	var j Job
	return j, c.call(ctx, http.MethodPost, jobPath(id)+"/retry", nil, nil, &j)
}

// CancelJob cancels a job: at once when it waits to run; a running job
// stays JobRunning while its worker is told to stop; a finished job is left
// as it is.
func (c *Client) CancelJob(ctx context.Context, id int64) (Job, error) {
	var j Job
	return j, c.call(ctx, http.MethodPost, jobPath(id)+"/cancel", nil, nil, &j)
}
