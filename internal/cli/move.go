package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/tenantkit/tenantkit/internal/adminapi"
	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/move"
)

// movePoll is how often a followed move is read.
var movePoll = 200 * time.Millisecond

// moveLineEvery throttles the plain progress lines within one phase.
const moveLineEvery = 5 * time.Second

func newMove(e env, g *globals) *cobra.Command {
	var (
		p    catalog.MoveParams
		wait bool
	)
	cmd := &cobra.Command{
		Use:   "move ID|SLUG --to shared|schema|dedicated [--cluster NAME] [--wait]",
		Short: "Move a tenant to another tier or cluster while its users keep writing",
		Long: "Ask for a tenant to be moved; a runner (tenantkit serve, or this command with --wait)\n" +
			"copies its data, catches up with its writes, verifies and cuts over. Prints the move's id;\n" +
			"follow it with tenantkit moves show ID. With --wait, follow it here until it ends:\n" +
			"without --server, the move is worked in this process and needs --migrations.",
		Args: exactArgs(1, "one ID or SLUG"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if p.Tier == "" {
				return usageError{errors.New("move: give --to shared, schema or dedicated")}
			}
			if wait && g.server == "" && g.migrations == "" {
				return errNoMigrationsToWait
			}
			ops, done, err := connectMoves(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer done()
			m, err := ops.CreateMove(cmd.Context(), args[0], p)
			if err != nil {
				return err
			}
			if g.output != "json" {
				fmt.Fprintln(e.stdout, m.ID)
			}
			fmt.Fprintf(e.stderr, "moving %s: %s → %s\n", m.Slug, moveSource(m), moveTarget(m))
			if !wait {
				if g.output == "json" {
					return writeJSON(e.stdout, m)
				}
				return nil
			}
			return followMove(cmd.Context(), e, g, ops, m.ID)
		},
	}
	cmd.Flags().StringVar(&p.Tier, "to", "", "target tier: shared, schema or dedicated (required)")
	cmd.Flags().StringVar(&p.Cluster, "cluster", "", "target cluster (default: the tenant's current one)")
	cmd.Flags().BoolVar(&wait, "wait", false, "follow the move until it is complete, failed or rolled back; exit 1 unless complete")
	return cmd
}

var errNoMigrationsToWait = usageError{errors.New("working a move in this process needs the application's migrations: --migrations DIR (or TENANTKIT_MIGRATIONS), or --server to follow a server's runner")}

// followMove follows move id until it ends, its progress on stderr, and
// prints it (JSON) or how it ended. Without a server, this process works
// the move itself (or watches the runner that holds it). It fails when the
// move did not complete.
func followMove(ctx context.Context, e env, g *globals, ops moveOps, id uuid.UUID) error {
	view := newMoveView(e.stderr, moveLineEvery)
	var (
		m   catalog.Move
		err error
	)
	if d, ok := ops.(directOps); ok {
		m, err = drive(ctx, d, g, id, view)
	} else {
		m, err = poll(ctx, ops, id, view)
	}
	view.close()
	if ctx.Err() != nil {
		how := "its runner goes on"
		if _, ok := ops.(directOps); ok {
			how = "the next runner resumes it (tenantkit serve, or tenantkit moves wait " + id.String() + ")"
		}
		return fmt.Errorf("stopped following move %s: %s", id, how)
	}
	if m.ID == uuid.Nil {
		return err
	}
	if g.output == "json" {
		if jerr := writeJSON(e.stdout, m); jerr != nil {
			return jerr
		}
	}
	if err == nil {
		err = move.Outcome(m)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "complete: %s is on %s\n", m.Slug, moveTarget(m))
	return nil
}

// drive works the move in this process, reading it for the view meanwhile.
func drive(ctx context.Context, d directOps, g *globals, id uuid.UUID, view moveView) (catalog.Move, error) {
	fsys, err := migrationsFS(g.migrations)
	if err != nil {
		return catalog.Move{}, err
	}
	r, err := move.New(move.Config{Store: d.store, Migrations: fsys, Logger: discardLogger()})
	if err != nil {
		return catalog.Move{}, err
	}
	type result struct {
		m   catalog.Move
		err error
	}
	done := make(chan result, 1)
	go func() {
		m, err := r.Drive(ctx, id)
		done <- result{m, err}
	}()
	t := time.NewTicker(movePoll)
	defer t.Stop()
	for {
		select {
		case res := <-done:
			if res.m.ID != uuid.Nil {
				res.m = adminapi.MoveView(res.m)
				view.show(res.m)
			}
			return res.m, res.err
		case <-t.C:
			if m, err := d.GetMove(ctx, id.String()); err == nil {
				view.show(m)
			}
		}
	}
}

// poll reads the move until it ends.
func poll(ctx context.Context, ops moveOps, id uuid.UUID, view moveView) (catalog.Move, error) {
	t := time.NewTicker(movePoll)
	defer t.Stop()
	for {
		m, err := ops.GetMove(ctx, id.String())
		if err != nil {
			return catalog.Move{}, err
		}
		view.show(m)
		if moveEnded(m) {
			return m, nil
		}
		select {
		case <-ctx.Done():
			return m, ctx.Err()
		case <-t.C:
		}
	}
}

// moveEnded reports whether a move is complete (and no rollback of it is
// asked for), failed or rolled back.
func moveEnded(m catalog.Move) bool {
	switch m.State {
	case catalog.MoveComplete:
		return !m.RollbackRequested
	case catalog.MoveFailed, catalog.MoveRolledBack:
		return true
	}
	return false
}

func moveSource(m catalog.Move) string {
	return fmt.Sprintf("%s on %s (%s/%s)", m.SourceTier, m.SourceCluster, m.SourceDatabase, m.SourceSchema)
}

func moveTarget(m catalog.Move) string {
	return fmt.Sprintf("%s on %s (%s/%s)", m.TargetTier, m.TargetCluster, m.TargetDatabase, m.TargetSchema)
}
