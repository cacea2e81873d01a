package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"

	"github.com/tenantkit/tenantkit"
)

// loadOptions are the flags of tenantkit load.
type loadOptions struct {
	rate     int
	workers  int
	duration time.Duration
	every    time.Duration
}

func newLoad(e env, g *globals) *cobra.Command {
	o := loadOptions{}
	cmd := &cobra.Command{
		Use:   "load SLUG [--rate N] [--workers N] [--duration D]",
		Short: "Write orders for a tenant of the example app and check that none is lost",
		Long: "Write orders (with items) for a tenant of the example application at a steady rate, as an\n" +
			"application would: through tenantkit's scoped access, on whichever tier the tenant lives.\n" +
			"It creates a customer, then inserts orders and sometimes pays, cancels or deletes one of\n" +
			"them, remembering every acknowledged write. Every --every it prints the writes so far, the\n" +
			"latency of the last interval's writes and its longest stall: the longest time no write was\n" +
			"acknowledged. On Ctrl-C (or after --duration) it stops writing, checks that every\n" +
			"acknowledged order is there with its acknowledged status and every deleted one is gone,\n" +
			"prints a summary and exits 1 if an order was lost or a write failed.\n" +
			"Run it during a move: tenantkit move SLUG --to dedicated --wait.",
		Args: exactArgs(1, "one SLUG"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.validate(g); err != nil {
				return err
			}
			return runLoad(cmd.Context(), e, g.databaseURL, args[0], o)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.rate, "rate", 50, "writes per second, across all workers")
	f.IntVar(&o.workers, "workers", 4, "concurrent writers")
	f.DurationVar(&o.duration, "duration", 0, "stop after this long (default: until Ctrl-C)")
	f.DurationVar(&o.every, "every", 2*time.Second, "how often to print a status line")
	return cmd
}

func (o loadOptions) validate(g *globals) error {
	switch {
	case g.databaseURL == "":
		return usageError{errors.New("load needs the catalog: TENANTKIT_DATABASE_URL or --database-url " +
			"(with tenantkit dev: set -a; . .tenantkit/dev/dev.env; set +a)")}
	case o.rate < 1:
		return usageError{errors.New("--rate must be at least 1")}
	case o.workers < 1:
		return usageError{errors.New("--workers must be at least 1")}
	case o.duration < 0:
		return usageError{errors.New("--duration must not be negative")}
	case o.every <= 0:
		return usageError{errors.New("--every must be positive")}
	}
	return nil
}

// loadHooks let tests act on a load run. They travel in the context, as
// net/http/httptrace's hooks do, so the run is still started as the CLI
// starts it.
type loadHooks struct {
	// beforeVerifyFunc runs after the last write, before verification,
	// with the acknowledged orders that should exist.
	beforeVerifyFunc func(ctx context.Context, live []int64) error
}

type loadHooksKey struct{}

func withLoadHooks(ctx context.Context, h *loadHooks) context.Context {
	return context.WithValue(ctx, loadHooksKey{}, h)
}

func hooksFrom(ctx context.Context) *loadHooks {
	if h, ok := ctx.Value(loadHooksKey{}).(*loadHooks); ok {
		return h
	}
	return &loadHooks{}
}

// Bounds of the writes and the checks that follow them. A write outlives
// Ctrl-C: cancelling it would make its outcome unknown.
const (
	writeTimeout  = 30 * time.Second
	verifyTimeout = 2 * time.Minute
	verifyBatch   = 1000
)

func runLoad(ctx context.Context, e env, databaseURL, slug string, o loadOptions) error {
	kit, err := tenantkit.New(tenantkit.Config{DatabaseURL: databaseURL, Logger: discardLogger()})
	if err != nil {
		return err
	}
	defer kit.Close()
	// Listen for catalog changes as an application does, so that a move's
	// new placement reaches the cached tenant at once.
	listenCtx, stopListening := context.WithCancel(context.WithoutCancel(ctx))
	listening := make(chan struct{})
	go func() { defer close(listening); _ = kit.Start(listenCtx) }()
	defer func() { stopListening(); <-listening }()

	base := context.WithoutCancel(ctx)
	t, err := kit.Lookup(base, slug)
	if err != nil {
		return fmt.Errorf("load %s: %w", slug, err)
	}
	l := &loader{kit: kit, slug: slug, ledger: newLedger()}
	if l.customer, err = l.createCustomer(base); err != nil {
		return fmt.Errorf("load %s: create the customer: %w", slug, err)
	}
	until := "until Ctrl-C"
	if o.duration > 0 {
		until = "for " + o.duration.String()
	}
	fmt.Fprintf(e.stdout, "load %s (%s tier): %d writes/s, %d workers, %s\n", slug, tierOf(t), o.rate, o.workers, until)

	stop := ctx
	if o.duration > 0 {
		var cancel context.CancelFunc
		stop, cancel = context.WithTimeout(ctx, o.duration)
		defer cancel()
	}
	l.write(stop, e.stdout, o)
	fmt.Fprintf(e.stdout, "stopped writing; verifying %d acknowledged orders\n", l.ledger.len())

	h := hooksFrom(ctx)
	vctx, cancel := context.WithTimeout(base, verifyTimeout)
	defer cancel()
	if h.beforeVerifyFunc != nil {
		if err := h.beforeVerifyFunc(vctx, l.ledger.live()); err != nil {
			return err
		}
	}
	lost, err := l.verify(vctx)
	if err != nil {
		return fmt.Errorf("load %s: verify: %w", slug, err)
	}
	return l.summarize(e.stdout, lost)
}

func tierOf(t *tenantkit.Tenant) string {
	if t.Placement == nil {
		return "no"
	}
	return t.Placement.Tier
}

// loader writes orders for one tenant and remembers what was acknowledged.
type loader struct {
	kit      *tenantkit.Kit
	slug     string
	customer int64
	ledger   *ledger
	stats    *loadStats
}

// scoped returns ctx with the tenant, looked up per write as
// Kit.Middleware does per request: from memory, fresh after a move.
func (l *loader) scoped(ctx context.Context) (context.Context, error) {
	t, err := l.kit.Lookup(ctx, l.slug)
	if err != nil {
		return nil, err
	}
	return tenantkit.WithTenant(ctx, t), nil
}

func (l *loader) createCustomer(ctx context.Context) (int64, error) {
	ctx, err := l.scoped(ctx)
	if err != nil {
		return 0, err
	}
	var id int64
	err = l.kit.QueryRow(ctx, `INSERT INTO customers (email, name) VALUES ('load@tenantkit.example', 'tenantkit load')
		ON CONFLICT (tenant_id, email) DO UPDATE SET name = EXCLUDED.name RETURNING id`).Scan(&id)
	return id, err
}

// write runs the workers at o.rate until stop is done, then waits for the
// writes in flight, and prints a status line every o.every meanwhile.
func (l *loader) write(stop context.Context, w io.Writer, o loadOptions) {
	l.stats = newLoadStats(time.Now())
	tokens := make(chan struct{}, o.workers)
	var wg sync.WaitGroup
	for range o.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.work(tokens)
		}()
	}
	pace := time.NewTicker(time.Second / time.Duration(o.rate))
	report := time.NewTicker(o.every)
	defer pace.Stop()
	defer report.Stop()
	for {
		select {
		case <-stop.Done():
			close(tokens)
			wg.Wait()
			return
		case <-pace.C:
			select {
			case tokens <- struct{}{}:
			default: // every worker is busy and some are queued: drop this one
			}
		case now := <-report.C:
			fmt.Fprintln(w, l.stats.line(now))
		}
	}
}

// work is one worker: one write per token, on orders of its own, so that
// no two workers change the same order.
func (l *loader) work(tokens <-chan struct{}) {
	var mine []int64
	for range tokens {
		ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
		start := time.Now()
		var err error
		switch r := rand.IntN(100); {
		case r < 5 && len(mine) > 0:
			mine, err = l.deleteOrder(ctx, mine)
		case r < 20 && len(mine) > 0:
			mine, err = l.updateOrder(ctx, mine)
		default:
			mine, err = l.insertOrder(ctx, mine)
		}
		cancel()
		l.stats.record(start, time.Now(), err)
	}
}

var skus = []string{"margherita", "marinara", "quattro-formaggi", "diavola", "tiramisu", "espresso"}

func (l *loader) insertOrder(ctx context.Context, mine []int64) ([]int64, error) {
	ctx, err := l.scoped(ctx)
	if err != nil {
		return mine, err
	}
	items := 1 + rand.IntN(3)
	var id int64
	err = l.kit.Tx(ctx, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO orders (customer_id) VALUES ($1) RETURNING id`, l.customer).Scan(&id); err != nil {
			return err
		}
		for line := 1; line <= items; line++ {
			if _, err := tx.Exec(ctx, `INSERT INTO order_items (order_id, line, sku, quantity, price_cents)
				VALUES ($1, $2, $3, $4, $5)`, id, line, skus[rand.IntN(len(skus))], 1+rand.IntN(4), 500+100*rand.IntN(20)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		// Unknown outcome (the commit may have happened), unknown id:
		// nothing to remember.
		return mine, err
	}
	l.ledger.acknowledge(id, orderState{status: "open", items: items})
	return append(mine, id), nil
}

func (l *loader) updateOrder(ctx context.Context, mine []int64) ([]int64, error) {
	i := rand.IntN(len(mine))
	status := []string{"paid", "cancelled"}[rand.IntN(2)]
	return l.change(ctx, mine, i, status, `UPDATE orders SET status = $2 WHERE id = $1`, mine[i], status)
}

func (l *loader) deleteOrder(ctx context.Context, mine []int64) ([]int64, error) {
	i := rand.IntN(len(mine))
	return l.change(ctx, mine, i, statusGone, `DELETE FROM orders WHERE id = $1`, mine[i])
}

// change runs a statement that gives order mine[i] status. An order whose
// change failed is left alone from then on: either outcome is accepted for
// it. A deleted order is not touched again either.
func (l *loader) change(ctx context.Context, mine []int64, i int, status, sql string, args ...any) ([]int64, error) {
	id := mine[i]
	ctx, err := l.scoped(ctx)
	if err != nil {
		return mine, err
	}
	tag, err := l.kit.Exec(ctx, sql, args...)
	switch {
	case err != nil:
		l.ledger.unsure(id, status)
		return slices.Delete(mine, i, i+1), err
	case tag.RowsAffected() != 1:
		return slices.Delete(mine, i, i+1), fmt.Errorf("order %d: %d rows changed, want 1: it vanished", id, tag.RowsAffected())
	}
	l.ledger.acknowledge(id, orderState{status: status, items: l.ledger.items(id)})
	if status == statusGone {
		return slices.Delete(mine, i, i+1), nil
	}
	return mine, nil
}

// statusGone is the state of a deleted order; orders.status never holds it.
const statusGone = "deleted"

// orderState is what an order should look like.
type orderState struct {
	status string // "open", "paid", "cancelled" or statusGone
	items  int
	// alt is the status of a change whose outcome is unknown: it may have
	// committed. "" when there is none.
	alt string
}

func (s orderState) accepts(status string) bool {
	return status == s.status || (s.alt != "" && status == s.alt)
}

// ledger holds every acknowledged order's state.
type ledger struct {
	mu     sync.Mutex
	orders map[int64]orderState
}

func newLedger() *ledger { return &ledger{orders: map[int64]orderState{}} }

func (l *ledger) acknowledge(id int64, s orderState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.orders[id] = s
}

func (l *ledger) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.orders)
}

func (l *ledger) unsure(id int64, status string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.orders[id]
	s.alt = status
	l.orders[id] = s
}

func (l *ledger) items(id int64) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.orders[id].items
}

// live returns the orders that should exist, in id order.
func (l *ledger) live() []int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var ids []int64
	for id, s := range l.orders {
		if s.status != statusGone {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// snapshot returns the ledger's orders, in id order.
func (l *ledger) snapshot() ([]int64, map[int64]orderState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ids := make([]int64, 0, len(l.orders))
	for id := range l.orders {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids, maps.Clone(l.orders)
}

// lostOrder is an acknowledged order that verification did not find as
// acknowledged.
type lostOrder struct {
	id    int64
	want  orderState
	found string // a status, or statusGone
	items int
}

func (o lostOrder) String() string {
	want := o.want.status
	if o.want.alt != "" {
		want += " or " + o.want.alt
	}
	if o.found == statusGone {
		return fmt.Sprintf("order %d: acknowledged %s, found missing", o.id, want)
	}
	return fmt.Sprintf("order %d: acknowledged %s with %d items, found %s with %d items", o.id, want, o.want.items, o.found, o.items)
}

// verify reads every acknowledged order back through scoped access and
// returns those not as acknowledged.
func (l *loader) verify(ctx context.Context) ([]lostOrder, error) {
	ctx, err := l.scoped(ctx)
	if err != nil {
		return nil, err
	}
	ids, want := l.ledger.snapshot()
	var lost []lostOrder
	for batch := range slices.Chunk(ids, verifyBatch) {
		found, err := l.read(ctx, batch)
		if err != nil {
			return nil, err
		}
		for _, id := range batch {
			w, f := want[id], found[id]
			if !w.accepts(f.status) || (f.status != statusGone && f.items != w.items) {
				lost = append(lost, lostOrder{id: id, want: w, found: f.status, items: f.items})
			}
		}
	}
	return lost, nil
}

// read returns the status and item count of the orders ids; a missing
// order has statusGone.
func (l *loader) read(ctx context.Context, ids []int64) (map[int64]orderState, error) {
	type row struct {
		id     int64
		status string
		items  int
	}
	rows, err := tenantkit.Query(ctx, l.kit, `SELECT o.id, o.status,
		(SELECT count(*) FROM order_items i WHERE i.order_id = o.id)::int
		FROM orders o WHERE o.id = ANY($1)`, []any{ids}, func(r pgx.CollectableRow) (row, error) {
		var x row
		err := r.Scan(&x.id, &x.status, &x.items)
		return x, err
	})
	if err != nil {
		return nil, err
	}
	out := make(map[int64]orderState, len(ids))
	for _, id := range ids {
		out[id] = orderState{status: statusGone}
	}
	for _, r := range rows {
		out[r.id] = orderState{status: r.status, items: r.items}
	}
	return out, nil
}

// summarize prints the run's summary and fails when an order was lost or
// a write failed.
func (l *loader) summarize(w io.Writer, lost []lostOrder) error {
	const show = 10
	for i, o := range lost {
		if i == show {
			fmt.Fprintf(w, "… and %d more lost orders\n", len(lost)-show)
			break
		}
		fmt.Fprintln(w, "lost "+o.String())
	}
	s := l.stats.total()
	for _, e := range s.errors {
		fmt.Fprintf(w, "failed %d× %s\n", e.n, e.msg)
	}
	live := len(l.ledger.live())
	_, all := l.ledger.snapshot()
	fmt.Fprintf(w, "summary: writes=%d ok=%d failed=%d orders=%d deleted=%d lost=%d p50=%s p99=%s max=%s max-stall=%s\n",
		s.ok+s.failed, s.ok, s.failed, live, len(all)-live, len(lost),
		ms(s.p50), ms(s.p99), ms(s.max), ms(s.stall))
	if len(lost) > 0 || s.failed > 0 {
		return fmt.Errorf("load %s: lost=%d failed=%d", l.slug, len(lost), s.failed)
	}
	return nil
}

// loadStats are the latencies and outcomes of the writes, per interval and
// in total.
type loadStats struct {
	mu        sync.Mutex
	start     time.Time
	lastAck   time.Time
	interval  []time.Duration
	all       []time.Duration
	ok        int
	failed    int
	stall     time.Duration // longest gap between acknowledgements this interval
	maxStall  time.Duration
	lastErr   string
	errCounts map[string]int
}

func newLoadStats(now time.Time) *loadStats {
	return &loadStats{start: now, lastAck: now, errCounts: map[string]int{}}
}

func (s *loadStats) record(start, end time.Time, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.failed++
		s.lastErr = oneLine(err.Error())
		s.errCounts[s.lastErr]++
		return
	}
	d := end.Sub(start)
	s.ok++
	s.interval = append(s.interval, d)
	s.all = append(s.all, d)
	s.noteGap(end)
	s.lastAck = end
}

// noteGap counts the time since the last acknowledgement as a stall up to
// now.
func (s *loadStats) noteGap(now time.Time) {
	if gap := now.Sub(s.lastAck); gap > s.stall {
		s.stall = gap
	}
	if s.stall > s.maxStall {
		s.maxStall = s.stall
	}
}

// line returns the status line of the interval ending now and starts the
// next one.
func (s *loadStats) line(now time.Time) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.noteGap(now)
	p50, p99, slowest := percentiles(s.interval)
	line := fmt.Sprintf("%6s  ok=%-7d failed=%-4d p50=%-7s p99=%-7s max=%-7s stall=%s",
		now.Sub(s.start).Round(time.Second), s.ok, s.failed, ms(p50), ms(p99), ms(slowest), ms(s.stall))
	if s.lastErr != "" {
		line += "  last error: " + s.lastErr
	}
	s.interval, s.stall, s.lastErr = s.interval[:0], 0, ""
	return line
}

type errorCount struct {
	msg string
	n   int
}

type loadTotals struct {
	ok, failed    int
	p50, p99, max time.Duration
	stall         time.Duration
	errors        []errorCount
}

// total returns the figures of the whole run. The stall ends at the last
// acknowledgement: the time after it is the run stopping.
func (s *loadStats) total() loadTotals {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := loadTotals{ok: s.ok, failed: s.failed, stall: s.maxStall}
	t.p50, t.p99, t.max = percentiles(s.all)
	for msg, n := range s.errCounts {
		t.errors = append(t.errors, errorCount{msg, n})
	}
	slices.SortFunc(t.errors, func(a, b errorCount) int { return b.n - a.n })
	if len(t.errors) > 5 {
		t.errors = t.errors[:5]
	}
	return t
}

func percentiles(ds []time.Duration) (p50, p99, slowest time.Duration) {
	if len(ds) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(q float64) time.Duration { return s[int(q*float64(len(s)-1))] }
	return at(0.50), at(0.99), s[len(s)-1]
}

// ms renders d in milliseconds, with a decimal below 10ms.
func ms(d time.Duration) string {
	m := float64(d) / float64(time.Millisecond)
	if m < 10 {
		return strings.TrimSuffix(fmt.Sprintf("%.1f", m), ".0") + "ms"
	}
	return fmt.Sprintf("%.0fms", m)
}
