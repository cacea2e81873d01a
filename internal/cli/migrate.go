package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/tenantkit/tenantkit/internal/appmigrate"
	"github.com/tenantkit/tenantkit/internal/catalog"
)

func newMigrate(e env, g *globals) *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "migrate",
		Short: "Apply the application's migrations to every shared database, tenant schema and dedicated database",
	})
	var workers, steps int
	up := &cobra.Command{
		Use:   "up",
		Short: "Apply pending migrations to every target, installing tenantkit's row-level security",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runMigrate(cmd.Context(), e, g, workers, func(m *appmigrate.Migrator, ts []appmigrate.Target) appmigrate.Summary {
				return m.Up(cmd.Context(), ts)
			})
		},
	}
	down := &cobra.Command{
		Use:   "down",
		Short: "Roll back the newest --steps migrations on every target",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if steps < 1 {
				return usageError{errors.New("--steps must be at least 1")}
			}
			return runMigrate(cmd.Context(), e, g, workers, func(m *appmigrate.Migrator, ts []appmigrate.Target) appmigrate.Summary {
				return m.Down(cmd.Context(), ts, steps)
			})
		},
	}
	down.Flags().IntVar(&steps, "steps", 1, "migrations to roll back per target")
	status := &cobra.Command{
		Use:   "status",
		Short: "Show each target's version, pending migrations and drift",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runStatus(cmd.Context(), e, g, workers)
		},
	}
	for _, c := range []*cobra.Command{up, down, status} {
		c.Flags().IntVar(&workers, "workers", 4, "targets migrated at once")
	}
	cmd.AddCommand(up, down, status)
	return cmd
}

// migrator builds the migrator and the targets for the flags.
func migrator(g *globals, workers int, bar *progressbar.ProgressBar) (*appmigrate.Migrator, error) {
	if workers < 1 {
		return nil, usageError{errors.New("--workers must be at least 1")}
	}
	fsys, err := migrationsFS(g.migrations)
	if err != nil {
		return nil, err
	}
	cfg := appmigrate.Config{Migrations: fsys, Workers: workers, Logger: discardLogger()}
	if bar != nil {
		cfg.ProgressFunc = func(p appmigrate.Progress) { _ = bar.Set(p.Done) }
	}
	return appmigrate.New(cfg)
}

func toMigrate(ts []catalog.Target) []appmigrate.Target {
	out := make([]appmigrate.Target, len(ts))
	for i, t := range ts {
		out[i] = appmigrate.Target{Key: t.Key, DSN: t.OwnerDSN, Schema: t.Schema}
	}
	return out
}

// progress returns a progress bar on a terminal, nil elsewhere.
func progress(e env, total int, what string) *progressbar.ProgressBar {
	f, ok := e.stderr.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) || total == 0 {
		return nil
	}
	return progressbar.NewOptions(total, progressbar.OptionSetWriter(f), progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(), progressbar.OptionClearOnFinish(), progressbar.OptionSetPredictTime(true))
}

func runMigrate(ctx context.Context, e env, g *globals, workers int, run func(*appmigrate.Migrator, []appmigrate.Target) appmigrate.Summary) error {
	return withStore(ctx, g, func(s *catalog.Store) error {
		targets, err := s.Targets(ctx)
		if err != nil {
			return err
		}
		bar := progress(e, len(targets), "migrating")
		m, err := migrator(g, workers, bar)
		if err != nil {
			return err
		}
		sum := run(m, toMigrate(targets))
		if bar != nil {
			_ = bar.Finish()
		}
		for i, r := range sum.Targets {
			t := targets[i]
			v := r.To
			if r.Err != "" && len(r.Applied) == 0 && t.Recorded >= 0 {
				// Nothing changed, or nothing could be read (To is then
				// 0) or the version is one the migrations do not know:
				// keep what the catalog knew.
				v = t.Recorded
			}
			if err := s.RecordAppTarget(ctx, t.Cluster, t.Database, t.Schema, t.Tier, v, r.Err); err != nil {
				return err
			}
		}
		if g.output == "json" {
			if err := writeJSON(e.stdout, sum); err != nil {
				return err
			}
		} else {
			printSummary(e.stdout, sum)
		}
		if sum.Failed > 0 {
			return fmt.Errorf("%d of %d targets failed: %v", sum.Failed, len(sum.Targets), firstError(sum))
		}
		return nil
	})
}

func firstError(sum appmigrate.Summary) string {
	for _, r := range sum.Targets {
		if r.Err != "" {
			return r.Target + ": " + r.Err
		}
	}
	return ""
}

func printSummary(w io.Writer, sum appmigrate.Summary) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TARGET\tFROM\tTO\tRESULT")
	for _, r := range sum.Targets {
		result := "up to date"
		switch {
		case r.Err != "":
			result = "FAILED: " + r.Err
		case len(r.Applied) > 0:
			result = fmt.Sprintf("applied %v", r.Applied)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", r.Target, r.From, r.To, result)
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "%d targets: %d changed, %d up to date, %d failed in %v\n",
		len(sum.Targets), sum.Applied, sum.UpToDate, sum.Failed, sum.Duration.Round(1e6))
}

// statusRow is one target's status with the catalog's view of it.
type statusRow struct {
	appmigrate.TargetStatus
	Recorded int64 `json:"recorded_version"`
	Drift    bool  `json:"drift"`
}

func runStatus(ctx context.Context, e env, g *globals, workers int) error {
	return withStore(ctx, g, func(s *catalog.Store) error {
		m, err := migrator(g, workers, nil)
		if err != nil {
			return err
		}
		targets, err := s.Targets(ctx)
		if err != nil {
			return err
		}
		sts := m.Status(ctx, toMigrate(targets))
		rows := make([]statusRow, len(sts))
		bad := 0
		for i, st := range sts {
			rec := targets[i].Recorded
			rows[i] = statusRow{TargetStatus: st, Recorded: rec, Drift: st.Unexpected || (rec >= 0 && st.Err == "" && rec != st.Current)}
			if rows[i].Drift || st.Err != "" {
				bad++
			}
		}
		if g.output == "json" {
			if err := writeJSON(e.stdout, rows); err != nil {
				return err
			}
		} else {
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TARGET\tVERSION\tLATEST\tPENDING\tSTATE")
			for _, r := range rows {
				state := "ok"
				switch {
				case r.Err != "":
					state = "ERROR: " + r.Err
				case r.Drift:
					state = fmt.Sprintf("DRIFT: catalog recorded %d, unknown versions %v", r.Recorded, r.Unknown)
				case r.Pending > 0:
					state = "pending"
				}
				fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\n", r.Key, r.Current, r.Latest, r.Pending, state)
			}
			_ = tw.Flush()
		}
		if bad > 0 {
			return fmt.Errorf("%d of %d targets drifted or could not be read", bad, len(rows))
		}
		return nil
	})
}
