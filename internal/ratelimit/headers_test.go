package ratelimit_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/tenantkit/tenantkit/internal/ratelimit"
)

func TestWriteHeaders(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		r    ratelimit.Result
		want map[string]string // "" for a header that must be absent
	}{{
		name: "allowed",
		r:    ratelimit.Result{Allowed: true, Limit: 5, Remaining: 3, ResetAfter: 1200 * time.Millisecond},
		want: map[string]string{"RateLimit-Limit": "5", "RateLimit-Remaining": "3", "RateLimit-Reset": "2", "Retry-After": ""},
	}, {
		name: "allowed at full burst",
		r:    ratelimit.Result{Allowed: true, Limit: 1, Remaining: 0, ResetAfter: 3 * time.Second},
		want: map[string]string{"RateLimit-Limit": "1", "RateLimit-Remaining": "0", "RateLimit-Reset": "3", "Retry-After": ""},
	}, {
		name: "refused",
		r:    ratelimit.Result{Limit: 20, RetryAfter: 2500 * time.Millisecond, ResetAfter: 59*time.Second + time.Microsecond},
		want: map[string]string{"RateLimit-Limit": "20", "RateLimit-Remaining": "0", "RateLimit-Reset": "60", "Retry-After": "3"},
	}, {
		name: "refused for less than a second",
		r:    ratelimit.Result{Limit: 5, RetryAfter: 100 * time.Millisecond, ResetAfter: 500 * time.Millisecond},
		want: map[string]string{"RateLimit-Limit": "5", "RateLimit-Remaining": "0", "RateLimit-Reset": "1", "Retry-After": "1"},
	}, {
		name: "refused for whole seconds",
		r:    ratelimit.Result{Limit: 5, RetryAfter: 4 * time.Second, ResetAfter: 8 * time.Second},
		want: map[string]string{"RateLimit-Limit": "5", "RateLimit-Remaining": "0", "RateLimit-Reset": "8", "Retry-After": "4"},
	}, {
		name: "degraded open",
		r:    ratelimit.Result{Allowed: true, Limit: 5, Degraded: true},
		want: map[string]string{"RateLimit-Limit": "", "RateLimit-Remaining": "", "RateLimit-Reset": "", "Retry-After": ""},
	}, {
		name: "degraded closed",
		r:    ratelimit.Result{Limit: 5, RetryAfter: time.Second, Degraded: true},
		want: map[string]string{"RateLimit-Limit": "", "RateLimit-Remaining": "", "RateLimit-Reset": "", "Retry-After": "1"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := http.Header{}
			ratelimit.WriteHeaders(h, tt.r)
			for name, want := range tt.want {
				if got := h.Get(name); got != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
			if len(h) != countSet(tt.want) {
				t.Errorf("wrote %d headers (%v), want %d", len(h), h, countSet(tt.want))
			}
		})
	}
}

func countSet(m map[string]string) int {
	n := 0
	for _, v := range m {
		if v != "" {
			n++
		}
	}
	return n
}
