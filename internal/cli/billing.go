package cli

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tenantkit/tenantkit/internal/catalog"
)

// billingOps is what the billing commands need, against the catalog or
// through a server.
type billingOps interface {
	TenantBilling(ctx context.Context, ref string) (catalog.BillingStatus, error)
}

var (
	_ billingOps = directOps{}
	_ billingOps = apiOps{}
)

func (d directOps) TenantBilling(ctx context.Context, ref string) (catalog.BillingStatus, error) {
	st, err := d.store.TenantBilling(ctx, ref)
	return st, problemErr(err)
}

func (a apiOps) TenantBilling(ctx context.Context, ref string) (catalog.BillingStatus, error) {
	return conv[catalog.BillingStatus](a.c.TenantBilling(ctx, ref))
}

func newBilling(e env, g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "billing", Short: "The platform billing its tenants on Stripe"}
	cmd.AddCommand(billingStatus(e, g))
	return group(cmd)
}

func billingStatus(e env, g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "status SLUG",
		Short: "Show a tenant's customer, subscription and items on Stripe, and its changes not yet applied",
		Args:  exactArgs(1, "one tenant SLUG"),
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		ops, done, err := connectAs[billingOps](cmd.Context(), g)
		if err != nil {
			return err
		}
		defer done()
		st, err := ops.TenantBilling(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		if g.output == "json" {
			return writeJSON(e.stdout, st)
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		synced := "never"
		if st.Account.SyncedAt != nil {
			synced = st.Account.SyncedAt.UTC().Format(time.RFC3339)
		}
		var items []string
		for _, p := range slices.Sorted(maps.Keys(st.Account.Items)) {
			items = append(items, p+"="+st.Account.Items[p])
		}
		backlog := "none"
		if n := len(st.Backlog); n > 0 {
			first := st.Backlog[0]
			backlog = fmt.Sprintf("%d waiting; the oldest (%s, %s) tried %d times", n, first.Op, first.CreatedAt.UTC().Format(time.RFC3339), first.Attempts)
			if first.LastError != "" {
				backlog += ", last error: " + first.LastError
			}
		}
		for _, r := range [][2]string{
			{"Tenant", st.Tenant.Slug + " (" + st.Tenant.ID.String() + ")"}, {"Plan", st.Tenant.Plan},
			{"Customer", orDash(st.Account.CustomerID)}, {"Subscription", orDash(st.Account.SubscriptionID)},
			{"Items", orDash(joinComma(items))}, {"Last sync", synced}, {"Backlog", backlog},
		} {
			fmt.Fprintf(tw, "%s:\t%s\n", r[0], r[1])
		}
		return tw.Flush()
	}
	return cmd
}

func joinComma(s []string) string {
	out := ""
	for i, v := range s {
		if i > 0 {
			out += ", "
		}
		out += v
	}
	return out
}
