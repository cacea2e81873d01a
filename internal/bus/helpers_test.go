package bus_test

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tenantkit/tenantkit/internal/bus"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

func TestMain(m *testing.M) { tenantkittest.Main(m) }

// recorder is a Handler that remembers what it was told and when.
type recorder struct {
	mu       sync.Mutex
	resets   []time.Time
	messages []received
	changed  chan struct{}
}

type received struct {
	msg bus.Message
	at  time.Time
}

func newRecorder() *recorder { return &recorder{changed: make(chan struct{}, 1)} }

func (r *recorder) Invalidate(m bus.Message) {
	r.mu.Lock()
	r.messages = append(r.messages, received{m, time.Now()})
	r.mu.Unlock()
	r.signal()
}

func (r *recorder) Reset() {
	r.mu.Lock()
	r.resets = append(r.resets, time.Now())
	r.mu.Unlock()
	r.signal()
}

func (r *recorder) signal() {
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

func (r *recorder) resetCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.resets)
}

// waitFor waits up to timeout for cond, checked whenever the handler is
// called, and fails the test if it never holds.
func (r *recorder) waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		ok := cond()
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-r.changed:
		case <-deadline.C:
			t.Fatalf("no %s within %v", what, timeout)
		}
	}
}

// waitResets waits for the n-th call of Reset and returns its time.
func (r *recorder) waitResets(t testing.TB, n int, timeout time.Duration) time.Time {
	t.Helper()
	r.waitFor(t, timeout, "Reset call #"+strconv.Itoa(n), func() bool { return len(r.resets) >= n })
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.resets[n-1]
}

// waitMessage waits for a message for tenant and returns when it arrived.
func (r *recorder) waitMessage(t testing.TB, tenant string, timeout time.Duration) received {
	t.Helper()
	var got received
	r.waitFor(t, timeout, "message for tenant "+tenant, func() bool {
		for _, m := range r.messages {
			if m.msg.Tenant == tenant {
				got = m
				return true
			}
		}
		return false
	})
	return got
}

// runner is what PGListener and RedisBus share.
type runner interface {
	Run(ctx context.Context, h bus.Handler) error
}

// run starts r in the background with a fresh recorder. Cleanup stops it and
// checks that Run returns promptly once its context is done.
func run(t *testing.T, r runner) *recorder {
	t.Helper()
	rec := newRecorder()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, rec) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v, want nil", err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("Run did not return within 5s of its context ending")
		}
	})
	return rec
}

func timeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// testLogger writes to the test's output, so that a failure shows what the
// subscriber saw.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// waitMessagePublishing publishes and waits for the message for tenant,
// publishing again every second until it arrives or total has passed: on a
// loaded machine a subscription may drop again right after it came back
// (the bus then Resets), and a message sent in that gap is not replayed.
func (r *recorder) waitMessagePublishing(t testing.TB, tenant string, total time.Duration, publish func()) received {
	t.Helper()
	deadline := time.Now().Add(total)
	for {
		publish()
		wait := min(time.Second, time.Until(deadline))
		if got, ok := r.messageWithin(tenant, wait); ok {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("no message for tenant %s within %v of publishing it again and again", tenant, total)
		}
	}
}

// messageWithin is waitMessage without failing the test.
func (r *recorder) messageWithin(tenant string, timeout time.Duration) (received, bool) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		for _, m := range r.messages {
			if m.msg.Tenant == tenant {
				r.mu.Unlock()
				return m, true
			}
		}
		r.mu.Unlock()
		select {
		case <-r.changed:
		case <-deadline.C:
			return received{}, false
		}
	}
}
