package tenantkit

import (
	"context"
	"math"
	"testing"

	"github.com/google/uuid"

	"github.com/tenantkit/tenantkit/internal/bus"
)

type fakeSub struct{ connected bool }

func (f *fakeSub) Run(context.Context, bus.Handler) error { return nil }
func (f *fakeSub) Connected() bool                        { return f.connected }

// TestDrainNoticeStopsBinding: a drain notice from the bus stops the
// tenant's bindings at older epochs, whatever length it asks for (NaN,
// infinite and negative give the default), and leaves other tenants'.
func TestDrainNoticeStopsBinding(t *testing.T) {
	sub := &fakeSub{connected: true}
	k := &Kit{sub: sub}
	k.binds.Connected = func() bool { return k.sub.Connected() }
	for _, secs := range []float64{60, math.NaN(), math.Inf(1), -1} {
		a, other := uuid.New(), uuid.New()
		(*invalidator)(k).Invalidate(bus.Message{Tenant: a.String(), DrainEpoch: 9, DrainSeconds: secs})
		if _, ok := k.binds.Allow(a, 8); ok {
			t.Errorf("a drain notice of %v s did not stop the binding", secs)
		}
		if _, ok := k.binds.Allow(other, 8); !ok {
			t.Errorf("a drain notice of %v s stopped another tenant's binding", secs)
		}
	}
	sub.connected = false
	if _, ok := k.binds.Allow(uuid.New(), 1); ok {
		t.Error("bound while the bus is not connected")
	}
}
