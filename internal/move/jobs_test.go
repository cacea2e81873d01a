package move_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/tenantkit/tenantkit"
)

// signupArgs is a job that writes one customer of its tenant.
type signupArgs struct {
	N int64 `json:"n"`
}

func (signupArgs) Kind() string { return "move_test_signup" }

type signupWorker struct {
	river.WorkerDefaults[signupArgs]
	kit func() *tenantkit.Kit
}

func (w *signupWorker) Work(ctx context.Context, job *river.Job[signupArgs]) error {
	return w.kit().Tx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "INSERT INTO customers (email) VALUES ($1)", fmt.Sprintf("job-%d@acme.test", job.Args.N))
		return err
	})
}

// TestJobsWriteThroughAMove: jobs that write through kit.Tx keep running
// while their tenant moves from the shared tier to a database of its own.
// Every job completes, every write is on the new placement after the move,
// and none is written twice: a job's transaction on the old placement at
// the cutover is fenced and retried on the new one, as a request's is.
func TestJobsWriteThroughAMove(t *testing.T) {
	b := setup(t)
	b.p.Tenant(t, "acme", "shared")
	b.p.Tenant(t, "neighbour", "shared")
	b.seed(t, "acme", 20, 5)
	var jk *tenantkit.Kit
	workers := river.NewWorkers()
	river.AddWorker(workers, &signupWorker{kit: func() *tenantkit.Kit { return jk }})
	jk = b.p.ListeningKit(t, tenantkit.Config{Logger: slog.New(slog.DiscardHandler), Jobs: &tenantkit.JobsConfig{
		Workers: workers, Queues: map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 4}},
	}})
	ctx, err := b.scoped(t, "acme")
	if err != nil {
		t.Fatal(err)
	}
	var enqueued atomic.Int64
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for i := int64(1); ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			if _, err := jk.Enqueue(ctx, signupArgs{N: i}, nil); err != nil {
				t.Errorf("enqueue %d: %v", i, err)
				return
			}
			enqueued.Store(i)
		}
	}()
	time.Sleep(300 * time.Millisecond)
	m := mustDrive(t, b.runner(t, nil), b.create(t, "acme", "dedicated", ""))
	time.Sleep(300 * time.Millisecond)
	close(stop)
	<-done
	n := enqueued.Load()
	if pl := b.p.Placement(t, "acme"); pl.Tier != "dedicated" || pl.Epoch != m.SourceEpoch+1 {
		t.Fatalf("placement after the move: %+v", pl)
	}
	waitJobs := func() bool {
		res, err := jk.Jobs().JobList(context.Background(), river.NewJobListParams().Kinds(signupArgs{}.Kind()).
			States(rivertype.JobStateCompleted).First(10000))
		return err == nil && int64(len(res.Jobs)) == n
	}
	for deadline := time.Now().Add(90 * time.Second); !waitJobs(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not all %d jobs completed within 90 s of the move", n)
		}
	}
	// Read through the Kit: the tenant's placement now, the dedicated
	// database.
	sctx, err := b.scoped(t, "acme")
	if err != nil {
		t.Fatal(err)
	}
	var rows, distinct int64
	if err := b.kit.QueryRow(sctx, "SELECT count(*), count(DISTINCT email) FROM customers WHERE email LIKE 'job-%'").Scan(&rows, &distinct); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d jobs enqueued during the move, all completed; %d rows on the new placement", n, rows)
	if rows != n || distinct != n {
		t.Fatalf("the new placement holds %d job rows (%d distinct) for %d jobs", rows, distinct, n)
	}
}
