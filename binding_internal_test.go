package tenantkit

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tenantkit/tenantkit/internal/bus"
)

type fakeSub struct{ connected bool }

func (f *fakeSub) Run(context.Context, bus.Handler) error { return nil }
func (f *fakeSub) Connected() bool                        { return f.connected }

// TestBindingFollowsTheBusAndDrains: connections may stay bound only while
// the bus is connected; a drain stops bindings of the tenant at older
// epochs, not at the new one nor of other tenants, until it lapses; a
// reconnection moves the generation on, so every binding made before is
// given up.
func TestBindingFollowsTheBusAndDrains(t *testing.T) {
	sub := &fakeSub{}
	k := &Kit{sub: sub}
	a, b := uuid.New(), uuid.New()
	if _, ok := k.binding(a, 1); ok {
		t.Fatal("bound while the bus is not connected")
	}
	sub.connected = true
	gen, ok := k.binding(a, 1)
	if !ok {
		t.Fatal("not bound while the bus is connected")
	}
	k.drain(a, 2, 150*time.Millisecond)
	for _, c := range []struct {
		tenant uuid.UUID
		epoch  int64
		want   bool
	}{{a, 1, false}, {a, 2, true}, {a, 3, true}, {b, 1, true}} {
		if _, ok := k.binding(c.tenant, c.epoch); ok != c.want {
			t.Errorf("during the drain, binding(%v, %d) = %v, want %v", c.tenant == a, c.epoch, ok, c.want)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, ok := k.binding(a, 1); !ok; _, ok = k.binding(a, 1) {
		if time.Now().After(deadline) {
			t.Fatal("the drain did not lapse")
		}
		time.Sleep(10 * time.Millisecond)
	}
	(*invalidator)(k).Invalidate(bus.Message{Tenant: a.String(), DrainEpoch: 9, DrainSeconds: 60})
	if _, ok := k.binding(a, 8); ok {
		t.Error("a drain notice from the bus did not stop the binding")
	}
	k.unbindAll()
	if g, _ := k.binding(b, 1); g == gen {
		t.Error("a reconnection left the binding generation where it was")
	}
}
