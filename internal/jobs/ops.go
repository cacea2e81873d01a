package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

var (
	// ErrNotFound: no job has that id.
	ErrNotFound = errors.New("jobs: job not found")
	// ErrPending refuses to retry a pending job: it waits for something
	// (the tenant transaction that enqueued it to be known committed, say),
	// and a retry would run it without.
	ErrPending = errors.New("jobs: the job is pending: it waits for whatever inserted it to release it, so it cannot be retried")
)

// Job is a job as operators see it: River's row with the tenant it carries
// in its metadata, and nothing else of the metadata.
type Job struct {
	ID    int64  `json:"id"`
	Kind  string `json:"kind"`
	Queue string `json:"queue"`
	// State is one of River's job states (States).
	State string `json:"state"`
	// TenantID and Tenant (its slug when the job was enqueued) are empty
	// for a job of no tenant.
	TenantID    string          `json:"tenant_id,omitempty"`
	Tenant      string          `json:"tenant,omitempty"`
	Attempt     int             `json:"attempt"`
	MaxAttempts int             `json:"max_attempts"`
	Priority    int             `json:"priority"`
	Args        json.RawMessage `json:"args"`
	// Errors are the failed attempts, oldest first.
	Errors      []AttemptError `json:"errors"`
	CreatedAt   time.Time      `json:"created_at"`
	ScheduledAt time.Time      `json:"scheduled_at"`
	AttemptedAt *time.Time     `json:"attempted_at"`
	FinalizedAt *time.Time     `json:"finalized_at"`
	Tags        []string       `json:"tags"`
}

// AttemptError is one failed attempt of a job, without the stack trace
// River keeps of a panic.
type AttemptError struct {
	At      time.Time `json:"at"`
	Attempt int       `json:"attempt"`
	Error   string    `json:"error"`
}

// View returns row as operators see it.
func View(row *rivertype.JobRow) Job {
	j := Job{
		ID: row.ID, Kind: row.Kind, Queue: row.Queue, State: string(row.State),
		Attempt: row.Attempt, MaxAttempts: row.MaxAttempts, Priority: row.Priority,
		Args: compact(row.EncodedArgs), Errors: make([]AttemptError, len(row.Errors)),
		CreatedAt: row.CreatedAt, ScheduledAt: row.ScheduledAt, AttemptedAt: row.AttemptedAt, FinalizedAt: row.FinalizedAt,
		Tags: row.Tags,
	}
	if j.Tags == nil {
		j.Tags = []string{}
	}
	for i, e := range row.Errors {
		j.Errors[i] = AttemptError{At: e.At, Attempt: e.Attempt, Error: e.Error}
	}
	j.TenantID, j.Tenant = tenantOf(row.Metadata)
	return j
}

// compact is args as one line of JSON, as the server's answers have them
// (PostgreSQL writes jsonb with spaces); null if they are not JSON, which
// River never stores, rather than a broken answer.
func compact(args []byte) json.RawMessage {
	var b bytes.Buffer
	if json.Compact(&b, args) != nil {
		return json.RawMessage("null")
	}
	return b.Bytes()
}

// tenantOf reads the tenant a job's metadata names. A tenant_id that is not
// a uuid names none.
func tenantOf(metadata []byte) (id, slug string) {
	var md struct {
		TenantID any `json:"tenant_id"`
		Tenant   any `json:"tenant"`
	}
	if json.Unmarshal(metadata, &md) != nil {
		return "", ""
	}
	s, _ := md.TenantID.(string)
	u, err := uuid.Parse(s)
	if err != nil {
		return "", ""
	}
	slug, _ = md.Tenant.(string)
	return u.String(), slug
}

// States are River's job states.
func States() []string {
	out := make([]string, 0, 8)
	for _, s := range rivertype.JobStates() {
		out = append(out, string(s))
	}
	return out
}

// IsState reports whether s is one of River's job states.
func IsState(s string) bool { return slices.Contains(States(), s) }

// Page sizes of List.
const (
	DefaultLimit = 50
	MaxLimit     = 500
)

// ListParams select jobs, newest first.
type ListParams struct {
	// TenantID keeps the jobs whose metadata names this tenant. Defaults
	// to uuid.Nil: every job, of a tenant or not.
	TenantID uuid.UUID
	// State keeps the jobs in this state (IsState). Defaults to every
	// state.
	State string
	// Kind keeps the jobs of this kind. Defaults to every kind.
	Kind string
	// Limit is the page size, 1 to MaxLimit. Defaults to DefaultLimit.
	Limit int
	// After is the Next of the page before. Defaults to the first page.
	After *river.JobListCursor
}

// Page is one page of jobs.
type Page struct {
	Jobs []Job `json:"jobs"`
	// Next is the cursor of the next page: River's JobListCursor as text.
	// Empty on the last page.
	Next string `json:"next,omitempty"`
}

// List returns a page of the jobs p selects, newest (highest id) first.
func List(ctx context.Context, c *river.Client[pgx.Tx], p ListParams) (Page, error) {
	limit := p.Limit
	if limit == 0 {
		limit = DefaultLimit
	}
	if limit < 1 || limit > MaxLimit {
		return Page{}, fmt.Errorf("jobs: limit %d is not between 1 and %d", limit, MaxLimit)
	}
	// One more than the page shows whether another page follows.
	q := river.NewJobListParams().OrderBy(river.JobListOrderByID, river.SortOrderDesc).First(limit + 1)
	if p.TenantID != uuid.Nil {
		frag, _ := json.Marshal(map[string]string{"tenant_id": p.TenantID.String()})
		q = q.Metadata(string(frag))
	}
	if p.State != "" {
		if !IsState(p.State) {
			return Page{}, fmt.Errorf("jobs: no job state %q", p.State)
		}
		q = q.States(rivertype.JobState(p.State))
	}
	if p.Kind != "" {
		q = q.Kinds(p.Kind)
	}
	if p.After != nil {
		q = q.After(p.After)
	}
	res, err := c.JobList(ctx, q)
	if err != nil {
		return Page{}, fmt.Errorf("jobs: list: %w", err)
	}
	page := Page{Jobs: make([]Job, 0, min(len(res.Jobs), limit))}
	for _, row := range res.Jobs[:min(len(res.Jobs), limit)] {
		page.Jobs = append(page.Jobs, View(row))
	}
	if len(res.Jobs) > limit {
		if page.Jobs, page.Next, err = nextPage(ctx, c, page.Jobs); err != nil {
			return Page{}, err
		}
	}
	return page, nil
}

// nextPage returns the cursor that continues a newest-first list after the
// last of jobs. River marshals only the cursors of its own answers, so it
// is asked for a list of that one job. A job deleted since it was read
// (River's cleaner deletes old finished jobs) is left off the page, and
// the page ends at the one before it.
func nextPage(ctx context.Context, c *river.Client[pgx.Tx], jobs []Job) ([]Job, string, error) {
	for len(jobs) > 0 {
		last := jobs[len(jobs)-1].ID
		res, err := c.JobList(ctx, river.NewJobListParams().OrderBy(river.JobListOrderByID, river.SortOrderDesc).IDs(last).First(1))
		if err != nil {
			return nil, "", fmt.Errorf("jobs: list: next page: %w", err)
		}
		if res.LastCursor == nil {
			jobs = jobs[:len(jobs)-1]
			continue
		}
		b, err := res.LastCursor.MarshalText()
		if err != nil {
			return nil, "", fmt.Errorf("jobs: list: next page: %w", err)
		}
		return jobs, string(b), nil
	}
	return nil, "", errors.New("jobs: list: every job of the page was deleted while it was read; ask again")
}

// ParseCursor reads the Next of a page.
func ParseCursor(s string) (*river.JobListCursor, error) {
	c := &river.JobListCursor{}
	if err := c.UnmarshalText([]byte(s)); err != nil {
		return nil, fmt.Errorf("jobs: cursor %q: %w", s, err)
	}
	return c, nil
}

// ParseID reads a job id; anything but a positive integer names no job
// (ErrNotFound).
func ParseID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id < 1 {
		return 0, ErrNotFound
	}
	return id, nil
}

// Get returns job id.
func Get(ctx context.Context, c *river.Client[pgx.Tx], id int64) (Job, error) {
	return viewOf(c.JobGet(ctx, id))
}

// Retry makes job id available to run again at once, as River's JobRetry
// does: a running job is left as it is, a job that used its attempts gets
// one more. A pending job is refused with ErrPending.
func Retry(ctx context.Context, c *river.Client[pgx.Tx], id int64) (Job, error) {
	// Nothing makes a job pending once it has left that state, so what the
	// read sees holds for the retry.
	j, err := Get(ctx, c, id)
	if err != nil {
		return Job{}, err
	}
	if j.State == string(rivertype.JobStatePending) {
		return Job{}, ErrPending
	}
	return viewOf(c.JobRetry(ctx, id))
}

// Cancel cancels job id, as River's JobCancel does: a job waiting to run is
// cancelled at once, a running one is asked to stop (its worker's context
// is cancelled), and a finished one is left as it is.
func Cancel(ctx context.Context, c *river.Client[pgx.Tx], id int64) (Job, error) {
	return viewOf(c.JobCancel(ctx, id))
}

func viewOf(row *rivertype.JobRow, err error) (Job, error) {
	switch {
	case errors.Is(err, rivertype.ErrNotFound):
		return Job{}, ErrNotFound
	case err != nil:
		return Job{}, fmt.Errorf("jobs: %w", err)
	}
	return View(row), nil
}
