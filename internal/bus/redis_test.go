package bus_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/tenantkit/tenantkit/internal/bus"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

func newRedisBus(t testing.TB, cfg bus.RedisConfig) *bus.RedisBus {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	b, err := bus.NewRedis(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func TestRedisSubscribersBothReceiveAMessage(t *testing.T) {
	t.Parallel()
	srv := tenantkittest.StartRedis(t)
	sa, sb := newRedisBus(t, bus.RedisConfig{URL: srv.URL()}), newRedisBus(t, bus.RedisConfig{URL: srv.URL()})
	a, b := run(t, sa), run(t, sb)
	a.waitResets(t, 1, 10*time.Second)
	b.waitResets(t, 1, 10*time.Second)
	// The cache is dropped before a bus reports itself connected.
	waitUntil(t, 5*time.Second, "Connected() after the first Reset", func() bool { return sa.Connected() && sb.Connected() })

	want := bus.Message{Tenant: "0b7e3c0e-3f4e-4c55-9a39-6f7f2f0c1a11", Slugs: []string{"acme"}, Hosts: []string{"shop.acme.test"}}
	pub := newRedisBus(t, bus.RedisConfig{URL: srv.URL()})
	sent := time.Now()
	if err := pub.Publish(timeout(t, 5*time.Second), want); err != nil {
		t.Fatal(err)
	}
	for name, r := range map[string]*recorder{"a": a, "b": b} {
		got := r.waitMessage(t, want.Tenant, time.Second)
		if got.msg.Encode() != want.Encode() {
			t.Errorf("subscriber %s got %+v, want %+v", name, got.msg, want)
		}
		t.Logf("subscriber %s: delivered in %v", name, got.at.Sub(sent))
	}
}

func TestRedisResubscribesAfterServerRestart(t *testing.T) {
	t.Parallel()
	srv := tenantkittest.StartRedis(t)
	sub := newRedisBus(t, bus.RedisConfig{URL: srv.URL()})
	r := run(t, sub)
	r.waitResets(t, 1, 10*time.Second)

	srv.Stop()
	waitUntil(t, 5*time.Second, "Connected() false after the server died", func() bool { return !sub.Connected() })
	if r.resetCount() != 1 {
		t.Fatalf("%d Reset calls while the server is down, want 1", r.resetCount())
	}
	srv.Restart(t)
	up := time.Now()
	reset := r.waitResets(t, 2, 15*time.Second)
	t.Logf("subscriber resubscribed %v after the server was back", reset.Sub(up))

	pub := newRedisBus(t, bus.RedisConfig{URL: srv.URL()})
	sent := time.Now()
	if err := pub.Publish(timeout(t, 5*time.Second), bus.Message{Tenant: "after-restart"}); err != nil {
		t.Fatal(err)
	}
	got := r.waitMessage(t, "after-restart", time.Second)
	t.Logf("delivered in %v after the restart", got.at.Sub(sent))
}

func TestRedisDetectsSilentServer(t *testing.T) {
	t.Parallel()
	srv := tenantkittest.StartRedis(t)
	proxy := startProxy(t, srv.Addr())
	r := run(t, newRedisBus(t, bus.RedisConfig{URL: "redis://" + proxy.Addr(), PingInterval: 200 * time.Millisecond}))
	r.waitResets(t, 1, 10*time.Second)

	cut := time.Now()
	proxy.Blackhole()
	reset := r.waitResets(t, 2, 20*time.Second)
	t.Logf("silent server noticed and resubscribed in %v", reset.Sub(cut))

	pub := newRedisBus(t, bus.RedisConfig{URL: srv.URL()})
	r.waitMessagePublishing(t, "after-cut", 15*time.Second, func() {
		if err := pub.Publish(timeout(t, 5*time.Second), bus.Message{Tenant: "after-cut"}); err != nil {
			t.Fatal(err)
		}
	})
}

func TestRedisResetsOnUndecodablePayload(t *testing.T) {
	t.Parallel()
	srv := tenantkittest.StartRedis(t)
	sub := newRedisBus(t, bus.RedisConfig{URL: srv.URL()})
	r := run(t, sub)
	r.waitResets(t, 1, 10*time.Second)
	raw := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = raw.Close() })
	if err := raw.Publish(timeout(t, 5*time.Second), bus.Channel, "not json").Err(); err != nil {
		t.Fatal(err)
	}
	r.waitResets(t, 2, time.Second)
	if !sub.Connected() {
		t.Error("Connected() = false after an undecodable message")
	}
}

func TestFanoutPublishesOnEveryBus(t *testing.T) {
	t.Parallel()
	db := tenantkittest.NewDatabase(t)
	srv := tenantkittest.StartRedis(t)
	onPG := run(t, newListener(t, bus.PGListenerConfig{ConnString: db.AppDSN()}))
	onRedis := run(t, newRedisBus(t, bus.RedisConfig{URL: srv.URL()}))
	onPG.waitResets(t, 1, 10*time.Second)
	onRedis.waitResets(t, 1, 10*time.Second)

	pool, err := pgxpool.New(context.Background(), db.OwnerDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	f := bus.Fanout{bus.NewPGPublisher(pool), newRedisBus(t, bus.RedisConfig{URL: srv.URL()})}
	if err := f.Publish(timeout(t, 5*time.Second), bus.Message{Tenant: "both"}); err != nil {
		t.Fatal(err)
	}
	onPG.waitMessage(t, "both", time.Second)
	onRedis.waitMessage(t, "both", time.Second)
}

func TestNewRedisValidates(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]bus.RedisConfig{
		"no URL":        {},
		"bad scheme":    {URL: "http://localhost:6379"},
		"min above max": {URL: "redis://localhost:6379", MinBackoff: time.Second, MaxBackoff: time.Millisecond},
	} {
		if _, err := bus.NewRedis(cfg); err == nil {
			t.Errorf("%s: NewRedis succeeded, want an error", name)
		}
	}
}
