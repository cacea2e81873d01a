package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/tenantkit/tenantkit/examples/orders"
	"github.com/tenantkit/tenantkit/internal/billing"
	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/domaincheck"
	"github.com/tenantkit/tenantkit/internal/registry"
)

func newServe(e env, g *globals) *cobra.Command {
	o := serveOptions{}
	var configPath string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the tenantkit server against your PostgreSQL",
		Long: "Run the admin API and the tenant pipeline against the catalog at --database-url\n" +
			"(TENANTKIT_DATABASE_URL), migrating it first. The admin token comes from\n" +
			"TENANTKIT_ADMIN_TOKEN. With --migrations, it also runs a move runner, which works\n" +
			"the tenant moves asked for (tenantkit move), unless --no-mover." + configHelp,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.databaseURL, o.redisURL, o.adminToken = g.databaseURL, g.redisURL, g.token
			if o.databaseURL == "" {
				return usageError{errors.New("serve needs --database-url or TENANTKIT_DATABASE_URL")}
			}
			if len(o.adminToken) < 16 {
				return usageError{errors.New("serve needs TENANTKIT_ADMIN_TOKEN (or --token) of at least 16 characters")}
			}
			o.log = slog.New(slog.NewTextHandler(e.stderr, nil))
			var err error
			if o.billing, err = g.stripe(); err != nil {
				return err
			}
			o.webhookSecret = e.getenv(billing.EnvWebhookSecret)
			if err := o.checkBillingFlags(); err != nil {
				return err
			}
			if err := o.checkTLSFlags(); err != nil {
				return err
			}
			if s := e.getenv("TENANTKIT_JWT_SECRET"); s != "" {
				if len(s) < 32 {
					return usageError{errors.New("TENANTKIT_JWT_SECRET must be at least 32 characters")}
				}
				o.jwtSecret = []byte(s)
			}
			if g.migrations != "" {
				fsys, err := migrationsFS(g.migrations)
				if err != nil {
					return err
				}
				o.migrations = fsys
				if g.migrations == "example" {
					o.app, o.workers = orders.Handler, orders.Workers
				}
			}
			doc, err := settingsSchemaDoc(g)
			if err != nil {
				return err
			}
			o.settingsSchema = doc
			if g.keyFile != "" || g.vaultAddr != "" || g.kmsKeyURI != "" {
				if o.kms, err = kmsConfig(g, false); err != nil {
					return err
				}
			}
			if o.platform, err = registry.ReadPlatformFile(g.integrations); err != nil {
				return usageError{fmt.Errorf("--integrations: %w", err)}
			}
			if _, err := catalog.Migrate(cmd.Context(), o.databaseURL); err != nil {
				return err
			}
			if err := serveSecretsFromKeyring(cmd.Context(), g, &o); err != nil {
				return err
			}
			o.ready = func(addr string) { fmt.Fprintf(e.stdout, "tenantkit serving on http://%s\n", addr) }
			o.tls.ready = func(addr string) { fmt.Fprintf(e.stdout, "tenantkit serving HTTPS on https://%s\n", addr) }
			return serve(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.addr, "addr", "127.0.0.1:8080", "listen address")
	cmd.Flags().StringVar(&o.baseDomain, "base-domain", cmp.Or(e.getenv("TENANTKIT_BASE_DOMAIN"), "localhost"), "tenants are served on SLUG.BASE-DOMAIN (env TENANTKIT_BASE_DOMAIN), which no tenant may claim as a custom domain")
	cmd.Flags().BoolVar(&o.noMover, "no-mover", false, "run no move runner here (another process works the moves)")
	cmd.Flags().BoolVar(&o.rlsCheck, "rls-check", false, "audit row-level security on every target first; refuse to serve on a violation")
	cmd.Flags().DurationVar(&o.billingGrace, "billing-grace", 7*24*time.Hour, "with billing on, how long a tenant whose payment failed keeps working before it is suspended (0: at once)")
	cmd.Flags().StringVar(&o.billingSync.UpgradeProration, "billing-upgrade-proration", "always_invoice", "proration of a plan upgrade on Stripe: always_invoice or create_prorations")
	cmd.Flags().StringVar(&o.billingCancel, "billing-cancel", "now", "when a deleted tenant's subscription ends: now or period-end")
	cmd.Flags().StringVar(&o.billingOnDeleted, "billing-on-subscription-deleted", "suspend", "what a subscription deleted on Stripe's side does to its tenant: suspend or downgrade (to the default plan)")
	domainFlags(cmd, &o, e)
	rateLimitFlags(cmd, &o)
	observeFlags(cmd, &o.observe, e, false)
	configFlag(cmd, e, &configPath)
	cmd.PreRunE = configPreRun(e, newConfigSpec(cmd.Flags(), serveGlobals, serveEnvOnly), &configPath)
	return cmd
}

// rateLimitFlags are the rate-limit flags serve and dev share.
func rateLimitFlags(cmd *cobra.Command, o *serveOptions) {
	cmd.Flags().BoolVar(&o.noRateLimit, "no-rate-limit", false, "do not enforce tenants' api_rps and api_burst limits")
	cmd.Flags().BoolVar(&o.rateLimitFailOpen, "rate-limit-fail-open", false,
		"serve requests while the rate limiter's Redis (--redis-url) is down; default: 503 with Retry-After")
}

// serveSecretsFromKeyring takes the Stripe secrets the environment does not
// set from the platform keyring, when a key-encryption key is given.
func serveSecretsFromKeyring(ctx context.Context, g *globals, o *serveOptions) error {
	if !g.kekGiven() || (o.billing != nil && o.webhookSecret != "") {
		return nil
	}
	pool, err := pgxpool.New(ctx, o.databaseURL)
	if err != nil {
		return usageError{errors.New("bad database URL: " + err.Error())}
	}
	defer pool.Close()
	wasOn := g.billingOn
	webhook, err := g.billingFromKeyring(ctx, pool, o.webhookSecret)
	if err != nil {
		return err
	}
	if g.billingOn && !wasOn {
		if o.billing, err = g.stripe(); err != nil {
			return err
		}
		o.log.Info("billing on: the Stripe secret key comes from the platform keyring")
	}
	if webhook != "" {
		o.webhookSecret = webhook
		o.log.Info("the Stripe webhook secret comes from the platform keyring")
	}
	return nil
}

// domainFlags are the custom-domain flags serve and dev share.
func domainFlags(cmd *cobra.Command, o *serveOptions, e env) {
	cmd.Flags().StringVar(&o.dnsResolver, "dns-resolver", e.getenv("TENANTKIT_DNS_RESOLVER"), "DNS server (host:port) custom domains' TXT proof is looked up at (env TENANTKIT_DNS_RESOLVER; default: the system's)")
	cmd.Flags().DurationVar(&o.domainRecheck, "domain-recheck", domaincheck.DefaultInterval, "how often a verified custom domain's proof is checked again")
	cmd.Flags().DurationVar(&o.domainGrace, "domain-grace", domaincheck.DefaultGrace, "how long a custom domain whose proof has gone keeps resolving")
	cmd.Flags().StringVar(&o.assetHost, "asset-host", e.getenv("TENANTKIT_ASSET_HOST"), "host that serves tenants' logos and favicons (env TENANTKIT_ASSET_HOST): branding's asset URLs must be https on it")
	cmd.Flags().StringVar(&o.tls.addr, "tls-addr", "", "serve HTTPS here too: the base domain's certificate from --tls-cert, and certificates for verified custom domains ordered on demand from the ACME CA")
	cmd.Flags().StringVar(&o.tls.httpAddr, "http-redirect-addr", "", "with --tls-addr, answer ACME HTTP-01 challenges here and redirect everything else to HTTPS (port 80 as the CA sees it)")
	cmd.Flags().StringVar(&o.tls.certFile, "tls-cert", "", "PEM certificate of the base domain and *.BASE-DOMAIN, served without ACME")
	cmd.Flags().StringVar(&o.tls.keyFile, "tls-key", "", "PEM private key of --tls-cert")
	cmd.Flags().StringVar(&o.tls.acmeDirectory, "acme-directory", certmagic.LetsEncryptProductionCA, "ACME directory URL certificates for custom domains are ordered from")
	cmd.Flags().StringVar(&o.tls.acmeEmail, "acme-email", "", "contact address of the ACME account")
	cmd.Flags().StringVar(&o.tls.acmeRoots, "acme-ca-roots", "", "PEM file of the roots the ACME CA's own API is trusted with (a test CA); default the system's")
}

// checkTLSFlags refuses TLS flags that do not go together.
func (o serveOptions) checkTLSFlags() error {
	switch {
	case o.tls.addr == "" && (o.tls.httpAddr != "" || o.tls.certFile != "" || o.tls.keyFile != ""):
		return usageError{errors.New("--http-redirect-addr, --tls-cert and --tls-key need --tls-addr")}
	case (o.tls.certFile == "") != (o.tls.keyFile == ""):
		return usageError{errors.New("--tls-cert and --tls-key go together")}
	}
	return nil
}
