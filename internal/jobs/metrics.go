package jobs

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tenantkit/tenantkit/internal/jobs/jobsdb"
)

// Collector reports River's queues at scrape time, from one grouped query
// of the catalog over the unfinished jobs: how many each queue holds in
// each state (available, scheduled, retryable, pending, running), and how
// long its oldest available job has waited. A queue without unfinished
// jobs is not reported; one with some reports every state, zeros included.
// db is the catalog's pool.
func Collector(db jobsdb.DBTX) prometheus.Collector { return collector{jobsdb.New(db)} }

type collector struct{ q *jobsdb.Queries }

var (
	depthDesc = prometheus.NewDesc("tenantkit_jobs_queue_depth",
		"Unfinished jobs of a River queue by state.", []string{"queue", "state"}, nil)
	oldestDesc = prometheus.NewDesc("tenantkit_jobs_oldest_available_age_seconds",
		"How long the oldest available job of a River queue has waited to run (0: none waits).", []string{"queue"}, nil)
)

// unfinished are the states reported, in the order of the query's filter.
var unfinished = []string{"available", "scheduled", "retryable", "pending", "running"}

func (collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- depthDesc
	ch <- oldestDesc
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	rows, err := c.q.QueueDepths(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(depthDesc, err)
		return
	}
	depth := map[string]map[string]int64{}
	oldest := map[string]float64{}
	for _, r := range rows {
		if depth[r.Queue] == nil {
			depth[r.Queue] = map[string]int64{}
		}
		depth[r.Queue][r.State] = r.Jobs
		oldest[r.Queue] = max(oldest[r.Queue], r.OldestSeconds)
	}
	for queue, byState := range depth {
		for _, s := range unfinished {
			ch <- prometheus.MustNewConstMetric(depthDesc, prometheus.GaugeValue, float64(byState[s]), queue, s)
		}
		ch <- prometheus.MustNewConstMetric(oldestDesc, prometheus.GaugeValue, oldest[queue], queue)
	}
}
