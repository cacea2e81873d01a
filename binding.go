package tenantkit

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
)

// bindings decides which pooled connections may stay bound to their
// tenant (see internal/scope): only while the Kit hears the bus, where a
// move announces its cutover, and not for a tenant being drained.
type bindings struct {
	gen    atomic.Uint64
	n      atomic.Int32 // drains recorded
	drains sync.Map     // uuid.UUID → drainEntry
}

type drainEntry struct {
	epoch int64
	until time.Time
}

// defaultDrain is how long a drain lasts when its message does not say,
// and maxDrain the longest a message may ask for: a notice from the bus
// cannot keep a tenant's connections from binding for longer.
const (
	defaultDrain = time.Minute
	maxDrain     = 10 * time.Minute
)

// binding is scope.Config.Binding: sessions may stay bound while the bus
// is connected (a drain cannot be missed) and the tenant is not drained at
// that epoch.
func (k *Kit) binding(tenant uuid.UUID, epoch int64) (uint64, bool) {
	if k.sub == nil || !k.sub.Connected() {
		return 0, false
	}
	if k.binds.n.Load() > 0 {
		if v, ok := k.binds.drains.Load(tenant); ok {
			d := v.(drainEntry)
			if epoch < d.epoch && time.Now().Before(d.until) {
				return 0, false
			}
		}
	}
	return k.binds.gen.Load(), true
}

// drain gives up the bindings to tenant at epochs older than epoch: a
// cutover is about to fence it and waits for them.
func (k *Kit) drain(tenant uuid.UUID, epoch int64, d time.Duration) {
	if d <= 0 {
		d = defaultDrain
	}
	d = min(d, maxDrain)
	if _, loaded := k.binds.drains.Swap(tenant, drainEntry{epoch: epoch, until: time.Now().Add(d)}); !loaded {
		k.binds.n.Add(1)
	}
	k.sweepBindings()
	time.AfterFunc(d, func() {
		if v, ok := k.binds.drains.Load(tenant); ok && !time.Now().Before(v.(drainEntry).until) {
			if k.binds.drains.CompareAndDelete(tenant, v) {
				k.binds.n.Add(-1)
			}
		}
	})
}

// unbindAll gives up every binding: the bus reconnected and may have
// missed a drain.
func (k *Kit) unbindAll() {
	k.binds.gen.Add(1)
	k.sweepBindings()
}

// sweepBindings releases the bindings idle connections may no longer
// keep, now and twice shortly after: a connection whose use ended just
// before the news is back in its pool only a moment later. Connections in
// use release theirs when their use ends.
func (k *Kit) sweepBindings() {
	if k.router == nil || k.scoper == nil {
		return
	}
	go func() {
		for _, wait := range []time.Duration{0, 50 * time.Millisecond, 250 * time.Millisecond} {
			time.Sleep(wait)
			k.router.Each(func(p *pgxpool.Pool) {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				for _, c := range p.AcquireAllIdle(ctx) {
					k.scoper.Release(ctx, c.Conn())
					c.Release()
				}
			})
		}
	}()
}
