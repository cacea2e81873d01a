package move

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"time"

	"github.com/google/uuid"

	"github.com/tenantkit/tenantkit/internal/appmigrate"
	"github.com/tenantkit/tenantkit/internal/bootstrap"
	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/placement"
)

// Config configures a Runner.
type Config struct {
	// Store is the catalog. Required.
	Store *catalog.Store
	// Migrations are the application's migrations, applied to a new
	// target. Required.
	Migrations fs.FS
	// AppRole is the role the application connects as. Defaults to
	// tenantkit_app.
	AppRole string
	// Owner names this runner in leases. Defaults to host:pid:random.
	Owner string
	// Lease is how long a move stays with a runner that stopped renewing
	// it. Defaults to 15s.
	Lease time.Duration
	// PollInterval is how often Run looks for work. Defaults to 1s.
	PollInterval time.Duration
	// MaxPerCluster bounds the moves running at once on a cluster, as
	// source or target (each holds a replication slot). Defaults to 4.
	MaxPerCluster int
	// Retain is the confidence period: how long a complete move keeps the
	// source, for a rollback. Defaults to 48h.
	Retain time.Duration
	// LockTimeout bounds how long the cutover waits for the tenant's
	// in-flight transactions to drain; past it the cutover is abandoned
	// and the source serves on. Defaults to 1s.
	LockTimeout time.Duration
	// CutoverAttempts is how many fences a move tries before it fails.
	// Defaults to 3.
	CutoverAttempts int
	// CatchUpLag is the lag, in bytes of source WAL, under which the
	// stream counts as caught up. Defaults to 1 MiB.
	CatchUpLag int64
	// CopyWorkers is how many tables are copied at once. Defaults to 4.
	CopyWorkers int
	// PhaseFunc, when set, is called as a move enters each phase
	// ("preparing", "copying", …, "cutover:fenced", "cutover:flipped"); an
	// error stops the runner there as a crash would, leaving the move to
	// be resumed. For tests. Defaults to nil.
	PhaseFunc func(m catalog.Move, phase string) error
	// ApplyFunc, when set, is called before each row change the stream
	// applies, with the count applied so far; an error drops the stream
	// there, mid-transaction, as a crash would. For tests. Defaults to nil.
	ApplyFunc func(applied int64) error
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Runner runs moves.
type Runner struct {
	cfg   Config
	store *catalog.Store
	prov  *placement.Provisioner
	mig   *appmigrate.Migrator
	log   *slog.Logger
}

// latest is the newest application migration version.
func (r *Runner) latest() int64 { return r.mig.Latest() }

// New returns a Runner.
func New(cfg Config) (*Runner, error) {
	if cfg.Store == nil || cfg.Migrations == nil {
		return nil, errors.New("move: Config.Store and Config.Migrations are required")
	}
	if cfg.AppRole == "" {
		cfg.AppRole = bootstrap.AppRole
	}
	if cfg.Owner == "" {
		host, _ := os.Hostname()
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		cfg.Owner = fmt.Sprintf("%s:%d:%s", host, os.Getpid(), hex.EncodeToString(b))
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.Lease, 15*time.Second)
	def(&cfg.PollInterval, time.Second)
	def(&cfg.Retain, 48*time.Hour)
	def(&cfg.LockTimeout, time.Second)
	if cfg.MaxPerCluster <= 0 {
		cfg.MaxPerCluster = 4
	}
	if cfg.CutoverAttempts <= 0 {
		cfg.CutoverAttempts = 3
	}
	if cfg.CatchUpLag <= 0 {
		cfg.CatchUpLag = 1 << 20
	}
	if cfg.CopyWorkers <= 0 {
		cfg.CopyWorkers = 4
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	prov, err := placement.New(placement.Config{Store: cfg.Store, Migrations: cfg.Migrations, AppRole: cfg.AppRole, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	mig, err := appmigrate.New(appmigrate.Config{Migrations: cfg.Migrations, AppRole: cfg.AppRole, Workers: 1, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	return &Runner{cfg: cfg, store: cfg.Store, prov: prov, mig: mig, log: cfg.Logger.With("component", "move")}, nil
}

// Owner is the name this runner takes leases under.
func (r *Runner) Owner() string { return r.cfg.Owner }

// Run claims and works moves until ctx ends.
func (r *Runner) Run(ctx context.Context) error {
	for {
		worked, err := r.step(ctx, nil)
		if err != nil && ctx.Err() == nil {
			r.log.Warn("move runner", "err", err)
		}
		if worked && err == nil {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(r.cfg.PollInterval):
		}
	}
}

// Drive sees move id through: it works the move itself when its lease is
// free, and otherwise watches the runner that holds it, until the move is
// complete (its source retained), failed or rolled back. It returns the
// move as it ended, with an error when it did not complete.
func (r *Runner) Drive(ctx context.Context, id uuid.UUID) (catalog.Move, error) {
	for {
		m, err := r.store.GetMove(ctx, id)
		if err != nil {
			return m, err
		}
		if settled(m) {
			return m, Outcome(m)
		}
		worked, err := r.step(ctx, &id)
		if errors.Is(err, errCrash) {
			return m, err
		}
		if err != nil && ctx.Err() == nil {
			r.log.Warn("move", "id", id, "err", err)
		}
		if !worked || err != nil {
			select {
			case <-ctx.Done():
				return m, ctx.Err()
			case <-time.After(r.cfg.PollInterval / 4):
			}
		}
	}
}

// settled reports whether a move needs nothing more until a person asks
// for a rollback or its confidence period ends.
func settled(m catalog.Move) bool {
	switch m.State {
	case catalog.MoveComplete:
		due := m.RetainUntil != nil && !m.RetainUntil.After(time.Now()) && m.CleanedAt == nil
		return !m.RollbackRequested && m.Phase != phaseCommitting && !due
	case catalog.MoveFailed, catalog.MoveRolledBack:
		return m.CleanedAt != nil
	}
	return false
}

// Outcome is nil for a complete move and otherwise the error that says how
// it ended.
func Outcome(m catalog.Move) error {
	switch m.State {
	case catalog.MoveComplete:
		return nil
	case catalog.MoveRolledBack:
		if m.LastError == "" {
			return fmt.Errorf("move %s rolled back", m.ID)
		}
		return fmt.Errorf("move %s rolled back: %s", m.ID, m.LastError)
	}
	return fmt.Errorf("move %s failed: %s", m.ID, m.LastError)
}

// errCrash is returned when a test hook stopped the runner as a crash
// would: nothing is cleaned up and the lease is left to expire.
var errCrash = errors.New("move: stopped by a test hook")

// step claims one move (only id, when given) and works it until it
// settles, fails or the runner loses it. It reports whether it claimed one.
func (r *Runner) step(ctx context.Context, only *uuid.UUID) (bool, error) {
	m, ok, err := r.store.ClaimMove(ctx, r.cfg.Owner, r.cfg.Lease, r.cfg.MaxPerCluster, only)
	if err != nil || !ok {
		return false, err
	}
	wctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go r.heartbeat(wctx, cancel, m.ID)
	err = r.work(wctx, m)
	if cause := context.Cause(wctx); cause != nil && errors.Is(cause, catalog.ErrLeaseLost) {
		err = cause
	}
	if !errors.Is(err, errCrash) {
		_ = r.store.ReleaseLease(context.WithoutCancel(ctx), m.ID, r.cfg.Owner)
	}
	return true, err
}

// heartbeat renews the lease until ctx ends, and cancels the work when the
// lease is lost: another runner may have the move by then.
func (r *Runner) heartbeat(ctx context.Context, cancel context.CancelCauseFunc, id uuid.UUID) {
	t := time.NewTicker(r.cfg.Lease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := r.store.RenewLease(ctx, id, r.cfg.Owner, r.cfg.Lease); err != nil {
				if errors.Is(err, catalog.ErrLeaseLost) {
					cancel(err)
					return
				}
				r.log.Warn("renew move lease", "id", id, "err", err)
			}
		}
	}
}

// hook calls PhaseFunc; its error becomes errCrash.
func (r *Runner) hook(m catalog.Move, phase string) error {
	if r.cfg.PhaseFunc == nil {
		return nil
	}
	if err := r.cfg.PhaseFunc(m, phase); err != nil {
		return fmt.Errorf("%w: %v", errCrash, err)
	}
	return nil
}
