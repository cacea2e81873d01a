package ratelimit

import (
	"net/http"
	"strconv"
	"time"
)

// WriteHeaders reports r to an HTTP client: RateLimit-Limit,
// RateLimit-Remaining and RateLimit-Reset (whole seconds, rounded up), as in
// the IETF httpapi RateLimit header drafts, and for a refused request
// Retry-After in whole seconds, rounded up and at least 1. A degraded Result
// gets no RateLimit-* headers, since the backend's state is unknown; a
// degraded refusal still gets Retry-After.
func WriteHeaders(h http.Header, r Result) {
	if !r.Degraded {
		h.Set("RateLimit-Limit", strconv.Itoa(r.Limit))
		h.Set("RateLimit-Remaining", strconv.Itoa(r.Remaining))
		h.Set("RateLimit-Reset", strconv.FormatInt(ceilSeconds(r.ResetAfter), 10))
	}
	if !r.Allowed {
		h.Set("Retry-After", strconv.FormatInt(max(1, ceilSeconds(r.RetryAfter)), 10))
	}
}

func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}
