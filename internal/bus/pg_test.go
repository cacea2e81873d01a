package bus_test

import (
	"context"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantkit/tenantkit/internal/bus"
	"github.com/tenantkit/tenantkit/internal/pgcluster"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

func newListener(t testing.TB, cfg bus.PGListenerConfig) *bus.PGListener {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	l, err := bus.NewPGListener(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func connect(t testing.TB, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(timeout(t, 10*time.Second), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func notify(t testing.TB, conn *pgx.Conn, payload string) time.Time {
	t.Helper()
	sent := time.Now()
	if _, err := conn.Exec(timeout(t, 5*time.Second), "SELECT pg_notify($1, $2)", bus.Channel, payload); err != nil {
		t.Fatal(err)
	}
	return sent
}

func TestPGListenersBothReceiveANotification(t *testing.T) {
	t.Parallel()
	db := tenantkittest.NewDatabase(t)
	a := run(t, newListener(t, bus.PGListenerConfig{ConnString: db.AppDSN()}))
	b := run(t, newListener(t, bus.PGListenerConfig{ConnString: db.AppDSN()}))
	a.waitResets(t, 1, 10*time.Second)
	b.waitResets(t, 1, 10*time.Second)

	want := bus.Message{Tenant: "0b7e3c0e-3f4e-4c55-9a39-6f7f2f0c1a11", Slugs: []string{"acme", "acme-old"}, Hosts: []string{"shop.acme.test"}}
	sent := notify(t, connect(t, db.OwnerDSN()), want.Encode())
	for name, r := range map[string]*recorder{"a": a, "b": b} {
		got := r.waitMessage(t, want.Tenant, time.Second)
		if got.msg.Encode() != want.Encode() {
			t.Errorf("listener %s got %+v, want %+v", name, got.msg, want)
		}
		t.Logf("listener %s: delivered in %v", name, got.at.Sub(sent))
	}
}

func TestPGListenerResetsOnUndecodablePayload(t *testing.T) {
	t.Parallel()
	db := tenantkittest.NewDatabase(t)
	r := run(t, newListener(t, bus.PGListenerConfig{ConnString: db.AppDSN()}))
	r.waitResets(t, 1, 10*time.Second)
	conn := connect(t, db.OwnerDSN())
	notify(t, conn, "not json")
	r.waitResets(t, 2, time.Second)
	// Still listening afterwards.
	notify(t, conn, bus.Message{Tenant: "after"}.Encode())
	r.waitMessage(t, "after", time.Second)
}

func TestPGPublisherPublishes(t *testing.T) {
	t.Parallel()
	db := tenantkittest.NewDatabase(t)
	l := newListener(t, bus.PGListenerConfig{ConnString: db.AppDSN()})
	r := run(t, l)
	r.waitResets(t, 1, 10*time.Second)
	// The cache is dropped before the listener reports itself connected.
	waitUntil(t, 5*time.Second, "Connected() after the first Reset", l.Connected)
	pool, err := pgxpool.New(context.Background(), db.OwnerDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	pub := bus.NewPGPublisher(pool)
	ctx := timeout(t, 10*time.Second)

	if err := pub.Publish(ctx, bus.Message{Tenant: "t1"}); err != nil {
		t.Fatal(err)
	}
	r.waitMessage(t, "t1", time.Second)

	// Inside a transaction the message goes out at commit, not before.
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.NewPGPublisher(tx).Publish(ctx, bus.Message{Tenant: "t2"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	r.mu.Lock()
	early := len(r.messages)
	r.mu.Unlock()
	if early != 1 {
		t.Fatalf("%d messages before commit, want 1", early)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	r.waitMessage(t, "t2", time.Second)

	// Too large for NOTIFY: everything is dropped instead.
	huge := bus.Message{Tenant: "t3", Hosts: []string{strings.Repeat("h", 9000)}}
	if err := pub.Publish(ctx, huge); err != nil {
		t.Fatal(err)
	}
	r.waitFor(t, time.Second, "All message", func() bool {
		return len(r.messages) == 3 && r.messages[2].msg.All
	})
}

// TestPGListenerReconnectsAfterServerRestart restarts a private cluster
// under a connected listener.
func TestPGListenerReconnectsAfterServerRestart(t *testing.T) {
	t.Parallel()
	dir, err := os.MkdirTemp("", "bus-restart-")
	if err != nil {
		t.Fatal(err)
	}
	// When the tests run as root the server runs as postgres, which must
	// reach the directory.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ctx := timeout(t, 2*time.Minute)
	cluster, err := pgcluster.Start(ctx, pgcluster.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cluster.Stop() })
	dsn := cluster.SuperuserURL("postgres")

	l := newListener(t, bus.PGListenerConfig{ConnString: dsn})
	r := run(t, l)
	r.waitResets(t, 1, 10*time.Second)

	if err := cluster.Stop(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 5*time.Second, "Connected() false after the server stopped", func() bool { return !l.Connected() })
	if r.resetCount() != 1 {
		t.Fatalf("%d Reset calls while the server is down, want 1", r.resetCount())
	}
	restarted, err := pgcluster.Start(ctx, pgcluster.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if restarted.Port() != cluster.Port() {
		t.Fatalf("cluster came back on port %d, not %d", restarted.Port(), cluster.Port())
	}
	up := time.Now()
	reset := r.waitResets(t, 2, 15*time.Second)
	t.Logf("listener reconnected %v after the server was back", reset.Sub(up))

	sent := notify(t, connect(t, dsn), bus.Message{Tenant: "after-restart"}.Encode())
	got := r.waitMessage(t, "after-restart", time.Second)
	t.Logf("delivered in %v after the restart", got.at.Sub(sent))
}

// TestPGListenerDetectsSilentServer cuts the connection without closing it:
// only the listener's ping can notice.
func TestPGListenerDetectsSilentServer(t *testing.T) {
	t.Parallel()
	db := tenantkittest.NewDatabase(t)
	u, err := url.Parse(db.AppDSN())
	if err != nil {
		t.Fatal(err)
	}
	proxy := startProxy(t, u.Host)
	u.Host = proxy.Addr()
	r := run(t, newListener(t, bus.PGListenerConfig{ConnString: u.String(), PingInterval: 200 * time.Millisecond}))
	r.waitResets(t, 1, 10*time.Second)

	cut := time.Now()
	proxy.Blackhole()
	reset := r.waitResets(t, 2, 20*time.Second)
	t.Logf("silent server noticed and reconnected in %v", reset.Sub(cut))

	conn := connect(t, db.OwnerDSN())
	r.waitMessagePublishing(t, "after-cut", 15*time.Second, func() { notify(t, conn, bus.Message{Tenant: "after-cut"}.Encode()) })
}

func TestNewPGListenerValidates(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]bus.PGListenerConfig{
		"no conn string":   {},
		"bad conn string":  {ConnString: "postgres://%zz"},
		"negative backoff": {ConnString: "postgres://localhost/x", MinBackoff: -1},
		"min above max":    {ConnString: "postgres://localhost/x", MinBackoff: time.Second, MaxBackoff: time.Millisecond},
	} {
		if _, err := bus.NewPGListener(cfg); err == nil {
			t.Errorf("%s: NewPGListener succeeded, want an error", name)
		}
	}
}

func waitUntil(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
