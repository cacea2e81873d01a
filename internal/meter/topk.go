package meter

import (
	"bytes"
	"slices"
)

// assignLabels reassigns the metrics labels after a Tick's judgement: a
// holder without requests for a whole window loses its slot, free slots go
// to the busiest unlabelled tenants, and a holder that has held for a
// window is displaced by a tenant with more than twice its requests.
// m.stateMu is held.
func (m *Meter) assignLabels() []labelChange {
	var changes []labelChange
	kept := m.holders[:0]
	for _, e := range m.holders {
		if e.ld.win.req == 0 {
			changes = append(changes, m.unlabel(e))
			continue
		}
		kept = append(kept, e)
	}
	clear(m.holders[len(kept):])
	m.holders = kept

	cands := m.cands.busiestFirst()
	for len(m.holders) < m.k && len(cands) > 0 {
		changes = append(changes, m.label(cands[0]))
		cands = cands[1:]
	}
	if len(cands) == 0 {
		return changes
	}

	// Challengers busiest first meet settled holders least busy first; once
	// the busiest left cannot beat the weakest left, no one else can.
	settled := m.scratch[:0]
	for _, e := range m.holders {
		if m.ticks-e.ld.labelTick >= int64(m.nb) {
			settled = append(settled, e)
		}
	}
	slices.SortFunc(settled, func(a, b *Entry) int { return compareBusy(a, b) })
	for i := 0; i < len(cands) && i < len(settled); i++ {
		if cands[i].ld.win.req <= 2*settled[i].ld.win.req {
			break
		}
		m.holders = slices.DeleteFunc(m.holders, func(e *Entry) bool { return e == settled[i] })
		changes = append(changes, m.unlabel(settled[i]), m.label(cands[i]))
	}
	clear(settled)
	m.scratch = settled[:0]
	return changes
}

// label gives e a fresh label generation. Generations count up from 1 and
// are never reused; at one assignment per slot per Tick they would last
// decades before wrapping.
func (m *Meter) label(e *Entry) labelChange {
	m.gen++
	e.ld.gen, e.ld.labelTick = m.gen, m.ticks
	m.holders = append(m.holders, e)
	return labelChange{e: e, gen: m.gen, assigned: true}
}

// unlabel takes e's label away; the caller takes e out of m.holders.
func (m *Meter) unlabel(e *Entry) labelChange {
	gen := e.ld.gen
	e.ld.gen, e.ld.labelTick = 0, 0
	return labelChange{e: e, gen: gen}
}

// applyLabel publishes a label change, calling LabelFunc. An assignment is
// published after the hook ran, so that LabelGen never reports a
// generation the hook has not seen; a removal before, so that nothing uses
// a generation after the hook dropped it.
func (m *Meter) applyLabel(c labelChange) {
	if !c.assigned {
		c.e.labelGen.Store(0)
	}
	if f := m.cfg.LabelFunc; f != nil {
		f(c.e, c.gen, c.assigned)
	}
	if c.assigned {
		c.e.labelGen.Store(c.gen)
	}
}

// compareBusy orders entries by window requests, least first, ties broken
// by id so that the order does not depend on the scan.
func compareBusy(a, b *Entry) int {
	switch {
	case a.ld.win.req < b.ld.win.req:
		return -1
	case a.ld.win.req > b.ld.win.req:
		return 1
	}
	return bytes.Compare(b.id[:], a.id[:])
}

// topHeap keeps the k busiest entries offered: a min-heap by compareBusy,
// so the least busy kept is at the root and is the one a busier offer
// replaces.
type topHeap struct {
	k     int
	items []*Entry
}

func (h *topHeap) reset(k int) {
	clear(h.items)
	h.k, h.items = k, h.items[:0]
}

func (h *topHeap) offer(e *Entry) {
	if len(h.items) < h.k {
		h.items = append(h.items, e)
		h.up(len(h.items) - 1)
		return
	}
	if h.k == 0 || compareBusy(e, h.items[0]) <= 0 {
		return
	}
	h.items[0] = e
	h.down(0)
}

func (h *topHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if compareBusy(h.items[p], h.items[i]) <= 0 {
			return
		}
		h.items[p], h.items[i] = h.items[i], h.items[p]
		i = p
	}
}

func (h *topHeap) down(i int) {
	for {
		c := 2*i + 1
		if c >= len(h.items) {
			return
		}
		if c+1 < len(h.items) && compareBusy(h.items[c+1], h.items[c]) < 0 {
			c++
		}
		if compareBusy(h.items[i], h.items[c]) <= 0 {
			return
		}
		h.items[i], h.items[c] = h.items[c], h.items[i]
		i = c
	}
}

// busiestFirst sorts the kept entries, busiest first, and returns them; the
// heap is spent.
func (h *topHeap) busiestFirst() []*Entry {
	slices.SortFunc(h.items, func(a, b *Entry) int { return compareBusy(b, a) })
	return h.items
}
