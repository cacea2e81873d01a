package client

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/http"
	"time"
)

// retryWait decides whether the attempt that ended in err is retried, and
// after how long. A request is retried only when the server did not do its
// work or doing it again changes nothing:
//
//   - 429 and 503, whatever the method: the server refused the request
//     before doing anything;
//   - 502 and 504, and a connection lost without an answer, only for the
//     idempotent GET, HEAD, PUT and DELETE: a POST or a PATCH may have been
//     done, and doing it twice would create or change something twice.
//
// The wait is the answer's Retry-After, or a backoff doubling from
// RetryWaitMin. It is not retried when the caller's context ends before
// the wait would, or when Retry-After asks for longer than RetryWaitMax.
func (c *Client) retryWait(ctx context.Context, r request, err error, attempt int) (time.Duration, bool) {
	if err == nil || r.noRetry || attempt >= c.maxRetries || ctx.Err() != nil {
		return 0, false
	}
	var (
		e    *Error
		na   *noAnswer
		wait time.Duration
	)
	switch {
	case errors.As(err, &e):
		if !retryable(r.method, e.Status) || e.RetryAfter > c.waitMax {
			return 0, false
		}
		wait = e.RetryAfter
	case errors.As(err, &na):
		// A timeout took the caller's whole budget for the request
		// already; another would double it.
		if !idempotent(r.method) || isTimeout(err) {
			return 0, false
		}
	default:
		// Not the server's doing, such as an answer that cannot be read:
		// asking again would change nothing.
		return 0, false
	}
	if wait == 0 {
		wait = c.backoff(attempt)
	}
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait {
		return 0, false
	}
	return wait, true
}

func retryable(method string, status int) bool {
	switch status {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		return true
	case http.StatusBadGateway, http.StatusGatewayTimeout:
		return idempotent(method)
	}
	return false
}

func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// backoff is RetryWaitMin doubled attempt times, capped at RetryWaitMax,
// with up to a quarter taken off at random so that clients refused at the
// same moment do not all come back at the same moment.
func (c *Client) backoff(attempt int) time.Duration {
	d := c.waitMin
	for range attempt {
		if d >= c.waitMax/2 {
			d = c.waitMax
			break
		}
		d *= 2
	}
	d = min(d, c.waitMax)
	if q := int64(d / 4); q > 0 {
		d -= time.Duration(rand.Int64N(q))
	}
	return d
}
