package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"
)

// ErrInvalidLimit is returned for a Limit whose Rate or Burst is out of range.
var ErrInvalidLimit = errors.New("ratelimit: invalid limit")

// ErrBackend is wrapped by the error a limiter returns, along with a
// degraded Result, when its backend could not decide.
var ErrBackend = errors.New("ratelimit: backend unavailable")

// Limiter decides whether one more request for key is allowed under l.
type Limiter interface {
	Allow(ctx context.Context, key string, l Limit) (Result, error)
}

// MaxRate is the highest Limit.Rate, in requests per second: Redis keeps
// time in microseconds.
const MaxRate = 1e6

// maxTolerance bounds Burst/Rate so that a TAT, now plus at most this much,
// fits both Local's int64 nanoseconds and the exact integers of the float64
// microseconds of Redis's Lua.
const maxTolerance = 100 * 365 * 24 * time.Hour

// Limit is a request rate with a burst. The zero Limit is invalid.
type Limit struct {
	// Rate is the sustained number of requests per second; it must be in
	// (0, MaxRate]. 1.0/60 is one request a minute.
	Rate float64
	// Burst is how many requests a key that has been idle long enough may
	// make at once; at least 1. Burst/Rate may not exceed 100 years.
	Burst int
}

// Result is a limiter's decision about one request.
type Result struct {
	// Allowed reports whether the request may proceed.
	Allowed bool
	// Limit is the Limit's Burst: the most requests allowed at once, what
	// the RateLimit-Limit header reports.
	Limit int
	// Remaining is how many more requests would be allowed right now.
	Remaining int
	// RetryAfter, for a refused request, is how long until the next request
	// would be allowed.
	RetryAfter time.Duration
	// ResetAfter is how long until the key is back to a full burst.
	ResetAfter time.Duration
	// Degraded reports that the backend failed and the limiter's fail mode
	// decided; Remaining and ResetAfter are then unknown and zero.
	Degraded bool
}

// gcra is a Limit in one clock's unit: the emission interval between two
// requests at the sustained rate, and the tolerance, Burst intervals, by which
// a request's TAT may run ahead of now.
type gcra struct {
	interval, tolerance int64
}

// gcraIn checks l and expresses it in units of unit.
func (l Limit) gcraIn(unit time.Duration) (gcra, error) {
	if !(l.Rate > 0) || l.Rate > MaxRate || l.Burst < 1 {
		return gcra{}, l.invalid()
	}
	limit := int64(maxTolerance / unit)
	f := math.Round(float64(time.Second/unit) / l.Rate)
	if f*float64(l.Burst) > float64(limit) { // before int64(f) can overflow
		return gcra{}, l.invalid()
	}
	interval := int64(f)
	if interval > limit/int64(l.Burst) {
		return gcra{}, l.invalid()
	}
	return gcra{interval: interval, tolerance: interval * int64(l.Burst)}, nil
}

func (l Limit) invalid() error {
	return fmt.Errorf("%w: rate %v/s, burst %d", ErrInvalidLimit, l.Rate, l.Burst)
}

// decide is GCRA at now for a key whose stored TAT is tat (zero or past when
// the key is at full burst), in nanoseconds. It returns the TAT to store,
// which is tat itself when the request is refused.
func (g gcra) decide(now, tat int64, burst int) (int64, Result) {
	tat = max(tat, now)
	next := tat + g.interval
	allowAt := next - g.tolerance
	if now < allowAt {
		return tat, Result{
			Limit:      burst,
			RetryAfter: time.Duration(allowAt - now),
			ResetAfter: time.Duration(tat - now),
		}
	}
	return next, Result{
		Allowed:    true,
		Limit:      burst,
		Remaining:  int((now - allowAt) / g.interval),
		ResetAfter: time.Duration(next - now),
	}
}
