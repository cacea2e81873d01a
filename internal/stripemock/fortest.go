package stripemock

import (
	"context"
	"testing"
	"time"
)

// ForTest starts stripe-mock and a Proxy in front of it for a test, both
// stopped when it ends.
func ForTest(tb testing.TB) (*Server, *Proxy) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := Start(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Stop)
	p, err := NewProxy(s.URL())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = p.Close() })
	return s, p
}
