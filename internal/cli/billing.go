package cli

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tenantkit/tenantkit/client"
	"github.com/tenantkit/tenantkit/internal/billing"
	"github.com/tenantkit/tenantkit/internal/catalog"
)

// billingOps is what the billing commands need, against the catalog or
// through a server.
type billingOps interface {
	TenantBilling(ctx context.Context, ref string) (catalog.BillingStatus, error)
	BillingPortal(ctx context.Context, ref, returnURL string) (string, error)
	BillingCheckout(ctx context.Context, ref, plan, successURL, cancelURL string) (string, error)
	BillingReport(ctx context.Context, period string, opts billing.ReportOptions) (billing.ReportResult, error)
}

func (a apiOps) BillingReport(ctx context.Context, period string, opts billing.ReportOptions) (billing.ReportResult, error) {
	return conv[billing.ReportResult](a.c.BillingReport(ctx, client.BillingReportParams{Period: period, Tenant: opts.Slug, Resend: opts.Resend}))
}

func (d directOps) BillingReport(ctx context.Context, period string, opts billing.ReportOptions) (billing.ReportResult, error) {
	if period == "" {
		period = time.Now().UTC().Format("2006-01")
	}
	s, err := d.sessions()
	if err != nil {
		return billing.ReportResult{}, err
	}
	res, err := s.Report(ctx, period, opts)
	return res, problemErr(err)
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

func (a apiOps) BillingPortal(ctx context.Context, ref, returnURL string) (string, error) {
	u, err := a.c.BillingPortal(ctx, ref, returnURL)
	return u, apiErr(err)
}

func (a apiOps) BillingCheckout(ctx context.Context, ref, plan, successURL, cancelURL string) (string, error) {
	u, err := a.c.BillingCheckout(ctx, ref, plan, successURL, cancelURL)
	return u, apiErr(err)
}

// sessions is billing's Stripe pages against the catalog, when the
// environment has a key.
func (d directOps) sessions() (billing.Sessions, error) {
	b, err := d.stripe()
	if err != nil {
		return billing.Sessions{}, err
	}
	if b == nil {
		return billing.Sessions{}, usageError{errors.New("billing is off: set " + billing.EnvSecretKey + " (or keep it with tenantkit billing secret set and give the key-encryption key), or use --server")}
	}
	return billing.Sessions{Billing: b, Store: d.store}, nil
}

func (d directOps) BillingPortal(ctx context.Context, ref, returnURL string) (string, error) {
	s, err := d.sessions()
	if err != nil {
		return "", err
	}
	u, err := s.Portal(ctx, ref, returnURL)
	return u, problemErr(err)
}

func (d directOps) BillingCheckout(ctx context.Context, ref, plan, successURL, cancelURL string) (string, error) {
	s, err := d.sessions()
	if err != nil {
		return "", err
	}
	u, err := s.Checkout(ctx, ref, plan, successURL, cancelURL)
	return u, problemErr(err)
}

func newBilling(e env, g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "billing", Short: "The platform billing its tenants on Stripe"}
	cmd.AddCommand(billingStatus(e, g), billingReport(e, g), billingPortal(e, g), billingCheckout(e, g), billingSecret(e, g))
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
			{"Items", orDash(strings.Join(items, ", "))}, {"Last sync", synced}, {"Backlog", backlog},
		} {
			fmt.Fprintf(tw, "%s:\t%s\n", r[0], r[1])
		}
		return tw.Flush()
	}
	return cmd
}

func billingReport(e env, g *globals) *cobra.Command {
	var period, slug string
	var resend bool
	cmd := &cobra.Command{
		Use:   "report [--period YYYY-MM] [--tenant SLUG] [--resend]",
		Short: "Report tenants' metered usage to Stripe's Billing Meters; safe to run again",
		Long: "Sends, for each billed tenant and metered metric, the usage counted since the last report as one\n" +
			"meter event whose identifier is unique to the tenant, metric, period and event, written in the\n" +
			"catalog before it is sent: events Stripe did not confirm are sent again with their identifier, and\n" +
			"Stripe counts each once. Then prints the catalog's usage beside what Stripe confirmed.",
		Args: exactArgs(0, "no arguments"),
	}
	cmd.Flags().StringVar(&period, "period", "", "billing month, YYYY-MM (default: the current month, UTC, the server's through --server)")
	cmd.Flags().StringVar(&slug, "tenant", "", "report only this tenant")
	cmd.Flags().BoolVar(&resend, "resend", false, "send again every event of the period Stripe confirmed, with its identifier")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		ops, done, err := connectAs[billingOps](cmd.Context(), g)
		if err != nil {
			return err
		}
		defer done()
		res, err := ops.BillingReport(cmd.Context(), period, billing.ReportOptions{Slug: slug, Resend: resend})
		if err != nil {
			return err
		}
		if g.output == "json" {
			if err := writeJSON(e.stdout, res); err != nil {
				return err
			}
		} else {
			fmt.Fprintf(e.stdout, "period %s: %d meter events sent, %d not taken\n", res.Period, len(res.Sent), res.Failed)
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TENANT\tMETRIC\tMETER\tCATALOG\tREPORTED\tUNCONFIRMED\tDIFFERENCE")
			for _, u := range res.Usage {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\n", u.Slug, u.Metric, u.Meter, u.Catalog, u.Reported, len(u.Unconfirmed), u.Catalog-u.Reported)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
		}
		if res.Failed > 0 {
			return fmt.Errorf("%d meter events were not taken by Stripe (last: %s); run billing report again", res.Failed, res.LastError)
		}
		return nil
	}
	return cmd
}

func billingPortal(e env, g *globals) *cobra.Command {
	var returnURL string
	cmd := &cobra.Command{
		Use:   "portal SLUG [--return-url URL]",
		Short: "Print the URL of the tenant's Stripe Customer Portal (plan, payment method, invoices)",
		Args:  exactArgs(1, "one tenant SLUG"),
	}
	cmd.Flags().StringVar(&returnURL, "return-url", "https://example.com/", "where the portal sends the user back")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		ops, done, err := connectAs[billingOps](cmd.Context(), g)
		if err != nil {
			return err
		}
		defer done()
		u, err := ops.BillingPortal(cmd.Context(), args[0], returnURL)
		if err != nil {
			return err
		}
		return printURL(e, g, u)
	}
	return cmd
}

func billingCheckout(e env, g *globals) *cobra.Command {
	var plan, success, cancel string
	cmd := &cobra.Command{
		Use:   "checkout SLUG --plan PLAN --success-url URL --cancel-url URL",
		Short: "Print the URL of a Stripe Checkout that subscribes the tenant to a plan",
		Args:  exactArgs(1, "one tenant SLUG"),
	}
	cmd.Flags().StringVar(&plan, "plan", "", "the plan to subscribe to")
	cmd.Flags().StringVar(&success, "success-url", "", "where Checkout sends the user after paying")
	cmd.Flags().StringVar(&cancel, "cancel-url", "", "where Checkout sends the user who gives up")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		ops, done, err := connectAs[billingOps](cmd.Context(), g)
		if err != nil {
			return err
		}
		defer done()
		u, err := ops.BillingCheckout(cmd.Context(), args[0], plan, success, cancel)
		if err != nil {
			return err
		}
		return printURL(e, g, u)
	}
	return cmd
}

func printURL(e env, g *globals, u string) error {
	if g.output == "json" {
		return writeJSON(e.stdout, map[string]string{"url": u})
	}
	_, err := fmt.Fprintln(e.stdout, u)
	return err
}
