package move_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantkit/tenantkit"
	"github.com/tenantkit/tenantkit/internal/bootstrap"
	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/move"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

// M15: the fence matrix. Writers of two processes whose placement is
// stale wait on a cutover on every scoped path — Exec, QueryRow, Query, Tx
// and TxWithOptions at each isolation level — while the app role's default
// isolation level on the source is READ COMMITTED, REPEATABLE READ or
// SERIALIZABLE, with prepared statements (the batch and the prepare
// paths), without, without through a real PgBouncer in transaction mode
// that resets nothing, and with through one that keeps prepared statements
// and resets sessions (Config.TransactionPooler). Every write they were
// told succeeded is on the target; none is on the source.
func TestFenceMatrix(t *testing.T) {
	for _, via := range []string{"bound", "prepared", "unprepared", "pgbouncer", "pooled"} {
		for _, def := range []string{"read committed", "repeatable read", "serializable"} {
			name := fmt.Sprintf("default=%s/%s", def, via)
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				fenceMatrixRow(t, def, via)
			})
		}
	}
}

// fenceMatrixRow runs one row of the matrix: the app role's default
// isolation level on the source, and how two stale processes (two Kits)
// reach it — with prepared statements, without, or without through a real
// PgBouncer in transaction mode.
func fenceMatrixRow(t *testing.T, defaultIso, via string) {
	p := tenantkittest.NewPlatform(t, migrations())
	id := p.Tenant(t, "acme", "shared").String()
	super, err := pgx.Connect(context.Background(), p.Catalog.Server.SuperuserURL(p.SharedDatabase))
	if err != nil {
		t.Fatal(err)
	}
	_, err = super.Exec(context.Background(), "ALTER ROLE "+pgx.Identifier{bootstrap.AppRole}.Sanitize()+
		" IN DATABASE "+pgx.Identifier{p.SharedDatabase}.Sanitize()+" SET default_transaction_isolation = '"+defaultIso+"'")
	p.Catalog.Server.CloseAndWait(t, super)
	if err != nil {
		t.Fatal(err)
	}
	cfg := tenantkit.Config{Logger: slog.New(slog.DiscardHandler), DisablePreparedStatements: via == "unprepared" || via == "pgbouncer",
		TransactionPooler: via == "pooled"}
	if via == "pgbouncer" || via == "pooled" {
		var opts []tenantkittest.PgBouncerOption
		if via == "pooled" {
			opts = append(opts, tenantkittest.WithResetQuery(tenantkit.PgBouncerResetQuery))
		}
		bouncer := tenantkittest.StartPgBouncer(t, p.Catalog.Addr(), opts...)
		cfg.PoolConfigFunc = func(c *pgxpool.Config) {
			c.ConnConfig.Host, c.ConnConfig.Port = "127.0.0.1", uint16(bouncer.Port())
		}
	}
	writers := map[string]func(name string) error{}
	var b *bundle
	for i := range 2 {
		var kit *tenantkit.Kit
		if via == "bound" {
			kit = p.ListeningKit(t, cfg)
		} else {
			kit = p.Kit(t, cfg)
		}
		b = &bundle{p: p, kit: kit, store: p.Store()}
		stale, err := b.scoped(t, "acme") // its placement is the source, forever
		if err != nil {
			t.Fatal(err)
		}
		var iso string
		if err := kit.QueryRow(stale, "SELECT current_setting('transaction_isolation')").Scan(&iso); err != nil || iso != defaultIso {
			t.Fatalf("scoped statements run at %q (%v), want the default %q", iso, err, defaultIso)
		}
		for path, w := range staleWriters(kit, stale) {
			writers[fmt.Sprintf("kit%d/%s", i, path)] = w
		}
	}
	// Each statement runs on several connections first, so that the
	// writers below find it prepared (the batch path) as well as not.
	var warm sync.WaitGroup
	for i := range 4 {
		for path, w := range writers {
			warm.Add(1)
			go func() {
				defer warm.Done()
				if err := w(fmt.Sprintf("warm-%s-%d", path, i)); err != nil {
					t.Errorf("warm-up %s: %v", path, err)
				}
			}()
		}
	}
	warm.Wait()
	idle := 0
	for _, state := range p.Bindings(t, uuid.MustParse(id)) {
		if state == "idle" {
			idle++
		}
	}
	if (via == "bound") != (idle > 0) {
		t.Fatalf("%d idle sessions hold the tenant's binding after the warm-up, via %s", idle, via)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	acked := map[string]error{}
	waiting := func(m catalog.Move, phase string) error {
		if phase != "cutover:fenced" {
			return nil
		}
		for path, w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := w("fenced-" + path)
				mu.Lock()
				acked["fenced-"+path] = err
				mu.Unlock()
			}()
		}
		time.Sleep(400 * time.Millisecond) // every writer is waiting on the fence by now
		return nil
	}
	r := b.runner(t, func(c *move.Config) { c.PhaseFunc = waiting })
	src := b.p.Placement(t, "acme")
	mustDrive(t, r, b.create(t, "acme", "dedicated", ""))
	wg.Wait()
	for name, err := range acked {
		if err != nil {
			t.Errorf("%s: a writer waiting on the fence failed: %v", name, err)
		}
	}
	dst := b.p.Placement(t, "acme")
	fenced := func(db, schema string) map[string]bool {
		got := map[string]bool{}
		asTenant(t, b.ownerConn(t, db), id, func(tx pgx.Tx) error {
			rows, err := tx.Query(context.Background(), "SELECT name FROM "+pgx.Identifier{schema, "counters"}.Sanitize()+
				" WHERE name LIKE 'fenced-%'")
			if err != nil {
				return err
			}
			names, err := pgx.CollectRows(rows, pgx.RowTo[string])
			for _, n := range names {
				got[n] = true
			}
			return err
		})
		return got
	}
	onTarget, onSource := fenced(dst.Database, dst.Schema), fenced(src.Database, src.Schema)
	for name := range acked {
		if !onTarget[name] {
			t.Errorf("%s: acknowledged, but not on the target", name)
		}
	}
	if len(onSource) > 0 {
		t.Errorf("the source took writes after the cutover: %v", onSource)
	}
}

// staleWriters are the scoped paths of kit, writing as the tenant of ctx
// a row named by their argument.
func staleWriters(kit *tenantkit.Kit, ctx context.Context) map[string]func(name string) error {
	const insert = "INSERT INTO counters (name, value) VALUES ($1, 1) RETURNING name"
	txWriter := func(opts pgx.TxOptions) func(string) error {
		return func(name string) error {
			return kit.TxWithOptions(ctx, opts, func(tx pgx.Tx) error {
				_, err := tx.Exec(ctx, insert, name)
				return err
			})
		}
	}
	return map[string]func(name string) error{
		"exec": func(name string) error { _, err := kit.Exec(ctx, insert, name); return err },
		"queryrow": func(name string) error {
			var got string
			return kit.QueryRow(ctx, insert, name).Scan(&got)
		},
		"query": func(name string) error {
			_, err := tenantkit.Query(ctx, kit, insert, []any{name}, pgx.RowTo[string])
			return err
		},
		"tx":                 txWriter(pgx.TxOptions{}),
		"tx/read committed":  txWriter(pgx.TxOptions{IsoLevel: pgx.ReadCommitted}),
		"tx/repeatable read": txWriter(pgx.TxOptions{IsoLevel: pgx.RepeatableRead}),
		"tx/serializable":    txWriter(pgx.TxOptions{IsoLevel: pgx.Serializable}),
	}
}
