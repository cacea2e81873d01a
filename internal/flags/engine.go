package flags

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// EngineConfig configures an Engine.
type EngineConfig struct {
	// LoadFunc builds a snapshot of the current flags, from the catalog
	// say. It may be called from Refresh and Run concurrently. Required.
	LoadFunc func(context.Context) (*Snapshot, error)
	// Logger receives failed background loads. Defaults to slog.Default().
	Logger *slog.Logger
	// RetryInterval is how long Run waits after a failed load before trying
	// again. Defaults to 5 seconds.
	RetryInterval time.Duration
}

// Engine holds the live Snapshot of a process. Evaluations read it with one
// atomic load; Refresh and Run replace it whole.
type Engine struct {
	load  func(context.Context) (*Snapshot, error)
	log   *slog.Logger
	retry time.Duration

	snap atomic.Pointer[Snapshot]
	// gen counts invalidations. A load covers the generation it saw when it
	// started: an Invalidate that lands during a load is not covered by it,
	// so Run loads again.
	gen  atomic.Uint64
	wake chan struct{}

	mu sync.Mutex
	// started numbers loads as they start; stored is the number of the load
	// whose snapshot is live, so a slow load never replaces a newer one.
	started uint64
	stored  uint64
	covered uint64 // the generation the live snapshot covers

	running atomic.Bool
}

// NewEngine returns an Engine holding an empty snapshot. Call Refresh to
// load the first one, and Run to keep it current.
func NewEngine(cfg EngineConfig) (*Engine, error) {
	if cfg.LoadFunc == nil {
		return nil, errors.New("flags: EngineConfig.LoadFunc is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.RetryInterval == 0 {
		cfg.RetryInterval = 5 * time.Second
	}
	if cfg.RetryInterval < 0 {
		return nil, errors.New("flags: EngineConfig.RetryInterval must not be negative")
	}
	e := &Engine{load: cfg.LoadFunc, log: cfg.Logger, retry: cfg.RetryInterval, wake: make(chan struct{}, 1)}
	e.snap.Store(&Snapshot{})
	// Generation 1 is "never loaded", so that Run loads at once unless a
	// Refresh already has.
	e.gen.Store(1)
	return e, nil
}

// Refresh loads a snapshot now and makes it live, unless a load that
// started later has already made its own live.
func (e *Engine) Refresh(ctx context.Context) error {
	gen := e.gen.Load()
	e.mu.Lock()
	e.started++
	n := e.started
	e.mu.Unlock()

	s, err := e.load(ctx)
	if err == nil && s == nil {
		err = errors.New("LoadFunc returned no snapshot")
	}
	if err != nil {
		return fmt.Errorf("flags: load snapshot: %w", err)
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	if n > e.stored {
		e.snap.Store(s)
		e.stored = n
		e.covered = max(e.covered, gen)
	}
	return nil
}

// Invalidate asks Run to load a new snapshot. It does not block; calls
// that arrive before Run gets to them are served by one load.
func (e *Engine) Invalidate() {
	e.gen.Add(1)
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// Run keeps the snapshot current until ctx is done, then returns nil. It
// loads at once if no load has succeeded yet, then after every Invalidate.
// A failed load is logged and retried every RetryInterval until one
// succeeds. Only one Run may be active at a time.
func (e *Engine) Run(ctx context.Context) error {
	if !e.running.CompareAndSwap(false, true) {
		return errors.New("flags: Engine is already running")
	}
	defer e.running.Store(false)
	for {
		if e.current() {
			select {
			case <-ctx.Done():
				return nil
			case <-e.wake:
				continue
			}
		}
		if err := e.Refresh(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			e.log.Error("flags: reload failed; keeping the previous snapshot", "err", err, "retry_in", e.retry)
			if !sleep(ctx, e.retry) {
				return nil
			}
		}
	}
}

// current reports whether the live snapshot was loaded after the latest
// Invalidate.
func (e *Engine) current() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.covered == e.gen.Load()
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Snapshot returns the live snapshot: an empty one until a load succeeds.
// It is never nil.
func (e *Engine) Snapshot() *Snapshot {
	return e.snap.Load()
}

// Evaluate evaluates flag key on the live snapshot; see Snapshot.Evaluate.
func (e *Engine) Evaluate(key string, tenant uuid.UUID, plan string) Evaluation {
	return e.snap.Load().Evaluate(key, tenant, plan)
}
