package cli

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/tenantkit/tenantkit/internal/catalog"
)

func newClusters(e env, g *globals) *cobra.Command {
	cmd := group(&cobra.Command{Use: "clusters", Short: "Register the PostgreSQL servers that hold tenant data"})
	var p catalog.ClusterParams
	add := &cobra.Command{
		Use:   "add NAME --owner-url URL --app-url URL [--replication-url URL] [--shared-database DB]",
		Short: "Register a cluster",
		Args:  exactArgs(1, "one NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			p.Name = args[0]
			return withStore(cmd.Context(), g, func(s *catalog.Store) error {
				c, err := s.AddCluster(cmd.Context(), cliActor(), p)
				if err != nil {
					return problemErr(err)
				}
				return printClusters(e, g, []catalog.Cluster{c})
			})
		},
	}
	add.Flags().StringVar(&p.OwnerURL, "owner-url", "", "URL as the owner role (runs migrations, creates databases)")
	add.Flags().StringVar(&p.AppURL, "app-url", "", "URL as the app role (NOSUPERUSER NOBYPASSRLS)")
	add.Flags().StringVar(&p.ReplicationURL, "replication-url", "", "URL as the replication role (moves)")
	add.Flags().StringVar(&p.SharedDatabase, "shared-database", "tenantkit_shared", "database of the shared tier and the tenant schemas")
	list := &cobra.Command{
		Use:   "list",
		Short: "List clusters",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withStore(cmd.Context(), g, func(s *catalog.Store) error {
				cs, err := s.ListClusters(cmd.Context())
				if err != nil {
					return err
				}
				return printClusters(e, g, cs)
			})
		},
	}
	remove := &cobra.Command{
		Use:   "remove NAME",
		Short: "Unregister a cluster that holds no tenants",
		Args:  exactArgs(1, "one NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(cmd.Context(), g, func(s *catalog.Store) error {
				if err := s.RemoveCluster(cmd.Context(), cliActor(), args[0]); err != nil {
					return problemErr(err)
				}
				fmt.Fprintf(e.stdout, "removed cluster %s\n", args[0])
				return nil
			})
		},
	}
	cmd.AddCommand(add, list, remove)
	return cmd
}

func printClusters(e env, g *globals, cs []catalog.Cluster) error {
	type row struct {
		Name           string `json:"name"`
		SharedDatabase string `json:"shared_database"`
		OwnerURL       string `json:"owner_url"`
		AppURL         string `json:"app_url"`
	}
	rows := make([]row, 0, len(cs))
	for _, c := range cs {
		rows = append(rows, row{c.Name, c.SharedDatabase, redactURL(c.OwnerURL), redactURL(c.AppURL)})
	}
	if g.output == "json" {
		return writeJSON(e.stdout, rows)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSHARED DATABASE\tOWNER URL\tAPP URL")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Name, r.SharedDatabase, r.OwnerURL, r.AppURL)
	}
	return tw.Flush()
}

// withStore runs fn with a store on the catalog database (these commands
// do not go through a server).
func withStore(ctx context.Context, g *globals, fn func(*catalog.Store) error) error {
	if g.databaseURL == "" {
		return usageError{fmt.Errorf("this command needs TENANTKIT_DATABASE_URL or --database-url")}
	}
	pool, err := pgxpool.New(ctx, g.databaseURL)
	if err != nil {
		return usageError{fmt.Errorf("bad database URL: %s", err)}
	}
	defer pool.Close()
	s, err := catalog.NewStore(catalog.StoreConfig{Pool: pool})
	if err != nil {
		return err
	}
	return fn(s)
}

// redactURL hides a URL's password.
func redactURL(raw string) string { return catalog.RedactURL(raw) }
