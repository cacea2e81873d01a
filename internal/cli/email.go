package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tenantkit/tenantkit/internal/email"
	"github.com/tenantkit/tenantkit/internal/mailer"
	"github.com/tenantkit/tenantkit/internal/registry"
)

func newEmail(e env, g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "email",
		Short: "Send a tenant's branded email through its resolved email integration",
	}
	cmd.AddCommand(emailTest(e, g))
	return group(cmd)
}

func emailTest(e env, g *globals) *cobra.Command {
	var to string
	cmd := &cobra.Command{
		Use:   "test ID|SLUG --to ADDRESS",
		Short: "Send the branded test email as the tenant, through its own email integration or the platform's",
		Args:  exactArgs(1, "one tenant ID or SLUG"),
	}
	cmd.Flags().StringVar(&to, "to", "", "recipient")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		rcpt, err := registry.ParseAddress(to)
		if err != nil {
			return usageError{fmt.Errorf("--to: %w", err)}
		}
		if g.server != "" {
			return usageError{errors.New("email test sends from here: give --database-url and --key-file, not --server")}
		}
		ops, done, err := connectAs[directOps](cmd.Context(), g)
		if err != nil {
			return err
		}
		defer done()
		res, err := sendTest(cmd.Context(), g, ops, args[0], rcpt)
		if err != nil {
			return problemErr(err)
		}
		if g.output == "json" {
			return writeJSON(e.stdout, res)
		}
		fmt.Fprintf(e.stdout, "sent to %s from %s via %s (%s), id %s\n", rcpt.Email, res.From, res.Provider, res.Source, res.ID)
		return nil
	}
	return cmd
}

func sendTest(ctx context.Context, g *globals, ops directOps, ref string, to email.Address) (mailer.Result, error) {
	reg, err := directRegistry(ctx, g, ops.store)
	if err != nil {
		return mailer.Result{}, err
	}
	pf, err := registry.ReadPlatformFile(g.integrations)
	if err != nil {
		return mailer.Result{}, err
	}
	from, err := registry.ParseAddress(pf.EmailFrom)
	if err != nil {
		return mailer.Result{}, usageError{errors.New("the platform file (--integrations) needs email_from, the platform's sender")}
	}
	m, err := mailer.New(mailer.Config{Registry: reg, Store: ops.store, PlatformFrom: from})
	if err != nil {
		return mailer.Result{}, err
	}
	t, err := ops.store.GetTenant(ctx, ref)
	if err != nil {
		return mailer.Result{}, err
	}
	tc, err := ops.store.LoadContext(ctx, t.ID)
	if err != nil {
		return mailer.Result{}, err
	}
	v, err := reg.Show(ctx, ref, "email")
	if err != nil {
		return mailer.Result{}, err
	}
	return m.SendTemplate(ctx, tc, "test", to, email.TestData{Provider: v.Provider})
}
