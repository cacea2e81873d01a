package ratelimit

import (
	"context"
	"errors"
	"hash/maphash"
	"math/bits"
	"runtime"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// LocalConfig configures a Local.
type LocalConfig struct {
	// NowFunc is the clock, for tests. Defaults to the monotonic clock,
	// which is cheaper to read than time.Now and does not jump when the wall
	// clock is set.
	NowFunc func() time.Time
	// Shards is the number of independently locked maps the keys are spread
	// over, rounded up to a power of two. Defaults to 64.
	Shards int
	// IdleTTL bounds how long the entry of a key back at full burst is kept:
	// a janitor drops such entries every IdleTTL, so memory follows the
	// keys that are being limited, not every key ever seen. Negative turns
	// the janitor off; call Sweep instead. Defaults to 1 minute.
	IdleTTL time.Duration
	// Registerer receives tenantkit_ratelimit_decisions_total{backend="local"}.
	// Defaults to nil: the counter counts unregistered.
	Registerer prometheus.Registerer
}

func (c *LocalConfig) validate() error {
	if c.Shards < 0 {
		return errors.New("ratelimit: LocalConfig.Shards is negative")
	}
	if c.Shards > 1<<16 {
		return errors.New("ratelimit: LocalConfig.Shards is over 65536")
	}
	return nil
}

// Local limits requests within this process. It is safe for concurrent use.
type Local struct {
	s    *localState
	stop context.CancelFunc
}

// localState is what the janitor holds, so that a Local nobody closed can
// still be collected, which stops its janitor.
type localState struct {
	nowFunc func() time.Time
	start   time.Time // without NowFunc, TATs are nanoseconds since start
	seed    maphash.Seed
	mask    uint64
	shards  []shard
	counts  decisionCounters
}

// shard is one lock and the TATs, in localState.now's nanoseconds, of the
// keys hashed to it, padded to a cache line of its own.
type shard struct {
	mu   sync.Mutex
	tat  map[string]int64
	peak int // the most entries since tat was last allocated
	_    [40]byte
}

var _ Limiter = (*Local)(nil)

// NewLocal returns a Local and starts its janitor; Close stops it.
func NewLocal(cfg LocalConfig) (*Local, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	counts, err := newDecisionCounters(cfg.Registerer, "local")
	if err != nil {
		return nil, err
	}
	s := &localState{nowFunc: cfg.NowFunc, start: time.Now(), seed: maphash.MakeSeed(), counts: counts}
	n := 64
	if cfg.Shards > 0 {
		n = 1 << bits.Len(uint(cfg.Shards-1))
	}
	s.mask = uint64(n - 1)
	s.shards = make([]shard, n)
	for i := range s.shards {
		s.shards[i].tat = make(map[string]int64)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &Local{s: s, stop: cancel}
	idle := cfg.IdleTTL
	if idle == 0 {
		idle = time.Minute
	}
	if idle > 0 {
		go s.janitor(ctx, idle)
		runtime.AddCleanup(l, func(stop context.CancelFunc) { stop() }, cancel)
	}
	return l, nil
}

// Allow decides whether one more request for key is allowed under lim, and
// counts it against key if so. It does not allocate; its only
// error wraps ErrInvalidLimit.
func (l *Local) Allow(_ context.Context, key string, lim Limit) (Result, error) {
	g, err := lim.gcraIn(time.Nanosecond)
	if err != nil {
		return Result{}, err
	}
	s := l.s
	now := s.now()
	sh := &s.shards[maphash.String(s.seed, key)&s.mask]
	sh.mu.Lock()
	tat, r := g.decide(now, sh.tat[key], lim.Burst)
	if r.Allowed {
		sh.store(key, tat)
	}
	sh.mu.Unlock()
	s.counts.count(r.Allowed)
	return r, nil
}

func (sh *shard) store(key string, tat int64) {
	sh.tat[key] = tat
	sh.peak = max(sh.peak, len(sh.tat))
}

// Len is the number of keys held, for tests and monitoring.
func (l *Local) Len() int {
	n := 0
	for i := range l.s.shards {
		sh := &l.s.shards[i]
		sh.mu.Lock()
		n += len(sh.tat)
		sh.mu.Unlock()
	}
	return n
}

// Sweep drops the entries of keys back at full burst, which are the same as
// no entry. The janitor calls it every IdleTTL.
func (l *Local) Sweep() { l.s.sweep() }

// Close stops the janitor. The Local still limits afterwards but no longer
// sweeps.
func (l *Local) Close() error {
	l.stop()
	return nil
}

func (s *localState) janitor(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.sweep()
		}
	}
}

// now is the time in nanoseconds. The default clock reads only the
// monotonic clock, which costs half of time.Now (this is on the hot path)
// and does not jump with the wall clock.
func (s *localState) now() int64 {
	if s.nowFunc == nil {
		return int64(time.Since(s.start))
	}
	return s.nowFunc().UnixNano()
}

func (s *localState) sweep() {
	for i := range s.shards {
		s.shards[i].sweep(s.now())
	}
}

// sweep drops the entries whose TAT has passed. A Go map keeps its peak
// size, so once most entries are gone the shard moves to a fresh map.
func (sh *shard) sweep(now int64) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for k, tat := range sh.tat {
		if tat <= now {
			delete(sh.tat, k)
		}
	}
	if n := len(sh.tat); sh.peak >= 1024 && n < sh.peak/4 {
		fresh := make(map[string]int64, n)
		for k, tat := range sh.tat {
			fresh[k] = tat
		}
		sh.tat, sh.peak = fresh, n
	}
}
