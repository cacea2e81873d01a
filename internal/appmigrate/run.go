package appmigrate

import (
	"context"
	"sync"
	"time"
)

// Up applies the pending migrations to every target and makes sure each
// target's tenant tables carry tenantkit's RLS. Targets run in parallel on
// Config.Workers workers; one that fails is reported in its Result and the
// others go on. Running Up again resumes each target where it stopped.
func (m *Migrator) Up(ctx context.Context, targets []Target) Summary {
	return m.change(ctx, targets, func(ctx context.Context, pool *connPool, t Target) Result {
		return m.up(ctx, pool, t)
	})
}

// Down rolls back the last steps migrations of every target (fewer on a
// target with fewer applied), in parallel like Up.
func (m *Migrator) Down(ctx context.Context, targets []Target, steps int) Summary {
	return m.change(ctx, targets, func(ctx context.Context, pool *connPool, t Target) Result {
		return m.down(ctx, pool, t, steps)
	})
}

// Status reports where every target stands against the migration set,
// reading one row set per target and changing nothing. The statuses are in
// the order of targets.
func (m *Migrator) Status(ctx context.Context, targets []Target) []TargetStatus {
	out := make([]TargetStatus, len(targets))
	tl := m.newTally(len(targets))
	m.forEach(targets, func(i int, pool *connPool, err error) {
		if err != nil {
			out[i] = TargetStatus{Key: targets[i].key(), Latest: m.Latest(), Err: err.Error(), cause: err}
		} else {
			out[i] = m.status(ctx, pool, targets[i])
		}
		s := out[i]
		tl.add(Progress{Target: s.Key, Err: s.Err, Status: &s})
	})
	return out
}

func (m *Migrator) change(ctx context.Context, targets []Target, fn func(context.Context, *connPool, Target) Result) Summary {
	start := time.Now()
	sum := Summary{Targets: make([]Result, len(targets))}
	tl := m.newTally(len(targets))
	m.forEach(targets, func(i int, pool *connPool, err error) {
		var r Result
		if err != nil {
			r = finish(Result{Target: targets[i].key()}, time.Now(), err)
		} else {
			r = fn(ctx, pool, targets[i])
		}
		sum.Targets[i] = r
		m.log(ctx, r)
		tl.add(Progress{Target: r.Target, Err: r.Err, Result: &r})
	})
	for _, r := range sum.Targets {
		switch {
		case r.Err != "":
			sum.Failed++
		case len(r.Applied) > 0:
			sum.Applied++
		default:
			sum.UpToDate++
		}
	}
	sum.Duration = time.Since(start)
	return sum
}

func (m *Migrator) log(ctx context.Context, r Result) {
	switch {
	case r.cause != nil:
		m.logger.ErrorContext(ctx, "appmigrate: target failed", "target", r.Target,
			"from", r.From, "to", r.To, "applied", r.Applied, "err", r.cause)
	case len(r.Applied) > 0:
		m.logger.InfoContext(ctx, "appmigrate: target migrated", "target", r.Target,
			"from", r.From, "to", r.To, "applied", r.Applied, "duration", r.Duration)
	}
}

// forEach calls fn once per target from m.workers goroutines, with the pool
// of the target's DSN or the error that kept it from having one. Targets are
// taken grouped by DSN so that each pool is closed as soon as its last
// target is done, which bounds the connections of a run over many dedicated
// databases to about two per worker.
func (m *Migrator) forEach(targets []Target, fn func(i int, pool *connPool, err error)) {
	ps := newPools(targets, m.workers)
	defer ps.closeAll()
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(m.workers, len(targets)) {
		wg.Go(func() {
			for i := range work {
				t := targets[i]
				if err := t.validate(); err != nil {
					fn(i, nil, err)
					continue
				}
				pool, err := ps.get(t.DSN)
				fn(i, pool, err)
				ps.done(t.DSN)
			}
		})
	}
	for _, i := range groupByDSN(targets) {
		work <- i
	}
	close(work)
	wg.Wait()
}

// groupByDSN orders target indexes by DSN, DSNs in order of first
// appearance, targets of one DSN in their given order.
func groupByDSN(targets []Target) []int {
	groups := map[string][]int{}
	var dsns []string
	for i, t := range targets {
		if _, ok := groups[t.DSN]; !ok {
			dsns = append(dsns, t.DSN)
		}
		groups[t.DSN] = append(groups[t.DSN], i)
	}
	order := make([]int, 0, len(targets))
	for _, d := range dsns {
		order = append(order, groups[d]...)
	}
	return order
}

// tally counts finished targets and reports them to Config.ProgressFunc,
// one call at a time so that Done is seen growing by one.
type tally struct {
	mu                  sync.Mutex
	fn                  func(Progress)
	total, done, failed int
}

func (m *Migrator) newTally(total int) *tally { return &tally{fn: m.progress, total: total} }

func (t *tally) add(p Progress) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.done++
	if p.Err != "" {
		t.failed++
	}
	if t.fn != nil {
		p.Done, p.Total, p.Failed = t.done, t.total, t.failed
		t.fn(p)
	}
}
