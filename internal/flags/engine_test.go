package flags_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tenantkit/tenantkit/internal/flags"
)

// catalog stands in for the flag storage: loads read its version and build
// a snapshot with one flag named after it. With gated set, each load
// announces itself on entered and waits to be released before returning,
// so a test can act while a load is in flight.
type catalog struct {
	version atomic.Int64
	loads   atomic.Int64
	gated   bool
	entered chan pending
	fail    atomic.Bool
}

// pending is a gated load in flight.
type pending struct {
	version int64 // what it read
	release chan struct{}
}

func newCatalog(gated bool) *catalog {
	c := &catalog{gated: gated, entered: make(chan pending)}
	c.version.Store(1)
	return c
}

func (c *catalog) load(ctx context.Context) (*flags.Snapshot, error) {
	c.loads.Add(1)
	v := c.version.Load()
	if c.gated {
		p := pending{v, make(chan struct{})}
		select {
		case c.entered <- p:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		select {
		case <-p.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if c.fail.Load() {
		return nil, errors.New("catalog unavailable")
	}
	return flags.NewSnapshot([]flags.Flag{{Key: versionKey(v), Default: true}}, nil)
}

func versionKey(v int64) string { return fmt.Sprintf("v%d", v) }

func newEngine(t *testing.T, c *catalog, retry time.Duration) *flags.Engine {
	t.Helper()
	e, err := flags.NewEngine(flags.EngineConfig{
		LoadFunc:      c.load,
		Logger:        slog.New(slog.DiscardHandler),
		RetryInterval: retry,
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// startRun runs e in the background until the test ends, and fails the
// test if Run returns an error or outlives its context.
func startRun(t *testing.T, e *flags.Engine) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Error("Run did not return after its context was cancelled")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func has(e *flags.Engine, v int64) bool {
	return e.Evaluate(versionKey(v), uuid.Nil, "").Reason == flags.ReasonDefault
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func receive[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

func TestNewEngineRequiresLoadFunc(t *testing.T) {
	t.Parallel()
	if _, err := flags.NewEngine(flags.EngineConfig{}); err == nil {
		t.Fatal("NewEngine accepted no LoadFunc")
	}
	if _, err := flags.NewEngine(flags.EngineConfig{LoadFunc: newCatalog(false).load, RetryInterval: -time.Second}); err == nil {
		t.Fatal("NewEngine accepted a negative RetryInterval")
	}
}

func TestEngineBeforeAnyLoad(t *testing.T) {
	t.Parallel()
	c := newCatalog(false)
	e := newEngine(t, c, 0)
	s := e.Snapshot()
	if s == nil {
		t.Fatal("Snapshot is nil before the first load")
	}
	if n := len(s.Flags()); n != 0 {
		t.Fatalf("empty snapshot has %d flags", n)
	}
	want := flags.Evaluation{Key: "v1", Reason: flags.ReasonFlagNotFound}
	if got := e.Evaluate("v1", uuid.New(), "pro"); got != want {
		t.Fatalf("Evaluate = %+v, want %+v", got, want)
	}
	if c.loads.Load() != 0 {
		t.Fatal("NewEngine loaded")
	}
}

func TestEngineRefreshSwaps(t *testing.T) {
	t.Parallel()
	c := newCatalog(false)
	e := newEngine(t, c, 0)
	if err := e.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	first := e.Snapshot()
	if !has(e, 1) {
		t.Fatal("Refresh did not install version 1")
	}
	c.version.Store(2)
	if !has(e, 1) || has(e, 2) {
		t.Fatal("the snapshot changed without a Refresh")
	}
	if err := e.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if !has(e, 2) || has(e, 1) || e.Snapshot() == first {
		t.Fatal("Refresh did not swap in version 2")
	}
	if first.Evaluate("v1", uuid.Nil, "").Reason != flags.ReasonDefault {
		t.Fatal("a swapped-out snapshot changed")
	}
}

func TestEngineRefreshKeepsTheSnapshotOnError(t *testing.T) {
	t.Parallel()
	c := newCatalog(false)
	e := newEngine(t, c, 0)
	if err := e.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	c.fail.Store(true)
	c.version.Store(2)
	if err := e.Refresh(t.Context()); err == nil {
		t.Fatal("Refresh hid a failed load")
	}
	if !has(e, 1) {
		t.Fatal("a failed load dropped the live snapshot")
	}
	nilLoad, err := flags.NewEngine(flags.EngineConfig{LoadFunc: func(context.Context) (*flags.Snapshot, error) { return nil, nil }})
	if err != nil {
		t.Fatal(err)
	}
	if err := nilLoad.Refresh(t.Context()); err == nil || nilLoad.Snapshot() == nil {
		t.Fatalf("a LoadFunc returning no snapshot: Refresh %v, Snapshot %v", err, nilLoad.Snapshot())
	}
}

// TestEngineSlowRefreshDoesNotOverwriteANewerOne guards the order of
// concurrent loads: one that started first but finished last must not
// replace what a later one installed.
func TestEngineSlowRefreshDoesNotOverwriteANewerOne(t *testing.T) {
	t.Parallel()
	c := newCatalog(true)
	e := newEngine(t, c, 0)
	slow := make(chan error, 1)
	go func() { slow <- e.Refresh(t.Context()) }()
	first := receive(t, c.entered, "the slow load")
	c.version.Store(2)
	fast := make(chan error, 1)
	go func() { fast <- e.Refresh(t.Context()) }()
	second := receive(t, c.entered, "the fast load")
	if first.version != 1 || second.version != 2 {
		t.Fatalf("loads read versions %d and %d", first.version, second.version)
	}
	close(second.release)
	if err := receive(t, fast, "the fast Refresh"); err != nil {
		t.Fatal(err)
	}
	if !has(e, 2) {
		t.Fatal("the fast Refresh did not install version 2")
	}
	close(first.release)
	if err := receive(t, slow, "the slow Refresh"); err != nil {
		t.Fatal(err)
	}
	if !has(e, 2) {
		t.Fatalf("the load of version 1, started first, replaced version 2")
	}
}

func TestEngineRunLoadsAtStartAndOnInvalidate(t *testing.T) {
	t.Parallel()
	c := newCatalog(false)
	e := newEngine(t, c, 0)
	startRun(t, e)
	waitFor(t, "the first load", func() bool { return has(e, 1) })
	c.version.Store(2)
	e.Invalidate()
	waitFor(t, "the reload", func() bool { return has(e, 2) })
}

func TestEngineRunDoesNotReloadWhatRefreshLoaded(t *testing.T) {
	t.Parallel()
	c := newCatalog(true)
	e := newEngine(t, c, 0)
	refreshed := make(chan error, 1)
	go func() { refreshed <- e.Refresh(t.Context()) }()
	close(receive(t, c.entered, "the load").release)
	if err := receive(t, refreshed, "Refresh"); err != nil {
		t.Fatal(err)
	}
	startRun(t, e)
	select {
	case <-c.entered:
		t.Fatal("Run reloaded a snapshot no invalidation had made stale")
	case <-time.After(50 * time.Millisecond):
	}
}

// TestEngineInvalidateDuringALoadReloads guards the generation counter: a
// load that began before an invalidation may have read the catalog before
// the change, so it cannot be the last word.
func TestEngineInvalidateDuringALoadReloads(t *testing.T) {
	t.Parallel()
	c := newCatalog(true)
	e := newEngine(t, c, 0)
	stop := startRun(t, e)

	first := receive(t, c.entered, "the first load")
	if first.version != 1 {
		t.Fatalf("first load read version %d", first.version)
	}
	c.version.Store(2)
	for range 100 { // many invalidations while the load is in flight
		e.Invalidate()
	}
	close(first.release)
	second := receive(t, c.entered, "the reload after the invalidations")
	if second.version != 2 {
		t.Fatalf("reload read version %d, want 2", second.version)
	}
	if !has(e, 1) {
		t.Fatal("the first load was not installed while the reload ran")
	}
	close(second.release)
	waitFor(t, "version 2", func() bool { return has(e, 2) })
	select {
	case p := <-c.entered:
		close(p.release)
		t.Fatalf("a third load (of version %d): the invalidations were not coalesced", p.version)
	case <-time.After(50 * time.Millisecond):
	}
	stop()
	if n := c.loads.Load(); n != 2 {
		t.Fatalf("%d loads, want 2", n)
	}
}

func TestEngineRunRetriesFailedLoads(t *testing.T) {
	t.Parallel()
	c := newCatalog(false)
	c.fail.Store(true)
	e := newEngine(t, c, 5*time.Millisecond)
	startRun(t, e)
	waitFor(t, "two failed loads", func() bool { return c.loads.Load() >= 2 })
	if has(e, 1) {
		t.Fatal("a failed load installed a snapshot")
	}
	c.fail.Store(false)
	waitFor(t, "a load after the retry", func() bool { return has(e, 1) })
}

func TestEngineRunExitsOnCancel(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		fail  bool
		gated bool
	}{
		{"idle", false, false},
		{"waiting to retry", true, false},
		{"loading", false, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newCatalog(tt.gated)
			c.fail.Store(tt.fail)
			e := newEngine(t, c, time.Hour)
			stop := startRun(t, e)
			if tt.gated {
				receive(t, c.entered, "the load")
			} else {
				waitFor(t, "a load", func() bool { return c.loads.Load() == 1 })
			}
			stop() // fails the test unless Run returns nil promptly
		})
	}
}

func TestEngineRunsOnce(t *testing.T) {
	t.Parallel()
	c := newCatalog(false)
	e := newEngine(t, c, 0)
	startRun(t, e)
	waitFor(t, "the first load", func() bool { return has(e, 1) })
	if err := e.Run(t.Context()); err == nil {
		t.Fatal("a second Run started")
	}
}

// TestEngineConcurrentUse is for the race detector: evaluations while
// snapshots are swapped.
func TestEngineConcurrentUse(t *testing.T) {
	t.Parallel()
	c := newCatalog(false)
	e := newEngine(t, c, 0)
	startRun(t, e)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			id := uuid.New()
			for {
				select {
				case <-stop:
					return
				default:
				}
				v := c.version.Load()
				ev := e.Evaluate(versionKey(v), id, "pro")
				if ev.Reason != flags.ReasonDefault && ev.Reason != flags.ReasonFlagNotFound {
					t.Errorf("reason %q", ev.Reason)
					return
				}
				_ = e.Snapshot().EvaluateAll(id, "pro")
			}
		})
	}
	for v := int64(2); v <= 50; v++ {
		c.version.Store(v)
		if v%2 == 0 {
			e.Invalidate()
		} else if err := e.Refresh(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	e.Invalidate()
	waitFor(t, "the last version", func() bool { return has(e, 50) })
	close(stop)
	wg.Wait()
}
