package move

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"time"
)

// Progress is what a move reports while it runs: the copy per table, the
// stream's position and lag, the verification and the cutover's pause. It
// is stored with the move in the catalog and served as is by the API.
type Progress struct {
	Tables []TableProgress `json:"tables"`
	// AppliedLSN is the last source position applied to the target.
	AppliedLSN string `json:"applied_lsn,omitempty"`
	// SourceLSN is the source's WAL position when the lag was measured.
	SourceLSN string `json:"source_lsn,omitempty"`
	// LagBytes and LagSeconds are how far the target is behind the source.
	LagBytes   int64   `json:"lag_bytes"`
	LagSeconds float64 `json:"lag_seconds"`
	// Changes is how many row changes the stream applied.
	Changes int64 `json:"changes"`
	// Verified lists each table's count and hash on both sides.
	Verified []TableCheck `json:"verified,omitempty"`
	// FenceChecks compare, under the fence, the rows changed since the
	// full verification (whole tables when a move resumed there).
	FenceChecks []TableCheck `json:"fence_checks,omitempty"`
	// PauseMillis is how long tenant writes waited at the cutover.
	PauseMillis float64 `json:"pause_ms,omitempty"`
	// CutoverAttempts counts fences taken; one that timed out is retried.
	CutoverAttempts int `json:"cutover_attempts,omitempty"`
}

// TableProgress is the copy of one table.
type TableProgress struct {
	Name       string `json:"name"`
	RowsTotal  int64  `json:"rows_total"`
	RowsCopied int64  `json:"rows_copied"`
	Bytes      int64  `json:"bytes"`
	Done       bool   `json:"done"`
}

// TableCheck is one table's verification: row count and an
// order-independent hash of its rows on the source and the target.
type TableCheck struct {
	Name       string `json:"name"`
	SourceRows int64  `json:"source_rows"`
	TargetRows int64  `json:"target_rows"`
	SourceHash string `json:"source_hash"`
	TargetHash string `json:"target_hash"`
	Match      bool   `json:"match"`
}

// tracker keeps a move's progress and writes it to the catalog now and
// then while the move runs.
type tracker struct {
	mu     sync.Mutex
	p      Progress
	tables map[string]*tableCounter
	order  []string
	save   func(context.Context, Progress) error
}

func newTracker(prev []byte, save func(context.Context, Progress) error) *tracker {
	t := &tracker{tables: map[string]*tableCounter{}, save: save}
	_ = json.Unmarshal(prev, &t.p)
	for _, tp := range t.p.Tables {
		c := &tableCounter{}
		c.total.Store(tp.RowsTotal)
		c.rows.Store(tp.RowsCopied)
		c.bytes.Store(tp.Bytes)
		c.done.Store(tp.Done)
		t.tables[tp.Name] = c
		t.order = append(t.order, tp.Name)
	}
	return t
}

// reset forgets the copy's counters, for a copy that starts over.
func (t *tracker) reset(names []string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.tables, t.order = map[string]*tableCounter{}, nil
	for _, n := range names {
		t.tables[n] = &tableCounter{}
		t.order = append(t.order, n)
	}
}

func (t *tracker) table(name string) *tableCounter {
	t.mu.Lock()
	defer t.mu.Unlock()
	c, ok := t.tables[name]
	if !ok {
		c = &tableCounter{}
		t.tables[name] = c
		t.order = append(t.order, name)
	}
	return c
}

// update changes the progress under the lock.
func (t *tracker) update(fn func(*Progress)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fn(&t.p)
}

func (t *tracker) snapshot() Progress {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.p
	p.Tables = make([]TableProgress, 0, len(t.order))
	for _, n := range t.order {
		c := t.tables[n]
		p.Tables = append(p.Tables, TableProgress{Name: n, RowsTotal: c.total.Load(), RowsCopied: c.rows.Load(), Bytes: c.bytes.Load(), Done: c.done.Load()})
	}
	p.Verified = slices.Clone(p.Verified)
	p.FenceChecks = slices.Clone(p.FenceChecks)
	return p
}

func (t *tracker) flush(ctx context.Context) error { return t.save(ctx, t.snapshot()) }

// run flushes every interval until ctx ends, and once more then.
func (t *tracker) run(ctx context.Context, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			_ = t.flush(context.WithoutCancel(ctx))
			return
		case <-tick.C:
			_ = t.flush(ctx)
		}
	}
}
