package cli

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/jobs"
)

func newCatalog(e env, g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "catalog", Short: "Manage the catalog database"}
	var opts catalog.MigrateOpts
	migrate := &cobra.Command{
		Use:   "migrate",
		Short: "Apply the catalog's expand migrations; contract ones with --contract (safe to run concurrently)",
		Long: "Apply the catalog's pending migrations, in order. Expand migrations only add what older\n" +
			"releases ignore, so the instances serving keep working while the catalog is migrated.\n" +
			"Contract migrations remove or tighten what an older release may use: they are held back,\n" +
			"with every migration after them, until --contract, and even then while an instance built\n" +
			"for an older catalog heartbeats (catalog status lists them). Releases before catalog\n" +
			"migration 00008 do not heartbeat: --contract is your word that none of them serves.\n" +
			"An expand migration held back behind a contract one is an error: this release needs it.\n" +
			"--dry-run prints what would run and changes nothing.",
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if g.databaseURL == "" {
				return usageError{fmt.Errorf("catalog migrate needs TENANTKIT_DATABASE_URL or --database-url")}
			}
			m, err := catalog.NewMigrator(catalog.MigratorConfig{DatabaseURL: g.databaseURL})
			if err != nil {
				return err
			}
			res, err := m.Migrate(cmd.Context(), opts)
			if err != nil {
				return err
			}
			if opts.DryRun {
				return printMigrationPlan(e.stdout, g.output, res)
			}
			// This release cannot serve without its expand migrations.
			if err := res.Blocked(); err != nil {
				if len(res.Applied) > 0 {
					return fmt.Errorf("%w (applied %s)", err, versionList(res.Applied))
				}
				return err
			}
			return printMigrateResult(e.stdout, g.output, res)
		},
	}
	migrate.Flags().BoolVar(&opts.DryRun, "dry-run", false, "print each pending migration (version, name, phase, SQL) and what would run; change nothing")
	migrate.Flags().BoolVar(&opts.Contract, "contract", false,
		"apply contract migrations too, unless an instance built for an older catalog heartbeats")
	status := &cobra.Command{
		Use:   "status",
		Short: "List the catalog's migrations, whether each is applied, and the instances serving",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if g.databaseURL == "" {
				return usageError{fmt.Errorf("catalog status needs TENANTKIT_DATABASE_URL or --database-url")}
			}
			m, err := catalog.NewMigrator(catalog.MigratorConfig{DatabaseURL: g.databaseURL})
			if err != nil {
				return err
			}
			st, err := m.Status(cmd.Context())
			if err != nil {
				return err
			}
			if g.output == "json" {
				return writeJSON(e.stdout, st)
			}
			return printCatalogStatus(e.stdout, st)
		},
	}
	cmd.AddCommand(migrate, status)
	return group(cmd)
}

// migrateOutput is what catalog migrate -o json prints.
type migrateOutput struct {
	Applied  []int64        `json:"applied"`
	HeldBack []catalog.Step `json:"held_back"`
	// JobsApplied are River's migrations of the jobs schema applied.
	JobsApplied []int `json:"jobs_applied"`
}

func printMigrateResult(w io.Writer, format string, res *catalog.MigrateResult) error {
	held := []catalog.Step{}
	for _, s := range res.Pending {
		if !s.Apply {
			s.SQL = ""
			held = append(held, s)
		}
	}
	if format == "json" {
		return writeJSON(w, migrateOutput{Applied: res.Applied, HeldBack: held, JobsApplied: res.JobsApplied})
	}
	if len(res.Applied) == 0 && len(held) == 0 && len(res.JobsApplied) == 0 {
		fmt.Fprintln(w, "catalog is up to date")
	}
	for _, v := range res.Applied {
		fmt.Fprintf(w, "applied %05d\n", v)
	}
	if len(res.JobsApplied) > 0 {
		fmt.Fprintf(w, "applied River's migrations %s to schema %s (jobs)\n", intList(res.JobsApplied), jobs.Schema)
	}
	for _, s := range held {
		fmt.Fprintf(w, "held back %05d %s (%s): %s\n", s.Version, s.Name, s.Phase, s.HeldBack)
	}
	return nil
}

// dryRunPlan is what catalog migrate --dry-run -o json prints.
type dryRunPlan struct {
	DryRun bool `json:"dry_run"`
	catalog.MigrationPlan
	Jobs jobs.Version `json:"jobs"`
}

func printMigrationPlan(w io.Writer, format string, res *catalog.MigrateResult) error {
	p := res.MigrationPlan
	if format == "json" {
		return writeJSON(w, dryRunPlan{DryRun: true, MigrationPlan: p, Jobs: res.Jobs})
	}
	fmt.Fprintf(w, "catalog at %05d; this binary carries migrations up to %05d\n", p.CatalogVersion, p.SchemaVersion)
	if len(p.Newer) > 0 {
		fmt.Fprintf(w, "applied by a newer release, unknown here: %s\n", versionList(p.Newer))
	}
	if len(p.Pending) == 0 {
		fmt.Fprintln(w, "nothing to apply")
	}
	for _, s := range p.Pending {
		if s.Apply {
			fmt.Fprintf(w, "would apply %05d %s (%s)\n", s.Version, s.Name, s.Phase)
		} else {
			fmt.Fprintf(w, "held back   %05d %s (%s): %s\n", s.Version, s.Name, s.Phase, s.HeldBack)
		}
		for _, st := range catalog.Statements(s.SQL) {
			fmt.Fprintf(w, "    %s;\n", abbreviate(st, 110))
		}
	}
	if len(res.Jobs.Pending) > 0 {
		fmt.Fprintf(w, "would apply River's migrations %s to schema %s (jobs)\n", intList(res.Jobs.Pending), jobs.Schema)
	}
	fmt.Fprintln(w, "nothing changed (dry run)")
	return printInstances(w, p.Instances)
}

func printCatalogStatus(w io.Writer, st *catalog.StatusReport) error {
	for _, s := range st.Migrations {
		state := "pending"
		if s.Applied {
			state = "applied"
		}
		fmt.Fprintf(w, "%05d  %-8s %-9s %s\n", s.Version, state, s.Phase, s.Name)
	}
	for _, v := range st.Newer {
		fmt.Fprintf(w, "%05d  applied  ?         (a newer release's migration, unknown here)\n", v)
	}
	fmt.Fprintf(w, "jobs: River's migrations in schema %s at version %d of %d\n", jobs.Schema, st.Jobs.Current, st.Jobs.Latest)
	return printInstances(w, st.Instances)
}

// printInstances lists the serving instances that heartbeat, and says that
// older releases cannot be seen.
func printInstances(w io.Writer, instances []catalog.Instance) error {
	if len(instances) == 0 {
		fmt.Fprintln(w, "no instance heartbeats (releases before catalog migration 00008 do not: they cannot be seen)")
		return nil
	}
	fmt.Fprintf(w, "serving instances (heartbeat within %s; releases before catalog migration 00008 cannot be seen):\n", catalog.DefaultInstanceTTL)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tHOST\tPID\tADDR\tCATALOG\tVERSION\tSTARTED\tLAST SEEN")
	for _, in := range instances {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%05d\t%s\t%s\t%s\n", in.ID.String()[:8], orDash(in.Hostname), in.PID, orDash(in.Addr),
			in.SchemaVersion, in.Version, in.StartedAt.UTC().Format(time.RFC3339), in.LastSeen.UTC().Format(time.RFC3339))
	}
	return tw.Flush()
}

func versionList(vs []int64) string {
	s := ""
	for i, v := range vs {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%05d", v)
	}
	return s
}

// abbreviate cuts s to n characters at most, marking the cut.
func abbreviate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// intList writes versions as 1, 2, 3.
func intList(vs []int) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = strconv.Itoa(v)
	}
	return strings.Join(parts, ", ")
}
