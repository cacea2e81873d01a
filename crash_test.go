package tenantkit_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantkit/tenantkit"
	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/meter"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

// usageProcessEnv makes the test binary a process that serves tenants,
// flushes usage every 100 ms, and reports each flush on its standard
// output: "writing N" before the write of a batch of N api calls, "wrote N"
// once it committed.
const usageProcessEnv = "TENANTKIT_TEST_USAGE_PROCESS"

func usageProcess() int {
	kit, err := tenantkit.New(tenantkit.Config{
		DatabaseURL:   os.Getenv("TK_DATABASE_URL"),
		Resolvers:     tenantkit.ResolverConfig{BaseDomain: "example.test"},
		RateLimit:     tenantkit.RateLimitConfig{Disabled: true},
		Observability: tenantkit.ObservabilityConfig{FlushInterval: 100 * time.Millisecond},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var mu sync.Mutex // one line at a time
	say := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Printf(format+"\n", args...)
	}
	tenantkit.SetUsageSinkFunc(kit, func(s meter.Sink) meter.Sink {
		return meter.SinkFunc(func(ctx context.Context, b meter.Batch) error {
			var n int64
			for _, d := range b.Deltas {
				n += d.APICalls
			}
			say("writing %d", n)
			if err := s.WriteUsage(ctx, b); err != nil {
				return err
			}
			say("wrote %d", n)
			return nil
		})
	})
	go func() { _ = kit.Start(context.Background()) }()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	go func() {
		_ = http.Serve(l, kit.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})))
	}()
	say("%s", l.Addr())
	select {} // until killed
}

// TestCrashLosesAtMostTheUnflushedWindow: a process serving a tenant is
// SIGKILLed while requests flow and flushes run. The catalog then holds
// exactly what its committed flushes carried — plus the one in flight, if
// its commit made it — never more than was served (no double count), and
// what is lost is only what was served since the last flush.
func TestCrashLosesAtMostTheUnflushedWindow(t *testing.T) {
	t.Parallel()
	db := tenantkittest.NewCatalog(t)
	store := newStore(t, db.OwnerDSN())
	if _, err := store.CreateTenant(context.Background(), "test", catalog.CreateParams{Slug: "acme", Name: "Acme"}); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), usageProcessEnv+"=1", "TK_DATABASE_URL="+db.OwnerDSN())
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 10000)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var addr string
	select {
	case addr = <-lines:
	case <-time.After(30 * time.Second):
		t.Fatal("usage process did not start")
	}
	client := &http.Client{Timeout: 5 * time.Second}
	served := 0
	wrote := 0
	var seen []string
	deadline := time.Now().Add(30 * time.Second)
	for wrote < 3 && time.Now().Before(deadline) {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/", nil)
		req.Host = "acme.example.test"
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("status %d", res.StatusCode)
		}
		served++
		for more := true; more; {
			select {
			case l := <-lines:
				seen = append(seen, l)
				if strings.HasPrefix(l, "wrote ") && !strings.HasSuffix(l, " 0") {
					wrote++
				}
			default:
				more = false
			}
		}
	}
	// Requests keep being served up to the kill.
	for range 25 {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/", nil)
		req.Host = "acme.example.test"
		if res, err := client.Do(req); err == nil {
			res.Body.Close()
			served++
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	for l := range lines {
		seen = append(seen, l)
	}
	var committed, inFlight int64
	for _, l := range seen {
		f := strings.Fields(l)
		if len(f) != 2 {
			continue
		}
		n, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "writing":
			inFlight = n
		case "wrote":
			committed += n
			inFlight = 0
		}
	}
	got, err := store.UsageFor(context.Background(), "acme", catalog.Period(time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("served %d, flushes committed %d, in flight at the kill %d, catalog %d: lost %d", served, committed, inFlight, got.APICalls, int64(served)-got.APICalls)
	if got.APICalls != committed && got.APICalls != committed+inFlight {
		t.Fatalf("catalog holds %d api calls; the committed flushes carried %d (%d more in flight)", got.APICalls, committed, inFlight)
	}
	if got.APICalls > int64(served) {
		t.Fatalf("catalog holds %d api calls, more than the %d served: counted twice", got.APICalls, served)
	}
	if committed == 0 {
		t.Fatal("no flush committed before the kill")
	}
}

func newStore(t *testing.T, dsn string) *catalog.Store {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	store, err := catalog.NewStore(catalog.StoreConfig{Pool: pool})
	if err != nil {
		t.Fatal(err)
	}
	return store
}
