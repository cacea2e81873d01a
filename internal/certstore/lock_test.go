package certstore_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantkit/tenantkit/internal/certstore"
)

type lockRow struct {
	owner   string
	expires time.Time
}

// row returns the lock's row in tenantkit.cert_locks, if any.
func (b *bundle) row(t *testing.T, name string) (lockRow, bool) {
	t.Helper()
	var r lockRow
	err := b.pool.QueryRow(context.Background(),
		`SELECT owner, expires_at FROM tenantkit.cert_locks WHERE name = $1`, name).Scan(&r.owner, &r.expires)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return r, true
}

func (b *bundle) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	if _, err := b.pool.Exec(context.Background(), sql, args...); err != nil {
		t.Fatal(err)
	}
}

func tryLock(t *testing.T, s *certstore.Storage, name string) bool {
	t.Helper()
	ok, err := s.TryLock(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func TestTryLockIsExclusiveAndNotReentrant(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	other := newStorage(newPool(t, b.db), "b", 0)

	if !tryLock(t, b.s, "issue_cert_a.example") {
		t.Fatal("TryLock of a free lock failed")
	}
	if tryLock(t, other, "issue_cert_a.example") {
		t.Fatal("another instance took a held lock")
	}
	if tryLock(t, b.s, "issue_cert_a.example") {
		t.Fatal("the holder took its own lock twice")
	}
	if !tryLock(t, other, "issue_cert_b.example") {
		t.Fatal("a lock of another name is not free")
	}
	if r, _ := b.row(t, "issue_cert_a.example"); !strings.HasPrefix(r.owner, "a/") {
		t.Fatalf("owner = %q, want the holder's", r.owner)
	}
	if err := b.s.Unlock(ctx, "issue_cert_a.example"); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.row(t, "issue_cert_a.example"); ok {
		t.Fatal("Unlock left the lock's row")
	}
	if !tryLock(t, other, "issue_cert_a.example") {
		t.Fatal("a released lock is not free")
	}
	if err := b.s.Unlock(ctx, "issue_cert_a.example"); !errors.Is(err, certstore.ErrNotHeld) {
		t.Fatalf("second Unlock = %v, want ErrNotHeld", err)
	}
}

// Goroutines on two instances contend for one lock; never two hold it.
func TestLockExcludesConcurrentHolders(t *testing.T) {
	t.Parallel()
	b := setup(t)
	storages := []*certstore.Storage{b.s, newStorage(newPool(t, b.db), "b", 0)}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	const perStorage, rounds = 4, 5
	var holders, most, acquired atomic.Int32
	var wg sync.WaitGroup
	for _, s := range storages {
		for range perStorage {
			wg.Go(func() {
				for range rounds {
					if err := s.Lock(ctx, "issue_cert_shared"); err != nil {
						t.Error(err)
						return
					}
					n := holders.Add(1)
					for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
					}
					acquired.Add(1)
					time.Sleep(5 * time.Millisecond) // hold it long enough to overlap
					holders.Add(-1)
					if err := s.Unlock(ctx, "issue_cert_shared"); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	if most.Load() != 1 || acquired.Load() != int32(len(storages)*perStorage*rounds) {
		t.Fatalf("at most %d holders at once over %d acquisitions; want 1 over %d",
			most.Load(), acquired.Load(), len(storages)*perStorage*rounds)
	}
}

func TestLockGivesUpWhenContextIsDone(t *testing.T) {
	t.Parallel()
	b := setup(t)
	other := newStorage(newPool(t, b.db), "b", 0)
	if !tryLock(t, b.s, "held") {
		t.Fatal("TryLock failed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := other.Lock(ctx, "held")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock of a held lock = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Lock returned %v after its context was done", d)
	}
}

// A holder that vanished without Unlock (its row is left, nobody extends
// it) loses the lock once it expires.
func TestLockTakesOverAnAbandonedLock(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.exec(t, `INSERT INTO tenantkit.cert_locks (name, owner, expires_at)
		VALUES ('issue_cert_a.example', 'crashed/x', now() + interval '2 seconds')`)
	if tryLock(t, b.s, "issue_cert_a.example") {
		t.Fatal("took a lock before it expired")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.s.Lock(ctx, "issue_cert_a.example"); err != nil {
		t.Fatalf("Lock of an abandoned lock: %v", err)
	}
	if r, _ := b.row(t, "issue_cert_a.example"); !strings.HasPrefix(r.owner, "a/") {
		t.Fatalf("owner after takeover = %q", r.owner)
	}
}

// An instance that dies holding a lock (its pool gone: it can neither
// extend nor release) loses it after its TTL.
func TestLockOfACrashedInstanceIsTakenOver(t *testing.T) {
	t.Parallel()
	b := setup(t)
	crashingPool := newPool(t, b.db)
	crashing := newStorage(crashingPool, "crashing", 2*time.Second)
	if !tryLock(t, crashing, "issue_cert_a.example") {
		t.Fatal("TryLock failed")
	}
	crashingPool.Close()
	if tryLock(t, b.s, "issue_cert_a.example") {
		t.Fatal("took the lock before its TTL ran out")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.s.Lock(ctx, "issue_cert_a.example"); err != nil {
		t.Fatalf("Lock of a crashed instance's lock: %v", err)
	}
}

// A live holder keeps its lock well past the TTL.
func TestLockIsKeptAliveByItsHolder(t *testing.T) {
	t.Parallel()
	b := setup(t)
	// A TTL short enough to lapse several times over, long enough that a
	// loaded machine delaying one refresh does not lose the lock.
	holder := newStorage(newPool(t, b.db), "holder", 1500*time.Millisecond)
	if !tryLock(t, holder, "issue_cert_a.example") {
		t.Fatal("TryLock failed")
	}
	for deadline := time.Now().Add(4500 * time.Millisecond); time.Now().Before(deadline); {
		if tryLock(t, b.s, "issue_cert_a.example") {
			t.Fatal("took a lock whose holder is alive")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := holder.Unlock(context.Background(), "issue_cert_a.example"); err != nil {
		t.Fatal(err)
	}
}

// Unlock releases only the caller's own lock: not another instance's, nor
// one that was taken over after it expired.
func TestUnlockLeavesAnotherHoldersLock(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	other := newStorage(newPool(t, b.db), "b", 0)
	if !tryLock(t, b.s, "issue_cert_a.example") {
		t.Fatal("TryLock failed")
	}
	if err := other.Unlock(ctx, "issue_cert_a.example"); !errors.Is(err, certstore.ErrNotHeld) {
		t.Fatalf("Unlock by a non-holder = %v, want ErrNotHeld", err)
	}
	if tryLock(t, other, "issue_cert_a.example") {
		t.Fatal("Unlock by a non-holder released the lock")
	}

	// As if b.s had stalled past its TTL and an intruder had taken over.
	b.exec(t, `UPDATE tenantkit.cert_locks SET owner = 'intruder/x', expires_at = now() + interval '1 hour'
		WHERE name = 'issue_cert_a.example'`)
	if err := b.s.Unlock(ctx, "issue_cert_a.example"); err != nil {
		t.Fatalf("Unlock of a lock taken over: %v", err)
	}
	if r, ok := b.row(t, "issue_cert_a.example"); !ok || r.owner != "intruder/x" {
		t.Fatalf("lock row = %+v, %v; want the intruder's, untouched", r, ok)
	}
}

// A holder whose lock was taken over does not extend the new holder's.
func TestRefreshLeavesAnotherHoldersLock(t *testing.T) {
	t.Parallel()
	b := setup(t)
	stalled := newStorage(newPool(t, b.db), "stalled", 150*time.Millisecond)
	if !tryLock(t, stalled, "issue_cert_a.example") {
		t.Fatal("TryLock failed")
	}
	b.exec(t, `UPDATE tenantkit.cert_locks SET owner = 'intruder/x', expires_at = now() + interval '1 hour'
		WHERE name = 'issue_cert_a.example'`)
	before, _ := b.row(t, "issue_cert_a.example")
	time.Sleep(400 * time.Millisecond) // several of the stalled holder's refresh periods
	after, _ := b.row(t, "issue_cert_a.example")
	if after.owner != before.owner || !after.expires.Equal(before.expires) {
		t.Fatalf("lock row went from %+v to %+v: the former holder touched it", before, after)
	}
}
