package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tenantkit/tenantkit/internal/catalog"
)

func newCatalog(e env, g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "catalog", Short: "Manage the catalog database"}
	migrate := &cobra.Command{
		Use:   "migrate",
		Short: "Apply the catalog's migrations (safe to run concurrently)",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if g.databaseURL == "" {
				return usageError{fmt.Errorf("catalog migrate needs TENANTKIT_DATABASE_URL or --database-url")}
			}
			applied, err := catalog.Migrate(cmd.Context(), g.databaseURL)
			if err != nil {
				return err
			}
			if g.output == "json" {
				return writeJSON(e.stdout, map[string]any{"applied": applied})
			}
			if len(applied) == 0 {
				fmt.Fprintln(e.stdout, "catalog is up to date")
			}
			for _, v := range applied {
				fmt.Fprintf(e.stdout, "applied %05d\n", v)
			}
			return nil
		},
	}
	status := &cobra.Command{
		Use:   "status",
		Short: "List the catalog's migrations and whether each is applied",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if g.databaseURL == "" {
				return usageError{fmt.Errorf("catalog status needs TENANTKIT_DATABASE_URL or --database-url")}
			}
			st, err := catalog.Status(cmd.Context(), g.databaseURL)
			if err != nil {
				return err
			}
			if g.output == "json" {
				return writeJSON(e.stdout, st)
			}
			for _, s := range st {
				state := "pending"
				if s.Applied {
					state = "applied"
				}
				fmt.Fprintf(e.stdout, "%05d  %-8s %s\n", s.Version, state, s.Name)
			}
			return nil
		},
	}
	cmd.AddCommand(migrate, status)
	return group(cmd)
}
