package ratelimit_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/tenantkit/tenantkit/internal/ratelimit"
)

func BenchmarkLocalAllow(b *testing.B) {
	lim := ratelimit.Limit{Rate: 100, Burst: 50}
	ctx := context.Background()

	b.Run("one_key", func(b *testing.B) {
		l := newBenchLocal(b)
		for b.Loop() {
			if _, err := l.Allow(ctx, "tenant-1", lim); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("many_keys_parallel", func(b *testing.B) {
		l := newBenchLocal(b)
		keys := make([]string, 1<<14)
		for i := range keys {
			keys[i] = "tenant-" + strconv.Itoa(i)
		}
		var worker atomic.Uint64
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := worker.Add(1) * 7919
			for pb.Next() {
				i++
				if _, err := l.Allow(ctx, keys[i&(1<<14-1)], lim); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

func newBenchLocal(b *testing.B) *ratelimit.Local {
	b.ReportAllocs()
	l, err := ratelimit.NewLocal(ratelimit.LocalConfig{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	return l
}
