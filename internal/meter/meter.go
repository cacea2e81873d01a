package meter

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// Config configures a Meter. The zero value is a working configuration.
type Config struct {
	// Now tells the time of Tick, which dates noisy-neighbour events and
	// measures Sustain. Recording takes its time from the caller. Defaults to
	// time.Now.
	Now func() time.Time

	// Bucket is the length of one load-window bucket: Tick is expected once
	// per Bucket, and each Tick closes one bucket. Defaults to 5s.
	Bucket time.Duration

	// Window is the sliding window over which loads and shares are computed;
	// it must be a whole multiple of Bucket. Defaults to 60s.
	Window time.Duration

	// NoisyShare is the share of all requests, or of all shared-tier
	// database time, above which a tenant is noisy; it must lie in (0, 1).
	// Defaults to 0.5.
	NoisyShare float64

	// Sustain is how long a share must stay above NoisyShare before the
	// tenant is flagged, and below NoisyShare×0.8 before it is cleared.
	// Defaults to 30s.
	Sustain time.Duration

	// MinWindowRequests is the number of requests in the window, all tenants
	// together, below which request shares are not judged. Defaults to 100.
	MinWindowRequests int64

	// MinWindowDBTime is the shared-tier database time in the window, all
	// tenants together, below which database shares are not judged.
	// Defaults to 1s.
	MinWindowDBTime time.Duration

	// TopK is how many tenants at most hold their own metrics label; a
	// negative value gives none. Defaults to 20.
	TopK int

	// MaxUsersPerPeriod bounds the users remembered per tenant and period.
	// Beyond it a user not remembered is still counted, but once per batch
	// instead of once per period: it goes into the next batch each time it
	// is active, which the catalog absorbs since it stores users with ON
	// CONFLICT DO NOTHING. Memory past the bound is then the distinct users
	// seen between two cuts. Defaults to 100000.
	MaxUsersPerPeriod int

	// EvictAfter is how long an entry stays parked — out of Tick's scan set
	// after ten idle windows — before a Flush drops it from memory, once
	// everything it counted was cut into a batch. Holders of a dropped
	// *Entry may go on recording into it: the first record brings it back.
	// Defaults to 15 minutes; a negative value never drops entries.
	EvictAfter time.Duration

	// NoisyFunc is called from Tick, outside the Meter's locks, when a
	// tenant becomes noisy or quiet in a dimension. It must not call Tick.
	// Defaults to nil.
	NoisyFunc func(Event)

	// LabelFunc is called from Tick, outside the Meter's locks, when e is
	// assigned label generation gen (assigned is true; e.LabelGen reports gen
	// once it returns) or loses it (assigned is false; e.LabelGen already
	// reports 0). It must not call Tick. Defaults to nil.
	LabelFunc func(e *Entry, gen uint32, assigned bool)
}

func (c *Config) setDefaults() {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Bucket == 0 {
		c.Bucket = 5 * time.Second
	}
	if c.Window == 0 {
		c.Window = 60 * time.Second
	}
	if c.NoisyShare == 0 {
		c.NoisyShare = 0.5
	}
	if c.Sustain == 0 {
		c.Sustain = 30 * time.Second
	}
	if c.MinWindowRequests == 0 {
		c.MinWindowRequests = 100
	}
	if c.MinWindowDBTime == 0 {
		c.MinWindowDBTime = time.Second
	}
	if c.TopK == 0 {
		c.TopK = 20
	}
	if c.MaxUsersPerPeriod == 0 {
		c.MaxUsersPerPeriod = 100000
	}
	if c.EvictAfter == 0 {
		c.EvictAfter = 15 * time.Minute
	}
}

func (c *Config) validate() error {
	switch {
	case c.Bucket < 0:
		return errors.New("meter: Bucket must not be negative")
	case c.Window < c.Bucket || c.Window%c.Bucket != 0:
		return errors.New("meter: Window must be a whole multiple of Bucket")
	case c.Window/c.Bucket > 1<<16:
		return errors.New("meter: Window must hold at most 65536 buckets")
	case !(c.NoisyShare > 0 && c.NoisyShare < 1):
		return errors.New("meter: NoisyShare must lie between 0 and 1")
	case c.Sustain < 0:
		return errors.New("meter: Sustain must not be negative")
	case c.MinWindowRequests < 0:
		return errors.New("meter: MinWindowRequests must not be negative")
	case c.MinWindowDBTime < 0:
		return errors.New("meter: MinWindowDBTime must not be negative")
	case c.MaxUsersPerPeriod < 0:
		return errors.New("meter: MaxUsersPerPeriod must not be negative")
	}
	return nil
}

// Meter holds the usage counters of every tenant it has seen, cuts them into
// batches, and judges their load. Its methods are safe for concurrent use.
type Meter struct {
	cfg Config
	nb  int // buckets in a window
	k   int // label slots

	throttle atomic.Bool

	// mu guards the entry index, the parked flags' transitions and each
	// Entry's evicted and orphan flags.
	mu    sync.Mutex
	byID  map[uuid.UUID]*Entry
	all   []*Entry // in creation order; replaced, never changed in place
	woken []*Entry // new or unparked entries waiting to join the scan set
	// orphans counts the entries in all that byID does not hold: entries
	// dropped and brought back by a late record after a newer entry of
	// the same tenant was made. While there are any, a cut merges deltas.
	orphans int
	evicted atomic.Int64 // entries dropped so far

	flushMu    sync.Mutex // serializes Flush
	pending    *Batch     // guarded by flushMu
	hasPending atomic.Bool

	tickMu  sync.Mutex // serializes Tick, hooks included
	stateMu sync.Mutex // guards the load state below and each Entry.ld
	ticks   int64
	scan    []*Entry // entries Tick looks at: all but the long idle
	total   usage    // window totals of the last Tick
	holders []*Entry // entries holding a label
	gen     uint32   // last label generation handed out
	cands   topHeap
	scratch []*Entry
}

// New returns a Meter configured by cfg.
func New(cfg Config) (*Meter, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Meter{
		cfg:  cfg,
		nb:   int(cfg.Window / cfg.Bucket),
		k:    max(cfg.TopK, 0),
		byID: make(map[uuid.UUID]*Entry),
	}, nil
}

// Entry returns the counters of tenant id, creating them on first use. The
// same *Entry is returned for the Meter's life, so callers look it up once
// and keep it with the tenant's context.
func (m *Meter) Entry(id uuid.UUID) *Entry {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.byID[id]; ok {
		return e
	}
	e := &Entry{id: id, m: m}
	e.ld.ring = make([]usage, m.nb)
	m.byID[id] = e
	m.all = append(m.all, e)
	m.woken = append(m.woken, e)
	return e
}

// Evicted returns how many times an entry was dropped from memory.
func (m *Meter) Evicted() int64 { return m.evicted.Load() }

// Len returns how many entries the Meter holds.
func (m *Meter) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.all)
}

// SetThrottle turns automatic throttling on or off: while it is on, noisy
// tenants report Throttled.
func (m *Meter) SetThrottle(on bool) { m.throttle.Store(on) }

// entries returns the entries held and whether some are orphans. The
// slice is only ever appended to or replaced, so it may be read without
// the lock.
func (m *Meter) entries() ([]*Entry, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.all, m.orphans > 0
}

// Entry is one tenant's counters. Its recording methods are safe for
// concurrent use, allocation-free and lock-free in the common case.
type Entry struct {
	id   uuid.UUID
	m    *Meter
	name atomic.Pointer[string]

	cur      atomic.Pointer[period] // the newest period opened
	parked   atomic.Bool            // out of the scan set; see Meter.park
	parkedAt atomic.Int64           // when parked, in Config.Now's unix nanoseconds
	// evicted: dropped from the Meter (see Meter.evict); orphan: held
	// again, but the index holds a newer entry of the tenant, so it never
	// gets a metrics label. Both change under Meter.mu.
	evicted  bool
	orphan   atomic.Bool
	labelGen atomic.Uint32
	noisy    atomic.Bool
	// refused counts requests refused before they were served (over a
	// rate limit, say): load, not usage.
	refused atomic.Int64

	// mu guards periods, carry, and the cut and tick state of each period.
	// Recording into any period but cur happens under it, so that a period
	// is never dropped under a recorder.
	mu      sync.Mutex
	periods []*period // by start
	carry   usage     // dropped periods' usage Tick has not seen yet
	// refusedSeen is refused as Tick last saw it.
	refusedSeen int64

	ld entryLoad // guarded by Meter.stateMu
}

// ID returns the tenant's id.
func (e *Entry) ID() uuid.UUID { return e.id }

// SetName names the tenant (its slug, say) for metrics labels and events.
func (e *Entry) SetName(name string) {
	if p := e.name.Load(); p == nil || *p != name {
		e.name.Store(&name)
	}
}

// Name returns the name set last, or the tenant's id when none was.
func (e *Entry) Name() string {
	if p := e.name.Load(); p != nil {
		return *p
	}
	return e.id.String()
}

// LabelGen returns 0 when the tenant has no metrics label of its own (it is
// counted as "other"), and otherwise the generation of its current label
// assignment, which is unique for the Meter's life.
func (e *Entry) LabelGen() uint32 { return e.labelGen.Load() }

// Throttled reports whether the detector asks for the tenant to be
// throttled: it is noisy and throttling is on (see Meter.SetThrottle).
func (e *Entry) Throttled() bool { return e.noisy.Load() && e.m.throttle.Load() }

// touch brings a parked entry back into the scan set. It runs after the
// counters were added to: either it sees the parked flag, or Meter.park,
// which sets the flag before looking at the counters, sees the addition.
func (e *Entry) touch() {
	if e.parked.Load() {
		e.m.unpark(e)
	}
}

func (m *Meter) unpark(e *Entry) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e.parked.Load() {
		m.reviveLocked(e)
		e.parked.Store(false)
		m.woken = append(m.woken, e)
	}
}
