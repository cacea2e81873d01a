package tenantkit_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tenantkit/tenantkit"
	"github.com/tenantkit/tenantkit/internal/bus"
	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

// helperEnv, when set, makes the test binary a separate data-plane process:
// a Kit serving tenants over HTTP, as a SaaS application would.
const helperEnv = "TENANTKIT_TEST_KIT_PROCESS"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(kitProcess())
	}
	if os.Getenv(usageProcessEnv) != "" {
		os.Exit(usageProcess())
	}
	tenantkittest.Main(m)
}

// kitProcess serves a Kit on a free loopback port, prints the address, and
// runs until its standard input closes.
func kitProcess() int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	registry := prometheus.NewRegistry()
	kit, err := tenantkit.New(tenantkit.Config{
		DatabaseURL: os.Getenv("TK_DATABASE_URL"),
		RedisURL:    os.Getenv("TK_REDIS_URL"),
		Resolvers:   tenantkit.ResolverConfig{BaseDomain: "example.test"},
		RateLimit: tenantkit.RateLimitConfig{
			Disabled: os.Getenv("TK_RATE_LIMIT") == "", FailOpen: os.Getenv("TK_RATE_LIMIT") == "fail-open",
		},
		Registerer: registry,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer kit.Close()
	go func() { _ = kit.Start(ctx) }()
	for deadline := time.Now().Add(10 * time.Second); !kit.Listening(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			fmt.Fprintln(os.Stderr, "kit process: not listening after 10s")
			return 1
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(registry, promhttp.HandlerOpts{}))
	mux.Handle("/", kit.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t, _ := tenantkit.FromContext(r.Context())
		_, _ = w.Write([]byte(t.Slug))
	})))
	go func() { _ = http.Serve(l, mux) }()
	fmt.Println(l.Addr().String())
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n') // EOF when the test ends
	return 0
}

// startKitProcess runs kitProcess in a child process and returns its
// address. Its rate limits are off unless env sets TK_RATE_LIMIT (to
// "fail-closed" or "fail-open").
func startKitProcess(t *testing.T, databaseURL, redisURL string, env ...string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=1", "TK_DATABASE_URL="+databaseURL, "TK_REDIS_URL="+redisURL)
	cmd.Env = append(cmd.Env, env...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		lines <- strings.TrimSpace(line)
	}()
	select {
	case addr := <-lines:
		if addr == "" {
			t.Fatal("kit process printed no address")
		}
		return addr
	case <-time.After(30 * time.Second):
		t.Fatal("kit process did not start within 30s")
	}
	return ""
}

func get(t *testing.T, addr, host string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/", nil)
	req.Host = host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestInvalidationReachesAnotherProcess suspends a tenant in this process
// and watches a Kit in another process refuse it, over each bus.
func TestInvalidationReachesAnotherProcess(t *testing.T) {
	t.Parallel()
	for _, busName := range []string{"listen-notify", "redis"} {
		t.Run(busName, func(t *testing.T) {
			t.Parallel()
			db := tenantkittest.NewCatalog(t)
			ctx := context.Background()
			pool, err := pgxpool.New(ctx, db.OwnerDSN())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(pool.Close)
			cfg := catalog.StoreConfig{Pool: pool}
			redisURL := ""
			if busName == "redis" {
				redis := tenantkittest.StartRedis(t)
				redisURL = redis.URL()
				pub, err := bus.NewRedis(bus.RedisConfig{URL: redisURL})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = pub.Close() })
				cfg.AfterCommitFunc = func(ctx context.Context, m bus.Message) {
					if err := pub.Publish(ctx, m); err != nil {
						t.Errorf("publish: %v", err)
					}
				}
			}
			store, err := catalog.NewStore(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := store.CreateTenant(ctx, "test", catalog.CreateParams{Slug: "acme", Name: "Acme"}); err != nil {
				t.Fatal(err)
			}
			addr := startKitProcess(t, db.OwnerDSN(), redisURL)
			if code := get(t, addr, "acme.example.test"); code != http.StatusOK { // warms its cache
				t.Fatalf("warm-up: %d", code)
			}
			if _, err := store.SuspendTenant(ctx, "test", "acme", "unpaid"); err != nil {
				t.Fatal(err)
			}
			took := waitFor(t, time.Second, func() bool { return get(t, addr, "acme.example.test") == http.StatusForbidden })
			t.Logf("%s: suspension seen by the other process after %v", busName, took)
			if _, err := store.ResumeTenant(ctx, "test", "acme"); err != nil {
				t.Fatal(err)
			}
			waitFor(t, time.Second, func() bool { return get(t, addr, "acme.example.test") == http.StatusOK })
		})
	}
}
