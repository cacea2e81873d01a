package meter

import (
	"bytes"
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/google/uuid"
)

// The dimensions in which a tenant can be noisy, as in Event.Dimension.
const (
	DimensionDBTime   = "db_time"  // share of shared-tier database time
	DimensionRequests = "requests" // share of requests
)

// Dimensions are indexed in this order; the first has precedence when a
// tenant is noisy in both since the same Tick.
var dimensions = [...]string{DimensionDBTime, DimensionRequests}

// idleWindows is how many windows without any usage take an entry out of
// the scan set, unless it holds a label or is noisy.
const idleWindows = 10

// Event reports that a tenant became noisy, or quiet again, in a dimension.
type Event struct {
	Tenant    uuid.UUID
	Name      string  // the tenant's name (see Entry.SetName)
	Dimension string  // DimensionDBTime or DimensionRequests
	Share     float64 // the tenant's share of the dimension at the Tick that decided
	// Since is when the share went above NoisyShare (Noisy), or below
	// NoisyShare×0.8 or out of judgement (not Noisy), and stayed there.
	Since time.Time
	Noisy bool
}

// Load is one tenant's load over the window of the last Tick.
type Load struct {
	Tenant uuid.UUID

	Requests     int64
	RequestRate  float64 // requests per second
	RequestShare float64 // of all tenants' requests

	DBTime        time.Duration // all tiers
	DBRate        float64       // database seconds per second, all tiers
	SharedDBShare float64       // of all tenants' shared-tier database time

	Compute   time.Duration
	Bandwidth int64 // bytes

	Noisy          bool
	NoisyDimension string    // the dimension it is noisy in, the earlier if both
	NoisySince     time.Time // when its share went above in that dimension
	Throttled      bool
}

// entryLoad is an entry's load state, guarded by Meter.stateMu.
type entryLoad struct {
	ring      []usage // per bucket, indexed by tick modulo the window's buckets
	win       usage   // sum of ring
	idle      int     // consecutive ticks without usage
	dim       [len(dimensions)]dimState
	gen       uint32 // label generation held, 0 for none
	labelTick int64  // tick at which gen was assigned
}

// dimState is the noisy detector of one dimension of one entry.
type dimState struct {
	noisy      bool
	since      time.Time // when it went above, for the current noisy run
	aboveSince time.Time // start of the current run above NoisyShare, if not noisy
	belowSince time.Time // start of the current run below the hysteresis, if noisy
}

// step moves the detector to now, given the tenant's share and whether the
// dimension is judged at all (enough load, enough tenants). It returns an
// event when the tenant changes state. An unjudged dimension counts as
// below: without load to share there is no noisy neighbour.
func (d *dimState) step(now time.Time, share float64, judged bool, cfg *Config) (Event, bool) {
	if !d.noisy {
		if !judged || share <= cfg.NoisyShare {
			d.aboveSince = time.Time{}
			return Event{}, false
		}
		if d.aboveSince.IsZero() {
			d.aboveSince = now
		}
		if now.Sub(d.aboveSince) < cfg.Sustain {
			return Event{}, false
		}
		d.noisy, d.since, d.aboveSince, d.belowSince = true, d.aboveSince, time.Time{}, time.Time{}
		return Event{Share: share, Since: d.since, Noisy: true}, true
	}
	if judged && share >= cfg.NoisyShare*0.8 {
		d.belowSince = time.Time{}
		return Event{}, false
	}
	if d.belowSince.IsZero() {
		d.belowSince = now
	}
	if now.Sub(d.belowSince) < cfg.Sustain {
		return Event{}, false
	}
	ev := Event{Share: share, Since: d.belowSince}
	*d = dimState{}
	return ev, true
}

// labelChange is a label assignment or removal for the hooks.
type labelChange struct {
	e        *Entry
	gen      uint32
	assigned bool
}

// Tick closes the current load bucket of every tenant, judges shares and
// noisy neighbours over the window, and reassigns metrics labels. It is
// meant to be called every Config.Bucket, as RunTicker does. The hooks
// NoisyFunc and LabelFunc run at its end, outside the Meter's locks.
func (m *Meter) Tick() {
	m.tickMu.Lock()
	defer m.tickMu.Unlock()
	now := m.cfg.Now()
	m.stateMu.Lock()
	labels, events := m.tickLocked(now)
	m.stateMu.Unlock()
	for _, c := range labels {
		m.applyLabel(c)
	}
	if f := m.cfg.NoisyFunc; f != nil {
		for _, ev := range events {
			f(ev)
		}
	}
}

// RunTicker calls Tick every Config.Bucket until ctx is done.
func (m *Meter) RunTicker(ctx context.Context) {
	t := time.NewTicker(m.cfg.Bucket)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			m.Tick()
		case <-ctx.Done():
			return
		}
	}
}

// tickLocked does Tick's work under m.stateMu.
func (m *Meter) tickLocked(now time.Time) ([]labelChange, []Event) {
	m.absorbWoken()
	m.ticks++
	m.closeBuckets(int(m.ticks % int64(m.nb)))
	events, idle := m.judge(now)
	labels := m.assignLabels()
	for _, e := range idle {
		m.park(e, now)
	}
	return labels, events
}

// absorbWoken adds new and unparked entries to the scan set.
func (m *Meter) absorbWoken() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.scan = append(m.scan, m.woken...)
	clear(m.woken)
	m.woken = m.woken[:0]
}

// closeBuckets fills ring slot slot of every scanned entry with its usage
// since the last Tick and sums the window totals.
func (m *Meter) closeBuckets(slot int) {
	var total usage
	for _, e := range m.scan {
		d := e.sinceTick()
		l := &e.ld
		l.win.add(d.minus(l.ring[slot]))
		l.ring[slot] = d
		if d.zero() {
			l.idle++
		} else {
			l.idle = 0
		}
		total.add(l.win)
	}
	m.total = total
}

// sinceTick returns the entry's usage since the last Tick.
func (e *Entry) sinceTick() usage {
	e.mu.Lock()
	defer e.mu.Unlock()
	d := e.carry
	e.carry = usage{}
	r := e.refused.Load()
	d.req += r - e.refusedSeen
	e.refusedSeen = r
	for _, p := range e.periods {
		d.add(p.sinceTick())
	}
	return d
}

// judge steps every scanned entry's noisy detectors, offers the unlabelled
// busy ones to the label candidates, and takes the long idle out of the
// scan set, returning them.
func (m *Meter) judge(now time.Time) (events []Event, idle []*Entry) {
	var activeReq, activeDB int
	for _, e := range m.scan {
		if e.ld.win.req > 0 {
			activeReq++
		}
		if e.ld.win.sharedNs > 0 {
			activeDB++
		}
	}
	judged := [len(dimensions)]bool{
		m.total.sharedNs >= int64(m.cfg.MinWindowDBTime) && activeDB >= 2,
		m.total.req >= m.cfg.MinWindowRequests && activeReq >= 2,
	}
	m.cands.reset(m.k)
	kept := m.scan[:0]
	for _, e := range m.scan {
		l := &e.ld
		shares := m.shares(l.win)
		noisy := false
		for i := range l.dim {
			if ev, ok := l.dim[i].step(now, shares[i], judged[i], &m.cfg); ok {
				ev.Tenant, ev.Name, ev.Dimension = e.id, e.Name(), dimensions[i]
				events = append(events, ev)
			}
			noisy = noisy || l.dim[i].noisy
		}
		if noisy != e.noisy.Load() {
			e.noisy.Store(noisy)
		}
		if l.gen == 0 && l.win.req > 0 && !e.orphan.Load() {
			m.cands.offer(e)
		}
		if l.idle >= idleWindows*m.nb && l.gen == 0 && !noisy {
			idle = append(idle, e)
			continue
		}
		kept = append(kept, e)
	}
	clear(m.scan[len(kept):])
	m.scan = kept
	return events, idle
}

// shares returns win's shares of the window totals, by dimension.
func (m *Meter) shares(win usage) [len(dimensions)]float64 {
	return [...]float64{ratio(win.sharedNs, m.total.sharedNs), ratio(win.req, m.total.req)}
}

func ratio(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// park takes e, idle and already out of the scan set, off the Tick's
// books. It sets the parked flag before looking at the counters, and a
// recorder adds to the counters before looking at the flag, so a record
// racing the parking either finds the flag and unparks e, or is found here.
// A Tick that missed such a record sees it once e is back: Tick's marks of
// what it has seen stay with the periods.
func (m *Meter) park(e *Entry, now time.Time) {
	e.ld.idle = 0
	m.mu.Lock()
	e.parkedAt.Store(now.UnixNano())
	e.parked.Store(true)
	m.mu.Unlock()
	if e.unseen() {
		m.unpark(e)
	}
}

// unseen reports whether the entry has usage Tick has not seen.
func (e *Entry) unseen() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.carry.zero() {
		return true
	}
	for _, p := range e.periods {
		if p.load() != p.tickAt {
			return true
		}
	}
	return false
}

// Loads returns the load of every tenant active in the window of the last
// Tick, busiest first: by shared-tier database share, then request share,
// then requests.
func (m *Meter) Loads() []Load {
	m.stateMu.Lock()
	defer m.stateMu.Unlock()
	secs := float64(min(m.ticks, int64(m.nb))) * m.cfg.Bucket.Seconds()
	throttle := m.throttle.Load()
	var out []Load
	for _, e := range m.scan {
		l := &e.ld
		dim := l.noisyDim()
		if l.win.zero() && dim < 0 {
			continue
		}
		shares := m.shares(l.win)
		ld := Load{
			Tenant:        e.id,
			Requests:      l.win.req,
			RequestRate:   perSecond(float64(l.win.req), secs),
			RequestShare:  shares[1],
			DBTime:        time.Duration(l.win.dbNs),
			DBRate:        perSecond(time.Duration(l.win.dbNs).Seconds(), secs),
			SharedDBShare: shares[0],
			Compute:       time.Duration(l.win.computeNs),
			Bandwidth:     l.win.bw,
		}
		if dim >= 0 {
			ld.Noisy, ld.NoisyDimension, ld.NoisySince = true, dimensions[dim], l.dim[dim].since
			ld.Throttled = throttle
		}
		out = append(out, ld)
	}
	slices.SortFunc(out, func(a, b Load) int {
		return cmp.Or(
			cmp.Compare(b.SharedDBShare, a.SharedDBShare),
			cmp.Compare(b.RequestShare, a.RequestShare),
			cmp.Compare(b.Requests, a.Requests),
			bytes.Compare(a.Tenant[:], b.Tenant[:]),
		)
	})
	return out
}

// noisyDim returns the index of the dimension the entry has been noisy in
// the longest, or -1.
func (l *entryLoad) noisyDim() int {
	best := -1
	for i, d := range l.dim {
		if d.noisy && (best < 0 || d.since.Before(l.dim[best].since)) {
			best = i
		}
	}
	return best
}

func perSecond(v, secs float64) float64 {
	if secs == 0 {
		return 0
	}
	return v / secs
}
