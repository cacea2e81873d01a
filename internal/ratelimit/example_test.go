package ratelimit_test

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/tenantkit/tenantkit/internal/ratelimit"
)

func ExampleLocal() {
	clock := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	lim, err := ratelimit.NewLocal(ratelimit.LocalConfig{NowFunc: func() time.Time { return clock }})
	if err != nil {
		panic(err)
	}
	defer lim.Close()

	perTenant := ratelimit.Limit{Rate: 2, Burst: 3} // two a second, three at once
	for range 4 {
		r, _ := lim.Allow(context.Background(), "tenant-42", perTenant)
		fmt.Printf("allowed=%v remaining=%d retry_after=%v\n", r.Allowed, r.Remaining, r.RetryAfter)
	}
	clock = clock.Add(500 * time.Millisecond)
	r, _ := lim.Allow(context.Background(), "tenant-42", perTenant)
	fmt.Printf("500ms later: allowed=%v remaining=%d\n", r.Allowed, r.Remaining)
	// Output:
	// allowed=true remaining=2 retry_after=0s
	// allowed=true remaining=1 retry_after=0s
	// allowed=true remaining=0 retry_after=0s
	// allowed=false remaining=0 retry_after=500ms
	// 500ms later: allowed=true remaining=0
}

func ExampleWriteHeaders() {
	h := http.Header{}
	ratelimit.WriteHeaders(h, ratelimit.Result{Limit: 5, RetryAfter: 1500 * time.Millisecond, ResetAfter: 4 * time.Second})
	for _, name := range []string{"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "Retry-After"} {
		fmt.Printf("%s: %s\n", name, h.Get(name))
	}
	// Output:
	// RateLimit-Limit: 5
	// RateLimit-Remaining: 0
	// RateLimit-Reset: 4
	// Retry-After: 2
}
