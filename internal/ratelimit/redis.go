package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// RedisConfig configures a Redis limiter. Exactly one of Client and URL is
// required.
type RedisConfig struct {
	// Client is a client the caller owns, such as a cluster client; Close
	// leaves it open. Without its ContextTimeoutEnabled, a call may outlast
	// Timeout, up to the client's own read and write timeouts. Defaults to
	// nil: the limiter connects to URL.
	Client redis.UniversalClient
	// URL locates the server, as redis.ParseURL reads it:
	// redis://[[user]:password@]host[:port][/db] or rediss:// for TLS. The
	// limiter owns this client and closes it in Close. Required unless
	// Client is set.
	URL string
	// Prefix is put before every key. Defaults to "tenantkit:rl:".
	Prefix string
	// FailOpen allows requests while Redis cannot answer, trading the
	// limit for availability. Defaults to false: refused, retry after 1s.
	FailOpen bool
	// Timeout bounds each call to Redis. Defaults to 50ms.
	Timeout time.Duration
	// Registerer receives tenantkit_ratelimit_decisions_total{backend="redis"}
	// and tenantkit_ratelimit_backend_errors_total. Defaults to nil: the
	// counters count unregistered.
	Registerer prometheus.Registerer
	// Logger receives the loss and return of Redis, once each per outage.
	// Defaults to slog.Default().
	Logger *slog.Logger
}

func (c *RedisConfig) validate() error {
	if (c.Client == nil) == (c.URL == "") {
		return errors.New("ratelimit: RedisConfig needs exactly one of Client and URL")
	}
	if c.Timeout < 0 {
		return errors.New("ratelimit: RedisConfig.Timeout is negative")
	}
	return nil
}

// gcraScript is GCRA on the server's clock, in microseconds, which Lua's
// float64 numbers hold exactly. A key missing or past its TAT is at full
// burst, so the TAT is stored to expire when it passes.
//
// KEYS[1] is the key; ARGV[1] the emission interval in microseconds; ARGV[2]
// the burst. The reply is {allowed (0|1), remaining, retry after µs, reset
// after µs}.
const gcraScript = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local next = tat + interval
local allow_at = next - interval * burst
if now < allow_at then
	return {0, 0, allow_at - now, tat - now}
end
redis.call('SET', KEYS[1], string.format('%.0f', next), 'PX', math.ceil((next - now) / 1000))
return {1, math.floor((now - allow_at) / interval), 0, next - now}
`

// Redis limits requests with state kept in Redis, so that every instance
// sharing the server shares the limit. It is safe for concurrent use.
type Redis struct {
	client   redis.UniversalClient
	owned    bool
	script   *redis.Script
	prefix   string
	failOpen bool
	timeout  time.Duration
	log      *slog.Logger
	counts   decisionCounters
	failures prometheus.Counter
	down     atomic.Bool
}

var _ Limiter = (*Redis)(nil)

// NewRedis returns a Redis limiter; it connects on first use.
func NewRedis(cfg RedisConfig) (*Redis, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	r := &Redis{
		client: cfg.Client, script: redis.NewScript(gcraScript), prefix: cfg.Prefix,
		failOpen: cfg.FailOpen, timeout: cfg.Timeout, log: cfg.Logger,
	}
	r.applyDefaults()
	var err error
	if r.counts, err = newDecisionCounters(cfg.Registerer, "redis"); err != nil {
		return nil, err
	}
	if r.failures, err = newBackendErrors(cfg.Registerer, cfg.FailOpen); err != nil {
		return nil, err
	}
	if cfg.URL != "" {
		opts, err := redis.ParseURL(cfg.URL)
		if err != nil {
			return nil, fmt.Errorf("ratelimit: parse URL: %w", err)
		}
		opts.ContextTimeoutEnabled = true
		r.client, r.owned = redis.NewClient(opts), true
	}
	return r, nil
}

func (r *Redis) applyDefaults() {
	if r.prefix == "" {
		r.prefix = "tenantkit:rl:"
	}
	if r.timeout == 0 {
		r.timeout = 50 * time.Millisecond
	}
	if r.log == nil {
		r.log = slog.Default()
	}
}

// Close closes the client the limiter opened from RedisConfig.URL.
func (r *Redis) Close() error {
	if !r.owned {
		return nil
	}
	return r.client.Close()
}

// Allow decides whether one more request for key is allowed under lim, and
// counts it against key if so. When Redis fails, it returns the fail mode's
// degraded Result with an error wrapping ErrBackend; when ctx ends first, a
// refusal with ctx's error. An invalid lim is an error wrapping
// ErrInvalidLimit.
func (r *Redis) Allow(ctx context.Context, key string, lim Limit) (Result, error) {
	g, err := lim.gcraIn(time.Microsecond)
	if err != nil {
		return Result{}, err
	}
	callCtx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	reply, err := r.script.Run(callCtx, r.client, []string{r.prefix + key}, g.interval, lim.Burst).Int64Slice()
	if err == nil && len(reply) != 4 {
		err = fmt.Errorf("script replied %d values, want 4", len(reply))
	}
	if err != nil {
		if ctx.Err() != nil {
			return Result{Limit: lim.Burst}, fmt.Errorf("ratelimit: %w", ctx.Err())
		}
		return r.degraded(lim, err)
	}
	r.markUp()
	res := Result{
		Allowed:    reply[0] == 1,
		Limit:      lim.Burst,
		Remaining:  int(reply[1]),
		RetryAfter: time.Duration(reply[2]) * time.Microsecond,
		ResetAfter: time.Duration(reply[3]) * time.Microsecond,
	}
	r.counts.count(res.Allowed)
	return res, nil
}

// degraded is the fail mode's decision when Redis could not make one.
func (r *Redis) degraded(lim Limit, cause error) (Result, error) {
	r.failures.Inc()
	if r.down.CompareAndSwap(false, true) {
		r.log.Warn("ratelimit: redis unavailable, deciding by fail mode",
			"mode", failMode(r.failOpen), "err", cause)
	}
	res := Result{Allowed: r.failOpen, Limit: lim.Burst, Degraded: true}
	if !r.failOpen {
		res.RetryAfter = time.Second
	}
	r.counts.count(res.Allowed)
	return res, fmt.Errorf("%w: redis: %w", ErrBackend, cause)
}

func (r *Redis) markUp() {
	if r.down.Load() && r.down.CompareAndSwap(true, false) {
		r.log.Info("ratelimit: redis available again")
	}
}
