package adminapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/jobs"
	"github.com/tenantkit/tenantkit/internal/problem"
)

// JobQuery is a list of jobs as the admin API and the CLI ask for it,
// before it is checked.
type JobQuery struct {
	// Tenant is a tenant's id or slug; "" for every job.
	Tenant string
	// State is one of River's job states; "" for every state.
	State string
	// Kind is a job kind; "" for every kind.
	Kind string
	// Limit is the page size, 1 to 500; 0 for the default, 50.
	Limit int
	// After is the next of the page before; "" for the first page.
	After string
}

// ListJobs lists the jobs q selects, newest first, after checking q (every
// bad field named at once, as invalid fields) and resolving its tenant in
// the catalog (an unknown one is catalog.ErrTenantNotFound).
func ListJobs(ctx context.Context, store *catalog.Store, c *river.Client[pgx.Tx], q JobQuery) (jobs.Page, error) {
	p := jobs.ListParams{State: q.State, Kind: q.Kind, Limit: q.Limit}
	var bad []catalog.FieldError
	if q.Limit < 0 || q.Limit > jobs.MaxLimit {
		bad = append(bad, catalog.FieldError{Field: "limit", Message: "must be a whole number between 1 and 500"})
	}
	if q.State != "" && !jobs.IsState(q.State) {
		bad = append(bad, catalog.FieldError{Field: "state", Message: "must be one of " + strings.Join(jobs.States(), ", ")})
	}
	if q.After != "" {
		var err error
		if p.After, err = jobs.ParseCursor(q.After); err != nil {
			bad = append(bad, catalog.FieldError{Field: "after", Message: "must be the next of a page of jobs"})
		}
	}
	if len(bad) > 0 {
		return jobs.Page{}, &catalog.ValidationError{Fields: bad}
	}
	if q.Tenant != "" {
		t, err := store.GetTenant(ctx, q.Tenant)
		if err != nil {
			return jobs.Page{}, err
		}
		p.TenantID = t.ID
	}
	return jobs.List(ctx, c, p)
}

func (a *API) needJobs(w http.ResponseWriter, r *http.Request) bool {
	if a.jobs == nil {
		problem.Write(w, r, problem.New(http.StatusNotImplemented, problem.NotImplemented,
			"this server has no client of the jobs queue"))
		return false
	}
	return true
}

// listJobs lists jobs newest first, a keyset page at a time.
func (a *API) listJobs(w http.ResponseWriter, r *http.Request) {
	if !a.needJobs(w, r) {
		return
	}
	v := r.URL.Query()
	q := JobQuery{Tenant: v.Get("tenant"), State: v.Get("state"), Kind: v.Get("kind"), After: v.Get("after")}
	if s := v.Get("limit"); s != "" {
		// ListJobs reads 0 as "default": an explicit 0, or no number, is
		// sent on as out of range.
		if n, err := strconv.Atoi(s); err == nil && n >= 1 {
			q.Limit = n
		} else {
			q.Limit = -1
		}
	}
	page, err := ListJobs(r.Context(), a.store, a.jobs, q)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	linkNext(w, r, page.Next)
	writeJSON(w, http.StatusOK, page)
}

func (a *API) getJob(w http.ResponseWriter, r *http.Request) { a.onJob(w, r, jobs.Get) }

func (a *API) retryJob(w http.ResponseWriter, r *http.Request) { a.onJob(w, r, jobs.Retry) }

func (a *API) cancelJob(w http.ResponseWriter, r *http.Request) { a.onJob(w, r, jobs.Cancel) }

// onJob answers with what fn makes of the job the path names. An id that
// is not a job id names no job: 404, as an unknown one.
func (a *API) onJob(w http.ResponseWriter, r *http.Request, fn func(context.Context, *river.Client[pgx.Tx], int64) (jobs.Job, error)) {
	if !a.needJobs(w, r) {
		return
	}
	id, err := jobs.ParseID(r.PathValue("id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	j, err := fn(r.Context(), a.jobs, id)
	a.respond(w, r, j, err)
}

// jobProblem maps the jobs package's errors; ok is false for others.
func jobProblem(err error) (*problem.Problem, bool) {
	switch {
	case errors.Is(err, jobs.ErrNotFound):
		return problem.New(http.StatusNotFound, problem.JobNotFound, "no such job"), true
	case errors.Is(err, jobs.ErrPending):
		return problem.New(http.StatusConflict, problem.JobState,
			"the job is pending: it waits for whatever inserted it to release it, so it cannot be retried"), true
	}
	return nil, false
}
