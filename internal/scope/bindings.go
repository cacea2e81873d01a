package scope

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// Bindings decides which pooled connections may stay bound to their
// tenant: only while the process hears the bus, where a move announces its
// cutover, and not for a tenant being drained. Its Allow is
// Config.Binding.
type Bindings struct {
	// Connected says whether the process hears the bus.
	Connected func() bool
	// Sweep releases the bindings idle connections may no longer keep.
	Sweep func()

	gen    atomic.Uint64
	n      atomic.Int32 // drains recorded
	drains sync.Map     // uuid.UUID → drainEntry
}

type drainEntry struct {
	epoch int64
	until time.Time
}

// DefaultDrain is how long a drain lasts when its notice does not say,
// and MaxDrain the longest a notice may ask for: a notice from the bus
// cannot keep a tenant's connections from binding for longer.
const (
	DefaultDrain = time.Minute
	MaxDrain     = 10 * time.Minute
)

// Allow says whether sessions may stay bound to tenant at epoch, and in
// which generation: while the bus is connected (a drain cannot be missed)
// and the tenant is not drained at that epoch.
func (b *Bindings) Allow(tenant uuid.UUID, epoch int64) (uint64, bool) {
	if b.Connected == nil || !b.Connected() {
		return 0, false
	}
	if b.n.Load() > 0 {
		if v, ok := b.drains.Load(tenant); ok {
			d := v.(drainEntry)
			if epoch < d.epoch && time.Now().Before(d.until) {
				return 0, false
			}
		}
	}
	return b.gen.Load(), true
}

// Drain gives up the bindings to tenant at epochs older than epoch, for d
// (DefaultDrain when not positive, at most MaxDrain): a cutover is about
// to fence it and waits for them.
func (b *Bindings) Drain(tenant uuid.UUID, epoch int64, d time.Duration) {
	if d <= 0 {
		d = DefaultDrain
	}
	d = min(d, MaxDrain)
	if _, loaded := b.drains.Swap(tenant, drainEntry{epoch: epoch, until: time.Now().Add(d)}); !loaded {
		b.n.Add(1)
	}
	b.sweep()
	time.AfterFunc(d, func() {
		if v, ok := b.drains.Load(tenant); ok && !time.Now().Before(v.(drainEntry).until) {
			if b.drains.CompareAndDelete(tenant, v) {
				b.n.Add(-1)
			}
		}
	})
}

// GiveUpAll gives up every binding: the bus reconnected and may have
// missed a drain.
func (b *Bindings) GiveUpAll() {
	b.gen.Add(1)
	b.sweep()
}

func (b *Bindings) sweep() {
	if b.Sweep != nil {
		b.Sweep()
	}
}
