package move_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantkit/tenantkit"
	"github.com/tenantkit/tenantkit/internal/appmigrate"
	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/move"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

// The mover a test kills: the test binary run again with these set.
const (
	childCatalog = "TENANTKIT_MOVE_CHILD_CATALOG"
	childMove    = "TENANTKIT_MOVE_CHILD_MOVE"
	childPhase   = "TENANTKIT_MOVE_CHILD_PHASE"
)

func init() {
	if os.Getenv(childCatalog) != "" {
		os.Exit(runChild())
	}
}

// runChild drives a move until it reaches the phase it was told, says so
// and waits there to be killed.
func runChild() int {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv(childCatalog))
	if err != nil {
		fmt.Println("ERR", err)
		return 1
	}
	store, _ := catalog.NewStore(catalog.StoreConfig{Pool: pool})
	want := os.Getenv(childPhase)
	r, err := move.New(move.Config{Store: store, Migrations: migrations(), Lease: 2 * time.Second, PollInterval: 100 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler),
		PhaseFunc: func(_ catalog.Move, phase string) error {
			if phase == want {
				fmt.Println("AT", phase)
				select {}
			}
			return nil
		}})
	if err != nil {
		fmt.Println("ERR", err)
		return 1
	}
	_, err = r.Drive(ctx, uuid.MustParse(os.Getenv(childMove)))
	fmt.Println("ENDED", err)
	return 0
}

// killAt runs a mover in another process until it reaches phase, and kills
// it there with SIGKILL.
func killAt(t *testing.T, b *bundle, m catalog.Move, phase string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childCatalog+"="+b.p.Catalog.OwnerDSN(), childMove+"="+m.ID.String(), childPhase+"="+phase)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		s := bufio.NewScanner(out)
		for s.Scan() {
			lines <- s.Text()
		}
		close(lines)
	}()
	select {
	case line := <-lines:
		if line != "AT "+phase {
			_ = cmd.Process.Kill()
			t.Fatalf("the mover said %q before reaching %s", line, phase)
		}
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("the mover did not reach %s in a minute", phase)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
}

// M3: a mover killed at any phase leaves a move that another runner
// resumes (or rolls back) to completion: exactly one placement serves the
// tenant throughout, no acknowledged write is lost, nothing is orphaned.
func TestMoveSurvivesTheMoverBeingKilled(t *testing.T) {
	b := setup(t)
	phases := []string{"preparing", "copying", "catching_up", "verifying", "cutover", "cutover:fenced", "cutover:prepared", "cutover:flipped"}
	r := b.runner(t, nil)
	for i, phase := range phases {
		slug := fmt.Sprintf("kill%d", i)
		b.p.Tenant(t, slug, "shared")
		b.seed(t, slug, 5, 5)
		l := startLoad(t, b, slug, 1)
		m := b.create(t, slug, []string{"dedicated", "schema"}[i%2], "")
		killAt(t, b, m, phase)
		got := mustDrive(t, r, m)
		l.finish(t)
		if pl := b.p.Placement(t, slug); pl.Tier != got.TargetTier || pl.Epoch != got.SourceEpoch+1 || pl.State != catalog.PlacementReady {
			t.Fatalf("killed at %s: placement %+v after the resumed move", phase, pl)
		}
		t.Logf("killed at %s: resumed to complete, attempt %d", phase, got.Attempts)
	}
	// Past the confidence period, the cleanup job removes the sources and
	// the reverse slots: then nothing of the moves is left.
	conn := b.ownerConn(t, b.p.Catalog.Name)
	if _, err := conn.Exec(context.Background(), "UPDATE tenantkit.moves SET retain_until = now()"); err != nil {
		t.Fatal(err)
	}
	moves, _ := b.store.ListMoves(context.Background(), "", 100)
	for _, m := range moves {
		got, err := drive(t, r, m)
		if err != nil || got.CleanedAt == nil {
			t.Fatalf("cleanup of %s: %v (cleaned %v)", m.Slug, err, got.CleanedAt)
		}
	}
	b.assertClean(t)
	var left int
	_ = conn.QueryRow(context.Background(), "SELECT count(*) FROM pg_database WHERE datname LIKE 'tenant\\_%'").Scan(&left)
	for i := range phases {
		if n := len(b.snapshot(t, fmt.Sprintf("kill%d", i))); n == 0 {
			t.Fatalf("kill%d lost its data in the cleanup", i)
		}
	}
}

// M4: the stream consumer killed in the middle of a source transaction
// resumes from the position stored with the last applied transaction: no
// change applied twice, none skipped.
func TestMoveStreamResumesWithoutDuplicatesOrGaps(t *testing.T) {
	b := setup(t)
	id := b.p.Tenant(t, "acme", "shared").String()
	b.seed(t, "acme", 2, 2)
	writes := func(m catalog.Move, phase string) error {
		if phase != catalog.MoveCatchingUp {
			return nil
		}
		ctx, err := b.scoped(t, "acme")
		if err != nil {
			return err
		}
		for tx := range 5 {
			err := b.kit.Tx(ctx, func(q pgx.Tx) error {
				for i := range 40 {
					if _, err := q.Exec(ctx, "INSERT INTO counters (name, value) VALUES ($1, $2)", fmt.Sprintf("t%d-%d", tx, i), i); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	}
	var crashed atomic.Bool
	r1 := b.runner(t, func(c *move.Config) {
		c.PhaseFunc = writes
		c.ApplyFunc = func(applied int64) error {
			if applied == 100 && crashed.CompareAndSwap(false, true) {
				return errors.New("consumer killed after 100 changes, in the third transaction")
			}
			return nil
		}
	})
	m := b.create(t, "acme", "dedicated", "")
	if _, err := drive(t, r1, m); err == nil || !crashed.Load() {
		t.Fatalf("the consumer was not killed: %v", err)
	}
	got := mustDrive(t, b.runner(t, nil), m)
	pl := b.p.Placement(t, "acme")
	var n, distinct int64
	asTenant(t, b.ownerConn(t, pl.Database), id, func(tx pgx.Tx) error {
		return tx.QueryRow(context.Background(), "SELECT count(*), count(DISTINCT name) FROM "+
			pgx.Identifier{pl.Schema, "counters"}.Sanitize()+" WHERE name LIKE 't%'").Scan(&n, &distinct)
	})
	if n != 200 || distinct != 200 {
		t.Fatalf("after the resumed stream the target has %d rows (%d distinct) of the 200 written", n, distinct)
	}
	t.Logf("resumed on attempt %d", got.Attempts)
}

// M12: DDL during a move waits: a migration run while the move copies
// finishes only after the move released the tables.
func TestMoveFreezesMigrations(t *testing.T) {
	b := setup(t)
	b.p.Tenant(t, "acme", "shared")
	b.seed(t, "acme", 3, 3)
	src := b.p.Placement(t, "acme")
	first, _ := fs.ReadFile(migrations(), "00001_shop.sql")
	more := fstest.MapFS{
		"00001_shop.sql": {Data: first},
		"00002_more.sql": {Data: []byte("-- +goose Up\nALTER TABLE orders ADD COLUMN extra text;\n-- +goose Down\nALTER TABLE orders DROP COLUMN extra;\n")},
	}
	mig, err := appmigrate.New(appmigrate.Config{Migrations: more, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	var migrated atomic.Bool
	done := make(chan appmigrate.Summary, 1)
	var during bool
	hooks := func(m catalog.Move, phase string) error {
		switch phase {
		case catalog.MoveCatchingUp:
			go func() {
				done <- mig.Up(context.Background(), []appmigrate.Target{{DSN: b.p.OwnerDSN(src.Database), Schema: src.Schema}})
				migrated.Store(true)
			}()
			time.Sleep(500 * time.Millisecond)
		case "cutover:flipped":
			during = migrated.Load()
		}
		return nil
	}
	r := b.runner(t, func(c *move.Config) { c.PhaseFunc = hooks })
	mustDrive(t, r, b.create(t, "acme", "dedicated", ""))
	if during {
		t.Fatal("a migration ran on the source while the move was running")
	}
	select {
	case sum := <-done:
		if err := sum.Err(); err != nil {
			t.Fatalf("the migration after the move: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the migration still waits after the move ended")
	}
}

// M13: a table whose replica identity lacks tenant_id is refused before
// anything is created.
func TestMoveRefusesATableWithoutTenantIdentity(t *testing.T) {
	sub, err := fs.Sub(migrationFS, "testdata/noident")
	if err != nil {
		t.Fatal(err)
	}
	p := tenantkittest.NewPlatform(t, sub)
	b := &bundle{p: p, kit: p.Kit(t, tenantkit.Config{Logger: slog.New(slog.DiscardHandler)}), store: p.Store()}
	p.Tenant(t, "acme", "shared")
	r, err := move.New(move.Config{Store: b.store, Migrations: sub, Lease: 3 * time.Second, PollInterval: 100 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	m, err := drive(t, r, b.create(t, "acme", "dedicated", ""))
	if err == nil || m.State != catalog.MoveFailed || !strings.Contains(m.LastError, "replica identity without tenant_id") {
		t.Fatalf("move: %v, state %s, error %q; want refused", err, m.State, m.LastError)
	}
	b.assertClean(t)
	if n := b.databaseExists(t, m.TargetDatabase); n {
		t.Fatal("the refused move created its target")
	}
}

// M14: a replication role that row-level security would filter is refused:
// never a copy of zero rows.
func TestMoveRefusesAReplicationRoleUnderRLS(t *testing.T) {
	b := setup(t)
	b.p.Tenant(t, "acme", "shared")
	b.seed(t, "acme", 3, 3)
	ctx := context.Background()
	su, err := pgx.Connect(ctx, b.p.Catalog.Server.SuperuserURL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer su.Close(ctx)
	role := "tk_weak_" + strings.ReplaceAll(uuid.NewString()[:8], "-", "")
	if _, err := su.Exec(ctx, "CREATE ROLE "+role+" LOGIN REPLICATION NOBYPASSRLS PASSWORD 'weak'"); err != nil {
		t.Fatal(err)
	}
	// Everything else a move needs of the role, so that row security is
	// what it lacks.
	if _, err := su.Exec(ctx, "GRANT SET ON PARAMETER session_replication_role TO "+role); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), b.p.Catalog.Server.SuperuserURL("postgres"))
		if err == nil {
			_, _ = c.Exec(context.Background(), "DROP OWNED BY "+role+" CASCADE")
			_, _ = c.Exec(context.Background(), "DROP ROLE "+role)
			c.Close(context.Background())
		}
	})
	weak := strings.Replace(b.p.Catalog.Server.ReplicationURL("postgres"), "tenantkit_repl:"+tenantkittest.Passwords.Replication, role+":weak", 1)
	if _, err := b.ownerConn(t, b.p.Catalog.Name).Exec(ctx, "UPDATE tenantkit.clusters SET replication_url = $1", weak); err != nil {
		t.Fatal(err)
	}
	m, err := drive(t, b.runner(t, nil), b.create(t, "acme", "dedicated", ""))
	if err == nil || m.State != catalog.MoveFailed || !strings.Contains(m.LastError, "past row-level security") {
		t.Fatalf("move: %v, state %s, error %q; want refused", err, m.State, m.LastError)
	}
	b.assertClean(t)
	if b.databaseExists(t, m.TargetDatabase) {
		t.Fatal("the refused move created its target")
	}
}

func (b *bundle) databaseExists(t *testing.T, db string) bool {
	t.Helper()
	var ok bool
	if err := b.ownerConn(t, "postgres").QueryRow(context.Background(), "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)", db).Scan(&ok); err != nil {
		t.Fatal(err)
	}
	return ok
}
