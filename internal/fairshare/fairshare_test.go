package fairshare

import (
	"context"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/tenantkit/tenantkit/internal/catalog"
)

// TestFairShareSlotsOfIdleTenantsAreDropped: a tenant's slots go once two
// sweeps found them unused and free; a tenant that ran a transaction since
// the last sweep, or holds a slot, keeps them — and its limit.
func TestFairShareSlotsOfIdleTenantsAreDropped(t *testing.T) {
	var f Slots
	ctx := context.Background()
	tenant := func() *catalog.TenantContext {
		return &catalog.TenantContext{Tenant: catalog.Tenant{ID: uuid.New(), Slug: "t"}, Placement: &catalog.Placement{Tier: catalog.TierShared},
			Limits: map[string]int64{catalog.LimitConcurrentTx: 2}}
	}
	idle := make([]*catalog.TenantContext, 1000)
	for i := range idle {
		idle[i] = tenant()
		sem, err := f.Acquire(ctx, idle[i], 0)
		if err != nil || sem == nil {
			t.Fatalf("acquire: %v, %v", sem, err)
		}
		sem.Release(1)
	}
	busy, holding := tenant(), tenant()
	held, err := f.Acquire(ctx, holding, 0)
	if err != nil {
		t.Fatal(err)
	}
	if n := f.Sweep(); n != 0 || f.Len() != 1001 {
		t.Fatalf("first sweep dropped %d, %d held; want 0, 1001 (all were used since)", n, f.Len())
	}
	sem, err := f.Acquire(ctx, busy, 0) // busy runs one between the sweeps
	if err != nil {
		t.Fatal(err)
	}
	sem.Release(1)
	if n := f.Sweep(); n != 1000 || f.Len() != 2 {
		t.Fatalf("second sweep dropped %d, %d held; want 1000, 2 (busy and holding)", n, f.Len())
	}
	// The holder's limit still holds: one more slot, then none.
	if _, err := f.Acquire(ctx, holding, 0); err != nil {
		t.Fatal(err)
	}
	full, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := f.Acquire(full, holding, 0); err == nil {
		t.Fatal("a third concurrent transaction of a tenant limited to 2 got a slot")
	}
	held.Release(1)
}

// TestFairShareFirstAcquiresShareOneSemaphore: a tenant's first
// transactions, arriving together, get one set of slots: two would let the
// tenant run twice its limit at once.
func TestFairShareFirstAcquiresShareOneSemaphore(t *testing.T) {
	for round := range 1000 {
		var f Slots
		id := uuid.New()
		start := make(chan struct{})
		got := make([]*tenantSlots, 8)
		var wg sync.WaitGroup
		for i := range got {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				got[i] = f.slotsOf(id, 2)
			}()
		}
		close(start)
		wg.Wait()
		for i := range got {
			if got[i] != got[0] {
				t.Fatalf("round %d: racing first transactions got different slots", round)
			}
		}
	}
}
