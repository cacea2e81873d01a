// Package fairshare caps each tenant's concurrent scoped transactions on
// shared pools (the max_concurrent_tx limit, or a throttle), so one tenant
// cannot hold every connection of a pool its neighbours need.
package fairshare

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/semaphore"

	"github.com/tenantkit/tenantkit/internal/catalog"
)

// ErrConcurrencyLimit is returned, wrapping the context's error, when a
// scoped transaction on a shared pool waited for one of its tenant's
// slots (the max_concurrent_tx limit) until its context ended.
var ErrConcurrencyLimit = errors.New("tenantkit: tenant's concurrent transaction limit reached")

// Slots caps each tenant's concurrent scoped transactions on shared pools
// at its max_concurrent_tx limit. A tenant waits for its own slots only;
// waiting ends with the caller's context. The zero value is ready.
type Slots struct {
	slots sync.Map // uuid.UUID → *tenantSlots
}

// tenantSlots are one tenant's slots at one limit. When the limit changes
// (a new plan), new transactions take slots of a new semaphore; running
// ones release into the old one.
type tenantSlots struct {
	limit int64
	sem   *semaphore.Weighted
	// used is set by every acquire and cleared by each sweep: slots found
	// unused by two sweeps in a row are dropped.
	used atomic.Bool
}

// Acquire takes a slot of t when its data is on a shared tier and it has a
// limit (or is throttled to throttle slots, when that is lower), and returns the semaphore to release one slot of (nil when none
// was taken).
func (f *Slots) Acquire(ctx context.Context, t *catalog.TenantContext, throttle int64) (*semaphore.Weighted, error) {
	if t.Placement == nil || t.Placement.Tier != catalog.TierShared {
		return nil, nil
	}
	limit, ok := t.Limits[catalog.LimitConcurrentTx]
	if throttle > 0 && (!ok || limit <= 0 || throttle < limit) {
		limit, ok = throttle, true
	}
	if !ok || limit <= 0 {
		return nil, nil
	}
	s := f.slotsOf(t.ID, limit)
	if !s.used.Load() {
		s.used.Store(true)
	}
	if s.sem.TryAcquire(1) {
		return s.sem, nil
	}
	if err := s.sem.Acquire(ctx, 1); err != nil {
		return nil, fmt.Errorf("%w (%s: %d): %w", ErrConcurrencyLimit, t.Slug, limit, err)
	}
	return s.sem, nil
}

// slotsOf returns the slots of tenant id at limit. Callers racing to make
// them get the same ones: two semaphores would let the tenant run twice
// its limit.
func (f *Slots) slotsOf(id uuid.UUID, limit int64) *tenantSlots {
	for {
		v, ok := f.slots.Load(id)
		if ok && v.(*tenantSlots).limit == limit {
			return v.(*tenantSlots)
		}
		s := &tenantSlots{limit: limit, sem: semaphore.NewWeighted(limit)}
		if !ok {
			if _, loaded := f.slots.LoadOrStore(id, s); !loaded {
				return s
			}
			continue
		}
		if f.slots.CompareAndSwap(id, v, s) {
			return s
		}
	}
}

// SweepEvery is how often unused tenants' slots are to be looked for.
const SweepEvery = 5 * time.Minute

// Sweep drops the slots of tenants that started no scoped transaction
// since the last sweep and hold none now, so that a long-running process
// does not keep a semaphore for every tenant it ever served. It returns
// how many it dropped.
//
// A transaction that looked the slots up just before they were dropped
// still waits on them; one arriving after makes new ones: for that moment
// the tenant may run up to twice its limit.
func (f *Slots) Sweep() int {
	dropped := 0
	f.slots.Range(func(k, v any) bool {
		s := v.(*tenantSlots)
		if s.used.Load() {
			s.used.Store(false)
			return true
		}
		if !s.sem.TryAcquire(s.limit) {
			return true // in use
		}
		if f.slots.CompareAndDelete(k, s) {
			dropped++
		}
		s.sem.Release(s.limit)
		return true
	})
	return dropped
}

// Len returns how many tenants' slots are held.
func (f *Slots) Len() int {
	n := 0
	f.slots.Range(func(any, any) bool { n++; return true })
	return n
}
