package move

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tenantkit/tenantkit"
	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

// The benchmarks of issue 4. Each reports its figure next to a baseline
// measured in the same run, as custom metrics that internal/benchreport
// reads; ns/op means little here.

//go:embed testdata/migrations
var benchMigrationFS embed.FS

func benchMigrations() fs.FS {
	sub, err := fs.Sub(benchMigrationFS, "testdata/migrations")
	if err != nil {
		panic(err)
	}
	return sub
}

const (
	// benchOrders is the moved tenant's order count in the copy benchmark;
	// one in benchToastEvery carries a ~3 kB incompressible note, stored
	// out of line (TOAST).
	benchOrders     = 50_000
	benchToastEvery = 20
	// benchCopyPairs is how many engine and raw copies, in turn, one
	// iteration of the copy benchmark makes: the server's own noise
	// (checkpoints, autovacuum) is of the order of the difference.
	benchCopyPairs = 3
	// benchCutovers is how many moves the pause benchmark makes, back and
	// forth between the shared and dedicated tiers.
	benchCutovers = 10
	// benchChanges is the backlog the apply benchmark writes.
	benchChanges = 10_000
	// benchWriters write to the moved tenant through the scoped API.
	benchWriters = 4
)

// benchEnv is a platform with the tenant acme on the shared tier (and a
// neighbour), a runner, and a pending move of acme to a dedicated
// database, built, whose job gives the two ends.
type benchEnv struct {
	p      *tenantkittest.Platform
	r      *Runner
	j      *job
	tables []table
	ids    map[string]uuid.UUID
}

func newBenchEnv(b *testing.B) *benchEnv {
	b.Helper()
	ctx := context.Background()
	p := tenantkittest.NewPlatform(b, benchMigrations())
	ids := map[string]uuid.UUID{"acme": p.Tenant(b, "acme", "shared"), "neighbour": p.Tenant(b, "neighbour", "shared")}
	r, err := New(Config{Store: p.Store(), Migrations: benchMigrations(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	m, err := p.Store().CreateMove(ctx, "bench", "acme", catalog.MoveParams{Tier: catalog.TierDedicated})
	if err != nil {
		b.Fatal(err)
	}
	j, err := r.newJob(ctx, m)
	if err != nil {
		b.Fatal(err)
	}
	if err := r.prov.Build(ctx, j.dst.cluster, j.dst.placement()); err != nil {
		b.Fatal(err)
	}
	e := &benchEnv{p: p, r: r, j: j, ids: ids}
	src := e.owner(b, j.src)
	if e.tables, err = tablesOf(ctx, src, j.src.schema); err != nil {
		b.Fatal(err)
	}
	if err := grantReader(ctx, src, j.src, e.tables); err != nil {
		b.Fatal(err)
	}
	// The checks read the target as the replication role too.
	if err := grantReader(ctx, e.owner(b, j.dst), j.dst, e.tables); err != nil {
		b.Fatal(err)
	}
	return e
}

func (e *benchEnv) owner(b *testing.B, at end) *pgx.Conn {
	b.Helper()
	conn, err := at.owner(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// truncate is a statement that empties the tenant tables at an end of
// its own.
func (e *benchEnv) truncate(at end) string {
	names := make([]string, len(e.tables))
	for i, t := range e.tables {
		names[i] = ident(at.schema, t.Name)
	}
	return "TRUNCATE " + strings.Join(names, ", ")
}

// exec runs statements as the superuser on the shared database.
func (e *benchEnv) exec(b *testing.B, sqls ...string) {
	b.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, e.p.Catalog.Server.SuperuserURL(e.p.SharedDatabase))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, q := range sqls {
		if _, err := conn.Exec(ctx, q); err != nil {
			b.Fatalf("%s: %v", q, err)
		}
	}
}

// seedOrders gives a tenant 1,000 customers and n orders, one in
// benchToastEvery with a note stored out of line.
func (e *benchEnv) seedOrders(b *testing.B, slug string, n int) {
	b.Helper()
	id := e.ids[slug]
	e.exec(b,
		fmt.Sprintf(`INSERT INTO app.customers (tenant_id, email, name)
			SELECT '%s', 'c' || g || '@x.test', 'name ' || g FROM generate_series(1, 1000) g`, id),
		fmt.Sprintf(`INSERT INTO app.orders (tenant_id, customer_id, status, total, tags, meta, note, blob, placed_at)
			SELECT '%[1]s', (SELECT min(id) FROM app.customers WHERE tenant_id = '%[1]s') + g %% 1000, 'open', (g %% 100000) / 7.0,
			  ARRAY['a', 'b'], jsonb_build_object('n', g, 'nested', jsonb_build_object('x', g %% 13)),
			  CASE WHEN g %% %[3]d = 0 THEN (SELECT string_agg(md5(random()::text || g || k), '') FROM generate_series(1, 100) k)
			       ELSE 'short note ' || g END,
			  '\x00010203'::bytea, timestamptz '2026-01-01' + g * interval '1 second'
			FROM generate_series(1, %[2]d) g`, id, n, benchToastEvery),
		fmt.Sprintf(`INSERT INTO app.counters (tenant_id, name, value) SELECT '%s', 'k' || g, g FROM generate_series(1, 100) g`, id),
		"VACUUM ANALYZE app.customers, app.orders, app.counters")
}

// BenchmarkMoveCopy times the copy phase of a move (copyAll, as the runner
// calls it, over a shared-tier tenant of 50k orders) against a raw binary
// COPY TO STDOUT piped into COPY FROM STDIN of the same rows between the
// same databases, as the same roles, on connections opened beforehand.
// Each iteration runs both, in alternating order, into the emptied target.
func BenchmarkMoveCopy(b *testing.B) {
	ctx := context.Background()
	e := newBenchEnv(b)
	e.seedOrders(b, "neighbour", 10_000)
	e.seedOrders(b, "acme", benchOrders)
	j := e.j
	dst := e.owner(b, j.dst)
	if err := grantCopy(ctx, dst, j.dst, e.tables, true); err != nil {
		b.Fatal(err)
	}
	// The runner drops the target's indexes that back no constraint
	// before the copy and builds them after (deferIndexes).
	if _, err := dst.Exec(ctx, `DO $$ DECLARE i text; BEGIN
		FOR i IN SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) FROM pg_index x
		  JOIN pg_class c ON c.oid = x.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
		  WHERE n.nspname = 'app' AND NOT EXISTS (SELECT FROM pg_constraint k WHERE k.conindid = x.indexrelid)
		LOOP EXECUTE 'DROP INDEX ' || i; END LOOP; END $$`); err != nil {
		b.Fatal(err)
	}
	truncate := e.truncate(j.dst)
	raw := newRawCopier(b, j.src, j.dst, e.tables)
	names := make([]string, len(e.tables))
	for i, t := range e.tables {
		names[i] = t.Name
	}
	// The slot's exported snapshot, as the runner has it when the copy
	// starts: an exported snapshot of an open transaction imports the same
	// way. Taken once; the copies only read it.
	holder := e.owner(b, j.src)
	htx, err := holder.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
	if err != nil {
		b.Fatal(err)
	}
	var snap string
	if err := htx.QueryRow(ctx, "SELECT pg_export_snapshot()").Scan(&snap); err != nil {
		b.Fatal(err)
	}
	engine := func() (int64, error) {
		j.prog.reset(names)
		if err := e.r.copyAll(ctx, j.src, j.dst, snap, e.tables, j.prog); err != nil {
			return 0, err
		}
		var rows int64
		for _, t := range j.prog.snapshot().Tables {
			rows += t.RowsCopied
		}
		return rows, nil
	}
	run := func(name string, copyFn func() (int64, error)) (int64, time.Duration) {
		if _, err := dst.Exec(ctx, truncate); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		rows, err := copyFn()
		if err != nil {
			b.Fatalf("%s copy: %v", name, err)
		}
		return rows, time.Since(start)
	}
	// A first raw copy outside the measurement warms the caches and the
	// target's files for both.
	if rows, _ := run("warm-up", raw.copy); rows != int64(benchOrders+1100) {
		b.Fatalf("warm-up copied %d rows, want %d", rows, benchOrders+1100)
	}
	var engineRows, rawRows int64
	var engineTime, rawTime time.Duration
	var ratios []float64
	i := 0
	for b.Loop() {
		for range benchCopyPairs {
			order := []bool{true, false}
			if i%2 == 1 {
				order = []bool{false, true}
			}
			var ed, rd time.Duration
			for _, isEngine := range order {
				if isEngine {
					n, d := run("engine", engine)
					engineRows, engineTime, ed = engineRows+n, engineTime+d, d
				} else {
					n, d := run("raw", raw.copy)
					rawRows, rawTime, rd = rawRows+n, rawTime+d, d
				}
			}
			ratios = append(ratios, rd.Seconds()/ed.Seconds())
			i++
		}
	}
	b.Logf("engine/raw throughput per pair: %.2f", ratios)
	if engineRows != rawRows {
		b.Fatalf("engine copied %d rows, raw %d", engineRows, rawRows)
	}
	er, rr := float64(engineRows)/engineTime.Seconds(), float64(rawRows)/rawTime.Seconds()
	b.ReportMetric(er, "rows/s")
	b.ReportMetric(rr, "raw-rows/s")
	b.ReportMetric(er/rr, "x-raw")
	b.ReportMetric(median(ratios), "median-pair-x-raw")
	b.ReportMetric(float64(engineTime.Milliseconds())/float64(i), "ms/copy")
	b.ReportMetric(float64(rawTime.Milliseconds())/float64(i), "raw-ms/copy")
}

// rawCopier copies a tenant's tables with nothing but the two COPY
// statements, the baseline of BenchmarkMoveCopy.
type rawCopier struct {
	src, dst end
	tables   []table
	in, out  *pgx.Conn
}

func newRawCopier(b *testing.B, src, dst end, tables []table) *rawCopier {
	b.Helper()
	ctx := context.Background()
	c := &rawCopier{src: src, dst: dst, tables: tables}
	var err error
	if c.in, err = src.reader(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.in.Close(ctx) })
	if c.out, err = dst.reader(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.out.Close(ctx) })
	return c
}

// copy copies the tables a level after another, as copyAll orders them.
func (c *rawCopier) copy() (int64, error) {
	ctx := context.Background()
	var rows int64
	for _, level := range levels(c.tables) {
		for _, t := range level {
			cols := columnList(t.Columns)
			from := "COPY (SELECT " + cols + " FROM " + ident(c.src.schema, t.Name) + c.src.where() + ") TO STDOUT (FORMAT binary)"
			to := "COPY " + ident(c.dst.schema, t.Name) + " (" + cols + ") FROM STDIN (FORMAT binary)"
			pr, pw := io.Pipe()
			done := make(chan error, 1)
			go func() {
				_, err := c.in.PgConn().CopyTo(ctx, pw, from)
				pw.CloseWithError(err)
				done <- err
			}()
			tag, err := c.out.PgConn().CopyFrom(ctx, pr, to)
			pr.CloseWithError(io.ErrClosedPipe)
			if serr := <-done; serr != nil && err == nil {
				err = serr
			}
			if err != nil {
				return rows, fmt.Errorf("copy %s: %w", t.Name, err)
			}
			rows += tag.RowsAffected()
		}
	}
	return rows, nil
}

// benchWrite is one write of a writer: when it started and how long it
// took.
type benchWrite struct {
	start time.Time
	took  time.Duration
	err   error
}

// benchLoad writes to a tenant through the scoped API from several
// writers, each at a steady rate or as fast as it can, and records every
// write.
type benchLoad struct {
	kit     *tenantkit.Kit
	slug    string
	every   time.Duration // 0: as fast as possible
	limit   int64         // stop after this many row changes; 0: until stopped
	changes atomic.Int64
	stop    chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	writes  []benchWrite
}

func startBenchLoad(b *testing.B, kit *tenantkit.Kit, slug string, every time.Duration, limit int64) *benchLoad {
	b.Helper()
	l := &benchLoad{kit: kit, slug: slug, every: every, limit: limit, stop: make(chan struct{})}
	ctx := l.scoped(b)
	var customer int64
	if err := kit.QueryRow(ctx, "INSERT INTO customers (email) VALUES ($1) RETURNING id", "load-"+randomHex()+"@"+slug).Scan(&customer); err != nil {
		b.Fatal(err)
	}
	l.changes.Add(1)
	for w := range benchWriters {
		l.wg.Add(1)
		go l.writer(w, customer)
	}
	return l
}

func randomHex() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// scoped is a context for the tenant as the middleware makes it per
// request: the tenant comes from the kit's cache, which a move updates.
func (l *benchLoad) scoped(b *testing.B) context.Context {
	tn, err := l.kit.Lookup(context.Background(), l.slug)
	if err != nil {
		if b != nil {
			b.Fatal(err)
		}
		return nil
	}
	return tenantkit.WithTenant(context.Background(), tn)
}

func (l *benchLoad) writer(w int, customer int64) {
	defer l.wg.Done()
	var mine []int64
	next := time.Now()
	for i := 0; ; i++ {
		if l.every > 0 {
			next = next.Add(l.every)
			if d := time.Until(next); d > 0 {
				select {
				case <-l.stop:
					return
				case <-time.After(d):
				}
			} else {
				next = time.Now() // fell behind: no burst to catch up
			}
		}
		select {
		case <-l.stop:
			return
		default:
		}
		if l.limit > 0 && l.changes.Load() >= l.limit {
			return
		}
		start := time.Now()
		n, err := l.op(i, w, customer, &mine)
		took := time.Since(start)
		l.changes.Add(n)
		l.mu.Lock()
		l.writes = append(l.writes, benchWrite{start: start, took: took, err: err})
		l.mu.Unlock()
	}
}

// op makes one write: an insert, an update or a delete of one order with
// Exec, or a transaction that bumps a counter and updates an order. It
// returns the row changes it made.
func (l *benchLoad) op(i, w int, customer int64, mine *[]int64) (int64, error) {
	ctx := l.scoped(nil)
	if ctx == nil {
		return 0, fmt.Errorf("look up %s", l.slug)
	}
	k := l.kit
	switch op := i % 10; {
	case op < 4 || len(*mine) < 4:
		note := "short"
		if i%8 == 0 {
			note = string(benchText(2500, i))
		}
		var id int64
		if err := k.QueryRow(ctx, "INSERT INTO orders (customer_id, status, note) VALUES ($1, 'open', $2) RETURNING id",
			customer, note).Scan(&id); err != nil {
			return 0, err
		}
		*mine = append(*mine, id)
		return 1, nil
	case op < 7:
		id := (*mine)[i%len(*mine)]
		_, err := k.Exec(ctx, "UPDATE orders SET status = $2 WHERE id = $1", id, fmt.Sprintf("s%d", i))
		return 1, err
	case op < 8:
		id := (*mine)[0]
		*mine = (*mine)[1:]
		_, err := k.Exec(ctx, "DELETE FROM orders WHERE id = $1", id)
		return 1, err
	default:
		id := (*mine)[len(*mine)-1]
		err := k.Tx(ctx, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "INSERT INTO counters (name, value) VALUES ($1, 1) ON CONFLICT (tenant_id, name) DO UPDATE SET value = counters.value + 1",
				fmt.Sprintf("w%d", w)); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "UPDATE orders SET total = coalesce(total, 0) + 1 WHERE id = $1", id)
			return err
		})
		return 2, err
	}
}

// benchText is n incompressible-looking letters.
func benchText(n, seed int) []byte {
	b := make([]byte, n)
	x := uint64(seed)*0x9E3779B97F4A7C15 + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte('a' + x%26)
	}
	return b
}

// finish stops the writers and returns every write.
func (l *benchLoad) finish() []benchWrite {
	close(l.stop)
	l.wg.Wait()
	return l.writes
}

// wait waits until the writers stopped by themselves (limit reached).
func (l *benchLoad) wait() []benchWrite {
	l.wg.Wait()
	return l.writes
}

// percentile of ds, nearest rank; ds is sorted in place.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	i := int(p*float64(len(ds))+0.5) - 1
	return ds[max(0, min(i, len(ds)-1))]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// BenchmarkMoveCutoverPause moves a tenant back and forth between the
// shared and dedicated tiers benchCutovers times while benchWriters write
// to it through the scoped API, each every 10 ms. Per cutover it takes the
// longest write that overlapped it (from the move entering its cutover to
// the move completing) and the pause the engine recorded, and reports
// their p50 and p99 (with ten cutovers, p99 is the worst). The baseline is
// the same writers' write latency with no move, measured first.
func BenchmarkMoveCutoverPause(b *testing.B) {
	ctx := context.Background()
	p := tenantkittest.NewPlatform(b, benchMigrations())
	p.Tenant(b, "acme", "shared")
	p.Tenant(b, "neighbour", "shared")
	kit := p.Kit(b, tenantkit.Config{Logger: slog.New(slog.DiscardHandler)})
	store := p.Store()
	// The phases of each cutover, as the runner enters them: the move's
	// cutover state (then a last catch-up, the fence's connection and its
	// lock: writes wait only for the lock), the fence taken,
	// the fence prepared (after the drain, the verification and the
	// sequences), the catalog flipped. The last attempt's times are kept.
	var mu sync.Mutex
	phases := map[string]map[string]time.Time{}
	r, err := New(Config{Store: store, Migrations: benchMigrations(), Lease: 3 * time.Second, PollInterval: 200 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler),
		PhaseFunc: func(m catalog.Move, phase string) error {
			if phase == catalog.MoveCutover || strings.HasPrefix(phase, "cutover:") {
				mu.Lock()
				if phases[m.ID.String()] == nil {
					phases[m.ID.String()] = map[string]time.Time{}
				}
				phases[m.ID.String()][phase] = time.Now()
				mu.Unlock()
			}
			return nil
		}})
	if err != nil {
		b.Fatal(err)
	}
	seed := startBenchLoad(b, kit, "acme", 0, 3000)
	seed.wait()

	var idle, pauses, engine, toFence, fenced, flip []time.Duration
	var failed, writes int
	var moveTime time.Duration
	for b.Loop() {
		l := startBenchLoad(b, kit, "acme", 10*time.Millisecond, 0)
		time.Sleep(3 * time.Second)
		idleEnd := time.Now()
		type window struct{ from, to time.Time }
		var windows []window
		for i := range benchCutovers {
			tier := catalog.TierDedicated
			if i%2 == 1 {
				tier = catalog.TierShared
			}
			m, err := store.CreateMove(ctx, "bench", "acme", catalog.MoveParams{Tier: tier})
			if err != nil {
				b.Fatal(err)
			}
			dctx, cancel := context.WithTimeout(ctx, time.Minute)
			started := time.Now()
			got, err := r.Drive(dctx, m.ID)
			cancel()
			moveTime += time.Since(started)
			if err != nil {
				b.Fatalf("move %d to %s: %v (state %s, phase %q, error %q)", i, tier, err, got.State, got.Phase, got.LastError)
			}
			var prog Progress
			if err := json.Unmarshal(got.Progress, &prog); err != nil {
				b.Fatal(err)
			}
			engine = append(engine, time.Duration(prog.PauseMillis*float64(time.Millisecond)))
			done := time.Now()
			mu.Lock()
			ph := phases[m.ID.String()]
			mu.Unlock()
			from := ph[catalog.MoveCutover]
			if from.IsZero() {
				from = started
			}
			windows = append(windows, window{from, done})
			if f, p, fl := ph["cutover:fenced"], ph["cutover:prepared"], ph["cutover:flipped"]; !f.IsZero() && !p.IsZero() && !fl.IsZero() {
				toFence = append(toFence, f.Sub(from))
				fenced = append(fenced, p.Sub(f))
				flip = append(flip, fl.Sub(p))
			}
			if prog.CutoverAttempts > 1 {
				b.Logf("move %d to %s took %d fences", i, tier, prog.CutoverAttempts)
			}
		}
		time.Sleep(200 * time.Millisecond)
		all := l.finish()
		worst := make([]time.Duration, len(windows))
		for _, w := range all {
			writes++
			if w.err != nil {
				failed++
				if failed <= 3 {
					b.Logf("write at %s failed after %v: %v", w.start.Format("15:04:05.000"), w.took, w.err)
				}
			}
			if w.start.Before(idleEnd) {
				idle = append(idle, w.took)
				continue
			}
			for k, win := range windows {
				if w.start.Before(win.to) && w.start.Add(w.took).After(win.from) {
					worst[k] = max(worst[k], w.took)
				}
			}
		}
		pauses = append(pauses, worst...)
	}
	b.Logf("write pause per cutover (ms): %v; engine's: %v", msList(pauses), msList(engine))
	b.ReportMetric(ms(percentile(pauses, 0.50)), "pause-p50-ms")
	b.ReportMetric(ms(percentile(pauses, 0.99)), "pause-p99-ms")
	b.ReportMetric(ms(percentile(engine, 0.50)), "engine-pause-p50-ms")
	b.ReportMetric(ms(percentile(engine, 0.99)), "engine-pause-p99-ms")
	b.Logf("per cutover (ms): to the fence (catch-up, connect, lock) %v; fenced to prepared (drain, verify, sequences) %v; flip %v",
		msList(toFence), msList(fenced), msList(flip))
	b.ReportMetric(ms(percentile(toFence, 0.50)), "to-fence-p50-ms")
	b.ReportMetric(ms(percentile(fenced, 0.50)), "fenced-to-prepared-p50-ms")
	b.ReportMetric(ms(percentile(flip, 0.50)), "flip-p50-ms")
	b.ReportMetric(ms(percentile(idle, 0.50)), "write-p50-ms")
	b.ReportMetric(ms(percentile(idle, 0.99)), "write-p99-ms")
	b.ReportMetric(float64(failed), "failed-writes")
	b.ReportMetric(float64(writes), "writes")
	b.ReportMetric(moveTime.Seconds()/float64(len(engine)), "s/move")
}

func msList(ds []time.Duration) []float64 {
	out := make([]float64, len(ds))
	for i, d := range ds {
		out[i] = ms(d)
	}
	return out
}

// BenchmarkMoveApply measures how fast the stream applies a backlog: the
// writers make benchChanges row changes to the source through the scoped
// API, as fast as they can, with the slot created and no stream running;
// then the stream applies them all. It reports the stream's changes/s and
// the writers' (the baseline), and their ratio.
func BenchmarkMoveApply(b *testing.B) {
	ctx := context.Background()
	e := newBenchEnv(b)
	e.seedOrders(b, "neighbour", 5000)
	kit := e.p.Kit(b, tenantkit.Config{Logger: slog.New(slog.DiscardHandler)})
	j := e.j
	if err := createPublication(ctx, j.src, j.names.publication(), e.tables); err != nil {
		b.Fatal(err)
	}
	src, dst := e.owner(b, j.src), e.owner(b, j.dst)
	var applyRate, writeRate []float64
	for b.Loop() {
		b.StopTimer()
		// A fresh slot and an emptied target each time: the backlog starts
		// at the slot.
		if err := dropSlot(ctx, j.src, j.names.slot()); err != nil {
			b.Fatal(err)
		}
		if err := forgetApplied(ctx, j.dst, j.names.hex); err != nil {
			b.Fatal(err)
		}
		lv := levels(e.tables)
		for i := len(lv) - 1; i >= 0; i-- {
			for _, t := range lv[i] {
				e.exec(b, "DELETE FROM "+ident(j.src.schema, t.Name)+j.src.where())
			}
		}
		if _, err := dst.Exec(ctx, e.truncate(j.dst)); err != nil {
			b.Fatal(err)
		}
		repl, err := j.src.replication(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := createSlot(ctx, repl, j.names.slot(), false); err != nil {
			b.Fatal(err)
		}
		repl.Close(ctx)
		b.StartTimer()

		start := time.Now()
		l := startBenchLoad(b, kit, "acme", 0, benchChanges)
		writes := l.wait()
		wrote := time.Since(start)
		for _, w := range writes {
			if w.err != nil {
				b.Fatalf("write: %v", w.err)
			}
		}
		changes := l.changes.Load()
		mark := randomHex()
		if _, err := src.Exec(ctx, "SELECT pg_logical_emit_message(false, $1, $2)", j.names.marker(), mark); err != nil {
			b.Fatal(err)
		}
		s, err := openStream(ctx, j.names.hex, j.src, j.dst, j.names.slot(), j.names.publication(), j.names.marker(), 0, nil)
		if err != nil {
			b.Fatal(err)
		}
		applyStart := time.Now()
		err = s.pump(ctx, 2*time.Minute, func() bool { return s.seen[mark] })
		applied := time.Since(applyStart)
		s.close()
		if err != nil {
			b.Fatal(err)
		}
		if !s.seen[mark] || s.changes != changes {
			b.Fatalf("the stream applied %d changes of %d (marker seen: %v)", s.changes, changes, s.seen[mark])
		}
		b.StopTimer()
		checks, err := verify(ctx, j.src, j.dst, e.tables)
		if err != nil {
			b.Fatal(err)
		}
		if d := mismatch(checks); d != "" {
			b.Fatalf("the target differs from the source: %s", d)
		}
		b.StartTimer()
		applyRate = append(applyRate, float64(changes)/applied.Seconds())
		writeRate = append(writeRate, float64(changes)/wrote.Seconds())
		b.Logf("%d changes written in %v, applied in %v", changes, wrote.Round(time.Millisecond), applied.Round(time.Millisecond))
	}
	b.Cleanup(func() { _ = dropSlot(ctx, j.src, j.names.slot()) })
	a, w := median(applyRate), median(writeRate)
	b.ReportMetric(a, "applied/s")
	b.ReportMetric(w, "written/s")
	b.ReportMetric(a/w, "x-written")
}

func median(xs []float64) float64 {
	slices.Sort(xs)
	return xs[len(xs)/2]
}
