package tenantkit_test

import (
	"context"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantkit/tenantkit"
	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/pgcluster"
)

// TestReconnectDropsTheCache restarts the catalog's server under a Kit. A
// change whose message was missed (made with triggers off, as a message
// lost while disconnected would be) is served stale until the listener
// reconnects, and fresh right after, since a reconnect drops the cache.
func TestReconnectDropsTheCache(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "tenantkit-reconnect-")
	if err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(dir, 0o755)
	t.Cleanup(func() { os.RemoveAll(dir) })
	cluster, err := pgcluster.Start(ctx, pgcluster.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cluster.Stop() })
	url := cluster.SuperuserURL("postgres")
	if _, err := catalog.Migrate(ctx, url); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	store, err := catalog.NewStore(catalog.StoreConfig{Pool: pool})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.CreateTenant(ctx, "test", catalog.CreateParams{Slug: "acme", Name: "Acme"}); err != nil {
		t.Fatal(err)
	}
	kit, err := tenantkit.New(tenantkit.Config{DatabaseURL: url, Resolvers: tenantkit.ResolverConfig{BaseDomain: "example.test"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kit.Close)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = kit.Start(runCtx) }()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, 10*time.Second, kit.Listening)
	h := kit.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	if res := serve(t, h, "acme.example.test", nil); res.status != 200 {
		t.Fatalf("warm-up: %+v", res)
	}
	silentSuspend(t, url)
	if res := serve(t, h, "acme.example.test", nil); res.status != 200 {
		t.Fatalf("the silent write was seen before any reconnect (%d): the test no longer shows what it should", res.status)
	}
	if err := cluster.Stop(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool { return !kit.Listening() })
	if cluster, err = pgcluster.Start(ctx, pgcluster.Config{DataDir: dir}); err != nil {
		t.Fatal(err)
	}
	took := waitFor(t, 15*time.Second, kit.Listening)
	t.Logf("listener back %v after the server", took)
	if res := serve(t, h, "acme.example.test", nil); res.status != http.StatusForbidden {
		t.Fatalf("after reconnect: %+v, want 403 (cache not dropped)", res)
	}
}

// silentSuspend suspends acme without notifying anyone.
func silentSuspend(t *testing.T, url string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// replica mode skips ordinary triggers, the catalog's notify included.
	if _, err := conn.Exec(ctx, "SET session_replication_role = replica"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "UPDATE tenantkit.tenants SET status = 'suspended', suspension_reason = 'x' WHERE slug = 'acme'"); err != nil {
		t.Fatal(err)
	}
}
