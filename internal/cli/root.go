package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/tenantkit/tenantkit/internal/billing"
	"github.com/tenantkit/tenantkit/internal/catalog"
)

// Exit statuses.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// env is what commands read from the outside world.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

// globals are the flags every command shares.
type globals struct {
	output      string
	server      string
	token       string
	databaseURL string
	redisURL    string
	migrations  string
	// settingsSchema names the JSON Schema file of tenant settings.
	settingsSchema string
	// keyFile is the local key-encryption key; vaultAddr, vaultToken and
	// vaultKey name a Vault transit key instead.
	keyFile, vaultAddr, vaultToken, vaultKey string
	// integrations names the platform's integration defaults file.
	integrations string
	// kmsKeyURI names a cloud KMS key-encryption key, kmsCredentials its
	// client's credentials file.
	kmsKeyURI, kmsCredentials string
	// billing is how to reach Stripe, from the environment only (a secret
	// key is never a flag, whose default --help would print); billingOn
	// says a key is set.
	billing   billing.Config
	billingOn bool
}

// stripe is the platform's Stripe when billing is on, nil otherwise.
func (g *globals) stripe() (*billing.Billing, error) {
	if !g.billingOn {
		return nil, nil
	}
	b, err := billing.New(g.billing)
	if err != nil {
		return nil, usageError{fmt.Errorf("%s: %w", billing.EnvSecretKey, err)}
	}
	return b, nil
}

// planCheck is the check of plans' Stripe prices when billing is on.
func (g *globals) planCheck() (func(context.Context, catalog.PlanBilling) error, error) {
	b, err := g.stripe()
	if b == nil || err != nil {
		return nil, err
	}
	return b.CheckPrices, nil
}

type usageError struct{ error }

// Main runs the CLI with args and returns the exit status.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return run(ctx, args, env{stdin: stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv})
}

func run(ctx context.Context, args []string, e env) int {
	root := newRoot(e)
	root.SetArgs(args)
	root.SetIn(e.stdin)
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(e.stderr, "tenantkit: "+oneLine(err.Error()))
	var ue usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	return exitError
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "tenantkit: ")
	return strings.Join(strings.Fields(s), " ")
}

func newRoot(e env) *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:           "tenantkit",
		Short:         "tenantkit: the control plane of a multi-tenant SaaS on PostgreSQL",
		SilenceErrors: true,
		SilenceUsage:  true,
		Version:       binaryVersion(),
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if g.output != "table" && g.output != "json" {
				return usageError{fmt.Errorf("--output must be table or json, not %q", g.output)}
			}
			return nil
		},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	pf := root.PersistentFlags()
	pf.StringVarP(&g.output, "output", "o", "table", "output format: table or json")
	pf.StringVar(&g.server, "server", e.getenv("TENANTKIT_SERVER"), "admin API base URL (env TENANTKIT_SERVER); when set, commands go through the server")
	pf.StringVar(&g.token, "token", e.getenv("TENANTKIT_ADMIN_TOKEN"), "admin API bearer token (env TENANTKIT_ADMIN_TOKEN)")
	pf.StringVar(&g.databaseURL, "database-url", e.getenv("TENANTKIT_DATABASE_URL"), "catalog database URL (env TENANTKIT_DATABASE_URL)")
	pf.StringVar(&g.redisURL, "redis-url", e.getenv("TENANTKIT_REDIS_URL"), "Redis URL for cache invalidation (env TENANTKIT_REDIS_URL); default is PostgreSQL LISTEN/NOTIFY")
	pf.StringVar(&g.migrations, "migrations", e.getenv("TENANTKIT_MIGRATIONS"), "directory of the application's migrations (env TENANTKIT_MIGRATIONS; \"example\" for the bundled orders app)")
	pf.StringVar(&g.settingsSchema, "settings-schema", e.getenv("TENANTKIT_SETTINGS_SCHEMA"), "JSON Schema file of tenant settings (env TENANTKIT_SETTINGS_SCHEMA; \"example\" for the restaurant demo's); without --server, settings are validated against it")
	pf.StringVar(&g.keyFile, "key-file", e.getenv("TENANTKIT_KEY_FILE"), "local key-encryption key file, 0600 (env TENANTKIT_KEY_FILE): wraps tenants' data keys")
	pf.StringVar(&g.vaultAddr, "vault-addr", e.getenv("TENANTKIT_VAULT_ADDR"), "Vault address for a transit key-encryption key instead of --key-file (env TENANTKIT_VAULT_ADDR)")
	pf.StringVar(&g.vaultKey, "vault-key", e.getenv("TENANTKIT_VAULT_KEY"), "Vault transit key name (env TENANTKIT_VAULT_KEY)")
	g.vaultToken = e.getenv("TENANTKIT_VAULT_TOKEN")
	g.billing, g.billingOn = billing.FromEnv(e.getenv)
	pf.StringVar(&g.kmsKeyURI, "kms-key-uri", e.getenv("TENANTKIT_KMS_KEY_URI"), "cloud KMS key-encryption key, aws-kms://arn:aws:kms:… (env TENANTKIT_KMS_KEY_URI)")
	pf.StringVar(&g.kmsCredentials, "kms-credentials", e.getenv("TENANTKIT_KMS_CREDENTIALS"), "credentials file of the KMS client (env TENANTKIT_KMS_CREDENTIALS; default: the SDK's chain)")
	pf.StringVar(&g.integrations, "integrations", e.getenv("TENANTKIT_INTEGRATIONS"), "the platform's integration defaults, a 0600 JSON file (env TENANTKIT_INTEGRATIONS)")
	root.AddCommand(newDev(e, g), newServe(e, g), newCatalog(e, g), newTenants(e, g), newClusters(e, g), newMigrate(e, g), newRLS(e, g),
		newMove(e, g), newMoves(e, g), newJobs(e, g), newLoad(e, g), newPlans(e, g), newFlags(e, g), newSettings(e, g),
		newIntegrations(e, g), newDomains(e, g), newBrandingCmd(e, g), newKeys(e, g), newEmail(e, g), newUsage(e, g), newBilling(e, g), newTop(e, g), newTraffic(e, g), newConfig(e, g), newVersion(e, g))
	return group(root)
}

// group makes cmd a holder of subcommands: bare, it shows its help; with an
// unknown subcommand it is a usage error. Left to cobra, an unknown
// subcommand exits 1 at the root and shows the help with exit 0 below it.
func group(cmd *cobra.Command) *cobra.Command {
	cmd.SuggestionsMinimumDistance = 2 // cobra's default, which SuggestionsFor does not apply
	cmd.Args = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return nil
		}
		err := fmt.Errorf("unknown command %q for %q", args[0], cmd.CommandPath())
		if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
			err = fmt.Errorf("%w (did you mean %q?)", err, s[0])
		}
		return usageError{err}
	}
	cmd.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
	return cmd
}

// exactArgs is cobra.ExactArgs with a usage error.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageError{fmt.Errorf("%s: want %s", cmd.CommandPath(), what)}
		}
		return nil
	}
}

// discardLogger drops library logs: the CLI reports results itself.
func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }
