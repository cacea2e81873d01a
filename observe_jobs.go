package tenantkit

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river/rivertype"
)

// Job outcomes, the outcome label of tenantkit_jobs_total.
const (
	jobCompleted = "completed"
	jobFailed    = "failed"
	jobCancelled = "cancelled"
	jobSnoozed   = "snoozed"
)

// jobKey names a tenant's job series: its kind, outcome and label
// generation.
type jobKey struct {
	kind, outcome string
	gen           uint32
}

func (o *observer) registerJobs() []prometheus.Collector {
	o.jobRuns = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tenantkit_jobs_total", Help: "Tenants' background job runs, by kind and outcome (completed, failed, cancelled, snoozed); tenant is one of the top-K busiest or \"other\".",
	}, []string{"tenant", "kind", "outcome"})
	o.jobTime = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "tenantkit_job_duration_seconds", Help: "Wall time of tenants' background job runs.",
		Buckets: []float64{.001, .005, .01, .05, .1, .5, 1, 5, 10, 30, 60, 300},
	}, []string{"tenant"})
	return []prometheus.Collector{o.jobRuns, o.jobTime}
}

// job runs one of t's jobs of kind and counts it, whatever its outcome,
// into the tenant's usage (jobs, job_ms) and the job metrics. A job that
// panics counts as failed.
func (o *observer) job(k *Kit, t *Tenant, kind string, run func() error) error {
	e := k.extra(t).entry
	offset := time.Since(o.base)
	outcome := jobFailed
	defer func() {
		dur := time.Since(o.base) - offset
		e.Job(o.base.Add(offset), dur)
		o.jobRunSeries(jobKey{kind: kind, outcome: outcome, gen: e.LabelGen()}).Inc()
		o.jobTimeSeries(e.LabelGen()).Observe(dur.Seconds())
	}()
	err := run()
	outcome = jobOutcome(err)
	return err
}

// jobOutcome is the outcome River gives a job that returned err.
func jobOutcome(err error) string {
	var (
		cancel *rivertype.JobCancelError
		snooze *rivertype.JobSnoozeError
	)
	switch {
	case err == nil:
		return jobCompleted
	case errors.As(err, &cancel):
		return jobCancelled
	case errors.As(err, &snooze):
		return jobSnoozed
	}
	return jobFailed
}

// jobRunSeries returns the run counter of key, creating it on first use.
func (o *observer) jobRunSeries(key jobKey) prometheus.Counter {
	o.mu.RLock()
	c, ok := o.jobRunsOf[key]
	o.mu.RUnlock()
	if ok {
		return c
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if c, ok := o.jobRunsOf[key]; ok {
		return c
	}
	c = o.jobRuns.WithLabelValues(o.labelOf(key.gen), key.kind, key.outcome)
	if _, live := o.labels[key.gen]; live || key.gen == 0 {
		o.jobRunsOf[key] = c // a generation removed meanwhile is not cached
	}
	return c
}

// jobTimeSeries returns the duration histogram of a label generation.
func (o *observer) jobTimeSeries(gen uint32) prometheus.Observer {
	o.mu.RLock()
	h, ok := o.jobTimeOf[gen]
	o.mu.RUnlock()
	if ok {
		return h
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if h, ok := o.jobTimeOf[gen]; ok {
		return h
	}
	h = o.jobTime.WithLabelValues(o.labelOf(gen))
	if _, live := o.labels[gen]; live || gen == 0 {
		o.jobTimeOf[gen] = h
	}
	return h
}

// dropJobSeries deletes the job series of a generation whose tenant lost
// its label name; the caller holds mu.
func (o *observer) dropJobSeries(gen uint32, name string) {
	for key := range o.jobRunsOf {
		if key.gen == gen {
			o.jobRuns.DeleteLabelValues(name, key.kind, key.outcome)
			delete(o.jobRunsOf, key)
		}
	}
	if _, ok := o.jobTimeOf[gen]; ok {
		o.jobTime.DeleteLabelValues(name)
		delete(o.jobTimeOf, gen)
	}
}
