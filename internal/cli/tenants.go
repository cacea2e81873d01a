package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tenantkit/tenantkit/internal/adminapi"
	"github.com/tenantkit/tenantkit/internal/catalog"
)

func newTenants(e env, g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tenants",
		Short: "Create, list, inspect, change, suspend, resume and delete tenants; set their plan, limits and features",
	}
	cmd.AddCommand(
		tenantsCreate(e, g), tenantsList(e, g), tenantsGet(e, g), tenantsUpdate(e, g),
		tenantsSuspend(e, g), tenantsResume(e, g), tenantsDelete(e, g), tenantsPlace(e, g),
		tenantsSetPlan(e, g), tenantsLimits(e, g), tenantsFeatures(e, g), tenantsGauges(e, g),
	)
	return group(cmd)
}

// withOps runs fn with the ops for the flags and prints the tenant it
// returns.
func withOps(e env, g *globals, fn func(cmd *cobra.Command, ops tenantOps) (catalog.Tenant, error)) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		ops, done, err := connect(cmd.Context(), g)
		if err != nil {
			return err
		}
		defer done()
		t, err := fn(cmd, ops)
		if err != nil {
			return err
		}
		return printTenant(e.stdout, g.output, t)
	}
}

func tenantsCreate(e env, g *globals) *cobra.Command {
	var (
		p             catalog.CreateParams
		tier, cluster string
	)
	cmd := &cobra.Command{
		Use:   "create SLUG --name NAME [--plan PLAN]",
		Short: "Create a tenant",
		Args:  exactArgs(1, "one SLUG"),
	}
	cmd.Flags().StringVar(&p.Name, "name", "", "display name (required)")
	cmd.Flags().StringVar(&p.Plan, "plan", catalog.DefaultPlan, "plan")
	cmd.Flags().StringVar(&tier, "tier", "", "place the tenant's data: shared, schema or dedicated (default: the plan's tier when --cluster is given)")
	cmd.Flags().StringVar(&cluster, "cluster", "", "cluster to place the tenant's data on (default: the least loaded)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		p.Slug = args[0]
		if g.server == "" && g.migrations == "" && (tier != "" || cluster != "") {
			// Refuse before creating: a usage error writes nothing.
			return errNoMigrations
		}
		return withOps(e, g, func(cmd *cobra.Command, ops tenantOps) (catalog.Tenant, error) {
			if d, ok := ops.(directOps); ok && d.prov != nil {
				// As the admin API does: refuse before creating.
				if err := adminapi.CheckPlacement(cmd.Context(), d.store, tier, cluster); err != nil {
					return catalog.Tenant{}, problemErr(err)
				}
			}
			if c, ok := ops.(interface {
				CreateTenantOn(context.Context, catalog.CreateParams, string, string) (catalog.Tenant, *catalog.Placement, error)
			}); ok {
				// A server places the tenant as it creates it.
				t, pl, err := c.CreateTenantOn(cmd.Context(), p, tier, cluster)
				if err == nil && pl != nil {
					fmt.Fprintf(e.stderr, "placed %s: %s\n", t.Slug, describePlacement(*pl))
				}
				return t, err
			}
			t, err := ops.CreateTenant(cmd.Context(), p)
			// Tenants are placed at creation whenever the CLI can place
			// them (direct mode with --migrations; a server places them
			// itself when it has the migrations), or when asked to.
			place := tier != "" || cluster != "" || (g.server == "" && g.migrations != "")
			if err != nil || !place {
				return t, err
			}
			pl, err := ops.PlaceTenant(cmd.Context(), t.ID.String(), catalog.PlaceParams{Tier: tier, Cluster: cluster})
			if err != nil {
				return t, fmt.Errorf("tenant %s created; placing its data failed (finish with `tenantkit tenants place %s`): %w", t.Slug, t.Slug, err)
			}
			fmt.Fprintf(e.stderr, "placed %s: %s\n", t.Slug, describePlacement(pl))
			return t, nil
		})(cmd, args)
	}
	return cmd
}

func tenantsList(e env, g *globals) *cobra.Command {
	var p catalog.ListParams
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List tenants by slug, a page at a time",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ops, done, err := connect(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer done()
			page, err := ops.ListTenants(cmd.Context(), p)
			if err != nil {
				return err
			}
			return printTenants(e.stdout, g.output, page)
		},
	}
	cmd.Flags().StringVar(&p.After, "after", "", "start after this slug (the previous page's last)")
	cmd.Flags().IntVar(&p.Limit, "limit", 50, "page size, 1 to 500")
	cmd.Flags().StringVar(&p.Status, "status", "", "only tenants with this status: active, suspended or deleted")
	return cmd
}

func tenantsGet(e env, g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "get ID|SLUG",
		Short: "Show a tenant",
		Args:  exactArgs(1, "one ID or SLUG"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withOps(e, g, func(cmd *cobra.Command, ops tenantOps) (catalog.Tenant, error) {
				return ops.GetTenant(cmd.Context(), args[0])
			})(cmd, args)
		},
	}
}

func tenantsUpdate(e env, g *globals) *cobra.Command {
	var (
		name, plan string
		force      bool
	)
	cmd := &cobra.Command{
		Use:   "update ID|SLUG [--name NAME] [--plan PLAN [--force]]",
		Short: "Change a tenant's name or plan",
		Args:  exactArgs(1, "one ID or SLUG"),
	}
	cmd.Flags().StringVar(&name, "name", "", "new display name")
	cmd.Flags().StringVar(&plan, "plan", "", "new plan")
	cmd.Flags().BoolVar(&force, "force", false, "apply the plan even if the tenant's usage exceeds its limits")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		p := catalog.UpdateParams{Force: force}
		if cmd.Flags().Changed("name") {
			p.Name = &name
		}
		if cmd.Flags().Changed("plan") {
			p.Plan = &plan
		}
		if p.Name == nil && p.Plan == nil {
			return usageError{errorf("tenants update: give --name or --plan")}
		}
		return withOps(e, g, func(cmd *cobra.Command, ops tenantOps) (catalog.Tenant, error) {
			t, err := ops.UpdateTenant(cmd.Context(), args[0], p)
			return t, forceHint(err)
		})(cmd, args)
	}
	return cmd
}

func tenantsSuspend(e env, g *globals) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "suspend ID|SLUG [--reason TEXT]",
		Short: "Suspend a tenant: its requests get 403 with the reason",
		Args:  exactArgs(1, "one ID or SLUG"),
	}
	cmd.Flags().StringVar(&reason, "reason", "suspended by an operator", "why, shown to the tenant's users")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return withOps(e, g, func(cmd *cobra.Command, ops tenantOps) (catalog.Tenant, error) {
			return ops.SuspendTenant(cmd.Context(), args[0], reason)
		})(cmd, args)
	}
	return cmd
}

func tenantsResume(e env, g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "resume ID|SLUG",
		Short: "Resume a suspended tenant",
		Args:  exactArgs(1, "one ID or SLUG"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withOps(e, g, func(cmd *cobra.Command, ops tenantOps) (catalog.Tenant, error) {
				return ops.ResumeTenant(cmd.Context(), args[0])
			})(cmd, args)
		},
	}
}

func tenantsDelete(e env, g *globals) *cobra.Command {
	var hard bool
	cmd := &cobra.Command{
		Use:   "delete ID|SLUG [--hard]",
		Short: "Soft-delete a tenant: it stays in the catalog, its requests get 404",
		Args:  exactArgs(1, "one ID or SLUG"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withOps(e, g, func(cmd *cobra.Command, ops tenantOps) (catalog.Tenant, error) {
				if hard {
					return ops.PurgeTenant(cmd.Context(), args[0])
				}
				return ops.DeleteTenant(cmd.Context(), args[0])
			})(cmd, args)
		},
	}
	cmd.Flags().BoolVar(&hard, "hard", false, "also remove the tenant's data: its database, its schema, or its rows in the shared tables")
	return cmd
}

func tenantsPlace(e env, g *globals) *cobra.Command {
	var pp catalog.PlaceParams
	cmd := &cobra.Command{
		Use:   "place ID|SLUG [--tier shared|schema|dedicated] [--cluster NAME]",
		Short: "Place a tenant's data, or finish placing it after a failure",
		Args:  exactArgs(1, "one ID or SLUG"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ops, done, err := connect(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer done()
			pl, err := ops.PlaceTenant(cmd.Context(), args[0], pp)
			if err != nil {
				return err
			}
			if g.output == "json" {
				return writeJSON(e.stdout, pl)
			}
			fmt.Fprintln(e.stdout, describePlacement(pl))
			return nil
		},
	}
	cmd.Flags().StringVar(&pp.Tier, "tier", "", "shared, schema or dedicated (default: the plan's tier)")
	cmd.Flags().StringVar(&pp.Cluster, "cluster", "", "cluster (default: the least loaded)")
	cmd.Flags().StringVar(&pp.Database, "database", "", "adopt this existing database of the cluster for a dedicated tenant (never dropped by tenantkit)")
	return cmd
}

func describePlacement(pl catalog.Placement) string {
	return fmt.Sprintf("%s on cluster %s, database %s, schema %s (epoch %d, %s)", pl.Tier, pl.Cluster, pl.Database, pl.Schema, pl.Epoch, pl.State)
}
