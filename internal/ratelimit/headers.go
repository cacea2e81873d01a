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
//
// It runs on every limited request, so it writes the map directly under
// the canonical keys (Set would canonicalize, and allocate, each time) and
// gives the three values one backing array.
func WriteHeaders(h http.Header, r Result) {
	if !r.Degraded {
		v := []string{
			strconv.Itoa(r.Limit), strconv.Itoa(r.Remaining), strconv.FormatInt(ceilSeconds(r.ResetAfter), 10),
		}
		h[hdrLimit], h[hdrRemaining], h[hdrReset] = v[0:1:1], v[1:2:2], v[2:3:3]
	}
	if !r.Allowed {
		h[hdrRetryAfter] = []string{strconv.FormatInt(max(1, ceilSeconds(r.RetryAfter)), 10)}
	}
}

// The headers' canonical forms, as http.Header.Get looks them up.
var (
	hdrLimit      = http.CanonicalHeaderKey("RateLimit-Limit")
	hdrRemaining  = http.CanonicalHeaderKey("RateLimit-Remaining")
	hdrReset      = http.CanonicalHeaderKey("RateLimit-Reset")
	hdrRetryAfter = http.CanonicalHeaderKey("Retry-After")
)

func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}
