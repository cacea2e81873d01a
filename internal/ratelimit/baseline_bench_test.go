package ratelimit_test

import (
	"testing"

	"golang.org/x/time/rate"
)

// BenchmarkXTimeRateAllow is the baseline make bench sets Local.Allow
// against: golang.org/x/time/rate's token bucket for a single key, with no
// map of keys, no shards and no result.
func BenchmarkXTimeRateAllow(b *testing.B) {
	l := rate.NewLimiter(100, 50)
	b.ReportAllocs()
	for b.Loop() {
		l.Allow()
	}
}
