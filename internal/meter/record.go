package meter

import (
	"slices"
	"sync/atomic"
	"time"
)

// Request records one request served at time start: an API call, dur of
// compute and in+out bytes of bandwidth, in the UTC month of start. The
// durations and sizes must not be negative.
func (e *Entry) Request(start time.Time, dur time.Duration, in, out int64) {
	ns := start.UnixNano()
	if p := e.cur.Load(); p != nil && p.contains(ns) {
		p.request(dur, in+out)
	} else {
		e.mu.Lock()
		e.periodLocked(ns).request(dur, in+out)
		e.mu.Unlock()
	}
	e.touch()
}

// Job records one background job run that started at time start and took
// dur of wall time, in the UTC month of start. It counts toward the
// tenant's usage, not its request load or share. dur must not be negative.
func (e *Entry) Job(start time.Time, dur time.Duration) {
	ns := start.UnixNano()
	if p := e.cur.Load(); p != nil && p.contains(ns) {
		p.job(dur)
	} else {
		e.mu.Lock()
		e.periodLocked(ns).job(dur)
		e.mu.Unlock()
	}
	e.touch()
}

// Refused records a request the tenant sent that was refused before it was
// served (over its rate limit, say). It counts toward the tenant's request
// load and share — a throttled tenant that keeps flooding stays noisy —
// but not toward its usage. Allocation-free.
func (e *Entry) Refused() {
	e.refused.Add(1)
	e.touch()
}

// DB records n queries that took d together and ended at time at; shared
// says they ran on the shared database tier, whose time alone counts for
// the noisy-neighbour database share. d and n must not be negative.
func (e *Entry) DB(at time.Time, d time.Duration, n int, shared bool) {
	ns := at.UnixNano()
	if p := e.cur.Load(); p != nil && p.contains(ns) {
		p.db(d, n, shared)
	} else {
		e.mu.Lock()
		e.periodLocked(ns).db(d, n, shared)
		e.mu.Unlock()
	}
	e.touch()
}

// User records that user, an opaque id such as a token's subject, was
// active at time at. A user goes into a batch once per period (see
// Config.MaxUsersPerPeriod for the exception), as UserHash(user). Recording
// a user already seen in the period allocates nothing and takes no lock.
func (e *Entry) User(at time.Time, user string) {
	h := UserHash(user)
	ns := at.UnixNano()
	if p := e.cur.Load(); p != nil && p.contains(ns) {
		if !p.users.has(h) {
			p.users.add(h, e.m.cfg.MaxUsersPerPeriod)
			e.touch()
		}
		return
	}
	e.mu.Lock()
	if p := e.periodLocked(ns); !p.users.has(h) {
		p.users.add(h, e.m.cfg.MaxUsersPerPeriod)
	}
	e.mu.Unlock()
	e.touch()
}

// UserHash returns the 64-bit FNV-1a hash of user: the value of an active
// user in Delta.Users. It is the same in every process.
func UserHash(user string) uint64 {
	const (
		offset64 = 14695981039346656037
		prime64  = 1099511628211
	)
	h := uint64(offset64)
	for i := 0; i < len(user); i++ {
		h ^= uint64(user[i])
		h *= prime64
	}
	return h
}

// periodLocked returns the period holding ns, opening it if needed. e.mu is
// held.
func (e *Entry) periodLocked(ns int64) *period {
	i, found := slices.BinarySearchFunc(e.periods, ns, func(p *period, ns int64) int {
		switch {
		case p.end <= ns:
			return -1
		case p.start > ns:
			return 1
		}
		return 0
	})
	if found {
		return e.periods[i]
	}
	p := newPeriod(ns)
	e.periods = slices.Insert(e.periods, i, p)
	if cur := e.cur.Load(); cur == nil || p.start > cur.start {
		e.cur.Store(p)
	}
	return p
}

// usage is a set of counter values, cumulative or deltas.
type usage struct {
	req, computeNs, dbNs, dbQueries, sharedNs, bw int64
	jobs, jobNs                                   int64
}

func (u *usage) add(v usage) {
	u.req += v.req
	u.computeNs += v.computeNs
	u.dbNs += v.dbNs
	u.dbQueries += v.dbQueries
	u.sharedNs += v.sharedNs
	u.bw += v.bw
	u.jobs += v.jobs
	u.jobNs += v.jobNs
}

func (u usage) minus(v usage) usage {
	return usage{
		req:       u.req - v.req,
		computeNs: u.computeNs - v.computeNs,
		dbNs:      u.dbNs - v.dbNs,
		dbQueries: u.dbQueries - v.dbQueries,
		sharedNs:  u.sharedNs - v.sharedNs,
		bw:        u.bw - v.bw,
		jobs:      u.jobs - v.jobs,
		jobNs:     u.jobNs - v.jobNs,
	}
}

func (u usage) zero() bool { return u == usage{} }

// period holds one tenant's cumulative counters for one UTC month. The
// counters never reset; a cut and a Tick each remember what they last saw.
type period struct {
	name       string // "2006-01"
	start, end int64  // unix nanoseconds, end exclusive

	requests, computeNs, bandwidth atomic.Int64
	dbNs, dbQueries, sharedDBNs    atomic.Int64
	jobs, jobNs                    atomic.Int64
	users                          userSet

	// Guarded by Entry.mu.
	cutAt    usage // values at the last cut
	tickAt   usage // values at the last Tick
	pastCuts int   // cuts made while a newer period existed
}

func newPeriod(ns int64) *period {
	t := time.Unix(0, ns).UTC()
	start := time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	return &period{
		name:  start.Format("2006-01"),
		start: start.UnixNano(),
		end:   start.AddDate(0, 1, 0).UnixNano(),
	}
}

func (p *period) contains(ns int64) bool { return p.start <= ns && ns < p.end }

func (p *period) request(dur time.Duration, bytes int64) {
	p.requests.Add(1)
	p.computeNs.Add(int64(dur))
	p.bandwidth.Add(bytes)
}

func (p *period) job(dur time.Duration) {
	p.jobs.Add(1)
	p.jobNs.Add(int64(dur))
}

func (p *period) db(d time.Duration, n int, shared bool) {
	p.dbNs.Add(int64(d))
	p.dbQueries.Add(int64(n))
	if shared {
		p.sharedDBNs.Add(int64(d))
	}
}

// load reads the counters. Each is read atomically, not all together: an
// addition missed by one read is seen by the next.
func (p *period) load() usage {
	return usage{
		req:       p.requests.Load(),
		computeNs: p.computeNs.Load(),
		dbNs:      p.dbNs.Load(),
		dbQueries: p.dbQueries.Load(),
		sharedNs:  p.sharedDBNs.Load(),
		bw:        p.bandwidth.Load(),
		jobs:      p.jobs.Load(),
		jobNs:     p.jobNs.Load(),
	}
}

// sinceTick returns the usage Tick has not seen and marks it seen. Entry.mu
// is held.
func (p *period) sinceTick() usage {
	now := p.load()
	d := now.minus(p.tickAt)
	p.tickAt = now
	return d
}
