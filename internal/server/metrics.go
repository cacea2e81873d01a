package server

import (
	"context"
	"encoding/json"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tenantkit/tenantkit/internal/catalog"
)

// moveLister lists moves; *catalog.Store is one.
type moveLister interface {
	ListMoves(ctx context.Context, ref string, limit int) ([]catalog.Move, error)
}

// MoveCollector reports the moves under way at scrape time, from the
// catalog: how many are in each state, and each running move's copy
// progress and replication lag.
func MoveCollector(store moveLister) prometheus.Collector { return moveCollector{store} }

type moveCollector struct{ store moveLister }

var (
	movesDesc    = prometheus.NewDesc("tenantkit_moves", "Moves of the last 100 by state.", []string{"state"}, nil)
	moveCopyDesc = prometheus.NewDesc("tenantkit_move_copied_ratio", "Share of the rows a running move has copied.",
		[]string{"move", "tenant", "state", "phase"}, nil)
	moveLagDesc = prometheus.NewDesc("tenantkit_move_lag_bytes", "How far a running move's target is behind its source.",
		[]string{"move", "tenant", "state", "phase"}, nil)
)

// Describe sends nothing: the collector is unchecked, its moves come and go.
func (moveCollector) Describe(chan<- *prometheus.Desc) {}

// terminal move states are not reported one by one.
var terminal = map[string]bool{"complete": true, "failed": true, "rolled_back": true}

func (c moveCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	moves, err := c.store.ListMoves(ctx, "", 100)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(movesDesc, err)
		return
	}
	byState := map[string]int{}
	for _, m := range moves {
		byState[m.State]++
		if terminal[m.State] {
			continue
		}
		var p struct {
			Tables []struct {
				RowsTotal  int64 `json:"rows_total"`
				RowsCopied int64 `json:"rows_copied"`
			} `json:"tables"`
			LagBytes int64 `json:"lag_bytes"`
		}
		_ = json.Unmarshal(m.Progress, &p)
		var total, copied int64
		for _, t := range p.Tables {
			total += t.RowsTotal
			copied += t.RowsCopied
		}
		ratio := 0.0
		if total > 0 {
			ratio = float64(copied) / float64(total)
		}
		labels := []string{m.ID.String(), m.Slug, m.State, m.Phase}
		ch <- prometheus.MustNewConstMetric(moveCopyDesc, prometheus.GaugeValue, ratio, labels...)
		ch <- prometheus.MustNewConstMetric(moveLagDesc, prometheus.GaugeValue, float64(p.LagBytes), labels...)
	}
	for state, n := range byState {
		ch <- prometheus.MustNewConstMetric(movesDesc, prometheus.GaugeValue, float64(n), state)
	}
}
