package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/spf13/cobra"

	"github.com/tenantkit/tenantkit/client"
	"github.com/tenantkit/tenantkit/internal/adminapi"
	"github.com/tenantkit/tenantkit/internal/jobs"
)

// jobOps is what the jobs commands need, served either by the catalog's
// jobs queue directly or by a server's admin API.
type jobOps interface {
	ListJobs(ctx context.Context, q adminapi.JobQuery) (jobs.Page, error)
	GetJob(ctx context.Context, id string) (jobs.Job, error)
	RetryJob(ctx context.Context, id string) (jobs.Job, error)
	CancelJob(ctx context.Context, id string) (jobs.Job, error)
}

var (
	_ jobOps = directOps{}
	_ jobOps = apiOps{}
)

func connectJobs(ctx context.Context, g *globals) (jobOps, func(), error) {
	ops, done, err := connect(ctx, g)
	if err != nil {
		return nil, nil, err
	}
	d, ok := ops.(directOps)
	if !ok {
		return ops.(jobOps), done, nil
	}
	if d.jobs, err = jobs.NewClient(d.pool); err != nil {
		done()
		return nil, nil, err
	}
	return d, done, nil
}

func (d directOps) ListJobs(ctx context.Context, q adminapi.JobQuery) (jobs.Page, error) {
	page, err := adminapi.ListJobs(ctx, d.store, d.jobs, q)
	return page, problemErr(err)
}

func (d directOps) GetJob(ctx context.Context, id string) (jobs.Job, error) {
	return d.onJob(ctx, id, jobs.Get)
}

func (d directOps) RetryJob(ctx context.Context, id string) (jobs.Job, error) {
	return d.onJob(ctx, id, jobs.Retry)
}

func (d directOps) CancelJob(ctx context.Context, id string) (jobs.Job, error) {
	return d.onJob(ctx, id, jobs.Cancel)
}

// onJob runs fn on the job id names; an id that is not a job id names no
// job, as the admin API answers.
func (d directOps) onJob(ctx context.Context, id string, fn func(context.Context, *river.Client[pgx.Tx], int64) (jobs.Job, error)) (jobs.Job, error) {
	n, err := jobs.ParseID(id)
	if err != nil {
		return jobs.Job{}, problemErr(err)
	}
	j, err := fn(ctx, d.jobs, n)
	return j, problemErr(err)
}

func (a apiOps) ListJobs(ctx context.Context, q adminapi.JobQuery) (jobs.Page, error) {
	page, err := a.c.ListJobs(ctx, client.JobListParams{Tenant: q.Tenant, State: q.State, Kind: q.Kind, Limit: q.Limit, After: q.After})
	return conv[jobs.Page](page, err)
}

func (a apiOps) GetJob(ctx context.Context, id string) (jobs.Job, error) {
	return a.onJob(ctx, id, a.c.GetJob)
}

func (a apiOps) RetryJob(ctx context.Context, id string) (jobs.Job, error) {
	return a.onJob(ctx, id, a.c.RetryJob)
}

func (a apiOps) CancelJob(ctx context.Context, id string) (jobs.Job, error) {
	return a.onJob(ctx, id, a.c.CancelJob)
}

// onJob runs fn on the job id names. An id that is not a job id is refused
// here, as the server would: the client takes only numbers.
func (a apiOps) onJob(ctx context.Context, id string, fn func(context.Context, int64) (client.Job, error)) (jobs.Job, error) {
	n, err := jobs.ParseID(id)
	if err != nil {
		return jobs.Job{}, problemErr(err)
	}
	j, err := fn(ctx, n)
	return conv[jobs.Job](j, err)
}

func newJobs(e env, g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "jobs", Short: "List, inspect, retry and cancel background jobs (River, in the catalog database)"}
	cmd.AddCommand(jobsList(e, g), jobsShow(e, g), jobsRetry(e, g), jobsCancel(e, g))
	return group(cmd)
}

func jobsList(e env, g *globals) *cobra.Command {
	var q adminapi.JobQuery
	cmd := &cobra.Command{
		Use:   "list [--tenant ID|SLUG] [--state STATE] [--kind KIND] [--limit N] [--after CURSOR]",
		Short: "List jobs, newest first, a page at a time",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if q.Limit < 1 || q.Limit > jobs.MaxLimit {
				return usageError{fmt.Errorf("--limit must be between 1 and %d, not %d", jobs.MaxLimit, q.Limit)}
			}
			ops, done, err := connectJobs(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer done()
			page, err := ops.ListJobs(cmd.Context(), q)
			if err != nil {
				return err
			}
			return printJobs(e.stdout, g.output, page)
		},
	}
	f := cmd.Flags()
	f.StringVar(&q.Tenant, "tenant", "", "only the jobs of this tenant")
	f.StringVar(&q.State, "state", "", "only the jobs in this state: "+strings.Join(jobs.States(), ", "))
	f.StringVar(&q.Kind, "kind", "", "only the jobs of this kind")
	f.IntVar(&q.Limit, "limit", jobs.DefaultLimit, fmt.Sprintf("at most this many, 1 to %d", jobs.MaxLimit))
	f.StringVar(&q.After, "after", "", "the page after this cursor (the one a page before printed)")
	return cmd
}

// withJob runs fn on the job named by the one argument and prints what it
// returns with print.
func withJob(e env, g *globals, fn func(context.Context, jobOps, string) (jobs.Job, error), print func(io.Writer, jobs.Job) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		ops, done, err := connectJobs(cmd.Context(), g)
		if err != nil {
			return err
		}
		defer done()
		j, err := fn(cmd.Context(), ops, args[0])
		if err != nil {
			return err
		}
		if g.output == "json" {
			return writeJSON(e.stdout, j)
		}
		return print(e.stdout, j)
	}
}

func jobsShow(e env, g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "show ID",
		Short: "Show a job: its tenant, state, attempts, arguments and errors",
		Args:  exactArgs(1, "one job ID"),
		RunE:  withJob(e, g, func(ctx context.Context, ops jobOps, id string) (jobs.Job, error) { return ops.GetJob(ctx, id) }, printJob),
	}
}

func jobsRetry(e env, g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "retry ID",
		Short: "Make a job available to run again at once (one more attempt if it used them all)",
		Args:  exactArgs(1, "one job ID"),
		RunE: withJob(e, g, func(ctx context.Context, ops jobOps, id string) (jobs.Job, error) { return ops.RetryJob(ctx, id) },
			func(w io.Writer, j jobs.Job) error {
				var err error
				if j.State == "running" {
					_, err = fmt.Fprintf(w, "job %d (%s) is running: a running job is not retried\n", j.ID, jobLabel(j))
				} else {
					_, err = fmt.Fprintf(w, "job %d (%s) retried: %s, attempt %d of %d next\n", j.ID, jobLabel(j), j.State, j.Attempt+1, j.MaxAttempts)
				}
				return err
			}),
	}
}

func jobsCancel(e env, g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "cancel ID",
		Short: "Cancel a job; a running one is told to stop",
		Args:  exactArgs(1, "one job ID"),
		RunE: withJob(e, g, func(ctx context.Context, ops jobOps, id string) (jobs.Job, error) { return ops.CancelJob(ctx, id) },
			func(w io.Writer, j jobs.Job) error {
				var err error
				switch j.State {
				case "cancelled":
					_, err = fmt.Fprintf(w, "job %d (%s) cancelled\n", j.ID, jobLabel(j))
				case "running":
					_, err = fmt.Fprintf(w, "cancel of job %d (%s) requested: its worker is told to stop\n", j.ID, jobLabel(j))
				default:
					_, err = fmt.Fprintf(w, "job %d (%s) is %s already: nothing to cancel\n", j.ID, jobLabel(j), j.State)
				}
				return err
			}),
	}
}

// jobLabel names a job in a sentence: its kind, and its tenant's slug.
func jobLabel(j jobs.Job) string {
	if j.Tenant == "" {
		return j.Kind
	}
	return j.Kind + ", " + j.Tenant
}

func printJobs(w io.Writer, format string, page jobs.Page) error {
	if format == "json" {
		return writeJSON(w, page)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tQUEUE\tSTATE\tTENANT\tATTEMPT\tCREATED")
	for _, j := range page.Jobs {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d/%d\t%s\n", j.ID, j.Kind, j.Queue, j.State, orDash(j.Tenant),
			j.Attempt, j.MaxAttempts, j.CreatedAt.UTC().Format(time.RFC3339))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if page.Next != "" {
		fmt.Fprintf(w, "more: --after %s\n", page.Next)
	}
	return nil
}

// printJob tells a job's story: who it is for, where it stands, and each
// failed attempt.
func printJob(w io.Writer, j jobs.Job) error {
	tenant := "-"
	if j.TenantID != "" {
		tenant = j.Tenant + " (" + j.TenantID + ")"
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	rows := [][2]string{
		{"Job", fmt.Sprint(j.ID)}, {"Kind", j.Kind}, {"Queue", j.Queue}, {"State", j.State}, {"Tenant", tenant},
		{"Attempt", fmt.Sprintf("%d of %d", j.Attempt, j.MaxAttempts)}, {"Priority", fmt.Sprint(j.Priority)},
		{"Tags", strings.Join(j.Tags, ", ")}, {"Args", string(j.Args)},
		{"Created", j.CreatedAt.UTC().Format(time.RFC3339)}, {"Scheduled", j.ScheduledAt.UTC().Format(time.RFC3339)},
		{"Attempted", timeText(j.AttemptedAt)}, {"Finalized", timeText(j.FinalizedAt)},
	}
	for _, r := range rows {
		if r[1] != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", r[0], r[1])
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(j.Errors) == 0 {
		return nil
	}
	fmt.Fprintln(w, "\nErrors:")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  ATTEMPT\tAT\tERROR")
	for _, e := range j.Errors {
		fmt.Fprintf(tw, "  %d\t%s\t%s\n", e.Attempt, e.At.UTC().Format(time.RFC3339), oneLine(e.Error))
	}
	return tw.Flush()
}
