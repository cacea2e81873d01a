package bus

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"time"
)

const (
	defaultMinBackoff   = 50 * time.Millisecond
	defaultMaxBackoff   = 5 * time.Second
	defaultPingInterval = 15 * time.Second
	maxPingTimeout      = 5 * time.Second
)

// timing holds the reconnect and liveness settings both subscribers share.
type timing struct {
	minBackoff, maxBackoff, pingInterval time.Duration
}

func newTiming(minBackoff, maxBackoff, pingInterval time.Duration) (timing, error) {
	if minBackoff < 0 || maxBackoff < 0 || pingInterval < 0 {
		return timing{}, errors.New("bus: MinBackoff, MaxBackoff and PingInterval must not be negative")
	}
	t := timing{
		minBackoff:   orDefault(minBackoff, defaultMinBackoff),
		maxBackoff:   orDefault(maxBackoff, defaultMaxBackoff),
		pingInterval: orDefault(pingInterval, defaultPingInterval),
	}
	if t.minBackoff > t.maxBackoff {
		return timing{}, errors.New("bus: MinBackoff is greater than MaxBackoff")
	}
	return t, nil
}

func orDefault(v, def time.Duration) time.Duration {
	if v == 0 {
		return def
	}
	return v
}

func orDefaultLogger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.Default()
	}
	return l
}

// pingTimeout is how long a ping may take before the connection is deemed
// dead: long enough for a loaded server, short enough that a silently
// vanished one is noticed within seconds of the idle wait.
func (t timing) pingTimeout() time.Duration { return min(t.pingInterval, maxPingTimeout) }

// backoff yields exponentially growing delays with jitter.
type backoff struct {
	min, max time.Duration
	attempt  int
}

func (b *backoff) next() time.Duration {
	d := b.max
	if b.attempt < 32 {
		if e := b.min << b.attempt; e > 0 && e < b.max {
			d = e
		}
	}
	b.attempt++
	// Equal jitter: half fixed, half random, so a fleet that lost the
	// server at the same moment does not come back in lockstep.
	half := d / 2
	return half + rand.N(d-half+1)
}

func (b *backoff) reset() { b.attempt = 0 }

// session is one connection's life: connect, subscribe, call up once
// subscribed, then deliver until the connection fails or ctx is done.
type session func(ctx context.Context, up func()) error

// runSessions runs session after session until ctx is done, backing off
// between failures. The backoff starts over once a session got subscribed.
func runSessions(ctx context.Context, t timing, log *slog.Logger, what string, s session) {
	b := backoff{min: t.minBackoff, max: t.maxBackoff}
	lost := false
	up := func() {
		if lost {
			log.Info("bus: " + what + " subscription restored")
		}
		lost = false
		b.reset()
	}
	for {
		err := s(ctx, up)
		if ctx.Err() != nil {
			return
		}
		lost = true
		d := b.next()
		log.Warn("bus: "+what+" subscription lost; reconnecting", "err", err, "retry_in", d)
		if !sleep(ctx, d) {
			return
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
