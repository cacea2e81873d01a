package tenantkit_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/tenantkit/tenantkit"
	"github.com/tenantkit/tenantkit/examples/orders"
	"github.com/tenantkit/tenantkit/internal/jobs"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

// noopArgs is a job that does nothing; the benchmarks time what is around
// it.
type noopArgs struct{}

func (noopArgs) Kind() string { return "tenantkit_bench_noop" }

// startedWorker notes when each job started, by id, and signals each one.
type startedWorker struct {
	river.WorkerDefaults[noopArgs]
	mu      sync.Mutex
	started map[int64]time.Time
	done    chan struct{}
}

func (w *startedWorker) Work(_ context.Context, job *river.Job[noopArgs]) error {
	w.mu.Lock()
	if w.started != nil {
		w.started[job.ID] = time.Now()
	}
	w.mu.Unlock()
	if w.done != nil {
		w.done <- struct{}{}
	}
	return nil
}

// jobBench is a platform with one shared-tier tenant and a Kit that
// enqueues jobs, and a bare River client over the same catalog.
type jobBench struct {
	p    *tenantkittest.Platform
	kit  *tenantkit.Kit
	ctx  context.Context
	pool *pgxpool.Pool
	bare *river.Client[pgx.Tx]
}

func newJobBench(b *testing.B, cfg *tenantkit.JobsConfig) *jobBench {
	b.Helper()
	p := tenantkittest.NewPlatform(b, orders.Migrations())
	p.Tenant(b, "acme", "shared")
	if cfg == nil {
		cfg = &tenantkit.JobsConfig{}
	}
	s := &jobBench{p: p}
	s.kit = p.ListeningKit(b, tenantkit.Config{Jobs: cfg})
	s.ctx = p.Scoped(b, s.kit, "acme")
	var err error
	if s.pool, err = pgxpool.New(context.Background(), p.Catalog.OwnerDSN()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.pool.Close)
	if s.bare, err = river.NewClient(riverpgxv5.New(s.pool), &river.Config{Schema: jobs.Schema}); err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkJobBareInsertTx is the baseline of BenchmarkJobEnqueueTx: River's
// InsertTx in a bare transaction on the catalog database, where River's
// tables are.
func BenchmarkJobBareInsertTx(b *testing.B) {
	s := newJobBench(b, nil)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		tx, err := s.pool.Begin(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.bare.InsertTx(ctx, tx, noopArgs{}, nil); err != nil {
			b.Fatal(err)
		}
		if err := tx.Commit(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkJobEnqueueTx: a job enqueued in a scoped transaction on the
// tenant's database (the shared tier's), which exists if and only if it
// commits: the job written to that database's outbox in the transaction,
// relayed to River after the commit. The timing ends when the relay has
// moved every job to River, so it counts the relay's work too (on this
// machine it shares the cores with the loop and PostgreSQL).
func BenchmarkJobEnqueueTx(b *testing.B) {
	s := newJobBench(b, nil)
	ctx := context.Background()
	var before int64
	if err := s.pool.QueryRow(ctx, "SELECT count(*) FROM "+jobs.Schema+".river_job").Scan(&before); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := s.kit.Tx(s.ctx, func(tx pgx.Tx) error {
			_, err := s.kit.EnqueueTx(s.ctx, tx, noopArgs{}, nil)
			return err
		}); err != nil {
			b.Fatal(err)
		}
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Millisecond) {
		var n int64
		if err := s.pool.QueryRow(ctx, "SELECT count(*) FROM "+jobs.Schema+".river_job").Scan(&n); err != nil {
			b.Fatal(err)
		}
		if n-before == int64(b.N) {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d jobs relayed to River after a minute", n-before, b.N)
		}
	}
	b.StopTimer()
}

// throughput starts a client working no-op jobs with start, lets it
// settle, then inserts n jobs with meta as their metadata in one InsertMany
// and times until all n have run: ns per job, insert included.
func throughput(b *testing.B, pool *pgxpool.Pool, meta []byte, start func(w *startedWorker) func()) {
	n := b.N
	w := &startedWorker{done: make(chan struct{}, n)}
	stop := start(w)
	defer stop()
	time.Sleep(time.Second) // the client is up and idle
	ins, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Schema: jobs.Schema})
	if err != nil {
		b.Fatal(err)
	}
	params := make([]river.InsertManyParams, n)
	for i := range params {
		params[i] = river.InsertManyParams{Args: noopArgs{}, InsertOpts: &river.InsertOpts{Metadata: meta}}
	}
	b.ResetTimer()
	if _, err := ins.InsertMany(context.Background(), params); err != nil {
		b.Fatal(err)
	}
	deadline := time.After(time.Duration(n)*50*time.Millisecond + 30*time.Second)
	for range n {
		select {
		case <-w.done:
		case <-deadline:
			b.Fatal("jobs did not all run in time")
		}
	}
	b.StopTimer()
}

// BenchmarkJobBareNoopThroughput is the baseline of
// BenchmarkJobNoopThroughput: a bare River client working no-op jobs.
func BenchmarkJobBareNoopThroughput(b *testing.B) {
	p := tenantkittest.NewPlatform(b, orders.Migrations())
	pool, err := pgxpool.New(context.Background(), p.Catalog.OwnerDSN())
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	throughput(b, pool, nil, func(w *startedWorker) func() {
		workers := river.NewWorkers()
		river.AddWorker(workers, w)
		c, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
			Schema: jobs.Schema, Workers: workers, Queues: map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 100}},
		})
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Start(context.Background()); err != nil {
			b.Fatal(err)
		}
		return func() { _ = c.Stop(context.Background()) }
	})
}

// BenchmarkJobNoopThroughput: no-op tenant jobs (the tenant in their
// metadata, as Kit.Enqueue writes it) worked by a Kit, each with its
// tenant context restored, end to end.
func BenchmarkJobNoopThroughput(b *testing.B) {
	p := tenantkittest.NewPlatform(b, orders.Migrations())
	id := p.Tenant(b, "acme", "shared")
	pool, err := pgxpool.New(context.Background(), p.Catalog.OwnerDSN())
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	meta := []byte(`{"tenant_id":"` + id.String() + `","tenant":"acme"}`)
	throughput(b, pool, meta, func(w *startedWorker) func() {
		workers := river.NewWorkers()
		river.AddWorker(workers, w)
		kit := p.Kit(b, tenantkit.Config{Jobs: &tenantkit.JobsConfig{Workers: workers,
			Queues: map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 100}}}})
		kctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = kit.Start(kctx) }()
		return func() { cancel(); <-done }
	})
}

// BenchmarkJobStartLatency: on an idle queue, from calling a kit.Tx that
// enqueues a job to the job starting (p50-ms, p99-ms), against the same
// for a bare River Insert in the same run (bare-p50-ms, bare-p99-ms), the
// two alternating.
func BenchmarkJobStartLatency(b *testing.B) {
	w := &startedWorker{started: map[int64]time.Time{}, done: make(chan struct{}, 1)}
	workers := river.NewWorkers()
	river.AddWorker(workers, w)
	s := newJobBench(b, &tenantkit.JobsConfig{Workers: workers})
	var kit, bare []time.Duration
	measure := func(enqueue func() int64) time.Duration {
		time.Sleep(150 * time.Millisecond) // an idle queue: past River's fetch cooldown
		at := time.Now()
		id := enqueue()
		<-w.done
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.started[id].Sub(at)
	}
	for b.Loop() {
		kit = append(kit, measure(func() int64 {
			var id int64
			if err := s.kit.Tx(s.ctx, func(tx pgx.Tx) error {
				res, err := s.kit.EnqueueTx(s.ctx, tx, noopArgs{}, nil)
				if err == nil {
					id = res.Job.ID
				}
				return err
			}); err != nil {
				b.Fatal(err)
			}
			return id
		}))
		bare = append(bare, measure(func() int64 {
			res, err := s.bare.Insert(context.Background(), noopArgs{}, nil)
			if err != nil {
				b.Fatal(err)
			}
			return res.Job.ID
		}))
	}
	for _, l := range []struct {
		prefix string
		lat    []time.Duration
	}{{"", kit}, {"bare-", bare}} {
		slices.Sort(l.lat)
		b.ReportMetric(float64(l.lat[len(l.lat)/2].Microseconds())/1000, l.prefix+"p50-ms")
		b.ReportMetric(float64(l.lat[len(l.lat)*99/100].Microseconds())/1000, l.prefix+"p99-ms")
	}
}
