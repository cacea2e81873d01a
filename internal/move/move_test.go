package move_test

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantkit/tenantkit"
	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/move"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

func TestMain(m *testing.M) { tenantkittest.Main(m) }

//go:embed testdata/migrations testdata/noident
var migrationFS embed.FS

func migrations() fs.FS {
	sub, err := fs.Sub(migrationFS, "testdata/migrations")
	if err != nil {
		panic(err)
	}
	return sub
}

type bundle struct {
	p     *tenantkittest.Platform
	kit   *tenantkit.Kit
	store *catalog.Store
}

func setup(t *testing.T) *bundle {
	t.Helper()
	p := tenantkittest.NewPlatform(t, migrations())
	// Listening, as an application's Kit is: its pooled connections stay
	// bound to their tenants, and the moves below must wait for them.
	kit := p.ListeningKit(t, tenantkit.Config{Logger: slog.New(slog.DiscardHandler)})
	return &bundle{p: p, kit: kit, store: p.Store()}
}

func (b *bundle) runner(t *testing.T, mutate func(*move.Config)) *move.Runner {
	t.Helper()
	cfg := move.Config{Store: b.store, Migrations: migrations(), Lease: 3 * time.Second, PollInterval: 200 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler)}
	if testing.Verbose() {
		cfg.Logger = slog.Default()
	}
	if mutate != nil {
		mutate(&cfg)
	}
	r, err := move.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// create records a move of slug to tier (on cluster, or the tenant's own).
func (b *bundle) create(t *testing.T, slug, tier, cluster string) catalog.Move {
	t.Helper()
	m, err := b.store.CreateMove(context.Background(), "test", slug, catalog.MoveParams{Tier: tier, Cluster: cluster})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// drive runs a move to its end with r, within a minute.
func drive(t *testing.T, r *move.Runner, m catalog.Move) (catalog.Move, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	return r.Drive(ctx, m.ID)
}

// scoped is a context for slug as the middleware makes it per request:
// the tenant comes from the kit's cache.
func (b *bundle) scoped(t testing.TB, slug string) (context.Context, error) {
	tn, err := b.kit.Lookup(context.Background(), slug)
	if err != nil {
		return nil, err
	}
	return tenantkit.WithTenant(context.Background(), tn), nil
}

// seed gives slug customers and orders through the scoped API.
func (b *bundle) seed(t *testing.T, slug string, customers, ordersPer int) {
	t.Helper()
	ctx, err := b.scoped(t, slug)
	if err != nil {
		t.Fatal(err)
	}
	err = b.kit.Tx(ctx, func(tx pgx.Tx) error {
		for c := range customers {
			var id int64
			if err := tx.QueryRow(ctx, "INSERT INTO customers (email, name) VALUES ($1, $2) RETURNING id",
				fmt.Sprintf("c%d-%d@%s.test", c, seedRound.Add(1), slug), nullable(c)).Scan(&id); err != nil {
				return err
			}
			for o := range ordersPer {
				if _, err := tx.Exec(ctx, `INSERT INTO orders (customer_id, status, total, tags, meta, note, blob, placed_at)
					VALUES ($1, 'open', $2, $3, $4, $5, $6, $7)`, id, fmt.Sprintf("%d.%02d", o*7, o%100), []string{"a", slug},
					map[string]any{"n": o, "nested": map[string]any{"x": []int{1, 2}}}, noteFor(c, o), []byte{0, 1, byte(o)},
					time.Date(2026, 1, 1, 0, 0, o, 123000, time.UTC)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

var seedRound atomic.Int64

func nullable(i int) any {
	if i%5 == 0 {
		return nil
	}
	return fmt.Sprintf("name %d", i)
}

// noteFor is sometimes a value large enough to be TOASTed.
func noteFor(c, o int) any {
	switch (c + o) % 4 {
	case 0:
		return nil
	case 1:
		return string(make([]byte, 0)) + fmt.Sprintf("%08d", c*1000+o) + string(bigText(3000))
	}
	return "short"
}

func bigText(n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(uint64(n), 7))
	for i := range b {
		b[i] = byte('a' + r.IntN(26))
	}
	return b
}

// snapshot reads everything of slug through the scoped API, as text.
func (b *bundle) snapshot(t *testing.T, slug string) map[string]string {
	t.Helper()
	ctx, err := b.scoped(t, slug)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, q := range []string{
		"SELECT 'c' || id, row(email, name, created_at)::text FROM customers",
		"SELECT 'o' || id, row(customer_id, status, total, tags, meta, md5(note), blob, placed_at)::text FROM orders",
		"SELECT 'n' || name, value::text FROM counters",
	} {
		type kv struct{ K, V string }
		rows, err := tenantkit.Query(ctx, b.kit, q, nil, pgx.RowToStructByPos[kv])
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			out[r.K] = r.V
		}
	}
	return out
}

// load writes to a tenant through the scoped API until stopped: inserts,
// updates, deletes and upserts, and keeps the model of what was
// acknowledged.
type load struct {
	b       *bundle
	slug    string
	id      int64
	mu      sync.Mutex
	orders  map[int64]string // id → status as acknowledged; "" deleted
	counter map[string]int64
	errs    []error
	n       int
	stop    chan struct{}
	done    sync.WaitGroup
}

func startLoad(t *testing.T, b *bundle, slug string, workers int) *load {
	l := &load{b: b, slug: slug, orders: map[int64]string{}, counter: map[string]int64{}, stop: make(chan struct{}), id: seedRound.Add(1)}
	ctx, err := b.scoped(t, slug)
	if err != nil {
		t.Fatal(err)
	}
	var customer int64
	if err := b.kit.QueryRow(ctx, "INSERT INTO customers (email) VALUES ($1) RETURNING id", fmt.Sprintf("load%d@%s", seedRound.Add(1), slug)).Scan(&customer); err != nil {
		t.Fatal(err)
	}
	for w := range workers {
		l.done.Add(1)
		go l.work(w, customer)
	}
	return l
}

func (l *load) work(w int, customer int64) {
	defer l.done.Done()
	r := rand.New(rand.NewPCG(uint64(w), 1))
	var mine []int64
	deadline := time.Now().Add(3 * time.Minute)
	for i := 0; time.Now().Before(deadline); i++ {
		select {
		case <-l.stop:
			return
		default:
		}
		ctx, err := l.b.scoped(nil, l.slug)
		if err == nil {
			err = l.op(ctx, r, w, customer, &mine)
		}
		l.mu.Lock()
		l.n++
		if err != nil {
			l.errs = append(l.errs, err)
		}
		l.mu.Unlock()
		time.Sleep(time.Duration(r.IntN(3)) * time.Millisecond)
	}
}

func (l *load) op(ctx context.Context, r *rand.Rand, w int, customer int64, mine *[]int64) error {
	k := l.b.kit
	switch op := r.IntN(10); {
	case op < 4 || len(*mine) == 0:
		var id int64
		if err := k.QueryRow(ctx, "WITH o AS (INSERT INTO orders (customer_id, status, note) VALUES ($1, 'open', $2) RETURNING id), "+
			"l AS (INSERT INTO lines (order_id, n) SELECT id, g FROM o, generate_series(1, 2) g) SELECT id FROM o",
			customer, string(bigText(2500+r.IntN(100)))).Scan(&id); err != nil {
			return err
		}
		*mine = append(*mine, id)
		l.set(id, "open")
	case op < 7:
		id := (*mine)[r.IntN(len(*mine))]
		status := fmt.Sprintf("s%d", r.IntN(1000))
		// The note (TOASTed) is left alone: the stream carries it unchanged.
		tag, err := k.Exec(ctx, "UPDATE orders SET status = $2, total = total WHERE id = $1", id, status)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return fmt.Errorf("update of order %d touched %d rows", id, tag.RowsAffected())
		}
		l.set(id, status)
	case op < 8:
		i := r.IntN(len(*mine))
		id := (*mine)[i]
		if _, err := k.Exec(ctx, "DELETE FROM orders WHERE id = $1", id); err != nil {
			return err
		}
		*mine = append((*mine)[:i], (*mine)[i+1:]...)
		l.set(id, "")
	default:
		name := fmt.Sprintf("%d-w%d-%d", l.id, w, r.IntN(3))
		err := k.Tx(ctx, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, "INSERT INTO counters (name, value) VALUES ($1, 1) ON CONFLICT (tenant_id, name) DO UPDATE SET value = counters.value + 1", name)
			return err
		})
		if err != nil {
			return err
		}
		l.mu.Lock()
		l.counter[name]++
		l.mu.Unlock()
	}
	return nil
}

func (l *load) set(id int64, status string) {
	l.mu.Lock()
	l.orders[id] = status
	l.mu.Unlock()
}

// finish stops the load and checks that every acknowledged write is there.
func (l *load) finish(t *testing.T) {
	t.Helper()
	close(l.stop)
	l.done.Wait()
	if len(l.errs) > 0 {
		t.Errorf("%s: %d of %d writes failed; first: %v", l.slug, len(l.errs), l.n, l.errs[0])
	}
	ctx, err := l.b.scoped(t, l.slug)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		ID     int64
		Status string
	}
	rows, err := tenantkit.Query(ctx, l.b.kit, "SELECT id, status FROM orders", nil, pgx.RowToStructByPos[row])
	if err != nil {
		t.Fatal(err)
	}
	have := map[int64]string{}
	for _, r := range rows {
		have[r.ID] = r.Status
	}
	lost := 0
	for id, want := range l.orders {
		got, ok := have[id]
		switch {
		case want == "" && ok:
			t.Errorf("%s: deleted order %d is back (%s)", l.slug, id, got)
			lost++
		case want != "" && !ok:
			t.Errorf("%s: acknowledged order %d (%s) is lost", l.slug, id, want)
			lost++
		case want != "" && got != want:
			t.Errorf("%s: order %d is %s, acknowledged %s", l.slug, id, got, want)
			lost++
		}
		if lost > 10 {
			t.Fatal("too many differences")
		}
	}
	for name, want := range l.counter {
		var got int64
		if err := l.b.kit.QueryRow(ctx, "SELECT value FROM counters WHERE name = $1", name).Scan(&got); err != nil {
			t.Fatalf("%s: counter %s: %v", l.slug, name, err)
		}
		if got != want {
			t.Errorf("%s: counter %s is %d, acknowledged %d increments", l.slug, name, got, want)
		}
	}
	t.Logf("%s: %d writes, %d orders tracked, all acknowledged writes present", l.slug, l.n, len(l.orders))
}

// leftovers lists the replication slots, publications and prepared
// transactions of the test server that belong to moves.
func (b *bundle) leftovers(t *testing.T) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	conn, err := pgx.Connect(ctx, b.p.Catalog.Server.SuperuserURL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, _ := conn.Query(ctx, `SELECT 'slot ' || slot_name || ' on ' || database FROM pg_replication_slots WHERE slot_name LIKE 'tk\_%'
		UNION ALL SELECT 'prepared ' || gid FROM pg_prepared_xacts WHERE gid LIKE 'tk\_%'`)
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, names...)
	for _, db := range []string{b.p.SharedDatabase} {
		c, err := pgx.Connect(ctx, b.p.OwnerDSN(db))
		if err != nil {
			continue
		}
		rows, _ := c.Query(ctx, "SELECT 'publication ' || pubname FROM pg_publication UNION ALL SELECT 'cutover announced ' || gid FROM tenantkit.cutovers")
		pubs, _ := pgx.CollectRows(rows, pgx.RowTo[string])
		out = append(out, pubs...)
		c.Close(ctx)
	}
	return out
}

func mustDrive(t *testing.T, r *move.Runner, m catalog.Move) catalog.Move {
	t.Helper()
	got, err := drive(t, r, m)
	if err != nil {
		t.Fatalf("move %s → %s: %v (state %s, phase %q, progress %s, error %q)", m.SourceTier, m.TargetTier, err,
			got.State, got.Phase, got.Progress, got.LastError)
	}
	if got.State != catalog.MoveComplete {
		t.Fatalf("move ended %s: %s", got.State, got.LastError)
	}
	return got
}

func TestMoveSharedToDedicatedUnderLoad(t *testing.T) {
	b := setup(t)
	b.p.Tenant(t, "acme", "shared")
	b.p.Tenant(t, "neighbour", "shared")
	b.seed(t, "acme", 40, 10)
	b.seed(t, "neighbour", 10, 5)
	before := b.snapshot(t, "acme")
	neighbourBefore := b.snapshot(t, "neighbour")
	_ = before
	l := startLoad(t, b, "acme", 4)
	time.Sleep(300 * time.Millisecond)
	r := b.runner(t, nil)
	m := mustDrive(t, r, b.create(t, "acme", "dedicated", ""))
	time.Sleep(300 * time.Millisecond)
	l.finish(t)
	if pl := b.p.Placement(t, "acme"); pl.Tier != "dedicated" || pl.Epoch != m.SourceEpoch+1 {
		t.Fatalf("placement after the move: %+v", pl)
	}
	if after := b.snapshot(t, "neighbour"); fmt.Sprint(after) != fmt.Sprint(neighbourBefore) {
		t.Fatal("the neighbour's data changed")
	}
	var p move.Progress
	if err := jsonUnmarshal(m.Progress, &p); err != nil {
		t.Fatal(err)
	}
	t.Logf("progress: %+v", p)
	if len(p.Verified) != 4 {
		t.Fatalf("verified %d tables, want 4", len(p.Verified))
	}
	for _, c := range p.Verified {
		if !c.Match {
			t.Errorf("table %s did not verify: %+v", c.Name, c)
		}
	}
	if errors.Is(nil, nil) && p.PauseMillis <= 0 {
		t.Errorf("no write pause recorded")
	}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
