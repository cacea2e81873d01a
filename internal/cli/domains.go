package cli

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/domains"
)

// domainOps is what the domains commands need, against the catalog or
// through a server.
type domainOps interface {
	AddDomain(ctx context.Context, ref, host, baseDomain string) (catalog.DomainView, error)
	ListDomains(ctx context.Context, ref string) ([]catalog.DomainView, error)
	GetDomain(ctx context.Context, host string) (catalog.DomainView, error)
	RemoveDomain(ctx context.Context, host string) (catalog.DomainView, error)
	VerifyDomain(ctx context.Context, host string, proof domains.Proof) (catalog.DomainView, error)
}

var (
	_ domainOps = directOps{}
	_ domainOps = apiOps{}
)

func (d directOps) AddDomain(ctx context.Context, ref, host, baseDomain string) (catalog.DomainView, error) {
	dm, err := d.store.AddDomain(ctx, d.actor, ref, host, baseDomain)
	return catalog.View(dm), problemErr(err)
}

func (d directOps) ListDomains(ctx context.Context, ref string) ([]catalog.DomainView, error) {
	ds, err := d.store.ListDomains(ctx, ref)
	views := make([]catalog.DomainView, len(ds))
	for i, dm := range ds {
		views[i] = catalog.View(dm)
	}
	return views, problemErr(err)
}

func (d directOps) GetDomain(ctx context.Context, host string) (catalog.DomainView, error) {
	dm, err := d.store.GetDomain(ctx, host)
	return catalog.View(dm), problemErr(err)
}

func (d directOps) RemoveDomain(ctx context.Context, host string) (catalog.DomainView, error) {
	dm, err := d.store.RemoveDomain(ctx, d.actor, host)
	return catalog.View(dm), problemErr(err)
}

func (d directOps) VerifyDomain(ctx context.Context, host string, proof domains.Proof) (catalog.DomainView, error) {
	dm, err := d.store.VerifyDomain(ctx, d.actor, host, proof.Check)
	return catalog.View(dm), problemErr(err)
}

// The server has its own base domain and resolver.
func (a apiOps) AddDomain(ctx context.Context, ref, host, _ string) (catalog.DomainView, error) {
	return conv[catalog.DomainView](a.c.AddDomain(ctx, ref, host))
}

func (a apiOps) ListDomains(ctx context.Context, ref string) ([]catalog.DomainView, error) {
	return conv[[]catalog.DomainView](a.c.ListDomains(ctx, ref))
}

func (a apiOps) GetDomain(ctx context.Context, host string) (catalog.DomainView, error) {
	return conv[catalog.DomainView](a.c.GetDomain(ctx, host))
}

func (a apiOps) RemoveDomain(ctx context.Context, host string) (catalog.DomainView, error) {
	return conv[catalog.DomainView](a.c.RemoveDomain(ctx, host))
}

func (a apiOps) VerifyDomain(ctx context.Context, host string, _ domains.Proof) (catalog.DomainView, error) {
	return conv[catalog.DomainView](a.c.VerifyDomain(ctx, host))
}

func newDomains(e env, g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "domains",
		Short: "Tenants' custom domains, proven by a DNS TXT record",
		Long: "A tenant's custom domain resolves to it once proven: domains add prints the TXT record to\n" +
			"create (_tenantkit-challenge.HOST holding a token), domains verify looks it up. Verified\n" +
			"domains are checked again daily by serve; one whose record has gone lapses and, after a grace\n" +
			"period, stops resolving. Refused: the platform's base domain and names under it, IP addresses,\n" +
			"wildcards. An apex covers itself only: add and prove each name the tenant serves.",
	}
	var baseDomain, resolver string
	cmd.PersistentFlags().StringVar(&baseDomain, "base-domain", e.getenv("TENANTKIT_BASE_DOMAIN"), "the platform's own domain, which tenants may not claim (env TENANTKIT_BASE_DOMAIN; through --server, the server's)")
	cmd.PersistentFlags().StringVar(&resolver, "dns-resolver", e.getenv("TENANTKIT_DNS_RESOLVER"), "DNS server (host:port) the proof is looked up at (env TENANTKIT_DNS_RESOLVER; default the system's; through --server, the server's)")
	with := func(fn func(ctx context.Context, ops domainOps, args []string) error) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, args []string) error {
			ops, done, err := connectAs[domainOps](cmd.Context(), g)
			if err != nil {
				return err
			}
			defer done()
			return fn(cmd.Context(), ops, args)
		}
	}
	add := &cobra.Command{
		Use:   "add SLUG HOST",
		Short: "Register a custom domain of a tenant and print the TXT record that proves it",
		Args:  exactArgs(2, "a tenant SLUG and a HOST"),
		RunE: with(func(ctx context.Context, ops domainOps, args []string) error {
			d, err := ops.AddDomain(ctx, args[0], args[1], baseDomain)
			if err != nil {
				return err
			}
			if g.output == "json" {
				return writeJSON(e.stdout, d)
			}
			fmt.Fprintf(e.stdout, "added %s for %s, pending its proof: create this DNS record, then run tenantkit domains verify %s\n\n",
				d.Host, args[0], d.Host)
			fmt.Fprintf(e.stdout, "%s. 300 IN TXT %q\n", d.TXTRecord.Name, d.TXTRecord.Value)
			return nil
		}),
	}
	verify := &cobra.Command{
		Use:   "verify HOST",
		Short: "Look the domain's TXT record up and verify the domain when it holds its token",
		Args:  exactArgs(1, "one HOST"),
		RunE: with(func(ctx context.Context, ops domainOps, args []string) error {
			d, err := ops.VerifyDomain(ctx, args[0], domains.Proof{Resolver: resolver})
			if err != nil {
				return err
			}
			return printDomain(e.stdout, g.output, d)
		}),
	}
	list := &cobra.Command{
		Use:   "list SLUG",
		Short: "List a tenant's custom domains",
		Args:  exactArgs(1, "one tenant SLUG"),
		RunE: with(func(ctx context.Context, ops domainOps, args []string) error {
			ds, err := ops.ListDomains(ctx, args[0])
			if err != nil {
				return err
			}
			return printDomains(e.stdout, g.output, ds)
		}),
	}
	show := &cobra.Command{
		Use:   "show HOST",
		Short: "Show a custom domain: its proof, its state and its certificate",
		Args:  exactArgs(1, "one HOST"),
		RunE: with(func(ctx context.Context, ops domainOps, args []string) error {
			d, err := ops.GetDomain(ctx, args[0])
			if err != nil {
				return err
			}
			return printDomain(e.stdout, g.output, d)
		}),
	}
	remove := &cobra.Command{
		Use:   "remove HOST",
		Short: "Remove a custom domain: it stops resolving at once",
		Args:  exactArgs(1, "one HOST"),
		RunE: with(func(ctx context.Context, ops domainOps, args []string) error {
			d, err := ops.RemoveDomain(ctx, args[0])
			if err != nil {
				return err
			}
			if g.output == "json" {
				return writeJSON(e.stdout, d)
			}
			fmt.Fprintf(e.stdout, "removed %s\n", d.Host)
			return nil
		}),
	}
	cmd.AddCommand(add, verify, list, show, remove)
	return group(cmd)
}

func timeOr(t *time.Time, none string) string {
	if t == nil {
		return none
	}
	return t.UTC().Format(time.RFC3339)
}

func sslText(d catalog.DomainView) string {
	s := d.SslStatus
	if d.SslExpiresAt != nil {
		s += ", expires " + timeOr(d.SslExpiresAt, "")
	}
	if d.SslError != "" {
		s += " (" + d.SslError + ")"
	}
	return s
}

func printDomain(w io.Writer, format string, d catalog.DomainView) error {
	if format == "json" {
		return writeJSON(w, d)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	state := d.Status
	if d.Status == catalog.DomainLapsed && d.Resolves {
		state += ", resolving until " + timeOr(d.GraceUntil, "")
	}
	rows := [][2]string{
		{"Host", d.Host}, {"Tenant", d.TenantID.String()}, {"Status", state},
		{"Resolves", fmt.Sprint(d.Resolves)},
		{"Proof", fmt.Sprintf("%s TXT %q", d.TXTRecord.Name, d.TXTRecord.Value)},
		{"Verified", timeOr(d.VerifiedAt, "-")}, {"Checked", timeOr(d.CheckedAt, "-")},
	}
	if d.CheckError != "" {
		rows = append(rows, [2]string{"Check error", d.CheckError})
	}
	rows = append(rows, [2]string{"Certificate", sslText(d)}, [2]string{"Added", timeOr(&d.CreatedAt, "")})
	for _, r := range rows {
		fmt.Fprintf(tw, "%s:\t%s\n", r[0], r[1])
	}
	return tw.Flush()
}

func printDomains(w io.Writer, format string, ds []catalog.DomainView) error {
	if format == "json" {
		return writeJSON(w, ds)
	}
	if len(ds) == 0 {
		fmt.Fprintln(w, "no custom domains")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tSTATUS\tRESOLVES\tCERTIFICATE\tCHECKED")
	for _, d := range ds {
		fmt.Fprintf(tw, "%s\t%s\t%v\t%s\t%s\n", d.Host, d.Status, d.Resolves, sslText(d), timeOr(d.CheckedAt, "-"))
	}
	return tw.Flush()
}
