package scope

import (
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestBindingFollowsTheBusAndDrains: connections may stay bound only while
// the bus is connected; a drain stops bindings of the tenant at older
// epochs, not at the new one nor of other tenants, until it lapses; giving
// every binding up (a reconnection) moves the generation on, so every
// binding made before is given up; each drain and give-up sweeps.
func TestBindingFollowsTheBusAndDrains(t *testing.T) {
	connected, sweeps := false, 0
	b := &Bindings{Connected: func() bool { return connected }, Sweep: func() { sweeps++ }}
	a, other := uuid.New(), uuid.New()
	if _, ok := b.Allow(a, 1); ok {
		t.Fatal("bound while the bus is not connected")
	}
	connected = true
	gen, ok := b.Allow(a, 1)
	if !ok {
		t.Fatal("not bound while the bus is connected")
	}
	b.Drain(a, 2, 150*time.Millisecond)
	for _, c := range []struct {
		tenant uuid.UUID
		epoch  int64
		want   bool
	}{{a, 1, false}, {a, 2, true}, {a, 3, true}, {other, 1, true}} {
		if _, ok := b.Allow(c.tenant, c.epoch); ok != c.want {
			t.Errorf("during the drain, Allow(%v, %d) = %v, want %v", c.tenant == a, c.epoch, ok, c.want)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, ok := b.Allow(a, 1); !ok; _, ok = b.Allow(a, 1) {
		if time.Now().After(deadline) {
			t.Fatal("the drain did not lapse")
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.GiveUpAll()
	if g, _ := b.Allow(other, 1); g == gen {
		t.Error("giving every binding up left the generation where it was")
	}
	if sweeps != 2 {
		t.Errorf("%d sweeps after a drain and a give-up, want 2", sweeps)
	}
}
