package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/rlsaudit"
)

func newRLS(e env, g *globals) *cobra.Command {
	cmd := group(&cobra.Command{Use: "rls", Short: "Audit row-level security"})
	check := &cobra.Command{
		Use:   "check",
		Short: "Audit every target: app role, RLS enabled and forced, the tenant policy, grants, keys, views, functions",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withStore(cmd.Context(), g, func(s *catalog.Store) error {
				targets, err := s.Targets(cmd.Context())
				if err != nil {
					return err
				}
				ts := make([]rlsaudit.Target, len(targets))
				for i, t := range targets {
					ts[i] = rlsaudit.Target{Key: t.Key, DSN: t.OwnerDSN, Schema: t.Schema}
				}
				vs, err := rlsaudit.Check(cmd.Context(), ts, rlsaudit.Options{})
				if err != nil {
					return err
				}
				if g.output == "json" {
					if vs == nil {
						vs = []rlsaudit.Violation{}
					}
					if err := writeJSON(e.stdout, vs); err != nil {
						return err
					}
				} else {
					for _, v := range vs {
						fmt.Fprintln(e.stdout, v.String())
					}
					if len(vs) == 0 {
						fmt.Fprintf(e.stdout, "rls check: %d targets, no violations\n", len(ts))
					}
				}
				if len(vs) > 0 {
					return fmt.Errorf("rls check: %d violations in %d targets", len(vs), len(ts))
				}
				return nil
			})
		},
	}
	cmd.AddCommand(check)
	return cmd
}
