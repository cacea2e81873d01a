package tenantkit

import (
	"context"
	"time"

	"github.com/tenantkit/tenantkit/internal/meter"
)

// SetUsageSinkFunc wraps the Kit's usage sink (call before Start).
func SetUsageSinkFunc(k *Kit, f func(meter.Sink) meter.Sink) { k.sinkFunc = f }

// ManualLoadTicks leaves the load window's ticks to the test (call before
// Start); TickLoad closes a bucket.
func ManualLoadTicks(k *Kit) { k.manualTick = true }

// TickLoad closes the current load bucket now.
func TickLoad(k *Kit) { k.obs.meter.Tick() }

// PruneUsageEvery sets how often the Kit prunes usage (call before Start).
func PruneUsageEvery(k *Kit, d time.Duration) { k.pruneEvery = d }

// DieAfterCommits makes kit leave the jobs of the transactions it commits
// from now on in their database's outbox, and its marks to expire, as a
// process that died right after its commits would.
func DieAfterCommits(kit *Kit) { kit.jobs.dead.Store(true) }

// FanOut runs periodic declaration name's fan-out for the period starting
// at period, as its River job does, and returns how many jobs it enqueued.
func FanOut(ctx context.Context, kit *Kit, name string, period time.Time) (int, error) {
	return kit.jobs.fanOut(ctx, name, period)
}
