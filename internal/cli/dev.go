package cli

import (
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	neturl "net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/tenantkit/tenantkit"
	"github.com/tenantkit/tenantkit/examples/orders"
	"github.com/tenantkit/tenantkit/internal/acmetest"
	"github.com/tenantkit/tenantkit/internal/billing"
	"github.com/tenantkit/tenantkit/internal/bootstrap"
	"github.com/tenantkit/tenantkit/internal/branding"
	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/challtestsrv"
	"github.com/tenantkit/tenantkit/internal/domains"
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
			"It also serves HTTPS on --tls-addr, offline: SLUG.BASE-DOMAIN with a certificate of a dev CA\n" +
			"kept in --data-dir, verified custom domains with certificates a local ACME CA (Pebble) issues\n" +
			"on demand; custom domains' TXT records go in a local DNS server (tenantkit dev dns txt).\n" +
			"Trust DATA_DIR/dev-ca.pem (TENANTKIT_DEV_CA).\n" +
			"Connection settings are written to DATA_DIR/dev.env." + configHelp,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.log = slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
			o.redisURL = g.redisURL
			// The default port may be taken (another dev): then any free
			// one will do; an address asked for is kept, or dev fails.
			tlsFallback := !cmd.Flags().Changed("tls-addr") && o.tls.addr == devTLSAddr
			return runDev(cmd.Context(), e, dataDir, fresh, tlsFallback, o)
		},
	}
	cmd.Flags().StringVar(&o.addr, "addr", "127.0.0.1:8080", "listen address")
	cmd.Flags().StringVar(&o.tls.addr, "tls-addr", devTLSAddr, "HTTPS listen address (\"\": no HTTPS); when the default is taken, a free port")
	cmd.Flags().StringVar(&dataDir, "data-dir", filepath.Join(".tenantkit", "dev"), "where the cluster and dev.env live")
	cmd.Flags().BoolVar(&fresh, "fresh", false, "wipe the data directory and start over")
	cmd.Flags().DurationVar(&o.billingGrace, "billing-grace", 0, "how long a demo tenant whose payment failed keeps working before it is suspended (0: at once)")
	cmd.Flags().StringVar(&o.baseDomain, "base-domain", cmp.Or(e.getenv("TENANTKIT_BASE_DOMAIN"), "localhost"), "tenants are served on SLUG.BASE-DOMAIN (env TENANTKIT_BASE_DOMAIN)")
	rateLimitFlags(cmd, &o)
	observeFlags(cmd, &o.observe, e, true)
	configFlag(cmd, e, &configPath)
	cmd.PreRunE = configPreRun(e, newConfigSpec(cmd.Flags(), devGlobals, nil), &configPath)
	cmd.AddCommand(newDevDNS(e))
	return cmd
}

func runDev(ctx context.Context, e env, dataDir string, fresh, tlsFallback bool, o serveOptions) error {
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
	https, err := startDevHTTPS(ctx, e, dataDir, tlsFallback, &o)
	if err != nil {
		return err
	}
	if https != nil {
		defer https.close()
		if err := https.publishProofs(ctx, catalogURL); err != nil {
			fmt.Fprintln(e.stderr, "tenantkit: put verified domains' proof records in the dev DNS: "+oneLine(err.Error()))
		}
	}
	o.databaseURL, o.adminToken, o.jwtSecret = catalogURL, sec.AdminToken, []byte(sec.JWTSecret)
	o.migrations = orders.Migrations()
	o.settingsSchema = settings.RestaurantSchema()
	o.rlsCheck = true
	o.assetHost = devAssetHost
	o.app, o.workers = orders.Handler, orders.Workers
	// A resumed demo tenant's held jobs run within seconds.
	o.suspendedSnooze = 3 * time.Second
	// dev.env is written, and the banner printed, once everything
	// listens: with HTTPS, when its listener is up too.
	var httpAddr string
	ready := func(addr, tlsAddr string) {
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
			{"TENANTKIT_BASE_DOMAIN", o.baseDomain},
		}
		if https != nil {
			// TENANTKIT_DNS_RESOLVER: domains verify without --server
			// looks the proof up where the dev server does.
			vars = append(vars, [2]string{"TENANTKIT_HTTPS_URL", "https://" + tlsAddr}, [2]string{"TENANTKIT_DEV_CA", https.caFile},
				[2]string{"TENANTKIT_DEV_DNS", https.dns.ManagementURL()}, [2]string{"TENANTKIT_DNS_RESOLVER", https.dns.DNSAddr()})
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
		if https != nil {
			printHTTPSBanner(e.stdout, tlsAddr, o.baseDomain, https.caFile)
		}
	}
	o.ready = func(addr string) {
		if https == nil {
			ready(addr, "")
			return
		}
		httpAddr = addr // serve calls o.tls.ready next, on the same goroutine
	}
	if https != nil {
		o.tls.ready = func(tlsAddr string) { ready(httpAddr, tlsAddr) }
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
		LogoURL: "https://" + devAssetHost + "/globex/logo.png", FromName: "Globex", FromEmail: "team@globex.example", SupportURL: "https://globex.example/help"}, 12},
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
	store, err := catalog.NewStore(catalog.StoreConfig{Pool: pool, BrandingPolicy: branding.Policy{AssetHost: devAssetHost}})
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

// devTLSAddr is where dev serves HTTPS unless told otherwise: a fixed
// port, so that what a browser was shown survives a restart.
const devTLSAddr = "127.0.0.1:8443"

// devHTTPS is what dev serves HTTPS with, offline: pebble-challtestsrv
// as the DNS server that custom domains' proofs and the ACME CA's
// validations resolve through (every name is 127.0.0.1 there), Pebble in
// process as the ACME CA, and a dev CA of its own for the base domain.
type devHTTPS struct {
	dns *challtestsrv.Server
	ca  *acmetest.CA
	// caFile is DATA_DIR/dev-ca.pem, what a client trusts: the dev CA and
	// Pebble's roots.
	caFile string
}

func (h *devHTTPS) close() {
	h.ca.Close()
	h.dns.Stop()
}

// startDevHTTPS sets o up to serve HTTPS, or returns nil (without HTTPS)
// when --tls-addr is empty or pebble-challtestsrv does not start.
func startDevHTTPS(ctx context.Context, e env, dataDir string, fallback bool, o *serveOptions) (*devHTTPS, error) {
	if o.tls.addr == "" {
		return nil, nil
	}
	sctx, cancel := context.WithTimeout(ctx, 5*time.Minute) // a first run may build it
	defer cancel()
	dns, err := challtestsrv.Start(sctx)
	if err != nil {
		o.tls = tlsOptions{}
		fmt.Fprintln(e.stderr, "tenantkit: pebble-challtestsrv did not start (make dev installs it): running without HTTPS: "+oneLine(err.Error()))
		return nil, nil
	}
	h, err := setUpDevHTTPS(dataDir, fallback, dns, o)
	if err != nil {
		dns.Stop()
		return nil, err
	}
	return h, nil
}

func setUpDevHTTPS(dataDir string, fallback bool, dns *challtestsrv.Server, o *serveOptions) (*devHTTPS, error) {
	if fallback && !canListen(o.tls.addr) {
		// A port of its own, not :0: the front's redirects name it.
		port, err := pgcluster.FreePort()
		if err != nil {
			return nil, err
		}
		o.tls.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	}
	// HTTP-01 challenges: Pebble resolves a name to 127.0.0.1 and fetches
	// the challenge from this port, where the TLS front answers it.
	httpPort, err := pgcluster.FreePort()
	if err != nil {
		return nil, err
	}
	o.tls.httpAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(httpPort))
	ca, err := acmetest.Start(&acmetest.Config{Resolver: dns.DNSAddr(), HTTPPort: httpPort})
	if err != nil {
		return nil, err
	}
	h := &devHTTPS{dns: dns, ca: ca}
	if err := h.writeFiles(dataDir, o); err != nil {
		ca.Close()
		return nil, err
	}
	o.tls.acmeDirectory = ca.DirectoryURL()
	o.dnsResolver = dns.DNSAddr()
	return h, nil
}

// writeFiles writes what the TLS front and its clients read, in
// DATA_DIR/tls: the dev CA (made once, kept), the base domain's
// certificate it signs (made on every start, for the --base-domain of
// this one), and the roots of Pebble's API; and DATA_DIR/dev-ca.pem.
// Pebble makes new roots on every start, so both PEM bundles are
// rewritten.
func (h *devHTTPS) writeFiles(dataDir string, o *serveOptions) error {
	dir, err := filepath.Abs(filepath.Join(dataDir, "tls"))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	ca, err := loadOrCreateDevCA(dir)
	if err != nil {
		return err
	}
	names := []string{o.baseDomain, "*." + o.baseDomain}
	// Some browsers refuse a wildcard one label below a top-level name
	// (*.localhost): the demo tenants are named as well.
	for _, d := range demoTenants {
		names = append(names, d.slug+"."+o.baseDomain)
	}
	certPEM, keyPEM, err := issueDevCert(ca, names)
	if err != nil {
		return err
	}
	o.tls.certFile, o.tls.keyFile = filepath.Join(dir, "base.crt"), filepath.Join(dir, "base.key")
	o.tls.acmeRoots = filepath.Join(dir, "acme-api-roots.pem")
	h.caFile = filepath.Join(filepath.Dir(dir), "dev-ca.pem")
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Certificate[0]})
	for _, f := range []struct {
		path string
		data []byte
	}{
		{o.tls.keyFile, keyPEM}, {o.tls.certFile, certPEM},
		{o.tls.acmeRoots, h.ca.APIRootsPEM()},
		{h.caFile, append(caPEM, h.ca.IssuerRootsPEM()...)},
	} {
		if err := writeFileAtomic(f.path, f.data); err != nil {
			return err
		}
	}
	return nil
}

// publishProofs puts the proof record of every verified custom domain in
// the dev DNS server, which forgets its records when it stops: without
// them, the re-check of verified domains would lapse every domain a
// restart ago. The seeded demo domains get theirs this way too.
func (h *devHTTPS) publishProofs(ctx context.Context, catalogURL string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, catalogURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	store, err := catalog.NewStore(catalog.StoreConfig{Pool: pool})
	if err != nil {
		return err
	}
	hosts, err := store.ServableDomains(ctx)
	if err != nil {
		return err
	}
	for _, host := range hosts {
		d, err := store.GetDomain(ctx, host)
		if err != nil {
			return err
		}
		if d.Status != catalog.DomainVerified {
			continue // lapsed: its record had gone
		}
		if err := h.dns.SetTXT(ctx, domains.RecordName(d.Host), d.VerificationToken); err != nil {
			return err
		}
	}
	return nil
}

// loadOrCreateDevCA returns the dev CA kept in dir, making it when there
// is none or it is about to expire. It is kept so that a browser or a
// system told to trust it once goes on trusting it across restarts.
func loadOrCreateDevCA(dir string) (tls.Certificate, error) {
	certPath, keyPath := filepath.Join(dir, "dev-ca.crt"), filepath.Join(dir, "dev-ca.key")
	ca, err := tls.LoadX509KeyPair(certPath, keyPath)
	switch {
	case err == nil && ca.Leaf.IsCA && time.Until(ca.Leaf.NotAfter) > 30*24*time.Hour:
		return ca, nil
	case err != nil && !errors.Is(err, os.ErrNotExist):
		return ca, fmt.Errorf("the dev CA in %s: %w (remove both files to make a new one)", dir, err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return ca, err
	}
	host, _ := os.Hostname()
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject: pkix.Name{Organization: []string{"tenantkit dev"},
			CommonName: "tenantkit dev CA " + host + " " + now.UTC().Format(time.DateOnly)},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return ca, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return ca, err
	}
	// The key first: a certificate without its key is made anew.
	if err := writeFileAtomic(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})); err != nil {
		return ca, err
	}
	if err := writeFileAtomic(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})); err != nil {
		return ca, err
	}
	return tls.LoadX509KeyPair(certPath, keyPath)
}

// issueDevCert returns a server certificate for names signed by ca, and
// its key, in PEM.
func issueDevCert(ca tls.Certificate, names []string) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	// Made anew on every start; the longest lifetime browsers accept,
	// within the CA's.
	notAfter := now.Add(397 * 24 * time.Hour)
	if notAfter.After(ca.Leaf.NotAfter) {
		notAfter = ca.Leaf.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{Organization: []string{"tenantkit dev"}, CommonName: names[0]},
		DNSNames:     names,
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Leaf, key.Public(), ca.PrivateKey)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}

func randomSerial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n.Add(n, big.NewInt(1)) // never zero
}

// writeFileAtomic writes data to path, 0600, through a temporary file
// renamed over it: a run killed midway leaves the old file or the new one.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // fails once renamed
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path) // CreateTemp made it 0600
}

// canListen reports whether addr can be listened on now.
func canListen(addr string) bool {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	l.Close()
	return true
}

func printHTTPSBanner(w io.Writer, tlsAddr, baseDomain, caFile string) {
	_, port, _ := net.SplitHostPort(tlsAddr)
	// verify goes through the server, whose TLS front then allows the
	// domain at once (its own refresh of the list is every minute).
	fmt.Fprintf(w, "https: https://acme.%[2]s:%[1]s/api/whoami (trust %[3]s, TENANTKIT_DEV_CA); a verified custom domain gets a certificate on demand: "+
		"%[4]s domains add acme shop.acme.test; %[4]s dev dns txt _tenantkit-challenge.shop.acme.test TOKEN; "+
		"%[4]s --server \"$TENANTKIT_URL\" domains verify shop.acme.test; "+
		"curl --cacert \"$TENANTKIT_DEV_CA\" --resolve shop.acme.test:%[1]s:127.0.0.1 https://shop.acme.test:%[1]s/\n", port, baseDomain, caFile, selfName())
}

// newDevDNS is `tenantkit dev dns`: records in the DNS server of a running
// dev, found through TENANTKIT_DEV_DNS (dev.env).
func newDevDNS(e env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dns",
		Short: "Set records in the DNS server of a running tenantkit dev (its URL in TENANTKIT_DEV_DNS)",
		Long: "tenantkit dev runs a local DNS server (pebble-challtestsrv) that the dev server looks\n" +
			"custom domains' proofs up at, and that its ACME CA resolves names through: every name is\n" +
			"127.0.0.1 there. Set the TXT record that domains add prints, then domains verify:\n" +
			"  set -a; . .tenantkit/dev/dev.env; set +a\n" +
			"  tenantkit dev dns txt _tenantkit-challenge.shop.acme.test TOKEN\n" +
			"The server forgets its records when dev stops; dev puts back those of verified domains.",
	}
	with := func(fn func(ctx context.Context, c *challtestsrv.Client, args []string) error) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, args []string) error {
			u := e.getenv("TENANTKIT_DEV_DNS")
			if u == "" {
				return usageError{errors.New("TENANTKIT_DEV_DNS is not set: start tenantkit dev, then load its settings: set -a; . .tenantkit/dev/dev.env; set +a")}
			}
			if p, err := neturl.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
				return usageError{fmt.Errorf("TENANTKIT_DEV_DNS %q is not an http(s)://host:port URL", u)}
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Second)
			defer cancel()
			if err := fn(ctx, &challtestsrv.Client{ManagementURL: u}, args); err != nil {
				if unanswered(err) {
					return fmt.Errorf("the dev DNS server at %s does not answer (is tenantkit dev running?): %w", u, err)
				}
				return err
			}
			return nil
		}
	}
	txt := &cobra.Command{
		Use:   "txt NAME VALUE",
		Short: "Make NAME answer TXT queries with VALUE, replacing what it held",
		Args:  exactArgs(2, "a NAME and a VALUE"),
		RunE: with(func(ctx context.Context, c *challtestsrv.Client, args []string) error {
			if err := c.SetTXT(ctx, args[0], args[1]); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%s. TXT %q\n", strings.TrimSuffix(strings.ToLower(args[0]), "."), args[1])
			return nil
		}),
	}
	clearCmd := &cobra.Command{
		Use:   "clear NAME",
		Short: "Remove NAME's TXT records",
		Args:  exactArgs(1, "one NAME"),
		RunE: with(func(ctx context.Context, c *challtestsrv.Client, args []string) error {
			if err := c.ClearTXT(ctx, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%s. TXT cleared\n", strings.TrimSuffix(strings.ToLower(args[0]), "."))
			return nil
		}),
	}
	cmd.AddCommand(txt, clearCmd)
	return group(cmd)
}

// unanswered reports whether err is a server not reached or silent.
func unanswered(err error) bool {
	var op *net.OpError
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &op) && op.Op == "dial") || (errors.As(err, &ne) && ne.Timeout())
}

// devAssetHost is where the demo tenants' logos would be served from: the
// asset host their branding's asset URLs must be on.
const devAssetHost = "assets.localhost"
