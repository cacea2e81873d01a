package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/keys"
)

func newKeys(e env, g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "The key-encryption key that wraps tenants' data keys",
	}
	cmd.AddCommand(keysRotate(e, g), keysStatus(e, g))
	return group(cmd)
}

// keyring opens the catalog and a keyring on the flags' KEK.
func keyring(ctx context.Context, g *globals, kek keys.KEK) (*keys.Keyring, *catalog.Store, func(), error) {
	ops, done, err := connectAs[directOps](ctx, &globals{databaseURL: g.databaseURL, output: g.output})
	if err != nil {
		return nil, nil, nil, err
	}
	kr, err := keys.NewKeyring(keys.KeyringConfig{Store: ops.store.Keys(), KEKs: []keys.KEK{kek}, Logger: discardLogger()})
	if err != nil {
		done()
		return nil, nil, nil, err
	}
	return kr, ops.store, done, nil
}

func keysRotate(e env, g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "rotate",
		Short: "Rotate the local key-encryption key and re-wrap every tenant's data key and platform secret, online",
		Long: "Rotate the local key-encryption key (--key-file): a new key becomes primary, the old one stays\n" +
			"in the file to unwrap, then every tenant's data key is re-wrapped by the new one, page by page,\n" +
			"while servers keep reading and writing, and then the platform's own secrets (tenantkit billing secret). Servers pick the new key up from the file. Run it again\n" +
			"to finish what an interrupted run left.",
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if g.server != "" {
				return usageError{errors.New("keys rotate works on the catalog and the key file: give --database-url, not --server")}
			}
			if g.keyFile == "" {
				return errNoKeys
			}
			kek, err := keys.LocalKEK(keys.LocalConfig{Path: g.keyFile})
			if err != nil {
				return err
			}
			before := kek.ID()
			if err := kek.Rotate(); err != nil {
				return err
			}
			kr, store, done, err := keyring(cmd.Context(), g, kek)
			if err != nil {
				return err
			}
			defer done()
			var bar *progressbar.ProgressBar
			res, err := kr.RewrapAll(cmd.Context(), func(done, total int) {
				if bar == nil {
					bar = progress(e, total, "re-wrapping data keys")
				}
				if bar != nil {
					_ = bar.Set(done)
				}
			})
			if bar != nil {
				_ = bar.Finish()
			}
			if err != nil {
				return err
			}
			// The platform's own secrets (billing's Stripe keys) are
			// sealed by the KEK too.
			pres, err := kr.RewrapPlatform(cmd.Context(), store.Keys())
			if err != nil {
				return err
			}
			if g.output == "json" {
				return writeJSON(e.stdout, map[string]any{"from": before, "to": kek.ID(), "rewrapped": res.Rewrapped,
					"skipped": res.Skipped, "remaining": res.Remaining,
					"platform_secrets": map[string]int{"rewrapped": pres.Rewrapped, "skipped": pres.Skipped, "remaining": pres.Remaining}})
			}
			fmt.Fprintf(e.stdout, "key-encryption key %s → %s: %d data keys re-wrapped, %d skipped (shredded meanwhile), %d remaining\n",
				before, kek.ID(), res.Rewrapped, res.Skipped, res.Remaining)
			fmt.Fprintf(e.stdout, "platform secrets: %d re-wrapped, %d skipped (set again meanwhile), %d remaining\n",
				pres.Rewrapped, pres.Skipped, pres.Remaining)
			return nil
		},
	}
}

func keysStatus(e env, g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show how many data keys the current key-encryption key wraps",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			kms, err := kmsConfig(g, false)
			if err != nil {
				return err
			}
			kek, err := kms.KEK()
			if err != nil {
				return err
			}
			_, store, done, err := keyring(cmd.Context(), g, kek)
			if err != nil {
				return err
			}
			defer done()
			total, by, err := store.Keys().CountKeys(cmd.Context(), kek.ID())
			if err != nil {
				return err
			}
			secrets, err := store.Keys().PlatformSecrets(cmd.Context())
			if err != nil {
				return err
			}
			sealedBy := 0
			for _, s := range secrets {
				if s.KEKID == kek.ID() {
					sealedBy++
				}
			}
			if g.output == "json" {
				return writeJSON(e.stdout, map[string]any{"kek": kek.ID(), "data_keys": total, "wrapped_by_kek": by,
					"platform_secrets": len(secrets), "platform_secrets_sealed_by_kek": sealedBy})
			}
			fmt.Fprintf(e.stdout, "key-encryption key %s wraps %d of %d data keys and seals %d of %d platform secrets\n", kek.ID(), by, total, sealedBy, len(secrets))
			return nil
		},
	}
}
