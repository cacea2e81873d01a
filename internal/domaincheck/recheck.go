// Package domaincheck checks verified custom domains' DNS proof again, in
// a River periodic job: a domain whose record has gone lapses, and stops
// resolving when its grace has passed (catalog.Store.RecheckDomains).
package domaincheck

import (
	"context"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/jobs"
)

// Actor is who the audit log says re-checked a domain.
const Actor = "tenantkit:domain-recheck"

// Args is the re-check job.
type Args struct{}

// Kind is the job's kind.
func (Args) Kind() string { return "tenantkit_domain_recheck" }

// InsertOpts keeps one re-check waiting at a time.
func (Args) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: jobs.PlatformQueue, MaxAttempts: 3, UniqueOpts: river.UniqueOpts{ByState: []rivertype.JobState{
		rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning, rivertype.JobStateRetryable, rivertype.JobStateScheduled,
	}}}
}

// Worker works Args: every verified domain not checked within half an
// Interval is checked again, a batch at a time.
type Worker struct {
	river.WorkerDefaults[Args]
	Store *catalog.Store
	Check catalog.ProofCheck
	// Interval is how often each domain is checked. Defaults to a day.
	Interval time.Duration
	// Grace is how long a lapsed domain keeps resolving. Defaults to
	// three days.
	Grace  time.Duration
	Logger *slog.Logger
}

// Defaults of the Worker.
const (
	DefaultInterval = 24 * time.Hour
	DefaultGrace    = 72 * time.Hour
)

func (w *Worker) interval() time.Duration {
	if w.Interval > 0 {
		return w.Interval
	}
	return DefaultInterval
}

// Timeout bounds one run.
func (w *Worker) Timeout(*river.Job[Args]) time.Duration { return 10 * time.Minute }

// Work checks the domains due.
func (w *Worker) Work(ctx context.Context, _ *river.Job[Args]) error {
	grace := w.Grace
	if grace <= 0 {
		grace = DefaultGrace
	}
	// A certificate past its expiry that no renewal replaced shows as
	// expired (serve records each certificate it obtains or loads).
	expired, err := w.Store.ExpireDomainCertificates(ctx)
	if err != nil {
		return err
	}
	if w.Logger != nil && len(expired) > 0 {
		w.Logger.WarnContext(ctx, "custom domains' certificates expired without renewal", "hosts", expired)
	}
	before := time.Now().Add(-w.interval() / 2)
	var total catalog.RecheckResult
	for range 1000 { // at most 100 000 domains a run; the next run goes on
		res, err := w.Store.RecheckDomains(ctx, Actor, before, 100, grace, w.Check)
		total.Checked += res.Checked
		total.Held += res.Held
		total.Lapsed += res.Lapsed
		total.Unbound += res.Unbound
		total.Restored += res.Restored
		total.Failed += res.Failed
		if err != nil {
			return err
		}
		// Domains whose lookup failed keep their checked_at: stop rather
		// than ask about them again in this run.
		if res.Checked == 0 || res.Checked == res.Failed {
			break
		}
	}
	if w.Logger != nil && total.Checked > 0 {
		w.Logger.InfoContext(ctx, "custom domains checked again", "checked", total.Checked, "held", total.Held, "lapsed", total.Lapsed,
			"unbound", total.Unbound, "restored", total.Restored, "lookup_failed", total.Failed)
	}
	return nil
}

// Periodic is the periodic job that enqueues a re-check every hour (each
// domain is checked once per Interval).
func Periodic() *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(time.Hour),
		func() (river.JobArgs, *river.InsertOpts) { return Args{}, nil }, &river.PeriodicJobOpts{RunOnStart: true})
}
