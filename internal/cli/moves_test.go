package cli

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantkit/tenantkit"
	"github.com/tenantkit/tenantkit/examples/orders"
	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/contract"
	"github.com/tenantkit/tenantkit/internal/move"
	"github.com/tenantkit/tenantkit/internal/server"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

// moveStep is a step whose before, when set, changes the catalog first as
// a move runner would; id is the first move's id.
type moveStep struct {
	step
	before func(t *testing.T, cat *moveCatalog, id string)
}

// moveCatalog is a catalog with clusters c1 and c2 (records only: nothing
// connects to them) and tenants acme (shared), globex (schema) and initech
// (dedicated) placed on c1, ready.
type moveCatalog struct {
	pool  *pgxpool.Pool
	store *catalog.Store
}

func newMoveCatalog(t *testing.T, db *tenantkittest.Database) *moveCatalog {
	t.Helper()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, db.OwnerDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	s, err := catalog.NewStore(catalog.StoreConfig{Pool: pool})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"c1", "c2"} {
		if _, err := s.AddCluster(ctx, "test", catalog.ClusterParams{Name: c, SharedDatabase: "tenantkit_shared",
			OwnerURL: "postgres://tenantkit_owner:" + ownerPW + "@" + c + ".invalid/postgres",
			AppURL:   "postgres://tenantkit_app:" + appPW + "@" + c + ".invalid/postgres"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tn := range tiers {
		if _, err := s.CreateTenant(ctx, "test", catalog.CreateParams{Slug: tn.slug, Name: tn.name}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.EnsurePlacement(ctx, "test", tn.slug, tn.tier, "c1"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SetPlacementState(ctx, "test", tn.slug, catalog.PlacementReady); err != nil {
			t.Fatal(err)
		}
	}
	return &moveCatalog{pool: pool, store: s}
}

// set changes move id's row.
func (c *moveCatalog) set(t *testing.T, id, set string, args ...any) {
	t.Helper()
	if _, err := c.pool.Exec(context.Background(), "UPDATE tenantkit.moves SET "+set+" WHERE id = $1", append([]any{id}, args...)...); err != nil {
		t.Fatal(err)
	}
}

// moveServer is a server with the admin API on db's catalog, with the
// example app's migrations (so it accepts moves) and no move runner.
func moveServer(t *testing.T, db *tenantkittest.Database) map[string]string {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), db.OwnerDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	log := slog.New(slog.DiscardHandler)
	kit, err := tenantkit.New(tenantkit.Config{Pool: pool, DatabaseURL: db.OwnerDSN(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kit.Close)
	srv, err := server.New(server.Config{Pool: pool, Kit: kit, AdminToken: testToken, Migrations: orders.Migrations(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(contract.Handler(t, srv.Handler()))
	t.Cleanup(ts.Close)
	return map[string]string{"TENANTKIT_SERVER": ts.URL, "TENANTKIT_ADMIN_TOKEN": testToken}
}

var sampleProgress = move.Progress{
	Tables: []move.TableProgress{
		{Name: "customers", RowsTotal: 10, RowsCopied: 10, Bytes: 900, Done: true},
		{Name: "orders", RowsTotal: 5000, RowsCopied: 1200, Bytes: 65536},
	},
	AppliedLSN: "0/16B3748", SourceLSN: "0/16B3800", LagBytes: 2048, LagSeconds: 0.25, Changes: 42,
	Verified: []move.TableCheck{
		{Name: "customers", SourceRows: 10, TargetRows: 10, SourceHash: "9f1c", TargetHash: "9f1c", Match: true},
		{Name: "orders", SourceRows: 5000, TargetRows: 4999, SourceHash: "77aa", TargetHash: "0b12", Match: false},
	},
	PauseMillis: 12.5, CutoverAttempts: 1,
}

func progressJSON(p move.Progress) []byte { b, _ := json.Marshal(p); return b }

const sampleTimings = `{"preparing":{"started":"2026-01-02T03:04:05Z","ended":"2026-01-02T03:04:06.5Z"},` +
	`"copying":{"started":"2026-01-02T03:04:06.5Z"}}`

var moveSteps = []moveStep{
	{step: step{"moves_list_empty", []string{"moves", "list"}, exitOK}},
	{step: step{"move", []string{"move", "acme", "--to", "dedicated", "--cluster", "c2"}, exitOK}},
	{step: step{"move_json", []string{"move", "globex", "--to", "shared", "-o", "json"}, exitOK}},
	{step: step{"move_in_progress", []string{"move", "acme", "--to", "schema"}, exitError}},
	{step: step{"move_same_placement", []string{"move", "initech", "--to", "dedicated", "--cluster", "c1"}, exitError}},
	{step: step{"move_invalid_tier", []string{"move", "initech", "--to", "gold"}, exitError}},
	{step: step{"move_unknown_cluster", []string{"move", "initech", "--to", "schema", "--cluster", "nosuch"}, exitError}},
	{step: step{"move_unknown_tenant", []string{"move", "nosuch", "--to", "schema"}, exitError}},
	{step: step{"move_no_to", []string{"move", "initech"}, exitUsage}},
	{step: step{"move_args", []string{"move", "--to", "schema"}, exitUsage}},
	{step: step{"moves_list", []string{"moves", "list"}, exitOK}},
	{step: step{"moves_list_tenant", []string{"moves", "list", "--tenant", "acme"}, exitOK}},
	{step: step{"moves_list_json", []string{"moves", "list", "--tenant", "acme", "-o", "json"}, exitOK}},
	{step: step{"moves_list_unknown_tenant", []string{"moves", "list", "--tenant", "nosuch"}, exitError}},
	{step: step{"moves_list_bad_limit", []string{"moves", "list", "--limit", "0"}, exitUsage}},
	{step: step{"moves_show_pending", []string{"moves", "show", "$UUID1"}, exitOK}},
	{step: step{"moves_show", []string{"moves", "show", "$UUID1"}, exitOK}, before: func(t *testing.T, c *moveCatalog, id string) {
		c.set(t, id, "state = 'copying', phase = 'copying orders', attempts = 1, progress = $2, timings = $3",
			progressJSON(sampleProgress), sampleTimings)
	}},
	{step: step{"moves_show_json", []string{"moves", "show", "$UUID1", "-o", "json"}, exitOK}},
	{step: step{"moves_show_unknown", []string{"moves", "show", "00000000-0000-4000-8000-000000000000"}, exitError}},
	{step: step{"moves_show_invalid", []string{"moves", "show", "nope"}, exitError}},
	{step: step{"moves_show_args", []string{"moves", "show"}, exitUsage}},
	{step: step{"moves_rollback_running", []string{"moves", "rollback", "$UUID1"}, exitError}},
	{step: step{"moves_cancel", []string{"moves", "cancel", "$UUID1"}, exitOK}},
	{step: step{"moves_cancel_failed", []string{"moves", "cancel", "$UUID1"}, exitError}, before: func(t *testing.T, c *moveCatalog, id string) {
		c.set(t, id, "state = 'failed', phase = '', finished_at = now(), last_error = $2",
			"connect to postgres://tenantkit_owner:"+ownerPW+"@c2.invalid/postgres: no such host")
	}},
	{step: step{"moves_show_failed", []string{"moves", "show", "$UUID1"}, exitOK}},
	{step: step{"moves_rollback", []string{"moves", "rollback", "$UUID1"}, exitOK}, before: func(t *testing.T, c *moveCatalog, id string) {
		c.set(t, id, "state = 'complete', last_error = '', cancel_requested = false, cutover_at = now(), retain_until = now() + interval '1 hour'")
	}},
	{step: step{"moves_rollback_json", []string{"moves", "rollback", "$UUID1", "-o", "json"}, exitOK}},
	{step: step{"moves_cancel_unknown", []string{"moves", "cancel", "00000000-0000-4000-8000-000000000000"}, exitError}},
}

func TestMovesGolden(t *testing.T) {
	t.Parallel()
	var (
		mu   sync.Mutex
		outs = map[string][]string{}
	)
	t.Run("modes", func(t *testing.T) {
		for _, mode := range []string{"direct", "http"} {
			t.Run(mode, func(t *testing.T) {
				t.Parallel()
				db := tenantkittest.NewCatalog(t)
				c := newMoveCatalog(t, db)
				env := map[string]string{"TENANTKIT_DATABASE_URL": db.OwnerDSN()}
				if mode == "http" {
					env = moveServer(t, db)
				}
				out := runMoveSteps(t, mode, env, c)
				mu.Lock()
				defer mu.Unlock()
				outs[mode] = out
			})
		}
	})
	direct, viaHTTP := outs["direct"], outs["http"]
	if len(direct) != len(moveSteps) || len(viaHTTP) != len(moveSteps) {
		t.Fatal("a mode did not finish its scenario")
	}
	for i, s := range moveSteps {
		t.Run(s.name, func(t *testing.T) {
			checkGolden(t, s.name, direct[i])
			if viaHTTP[i] != direct[i] {
				t.Errorf("through the server, got:\n%s\ndirectly, got:\n%s", viaHTTP[i], direct[i])
			}
			if strings.Contains(direct[i], ownerPW) || strings.Contains(direct[i], appPW) {
				t.Errorf("output shows a password:\n%s", direct[i])
			}
		})
	}
}

func runMoveSteps(t *testing.T, mode string, env map[string]string, c *moveCatalog) []string {
	t.Helper()
	n := newNormalizer()
	actor := cliActor()
	norm := func(s string) string {
		s = strings.ReplaceAll(s, "api:"+actor, "<ACTOR>")
		s = strings.ReplaceAll(s, actor, "<ACTOR>")
		return hexIDRE.ReplaceAllString(n.replace(s), "${1}_<HEX>")
	}
	var out []string
	for _, s := range moveSteps {
		if s.before != nil {
			s.before(t, c, n.id(1))
		}
		args := make([]string, len(s.args))
		for i, a := range s.args {
			args[i] = strings.ReplaceAll(a, "$UUID1", n.id(1))
		}
		r := runCLI(t, env, args...)
		if r.exit != s.exit {
			t.Errorf("%s: %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", mode, s.name, r.exit, s.exit, r.stdout, r.stderr)
		}
		if r.exit != exitOK {
			requireOneErrorLine(t, r)
		}
		out = append(out, transcript(s.args, norm(r.stdout), norm(r.stderr), r.exit))
	}
	return out
}

// runFollow runs the CLI in the background; the test reads its output as
// it goes.
type runFollow struct {
	stdout, stderr tenantkittest.SyncBuffer
	exit           chan int
}

func startCLI(t *testing.T, ctx context.Context, vars map[string]string, args ...string) *runFollow {
	t.Helper()
	rf := &runFollow{exit: make(chan int, 1)}
	go func() {
		rf.exit <- run(ctx, args, env{stdin: strings.NewReader(""), stdout: &rf.stdout, stderr: &rf.stderr, getenv: mapEnv(vars)})
	}()
	return rf
}

// waitFor waits until the CLI's stderr holds want.
func (rf *runFollow) waitFor(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(rf.stderr.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("stderr never showed %q:\n%s", want, rf.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestMoveWaitFollowsTheServer plays a runner's part in the catalog while
// the CLI follows the move through a server, and checks that each state
// shows one line and the exit follows the move's end.
func TestMoveWaitFollowsTheServer(t *testing.T) {
	t.Parallel()
	for _, end := range []string{"failed", "complete", "rolled_back"} {
		t.Run(end, func(t *testing.T) {
			t.Parallel()
			db := tenantkittest.NewCatalog(t)
			c := newMoveCatalog(t, db)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			rf := startCLI(t, ctx, moveServer(t, db), "move", "acme", "--to", "schema", "--wait")
			rf.waitFor(t, "pending: waiting for a runner\n")
			ms, err := c.store.ListMoves(ctx, "acme", 1)
			if err != nil || len(ms) != 1 {
				t.Fatalf("moves of acme: %v %v", ms, err)
			}
			id := ms[0].ID.String()
			if got := rf.stdout.String(); got != id+"\n" {
				t.Fatalf("stdout %q, want the move id", got)
			}
			p := sampleProgress
			c.set(t, id, "state = 'copying', phase = '', progress = $2", progressJSON(p))
			rf.waitFor(t, "copying: orders 1200/5000 rows (1/2 tables done)\n")
			c.set(t, id, "state = 'catching_up', phase = 'streaming'")
			rf.waitFor(t, "catching_up (streaming): lag 2.0 KiB / 0.2s, 42 changes applied\n")
			c.set(t, id, "state = 'cutover', phase = 'fenced'")
			rf.waitFor(t, "cutover (fenced)\n")
			switch end {
			case "failed":
				c.set(t, id, "state = 'failed', phase = '', last_error = 'verification: orders differs'")
			case "complete":
				c.set(t, id, "state = 'complete', phase = ''")
			case "rolled_back":
				c.set(t, id, "state = 'rolled_back', phase = '', last_error = 'rolled back on request'")
			}
			var exit int
			select {
			case exit = <-rf.exit:
			case <-ctx.Done():
				t.Fatal("the CLI did not end with the move")
			}
			lines := strings.Split(strings.TrimSuffix(rf.stderr.String(), "\n"), "\n")
			want := []string{
				"moving acme: shared on c1 (tenantkit_shared/app) → schema on c1 (tenantkit_shared/" + ms[0].TargetSchema + ")",
				"pending: waiting for a runner",
				"copying: orders 1200/5000 rows (1/2 tables done)",
				"catching_up (streaming): lag 2.0 KiB / 0.2s, 42 changes applied",
				"cutover (fenced)",
			}
			switch end {
			case "failed":
				want = append(want, "failed: verification: orders differs", "tenantkit: move "+id+" failed: verification: orders differs")
			case "complete":
				want = append(want, "complete: writes paused 12.5ms at the cutover", "complete: acme is on schema on c1 (tenantkit_shared/"+ms[0].TargetSchema+")")
			case "rolled_back":
				want = append(want, "rolled_back: rolled back on request", "tenantkit: move "+id+" rolled back: rolled back on request")
			}
			if strings.Join(lines, "\n") != strings.Join(want, "\n") {
				t.Fatalf("stderr\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
			}
			wantExit := exitError
			if end == "complete" {
				wantExit = exitOK
			}
			if exit != wantExit {
				t.Fatalf("exit %d, want %d", exit, wantExit)
			}
		})
	}
}

func TestMoveWaitNeedsMigrationsWithoutAServer(t *testing.T) {
	t.Parallel()
	tg, db := directTarget(t)
	newMoveCatalog(t, db)
	for _, args := range [][]string{
		{"move", "acme", "--to", "schema", "--wait"},
		{"moves", "wait", "00000000-0000-4000-8000-000000000000"},
	} {
		r := runCLI(t, tg.env, args...)
		requireOneErrorLine(t, r)
		if r.exit != exitUsage || !strings.Contains(r.stderr, "--migrations") {
			t.Fatalf("%v: %+v", args, r)
		}
	}
	// Refused before anything was asked for.
	if r := runCLI(t, tg.env, "moves", "list", "-o", "json"); r.stdout != "{\n  \"moves\": []\n}\n" {
		t.Fatalf("moves after refused waits: %s", r.stdout)
	}
}

// TestMoveWaitDirect moves a real tenant in the CLI's own process.
func TestMoveWaitDirect(t *testing.T) {
	t.Parallel()
	p := newPlatform(t)
	p.createOnEveryTier(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	rf := startCLI(t, ctx, p.env, "move", "acme", "--to", "schema", "--wait", "--migrations", "example")
	pool, err := pgxpool.New(context.Background(), p.db.OwnerDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var state, lastErr string
	read := func() {
		t.Helper()
		if err := pool.QueryRow(context.Background(), "SELECT state, last_error FROM tenantkit.moves").Scan(&state, &lastErr); err != nil {
			t.Fatal(err)
		}
	}
	started := time.Now()
	var exit int
	for done := false; !done; {
		select {
		case exit = <-rf.exit:
			done = true
		case <-time.After(200 * time.Millisecond):
			if time.Since(started) < 15*time.Second {
				continue
			}
			if read(); state == catalog.MovePending {
				cancel()
				<-rf.exit
				t.Skipf("the move engine did not start the move in 15s (not written yet?); stderr:\n%s", rf.stderr.String())
			}
		}
	}
	read()
	if exit != exitOK || state != catalog.MoveComplete {
		t.Fatalf("exit %d, move %s (%s); stderr:\n%s", exit, state, lastErr, rf.stderr.String())
	}
	if pl := p.placement(t, "acme"); pl.Tier != catalog.TierSchema || pl.Epoch != 2 {
		t.Fatalf("acme after the move: %+v", pl)
	}
	for _, want := range []string{"copying", "cutover", "complete: acme is on schema on c1"} {
		if !strings.Contains(rf.stderr.String(), want) {
			t.Errorf("stderr without %q:\n%s", want, rf.stderr.String())
		}
	}
}
