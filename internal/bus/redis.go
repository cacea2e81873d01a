package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisConfig configures a RedisBus.
type RedisConfig struct {
	// URL locates the server, as redis.ParseURL reads it:
	// redis://[[user]:password@]host[:port][/db] or rediss:// for TLS.
	// Required.
	URL string
	// Logger receives lost subscriptions and undecodable payloads. Defaults
	// to slog.Default().
	Logger *slog.Logger
	// MinBackoff is the delay before the first resubscribe attempt; it
	// doubles, with jitter, at each failed attempt. Defaults to 50ms.
	MinBackoff time.Duration
	// MaxBackoff caps the delay between resubscribe attempts. Defaults to 5s.
	MaxBackoff time.Duration
	// PingInterval is how long Run waits without a message before it pings
	// the server, so that a server that vanished without closing the
	// connection is noticed. Defaults to 15s.
	PingInterval time.Duration
}

// RedisBus publishes and receives messages with Redis pub/sub, for
// deployments that prefer Redis to LISTEN/NOTIFY.
type RedisBus struct {
	client    *redis.Client
	log       *slog.Logger
	timing    timing
	running   atomic.Bool
	connected atomic.Bool
}

// NewRedis returns a RedisBus; it connects on first use.
func NewRedis(cfg RedisConfig) (*RedisBus, error) {
	if cfg.URL == "" {
		return nil, errors.New("bus: RedisConfig.URL is required")
	}
	opts, err := redis.ParseURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("bus: parse URL: %w", err)
	}
	t, err := newTiming(cfg.MinBackoff, cfg.MaxBackoff, cfg.PingInterval)
	if err != nil {
		return nil, err
	}
	return &RedisBus{client: redis.NewClient(opts), log: orDefaultLogger(cfg.Logger), timing: t}, nil
}

// Close releases the bus's connections. Stop Run first.
func (b *RedisBus) Close() error { return b.client.Close() }

// Publish sends m to every subscriber.
func (b *RedisBus) Publish(ctx context.Context, m Message) error {
	if err := b.client.Publish(ctx, Channel, m.Encode()).Err(); err != nil {
		return fmt.Errorf("bus: redis publish: %w", err)
	}
	return nil
}

// Connected reports whether Run is subscribed, for readiness checks.
func (b *RedisBus) Connected() bool { return b.connected.Load() }

// Run subscribes to Channel and hands messages to h until ctx is done, then
// returns nil. After every confirmed (re)subscription, the first included,
// it calls h.Reset, since messages sent while unsubscribed are lost. It calls
// h from its own goroutine, one call at a time. A bus runs once at a time: a
// second concurrent Run returns an error.
func (b *RedisBus) Run(ctx context.Context, h Handler) error {
	if !b.running.CompareAndSwap(false, true) {
		return errors.New("bus: RedisBus is already running")
	}
	defer b.running.Store(false)
	runSessions(ctx, b.timing, b.log, "redis", func(ctx context.Context, up func()) error {
		defer b.connected.Store(false)
		return b.session(ctx, h, up)
	})
	return nil
}

// session subscribes on a PubSub of its own and ends at the first error.
// go-redis would redial and resubscribe by itself, but owning the loop keeps
// one backoff policy and lets a failed ping end the connection.
func (b *RedisBus) session(ctx context.Context, h Handler, up func()) error {
	ps := b.client.Subscribe(ctx)
	defer ps.Close()
	// A receive blocked on the socket does not watch ctx; closing does.
	stop := context.AfterFunc(ctx, func() { _ = ps.Close() })
	defer stop()
	if err := ps.Subscribe(ctx, Channel); err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	pinged := false
	for {
		timeout := b.timing.pingInterval
		if pinged {
			timeout = b.timing.pingTimeout()
		}
		msg, err := ps.ReceiveTimeout(ctx, timeout)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			if pinged || !isTimeout(err) {
				return err
			}
			if err := ps.Ping(ctx); err != nil {
				return fmt.Errorf("ping: %w", err)
			}
			pinged = true
			continue
		}
		pinged = false // anything received shows the connection is alive
		b.handle(msg, h, up)
	}
}

func (b *RedisBus) handle(msg any, h Handler, up func()) {
	switch msg := msg.(type) {
	case *redis.Subscription:
		if msg.Kind == "subscribe" && msg.Channel == Channel {
			// Drop what may be stale before anyone sees us connected.
			h.Reset()
			b.connected.Store(true)
			up()
		}
	case *redis.Message:
		if msg.Channel == Channel {
			deliver(b.log, h, msg.Payload)
		}
	case *redis.Pong:
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
