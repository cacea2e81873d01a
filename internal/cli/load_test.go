package cli

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tenantkit/tenantkit/examples/orders"
	"github.com/tenantkit/tenantkit/internal/rlspolicy"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

// loadPlatform is a platform with acme placed on the shared tier with the
// example app's migrations.
type loadPlatform struct {
	p    *tenantkittest.Platform
	acme uuid.UUID
	env  map[string]string
}

func setupLoad(t *testing.T) loadPlatform {
	t.Helper()
	p := tenantkittest.NewPlatform(t, orders.Migrations())
	id := p.Tenant(t, "acme", "shared")
	return loadPlatform{p: p, acme: id, env: map[string]string{"TENANTKIT_DATABASE_URL": p.Catalog.OwnerDSN()}}
}

// runLoadCLI runs the CLI as runCLI does, with hooks for load in ctx.
func runLoadCLI(t *testing.T, vars map[string]string, h *loadHooks, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(withLoadHooks(context.Background(), h), time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	exit := run(ctx, args, env{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr, getenv: mapEnv(vars)})
	return result{exit: exit, stdout: stdout.String(), stderr: stderr.String()}
}

var summaryRE = regexp.MustCompile(`(?m)^summary: writes=(\d+) ok=(\d+) failed=(\d+) orders=(\d+) deleted=(\d+) lost=(\d+) p50=\S+ p99=\S+ max=\S+ max-stall=(\S+)$`)

// loadSummary is the summary line of a load run.
type loadSummary struct {
	writes, ok, failed, orders, deleted, lost int
	maxStall                                  time.Duration
}

func parseSummary(t *testing.T, stdout string) loadSummary {
	t.Helper()
	m := summaryRE.FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("no summary line in:\n%s", stdout)
	}
	n := make([]int, 6)
	for i := range n {
		n[i], _ = strconv.Atoi(m[i+1])
	}
	stall, err := time.ParseDuration(m[7])
	if err != nil {
		t.Fatal(err)
	}
	return loadSummary{writes: n[0], ok: n[1], failed: n[2], orders: n[3], deleted: n[4], lost: n[5], maxStall: stall}
}

// ownerTx runs fn in a transaction on acme's database as the owner role,
// scoped to acme by hand: behind the Kit's back.
func (lp loadPlatform) ownerTx(t *testing.T, ctx context.Context, fn func(pgx.Tx) error) {
	t.Helper()
	pl := lp.p.Placement(t, "acme")
	conn, err := pgx.Connect(ctx, lp.p.OwnerDSN(pl.Database))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT set_config($1, $2, true), set_config('search_path', $3, true)",
			rlspolicy.Setting, lp.acme.String(), pl.Schema); err != nil {
			return err
		}
		return fn(tx)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestLoad(t *testing.T) {
	t.Parallel()
	lp := setupLoad(t)
	r := runCLI(t, lp.env, "load", "acme", "--duration", "2s", "--rate", "100", "--every", "500ms")
	if r.exit != exitOK || r.stderr != "" {
		t.Fatalf("load: exit %d, stderr %q, stdout:\n%s", r.exit, r.stderr, r.stdout)
	}
	if !strings.HasPrefix(r.stdout, "load acme (shared tier): 100 writes/s, 4 workers, for 2s\n") {
		t.Errorf("first line:\n%s", r.stdout)
	}
	if n := strings.Count(r.stdout, " stall="); n < 3 {
		t.Errorf("%d status lines, want at least 3:\n%s", n, r.stdout)
	}
	s := parseSummary(t, r.stdout)
	if s.ok < 100 || s.failed != 0 || s.lost != 0 || s.writes != s.ok || s.orders == 0 {
		t.Errorf("summary %+v:\n%s", s, r.stdout)
	}
	// What the summary counts is in the database.
	var open, changed int
	lp.ownerTx(t, context.Background(), func(tx pgx.Tx) error {
		return tx.QueryRow(context.Background(), `SELECT count(*) FILTER (WHERE status = 'open'), count(*) FILTER (WHERE status <> 'open')
			FROM orders o JOIN customers c ON c.id = o.customer_id WHERE c.email = 'load@tenantkit.example'`).Scan(&open, &changed)
	})
	if open+changed != s.orders {
		t.Errorf("%d orders in the database, summary says %d", open+changed, s.orders)
	}
	t.Logf("%d open, %d paid or cancelled, %d deleted; max stall %v", open, changed, s.deleted, s.maxStall)
}

func TestLoadFindsALostOrder(t *testing.T) {
	t.Parallel()
	lp := setupLoad(t)
	var gone int64
	h := &loadHooks{beforeVerifyFunc: func(ctx context.Context, live []int64) error {
		if len(live) == 0 {
			return fmt.Errorf("no order to lose")
		}
		gone = live[len(live)/2]
		lp.ownerTx(t, ctx, func(tx pgx.Tx) error {
			tag, err := tx.Exec(ctx, "DELETE FROM orders WHERE id = $1", gone)
			if err == nil && tag.RowsAffected() != 1 {
				err = fmt.Errorf("deleted %d rows", tag.RowsAffected())
			}
			return err
		})
		return nil
	}}
	r := runLoadCLI(t, lp.env, h, "load", "acme", "--duration", "1s", "--rate", "50")
	if r.exit != exitError || r.stderr != "tenantkit: load acme: lost=1 failed=0\n" {
		t.Fatalf("load: exit %d, stderr %q, stdout:\n%s", r.exit, r.stderr, r.stdout)
	}
	if want := regexp.MustCompile(fmt.Sprintf(`(?m)^lost order %d: acknowledged (open|paid|cancelled), found missing$`, gone)); !want.MatchString(r.stdout) {
		t.Errorf("stdout does not name order %d:\n%s", gone, r.stdout)
	}
	if s := parseSummary(t, r.stdout); s.lost != 1 || s.failed != 0 {
		t.Errorf("summary %+v", s)
	}
}

func TestLoadUsage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"no catalog", nil, []string{"load", "acme"}, "load needs the catalog"},
		{"no slug", map[string]string{"TENANTKIT_DATABASE_URL": "postgres://x.invalid/db"}, []string{"load"}, "want one SLUG"},
		{"rate", map[string]string{"TENANTKIT_DATABASE_URL": "postgres://x.invalid/db"}, []string{"load", "acme", "--rate", "0"}, "--rate"},
		{"workers", map[string]string{"TENANTKIT_DATABASE_URL": "postgres://x.invalid/db"}, []string{"load", "acme", "--workers", "0"}, "--workers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, tc.env, tc.args...)
			requireOneErrorLine(t, r)
			if r.exit != exitUsage || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want exit 2 and %q", r.exit, r.stderr, tc.want)
			}
		})
	}
}

// TestLoadDuringMoves is the demo of `make dev`: load on acme while it
// moves to the dedicated tier and back, each move followed with --wait.
// No acknowledged order may be lost and no write may fail.
func TestLoadDuringMoves(t *testing.T) {
	if testing.Short() {
		t.Skip("moves a tenant twice under load")
	}
	t.Parallel()
	lp := setupLoad(t)
	ctx, stop := context.WithCancel(withLoadHooks(context.Background(), &loadHooks{}))
	defer stop()
	var stdout, stderr tenantkittest.SyncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"load", "acme", "--every", "1s"}, env{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr, getenv: mapEnv(lp.env)})
	}()
	time.Sleep(time.Second)
	for _, tier := range []string{"dedicated", "shared"} {
		r := runCLI(t, lp.env, "move", "acme", "--to", tier, "--wait", "--migrations", "example")
		if r.exit != exitOK {
			stop()
			<-done
			t.Fatalf("move acme --to %s: exit %d\nstderr:\n%s\nload:\n%s", tier, r.exit, r.stderr, stdout.String())
		}
		if pl := lp.p.Placement(t, "acme"); pl.Tier != tier {
			t.Fatalf("after the move to %s: %+v", tier, pl)
		}
		time.Sleep(500 * time.Millisecond)
	}
	stop() // Ctrl-C
	exit := <-done
	if exit != exitOK || stderr.String() != "" {
		t.Fatalf("load: exit %d, stderr %q, stdout:\n%s", exit, stderr.String(), stdout.String())
	}
	s := parseSummary(t, stdout.String())
	if s.lost != 0 || s.failed != 0 || s.ok == 0 {
		t.Errorf("summary %+v, stdout:\n%s", s, stdout.String())
	}
	// The stall is reported, not asserted: timings belong to the
	// benchmarks (BenchmarkMoveCutoverPause), not to a test on a shared
	// machine.
	t.Logf("%d writes, max stall %v", s.ok, s.maxStall)
	r := runCLI(t, lp.env, "moves", "list", "--tenant", "acme")
	if r.exit != exitOK || strings.Count(r.stdout, " complete ") != 2 {
		t.Errorf("moves list: %+v", r)
	}
}
