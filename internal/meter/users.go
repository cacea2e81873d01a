package meter

import (
	"slices"
	"sync"
	"sync/atomic"
)

// userSet is the set of user hashes seen in one period. Lookups are
// lock-free: the table is open-addressed with atomic slots, only ever
// filled, and replaced whole when it grows, so a hash found in any version
// of it was seen. A lookup that misses takes the lock and looks again in
// the current table before adding.
type userSet struct {
	tab     atomic.Pointer[userTable]
	hasZero atomic.Bool // hash 0 marks an empty slot, so it is kept apart

	mu       sync.Mutex
	n        int                 // hashes in the set, zero included
	fresh    []uint64            // added since the last cut
	overflow map[uint64]struct{} // not remembered, but already in fresh
}

func (s *userSet) has(h uint64) bool {
	if h == 0 {
		return s.hasZero.Load()
	}
	t := s.tab.Load()
	return t != nil && t.has(h)
}

// add adds h, which has just been looked for and not found, unless the set
// holds limit hashes already: then h is put in the next batch but not
// remembered past it.
func (s *userSet) add(h uint64, limit int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.has(h) {
		return
	}
	if s.n >= limit {
		if _, ok := s.overflow[h]; !ok {
			if s.overflow == nil {
				s.overflow = make(map[uint64]struct{})
			}
			s.overflow[h] = struct{}{}
			s.fresh = append(s.fresh, h)
		}
		return
	}
	if h == 0 {
		s.hasZero.Store(true)
	} else {
		s.grow().insert(h)
	}
	s.n++
	s.fresh = append(s.fresh, h)
}

// grow returns a table with room for one more hash, keeping the load
// factor at most one half. s.mu is held.
func (s *userSet) grow() *userTable {
	t := s.tab.Load()
	if t != nil && 2*(s.n+1) <= len(t.slots) {
		return t
	}
	size := 16
	if t != nil {
		size = 2 * len(t.slots)
	}
	nt := newUserTable(size)
	if t != nil {
		for i := range t.slots {
			if h := t.slots[i].Load(); h != 0 {
				nt.insert(h)
			}
		}
	}
	s.tab.Store(nt)
	return nt
}

// take returns the hashes added since the last take, sorted, and forgets
// the overflow.
// pending reports whether users were added since the last take.
func (s *userSet) pending() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.fresh) > 0
}

func (s *userSet) take() []uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.fresh
	s.fresh, s.overflow = nil, nil
	slices.Sort(f)
	return f
}

type userTable struct {
	slots []atomic.Uint64
	shift uint // 64 - log2(len(slots))
}

func newUserTable(size int) *userTable {
	bits := uint(0)
	for 1<<bits < size {
		bits++
	}
	return &userTable{slots: make([]atomic.Uint64, 1<<bits), shift: 64 - bits}
}

func (t *userTable) has(h uint64) bool {
	mask := uint64(len(t.slots) - 1)
	for i := t.home(h); ; i = (i + 1) & mask {
		switch t.slots[i].Load() {
		case h:
			return true
		case 0:
			return false
		}
	}
}

// insert stores h, which is not in t, in its first free slot. The set's
// lock is held.
func (t *userTable) insert(h uint64) {
	mask := uint64(len(t.slots) - 1)
	i := t.home(h)
	for t.slots[i].Load() != 0 {
		i = (i + 1) & mask
	}
	t.slots[i].Store(h)
}

// home spreads h over the table by Fibonacci hashing, so that the table
// does not depend on the low bits of FNV alone.
func (t *userTable) home(h uint64) uint64 { return (h * 0x9e3779b97f4a7c15) >> t.shift }
