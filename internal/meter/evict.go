package meter

import "time"

// evict drops from memory the entries parked for at least
// Config.EvictAfter at now. m.flushMu is held, and the cut that just ran
// put everything they counted into a batch.
//
// A dropped entry may still be recorded into by whoever holds it. Such a
// record either lands before the entry is marked evicted — then the entry
// was unparked by it and is not dropped, or has uncut counts that the check
// below finds — or after, and then its touch finds the entry parked and
// brings it back (Meter.unpark). Either way the record is cut later.
func (m *Meter) evict(now time.Time) {
	if m.cfg.EvictAfter < 0 {
		return
	}
	cutoff := now.Add(-m.cfg.EvictAfter).UnixNano()
	var dropped []*Entry
	m.mu.Lock()
	for _, e := range m.all {
		if e.parked.Load() && e.parkedAt.Load() <= cutoff {
			dropped = append(dropped, e)
		}
	}
	if len(dropped) == 0 {
		m.mu.Unlock()
		return
	}
	for _, e := range dropped {
		e.evicted = true
		if m.byID[e.id] == e {
			delete(m.byID, e.id)
		}
		if e.orphan.Load() {
			e.orphan.Store(false)
			m.orphans--
		}
	}
	m.all = keepHeld(m.all)
	m.evicted.Add(int64(len(dropped)))
	m.mu.Unlock()
	for _, e := range dropped {
		if e.uncut() {
			m.revive(e)
		}
	}
}

// keepHeld returns a new slice of the entries of all not evicted: readers
// of the old one go on reading it unchanged.
func keepHeld(all []*Entry) []*Entry {
	kept := make([]*Entry, 0, len(all))
	for _, e := range all {
		if !e.evicted {
			kept = append(kept, e)
		}
	}
	return kept
}

func (m *Meter) revive(e *Entry) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reviveLocked(e)
}

// reviveLocked brings an evicted entry back: into the index when it holds
// no newer entry of the tenant, and otherwise as an orphan, which is cut
// and judged like any entry until it is dropped again. m.mu is held.
func (m *Meter) reviveLocked(e *Entry) {
	if !e.evicted {
		return
	}
	e.evicted = false
	if _, ok := m.byID[e.id]; ok {
		e.orphan.Store(true)
		m.orphans++
	} else {
		m.byID[e.id] = e
	}
	m.all = append(m.all, e)
}

// uncut reports whether the entry counted something no cut has taken, or
// that Tick has not seen.
func (e *Entry) uncut() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.carry.zero() || e.refused.Load() != e.refusedSeen {
		return true
	}
	for _, p := range e.periods {
		if p.load() != p.cutAt || p.load() != p.tickAt || p.users.pending() {
			return true
		}
	}
	return false
}

// mergeDeltas merges the deltas of one tenant and period, which orphan
// entries make, keeping the order of first appearance.
func mergeDeltas(ds []Delta) []Delta {
	type key struct {
		tenant [16]byte
		period string
	}
	at := make(map[key]int, len(ds))
	out := ds[:0]
	for _, d := range ds {
		k := key{d.Tenant, d.Period}
		i, ok := at[k]
		if !ok {
			at[k] = len(out)
			out = append(out, d)
			continue
		}
		o := &out[i]
		o.APICalls += d.APICalls
		o.ComputeMicros += d.ComputeMicros
		o.DBMicros += d.DBMicros
		o.DBQueries += d.DBQueries
		o.BandwidthBytes += d.BandwidthBytes
		o.Jobs += d.Jobs
		o.JobMicros += d.JobMicros
		o.Users = mergeSorted(o.Users, d.Users)
	}
	return out
}

// mergeSorted returns the sorted union of two sorted hash lists.
func mergeSorted(a, b []uint64) []uint64 {
	out := make([]uint64, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || (i < len(a) && a[i] < b[j]):
			out = append(out, a[i])
			i++
		case i == len(a) || b[j] < a[i]:
			out = append(out, b[j])
			j++
		default:
			out = append(out, a[i])
			i, j = i+1, j+1
		}
	}
	return out
}
