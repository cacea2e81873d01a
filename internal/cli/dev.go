package cli

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/tenantkit/tenantkit"
	"github.com/tenantkit/tenantkit/examples/orders"
	"github.com/tenantkit/tenantkit/internal/billing"
	"github.com/tenantkit/tenantkit/internal/bootstrap"
	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/keys"
	"github.com/tenantkit/tenantkit/internal/mailpit"
	"github.com/tenantkit/tenantkit/internal/pgcluster"
	"github.com/tenantkit/tenantkit/internal/placement"
	"github.com/tenantkit/tenantkit/internal/registry"
	"github.com/tenantkit/tenantkit/internal/settings"
	"github.com/tenantkit/tenantkit/internal/stripemock"
)

// Database names of the dev cluster.
const (
	devCatalogDB = "tenantkit"
	devDataDB    = "tenantkit_data"
)

type devSecrets struct {
	Passwords  bootstrap.Passwords `json:"passwords"`
	AdminToken string              `json:"admin_token"`
	// JWTSecret signs the demo users' tokens (tenantkit traffic).
	JWTSecret string `json:"jwt_secret"`
	// WebhookSecret signs the Stripe events posted to the dev server.
	WebhookSecret string `json:"webhook_secret"`
}

func newDev(e env, g *globals) *cobra.Command {
	var (
		dataDir    string
		fresh      bool
		o          serveOptions
		configPath string
	)
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run tenantkit with a private PostgreSQL and demo tenants",
		Long: "Start a private PostgreSQL cluster from this machine's server binaries in\n" +
			"--data-dir, create the roles, the catalog and demo tenants, and serve.\n" +
			"A second run on the same --data-dir reuses it; --fresh starts over.\n" +
			"Connection settings are written to DATA_DIR/dev.env." + configHelp,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.log = slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
			o.redisURL = g.redisURL
			return runDev(cmd.Context(), e, dataDir, fresh, o)
		},
	}
	cmd.Flags().StringVar(&o.addr, "addr", "127.0.0.1:8080", "listen address")
	cmd.Flags().StringVar(&dataDir, "data-dir", filepath.Join(".tenantkit", "dev"), "where the cluster and dev.env live")
	cmd.Flags().BoolVar(&fresh, "fresh", false, "wipe the data directory and start over")
	cmd.Flags().DurationVar(&o.billingGrace, "billing-grace", 0, "how long a demo tenant whose payment failed keeps working before it is suspended (0: at once)")
	cmd.Flags().StringVar(&o.baseDomain, "base-domain", cmp.Or(e.getenv("TENANTKIT_BASE_DOMAIN"), "localhost"), "tenants are served on SLUG.BASE-DOMAIN (env TENANTKIT_BASE_DOMAIN)")
	rateLimitFlags(cmd, &o)
	observeFlags(cmd, &o.observe, e, true)
	configFlag(cmd, e, &configPath)
	cmd.PreRunE = configPreRun(e, newConfigSpec(cmd.Flags(), devGlobals, nil), &configPath)
	return cmd
}

func runDev(ctx context.Context, e env, dataDir string, fresh bool, o serveOptions) error {
	if _, err := pgcluster.FindBinDir(); err != nil {
		return err
	}
	if fresh {
		if _, err := pgcluster.StopIfRunning(filepath.Join(dataDir, "postgres")); err != nil {
			return err
		}
		if err := os.RemoveAll(dataDir); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return err
	}
	sec, err := loadSecrets(dataDir, e.getenv("TENANTKIT_ADMIN_TOKEN"))
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "starting PostgreSQL in "+filepath.Join(dataDir, "postgres")+" …")
	cluster, err := pgcluster.Start(ctx, pgcluster.Config{DataDir: filepath.Join(dataDir, "postgres")})
	if err != nil {
		return err
	}
	defer func() {
		if err := cluster.Stop(); err != nil {
			fmt.Fprintln(e.stderr, "tenantkit: stop PostgreSQL: "+oneLine(err.Error()))
			return
		}
		fmt.Fprintln(e.stdout, "PostgreSQL stopped")
	}()
	if err := prepareDev(ctx, cluster, sec); err != nil {
		return err
	}
	catalogURL := pgcluster.URL(cluster.Addr(), bootstrap.OwnerRole, sec.Passwords.Owner, devCatalogDB)
	appURL := pgcluster.URL(cluster.Addr(), bootstrap.AppRole, sec.Passwords.App, devDataDB)
	if err := seedDemo(ctx, catalogURL, cluster, sec); err != nil {
		return err
	}
	mail, err := devIntegrations(dataDir, &o)
	if err != nil {
		return err
	}
	if mail != nil {
		defer mail.Stop()
	} else {
		fmt.Fprintln(e.stderr, "tenantkit: mailpit is not installed (make dev installs it): running without a mail server")
	}
	// Billing on stripe-mock, Stripe's own mock server: the demo tenants'
	// subscriptions, their usage on meters, webhooks signed with the
	// dev secret.
	stripeMock, err := stripemock.Start(ctx)
	if err != nil {
		fmt.Fprintln(e.stderr, "tenantkit: stripe-mock did not start (make dev installs it): running without billing: "+oneLine(err.Error()))
	} else {
		defer stripeMock.Stop()
		if o.billing, err = billing.New(billing.Config{SecretKey: stripemock.TestKey, APIBase: stripeMock.URL()}); err != nil {
			return err
		}
		o.webhookSecret = sec.WebhookSecret
	}
	o.databaseURL, o.adminToken, o.jwtSecret = catalogURL, sec.AdminToken, []byte(sec.JWTSecret)
	o.migrations = orders.Migrations()
	o.settingsSchema = settings.RestaurantSchema()
	o.rlsCheck = true
	o.app, o.workers = orders.Handler, orders.Workers
	// A resumed demo tenant's held jobs run within seconds.
	o.suspendedSnooze = 3 * time.Second
	o.ready = func(addr string) {
		envPath := filepath.Join(dataDir, "dev.env")
		url := "http://" + addr
		vars := [][2]string{
			{"TENANTKIT_URL", url}, {"TENANTKIT_ADMIN_TOKEN", sec.AdminToken}, {"TENANTKIT_JWT_SECRET", sec.JWTSecret},
			{"TENANTKIT_DATABASE_URL", catalogURL}, {"TENANTKIT_APP_DATABASE_URL", appURL},
			// Commands that build or move tenants (move --wait) need the
			// example app's migrations, as the dev server has them.
			{"TENANTKIT_MIGRATIONS", "example"},
			// Settings written straight to the catalog are validated
			// against the same restaurant schema the server uses.
			{"TENANTKIT_SETTINGS_SCHEMA", "example"},
			// Integrations: the key-encryption key and the platform's
			// defaults (its mail server is the dev mailpit).
			{"TENANTKIT_KEY_FILE", o.kms.KeyFile},
			{"TENANTKIT_INTEGRATIONS", filepath.Join(dataDir, "integrations.json")},
		}
		if mail != nil {
			vars = append(vars, [2]string{"TENANTKIT_MAIL_URL", mail.URL}, [2]string{"TENANTKIT_MAIL_SMTP_PORT", mail.SMTPPort})
		}
		if stripeMock != nil {
			vars = append(vars, [2]string{billing.EnvSecretKey, stripemock.TestKey}, [2]string{billing.EnvAPIBase, stripeMock.URL()},
				[2]string{billing.EnvWebhookSecret, sec.WebhookSecret})
		}
		if err := writeEnvFile(envPath, vars); err != nil {
			fmt.Fprintln(e.stderr, "tenantkit: write "+envPath+": "+err.Error())
		}
		printBanner(e.stdout, addr, o.baseDomain, envPath, sec.AdminToken)
		if mail != nil {
			printMailBanner(e.stdout, mail)
		}
		if stripeMock != nil {
			fmt.Fprintf(e.stdout, "billing: stripe-mock at %s; Stripe's events go to %s%s (signed with %s in dev.env)\n",
				stripeMock.URL(), url, billing.WebhookPath, billing.EnvWebhookSecret)
		}
	}
	err = serve(ctx, o)
	fmt.Fprintln(e.stdout, "server stopped")
	return err
}

func loadSecrets(dataDir, envToken string) (devSecrets, error) {
	path := filepath.Join(dataDir, "secrets.json")
	var s devSecrets
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := json.Unmarshal(b, &s); err != nil {
			return s, fmt.Errorf("read %s: %w (use --fresh to start over)", path, err)
		}
	case errors.Is(err, os.ErrNotExist):
		s.Passwords = bootstrap.Passwords{Owner: randomHex(16), App: randomHex(16), Replication: randomHex(16)}
		s.AdminToken = "tk_" + randomHex(20)
	default:
		return s, err
	}
	if s.JWTSecret == "" {
		s.JWTSecret = randomHex(32)
	}
	if s.WebhookSecret == "" {
		s.WebhookSecret = "whsec_" + randomHex(24)
	}
	if envToken != "" {
		if len(envToken) < 16 {
			return s, usageError{errors.New("TENANTKIT_ADMIN_TOKEN must be at least 16 characters")}
		}
		s.AdminToken = envToken
	}
	b, _ = json.MarshalIndent(s, "", "  ")
	return s, os.WriteFile(path, b, 0o600)
}

// prepareDev creates roles and databases and migrates the catalog.
func prepareDev(ctx context.Context, cluster *pgcluster.Cluster, sec devSecrets) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, cluster.SuperuserURL("postgres"))
	if err != nil {
		return fmt.Errorf("connect to the dev cluster: %w", err)
	}
	defer conn.Close(ctx)
	if err := bootstrap.EnsureRoles(ctx, conn, sec.Passwords); err != nil {
		return err
	}
	for _, db := range []string{devCatalogDB, devDataDB} {
		if err := bootstrap.CreateDatabase(ctx, conn, db); err != nil {
			return err
		}
	}
	_, err = catalog.Migrate(ctx, pgcluster.URL(cluster.Addr(), bootstrap.OwnerRole, sec.Passwords.Owner, devCatalogDB))
	return err
}

// demoTenant is one of the tenants `tenantkit dev` creates.
type demoTenant struct {
	slug, name, plan, tier string
	brand                  catalog.Branding
	users                  int64
}

var demoTenants = []demoTenant{
	{"acme", "Acme Corp", "free", catalog.TierShared, catalog.Branding{DisplayName: "Acme", PrimaryColor: "#d9480f"}, 3},
	{"globex", "Globex Corporation", "pro", catalog.TierSchema, catalog.Branding{DisplayName: "Globex", PrimaryColor: "#1971c2",
		LogoURL: "https://globex.example/logo.png", FromName: "Globex", FromEmail: "team@globex.example", SupportURL: "https://globex.example/help"}, 12},
	{"initech", "Initech", "enterprise", catalog.TierDedicated, catalog.Branding{DisplayName: "Initech", PrimaryColor: "#2f9e44"}, 140},
}

// demoPrices are the demo plans' Stripe prices.
var demoPrices = map[string]catalog.PlanBilling{
	"free": {BasePrice: "price_free"},
	"pro": {BasePrice: "price_pro", SeatPrice: "price_pro_seat", TrialDays: 14,
		Metered: map[string]catalog.MeteredPrice{"api_calls": {Price: "price_pro_api_calls", Meter: "api_calls"}}},
	"enterprise": {BasePrice: "price_enterprise",
		Metered: map[string]catalog.MeteredPrice{"api_calls": {Price: "price_enterprise_api_calls", Meter: "api_calls"}}},
}

// devCluster is the name the dev server registers itself under.
const devCluster = "local"

// seedDemo creates the demo plans' limits and features, registers the dev
// server as a cluster, and creates the demo tenants on the three tiers
// with an order each, once; on later runs it finishes any placement a
// killed run left half-done.
func seedDemo(ctx context.Context, catalogURL string, cluster *pgcluster.Cluster, sec devSecrets) error {
	pool, err := pgxpool.New(ctx, catalogURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	store, err := catalog.NewStore(catalog.StoreConfig{Pool: pool})
	if err != nil {
		return err
	}
	prov, err := placement.New(placement.Config{Store: store, Migrations: orders.Migrations(), Logger: discardLogger()})
	if err != nil {
		return err
	}
	const actor = "tenantkit dev"
	if _, err := store.GetTenant(ctx, demoTenants[0].slug); err != nil {
		if err := seedCatalog(ctx, store, cluster, sec); err != nil {
			return err
		}
	}
	for _, d := range demoTenants {
		if _, err := prov.Provision(ctx, actor, d.slug, d.tier, devCluster); err != nil {
			return fmt.Errorf("place %s: %w", d.slug, err)
		}
	}
	return seedOrders(ctx, catalogURL)
}

func seedCatalog(ctx context.Context, store *catalog.Store, cluster *pgcluster.Cluster, sec devSecrets) error {
	const actor = "tenantkit dev"
	if _, err := store.AddCluster(ctx, actor, catalog.ClusterParams{
		Name:           devCluster,
		OwnerURL:       pgcluster.URL(cluster.Addr(), bootstrap.OwnerRole, sec.Passwords.Owner, "postgres"),
		AppURL:         pgcluster.URL(cluster.Addr(), bootstrap.AppRole, sec.Passwords.App, "postgres"),
		ReplicationURL: pgcluster.URL(cluster.Addr(), bootstrap.ReplicationRole, sec.Passwords.Replication, "postgres"),
		SharedDatabase: devDataDB,
	}); err != nil && !errors.Is(err, catalog.ErrClusterExists) {
		return err
	}
	// The demo plans' Stripe prices (stripe-mock knows every price id),
	// before the tenants, so that each gets its subscription.
	for plan, b := range demoPrices {
		if _, err := store.UpdatePlan(ctx, actor, catalog.PlanParams{Name: plan, Billing: &b}); err != nil {
			return err
		}
	}
	for _, d := range demoTenants {
		if _, err := store.CreateTenant(ctx, actor, catalog.CreateParams{Slug: d.slug, Name: d.name, Plan: d.plan}); err != nil {
			return fmt.Errorf("seed %s: %w", d.slug, err)
		}
		if err := store.SetBranding(ctx, actor, d.slug, d.brand); err != nil {
			return err
		}
		if d.brand.FromEmail != "" { // its mail may come from its own domain
			host := d.brand.FromEmail[strings.Index(d.brand.FromEmail, "@")+1:]
			if _, err := store.AddDomain(ctx, actor, d.slug, host, ""); err != nil {
				return err
			}
			// The demo's own seed: the operator vouches for it, as no
			// DNS holds the demo domains' records.
			vouched := func(context.Context, string, string) error { return nil }
			if _, err := store.VerifyDomain(ctx, actor, host, vouched); err != nil {
				return err
			}
		}
		// What the application would report: set-plan checks a downgrade
		// against it.
		if err := store.SetUsage(ctx, d.slug, "users", d.users); err != nil {
			return err
		}
	}
	return seedFlags(ctx, store)
}

// seedFlags creates the demo's feature flags: the plans already carry
// their features and limits (the catalog's migrations seed them).
func seedFlags(ctx context.Context, store *catalog.Store) error {
	const actor = "tenantkit dev"
	ptr := func(v int) *int { return &v }
	str := func(v string) *string { return &v }
	for _, f := range []catalog.FlagParams{
		{Key: "new-checkout", Description: str("the redesigned checkout"), Rollout: ptr(0)},
		{Key: "kitchen-display", Description: str("orders on a kitchen screen"), Rollout: ptr(5000), MinPlan: str("pro")},
		{Key: "menu-ai", Description: str("menu suggestions"), Rollout: ptr(10000), Seed: str("ai-cohort")},
	} {
		if _, err := store.CreateFlag(ctx, actor, f); err != nil && !errors.Is(err, catalog.ErrFlagExists) {
			return err
		}
	}
	return nil
}

// seedOrders gives each demo tenant an order, through the same scoped
// access the application uses, unless it has one.
func seedOrders(ctx context.Context, catalogURL string) error {
	kit, err := tenantkit.New(tenantkit.Config{DatabaseURL: catalogURL, Logger: discardLogger()})
	if err != nil {
		return err
	}
	defer kit.Close()
	for i, d := range demoTenants {
		t, err := kit.Lookup(ctx, d.slug)
		if err != nil {
			return err
		}
		tctx := tenantkit.WithTenant(ctx, t)
		var n int
		if err := kit.QueryRow(tctx, "SELECT count(*) FROM orders").Scan(&n); err != nil {
			return fmt.Errorf("seed orders of %s: %w", d.slug, err)
		}
		if n > 0 {
			continue
		}
		err = kit.Tx(tctx, func(tx pgx.Tx) error {
			var customer, order int64
			if err := tx.QueryRow(ctx, "INSERT INTO customers (email, name) VALUES ($1, $2) RETURNING id",
				"chef@"+d.slug+".example", d.brand.DisplayName+" Kitchen").Scan(&customer); err != nil {
				return err
			}
			if err := tx.QueryRow(ctx, "INSERT INTO orders (customer_id) VALUES ($1) RETURNING id", customer).Scan(&order); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO order_items (order_id, line, sku, quantity, price_cents) VALUES ($1, 1, 'margherita', $2, 1150)", order, i+1)
			return err
		})
		if err != nil {
			return fmt.Errorf("seed orders of %s: %w", d.slug, err)
		}
	}
	return nil
}

func writeEnvFile(path string, vars [][2]string) error {
	var b strings.Builder
	b.WriteString("# written by tenantkit dev; source it: set -a; . " + path + "; set +a\n")
	for _, kv := range vars {
		b.WriteString(kv[0] + "=" + kv[1] + "\n")
	}
	return os.WriteFile(path, []byte(b.String()), 0o600)
}

func printBanner(w io.Writer, addr, baseDomain, envPath, token string) {
	_, port, _ := net.SplitHostPort(addr)
	fmt.Fprintf(w, `
tenantkit dev is serving on http://%[1]s
  admin token   %[4]s
  settings      %[3]s

  curl -H 'Host: acme.%[5]s' http://%[1]s/api/whoami
  curl http://acme.%[5]s:%[2]s/api/whoami
  curl -H 'Host: globex.%[5]s' http://%[1]s/api/orders     (acme: shared, globex: schema, initech: dedicated)
  curl -H 'Host: initech.%[5]s' -d '{"customer_email":"a@b.example","customer_name":"A","items":[{"sku":"pizza","quantity":2,"price_cents":900}]}' http://%[1]s/api/orders

In another terminal, here, load the settings first:
  set -a; . %[3]s; set +a
  %[6]s tenants list
  %[6]s tenants suspend acme --reason 'unpaid invoice'

Plans, flags, settings and rate limits:
  %[6]s tenants set-plan acme pro             then the whoami above shows pro's features and limits
  %[6]s tenants set-plan globex free          refused: globex has 12 users, free allows 5
  %[6]s flags update new-checkout --rollout 30%%
  %[6]s flags evaluate new-checkout           which tenants got it, and why
  %[6]s settings set acme tax_rate='"high"'   422 naming /tax_rate
  %[6]s settings set acme currency=EUR notifications.email_digest=daily
  for i in $(seq 30); do curl -s -o /dev/null -w '%%{http_code} ' -H 'Host: acme.%[5]s' http://%[1]s/api/whoami; done
                                          acme (free: 10/s, burst 20) gets 429s; globex does not

Load, usage and noisy neighbours (the server counts every request; usage is flushed every 2s):
  terminal 2   %[6]s traffic acme --rate 60 --workers 8     acme floods (free: 10/s: most get 429)
  terminal 3   %[6]s traffic globex --rate 5                globex is quiet
  terminal 4   %[6]s top                                    both ranked by load, this month's usage;
               within about 40s acme is flagged NOISY with what to do (the exact command)
  %[6]s usage acme                                          api calls, compute, db time, bandwidth, storage, users
  curl -H "Authorization: Bearer $TENANTKIT_ADMIN_TOKEN" http://%[1]s/metrics | grep tenantkit_http_requests_total

Move a tenant while it takes writes:
  terminal 2   %[6]s load acme
  terminal 3   %[6]s move acme --to dedicated --wait
               %[6]s move acme --to shared --wait
               %[6]s moves list
               %[6]s moves show ID
  then Ctrl-C in terminal 2: it checks every acknowledged order and prints lost=N.

Ctrl-C stops the server and PostgreSQL.
`, addr, port, envPath, token, baseDomain, selfName())
}

// selfName is how the banner names this binary: as it was started when
// that was as tenantkit (bin/tenantkit under make dev), else tenantkit.
func selfName() string {
	if filepath.Base(os.Args[0]) == "tenantkit" && !strings.Contains(os.Args[0], "go-build") {
		return os.Args[0]
	}
	return "tenantkit"
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// devIntegrations creates the dev key-encryption key and the platform's
// integration defaults in dataDir, starting mailpit as the platform's mail
// server when it is installed (nil otherwise).
func devIntegrations(dataDir string, o *serveOptions) (*mailpit.Server, error) {
	keyFile, _ := filepath.Abs(filepath.Join(dataDir, "kek.json"))
	if _, err := keys.LocalKEK(keys.LocalConfig{Path: keyFile, Create: true}); err != nil {
		return nil, err
	}
	o.kms = registry.KMSConfig{KeyFile: keyFile}
	files, _ := filepath.Abs(filepath.Join(dataDir, "files"))
	platform := map[string]any{
		"email_from": "tenantkit dev <no-reply@tenantkit.localhost>",
		"storage":    map[string]any{"provider": "local", "settings": map[string]string{"root": files}},
	}
	mail, err := mailpit.Start(filepath.Join(dataDir, "mailpit.db"))
	switch {
	case errors.Is(err, mailpit.ErrNotInstalled):
		mail = nil
	case err != nil:
		return nil, err
	default:
		platform["email"] = map[string]any{"provider": "smtp",
			"settings":    map[string]string{"host": mail.SMTPHost, "port": mail.SMTPPort, "tls": "none"},
			"credentials": map[string]string{"username": "platform", "password": randomHex(12)}}
	}
	if err := os.MkdirAll(files, 0o700); err != nil {
		return mail, err
	}
	b, _ := json.MarshalIndent(platform, "", "  ")
	path := filepath.Join(dataDir, "integrations.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return mail, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		return mail, err
	}
	o.platform, err = registry.ReadPlatformFile(path)
	return mail, err
}

func printMailBanner(w io.Writer, mail *mailpit.Server) {
	fmt.Fprintf(w, `Integrations (credentials encrypted per tenant; mail lands in %[1]s):
  %[3]s integrations set globex email --provider smtp --setting host=127.0.0.1 --setting port=%[2]s \
      --setting tls=none --credential username=globex --credential password=-   (the password from stdin)
  %[3]s email test globex --to you@example.com    through globex's own account, as team@globex.example
  %[3]s email test acme --to you@example.com      through the platform's, as "Acme via tenantkit dev"
  %[3]s integrations list globex                  credentials masked
  psql "$TENANTKIT_DATABASE_URL" -c 'SELECT type, provider, credentials FROM tenantkit.integrations'

`, mail.URL, mail.SMTPPort, selfName())
}
