package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/tenantkit/tenantkit/internal/billing"
	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/keys"
	"github.com/tenantkit/tenantkit/internal/registry"
)

// The platform's Stripe secrets may sit in the catalog, sealed by the
// key-encryption key, instead of the environment. The environment wins,
// name by name.

// billingSecrets maps the names the CLI takes to the stored names.
var billingSecrets = map[string]string{
	"secret-key":     billing.SecretKeyName,
	"webhook-secret": billing.WebhookSecretName,
}

// kekGiven says whether the flags name a key-encryption key.
func (g *globals) kekGiven() bool { return g.keyFile != "" || g.vaultAddr != "" || g.kmsKeyURI != "" }

// keyringSecrets reads the Stripe secrets the environment does not set
// from the catalog's platform secrets, opened with kms's KEK. A secret not
// stored is "".
func keyringSecrets(ctx context.Context, pool *pgxpool.Pool, kms registry.KMSConfig, wantKey, wantWebhook bool) (key, webhook string, err error) {
	if !wantKey && !wantWebhook {
		return "", "", nil
	}
	kek, err := kms.KEK()
	if err != nil {
		return "", "", err
	}
	store, err := catalog.NewStore(catalog.StoreConfig{Pool: pool})
	if err != nil {
		return "", "", err
	}
	ring, err := keys.NewKeyring(keys.KeyringConfig{Store: store.Keys(), KEKs: []keys.KEK{kek}, Logger: discardLogger()})
	if err != nil {
		return "", "", err
	}
	get := func(want bool, name string) (string, error) {
		if !want {
			return "", nil
		}
		v, err := ring.GetPlatform(ctx, store.Keys(), name)
		if errors.Is(err, keys.ErrNoSecret) {
			return "", nil
		}
		if err != nil {
			return "", fmt.Errorf("the platform keyring's %s: %w", name, err)
		}
		return string(v), nil
	}
	if key, err = get(wantKey, billing.SecretKeyName); err != nil {
		return "", "", err
	}
	webhook, err = get(wantWebhook, billing.WebhookSecretName)
	return key, webhook, err
}

// billingFromKeyring turns billing on from the platform keyring when the
// environment has no secret key and the flags name a KEK; it returns the
// keyring's webhook secret, "" when it has none or the environment sets
// one.
func (g *globals) billingFromKeyring(ctx context.Context, pool *pgxpool.Pool, envWebhook string) (string, error) {
	if !g.kekGiven() {
		return "", nil
	}
	kms, err := kmsConfig(g, false)
	if err != nil {
		return "", err
	}
	key, webhook, err := keyringSecrets(ctx, pool, kms, !g.billingOn, envWebhook == "")
	if err != nil {
		return "", err
	}
	if key != "" {
		g.billing.SecretKey, g.billingOn = key, true
	}
	return webhook, nil
}

func billingSecret(e env, g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "secret",
		Short: "The platform's Stripe secrets kept in the catalog, sealed by the key-encryption key",
		Long: "Keep the platform's Stripe secret key and webhook secret in the catalog instead of the\n" +
			"environment, sealed by the key-encryption key (--key-file, --vault-addr or --kms-key-uri).\n" +
			"serve and the CLI read them from there when " + billing.EnvSecretKey + " or\n" +
			billing.EnvWebhookSecret + " is not set; tenantkit keys rotate re-wraps them. A server reads\n" +
			"them when it starts.",
	}
	cmd.AddCommand(billingSecretSet(e, g), billingSecretUnset(e, g), billingSecretList(e, g))
	return group(cmd)
}

// secretRing opens the catalog and a keyring on the flags' KEK, refusing
// --server: the secrets never travel through the admin API.
func secretRing(ctx context.Context, g *globals, verb string) (*keys.Keyring, *catalog.Store, func(), error) {
	if g.server != "" {
		return nil, nil, nil, usageError{fmt.Errorf("billing secret %s works on the catalog and the key-encryption key: give --database-url, not --server", verb)}
	}
	if !g.kekGiven() {
		return nil, nil, nil, usageError{errors.New("billing secrets are sealed by the key-encryption key: give --key-file (or TENANTKIT_KEY_FILE), --vault-addr or --kms-key-uri")}
	}
	kms, err := kmsConfig(g, false)
	if err != nil {
		return nil, nil, nil, err
	}
	kek, err := kms.KEK()
	if err != nil {
		return nil, nil, nil, err
	}
	return keyring(ctx, g, kek)
}

func secretArg(name string) (string, error) {
	stored, ok := billingSecrets[name]
	if !ok {
		return "", usageError{fmt.Errorf("no billing secret %q: want secret-key or webhook-secret", name)}
	}
	return stored, nil
}

func billingSecretSet(e env, g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "set secret-key|webhook-secret",
		Short: "Seal a Stripe secret read from standard input and keep it in the catalog",
		Long: "Read the secret from standard input (one line), check its form (sk_… or rk_… for the secret\n" +
			"key, whsec_… for the webhook secret), seal it with the key-encryption key and store it in the\n" +
			"catalog, replacing the one there. It is never a flag or an argument, which shells and process\n" +
			"listings keep. Restart servers to use a new one.",
		Args: exactArgs(1, "secret-key or webhook-secret"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := secretArg(args[0])
			if err != nil {
				return err
			}
			b, err := io.ReadAll(io.LimitReader(e.stdin, 1<<12+1))
			if err != nil {
				return err
			}
			v := strings.TrimRight(string(b), "\r\n")
			switch {
			case len(b) > 1<<12:
				return usageError{errors.New("the secret on standard input is longer than 4096 bytes")}
			case v == "":
				return usageError{errors.New("no secret on standard input")}
			case strings.ContainsAny(v, "\r\n \t"):
				return usageError{errors.New("the secret on standard input must be one line without spaces")}
			case name == billing.SecretKeyName:
				if _, err := billing.New(billing.Config{SecretKey: v}); err != nil {
					return usageError{err}
				}
			case !strings.HasPrefix(v, "whsec_"):
				return usageError{errors.New("a Stripe webhook secret begins with whsec_")}
			}
			ring, store, done, err := secretRing(cmd.Context(), g, "set")
			if err != nil {
				return err
			}
			defer done()
			if err := ring.PutPlatform(cmd.Context(), store.Keys(), name, []byte(v)); err != nil {
				return err
			}
			s, err := store.Keys().PlatformSecret(cmd.Context(), name)
			if err != nil {
				return err
			}
			if g.output == "json" {
				return writeJSON(e.stdout, map[string]any{"name": args[0], "kek": s.KEKID, "value": keys.Mask(v)})
			}
			fmt.Fprintf(e.stdout, "billing %s %s sealed by %s\n", args[0], keys.Mask(v), s.KEKID)
			return nil
		},
	}
}

func billingSecretUnset(e env, g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "unset secret-key|webhook-secret",
		Short: "Remove a Stripe secret from the catalog",
		Args:  exactArgs(1, "secret-key or webhook-secret"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := secretArg(args[0])
			if err != nil {
				return err
			}
			if g.server != "" {
				return usageError{errors.New("billing secret unset works on the catalog: give --database-url, not --server")}
			}
			ops, done, err := connectAs[directOps](cmd.Context(), &globals{databaseURL: g.databaseURL, output: g.output})
			if err != nil {
				return err
			}
			defer done()
			ok, err := ops.store.Keys().DeletePlatformSecret(cmd.Context(), name)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("no billing %s in the catalog", args[0])
			}
			fmt.Fprintf(e.stdout, "billing %s removed\n", args[0])
			return nil
		},
	}
}

func billingSecretList(e env, g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the Stripe secrets in the catalog and the key-encryption key that seals each (never their values)",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if g.server != "" {
				return usageError{errors.New("billing secret list works on the catalog: give --database-url, not --server")}
			}
			ops, done, err := connectAs[directOps](cmd.Context(), &globals{databaseURL: g.databaseURL, output: g.output})
			if err != nil {
				return err
			}
			defer done()
			all, err := ops.store.Keys().PlatformSecrets(cmd.Context())
			if err != nil {
				return err
			}
			type row struct {
				Name      string `json:"name"`
				KEK       string `json:"kek"`
				UpdatedAt string `json:"updated_at"`
			}
			rows := []row{}
			for _, s := range all {
				for arg, stored := range billingSecrets {
					if stored == s.Name {
						rows = append(rows, row{arg, s.KEKID, s.UpdatedAt.UTC().Format("2006-01-02 15:04:05Z")})
					}
				}
			}
			if g.output == "json" {
				return writeJSON(e.stdout, rows)
			}
			if len(rows) == 0 {
				fmt.Fprintln(e.stdout, "no billing secrets in the catalog")
				return nil
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSEALED BY\tSET")
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Name, r.KEK, r.UpdatedAt)
			}
			return tw.Flush()
		},
	}
}
