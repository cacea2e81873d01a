package certstore

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	mathrand "math/rand/v2"
	"time"
)

// ErrNotHeld is returned by Unlock for a lock this Storage does not hold.
var ErrNotHeld = errors.New("certstore: lock not held")

// A lease is one acquisition of a lock, kept alive by its refresh
// goroutine until Unlock or until it is lost.
type lease struct {
	owner  string // this acquisition's owner in tenantkit.cert_locks
	cancel context.CancelFunc
	done   chan struct{} // closed when the refresh goroutine returns
}

func (l *lease) stop() {
	l.cancel()
	<-l.done
}

// One statement, so that two instances cannot both see the lock free: the
// insert takes a free name, the update an expired lock, and a live lock
// is left alone (no row affected).
const acquireSQL = `
INSERT INTO tenantkit.cert_locks AS l (name, owner, expires_at)
VALUES ($1, $2, now() + make_interval(secs => $3))
ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
WHERE l.expires_at < now()`

const extendSQL = `
UPDATE tenantkit.cert_locks SET expires_at = now() + make_interval(secs => $3)
 WHERE name = $1 AND owner = $2`

const releaseSQL = `DELETE FROM tenantkit.cert_locks WHERE name = $1 AND owner = $2`

// Lock acquires the lock name, waiting while another holder has it and
// its TTL has not run out, until ctx is done. The lock is not reentrant: a
// second Lock of a held name waits too, even on the same Storage.
func (s *Storage) Lock(ctx context.Context, name string) error {
	for {
		ok, err := s.TryLock(ctx, name)
		if err != nil || ok {
			return err
		}
		wait := time.NewTimer(s.poll/2 + mathrand.N(s.poll))
		select {
		case <-wait.C:
		case <-ctx.Done():
			wait.Stop()
			return fmt.Errorf("certstore: lock %q: %w", name, ctx.Err())
		}
	}
}

// TryLock acquires the lock name if it is free or its holder's TTL ran
// out, and reports whether it did; it does not wait.
func (s *Storage) TryLock(ctx context.Context, name string) (bool, error) {
	owner := s.owner + "/" + rand.Text()
	tag, err := s.pool.Exec(ctx, acquireSQL, name, owner, s.ttl.Seconds())
	if err != nil {
		return false, fmt.Errorf("certstore: lock %q: %w", name, err)
	}
	if tag.RowsAffected() == 0 {
		return false, nil
	}
	s.hold(name, owner)
	return true, nil
}

func (s *Storage) hold(name, owner string) {
	ctx, cancel := context.WithCancel(context.Background())
	l := &lease{owner: owner, cancel: cancel, done: make(chan struct{})}
	s.mu.Lock()
	stale := s.held[name]
	s.held[name] = l
	s.mu.Unlock()
	if stale != nil {
		// A lease of ours that was lost and taken over, by this very
		// Storage as it turns out; its goroutine is already stopping.
		stale.stop()
	}
	go s.refresh(ctx, name, l)
}

// refresh extends l every TTL/3 until ctx is done (Unlock) or the lock is
// lost: taken over, or not extended before it expired.
func (s *Storage) refresh(ctx context.Context, name string, l *lease) {
	defer close(l.done)
	every := max(s.ttl/3, time.Millisecond)
	tick := time.NewTicker(every)
	defer tick.Stop()
	expires := time.Now().Add(s.ttl)
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		err := s.extend(ctx, name, l.owner, every)
		switch {
		case err == nil:
			expires = time.Now().Add(s.ttl)
		case ctx.Err() != nil:
			return
		case errors.Is(err, errLost) || time.Now().After(expires):
			s.logger.Error("certstore: lock lost; another instance may hold it", "lock", name, "err", err)
			return
		default:
			s.logger.Warn("certstore: extend lock", "lock", name, "err", err)
		}
	}
}

var errLost = errors.New("taken over by another holder")

func (s *Storage) extend(ctx context.Context, name, owner string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tag, err := s.pool.Exec(ctx, extendSQL, name, owner, s.ttl.Seconds())
	if err == nil && tag.RowsAffected() == 0 {
		err = errLost
	}
	return err
}

// Unlock releases the lock name, which this Storage must hold. A lock that
// was taken over meanwhile (it expired) is left to its new holder, and
// Unlock returns nil. When the release fails, the lock still expires
// within the TTL, since nothing extends it any more.
func (s *Storage) Unlock(ctx context.Context, name string) error {
	s.mu.Lock()
	l := s.held[name]
	delete(s.held, name)
	s.mu.Unlock()
	if l == nil {
		return fmt.Errorf("certstore: unlock %q: %w", name, ErrNotHeld)
	}
	l.stop()
	tag, err := s.pool.Exec(ctx, releaseSQL, name, l.owner)
	if err != nil {
		return fmt.Errorf("certstore: unlock %q: %w", name, err)
	}
	if tag.RowsAffected() == 0 {
		s.logger.WarnContext(ctx, "certstore: lock was taken over before Unlock", "lock", name)
	}
	return nil
}
