package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/integration"
	"github.com/tenantkit/tenantkit/internal/keys"
	"github.com/tenantkit/tenantkit/internal/registry"
)

// integrationOps is what the integrations commands need.
type integrationOps interface {
	ListIntegrations(ctx context.Context, ref string) ([]registry.View, error)
	ShowIntegration(ctx context.Context, ref string, typ integration.Type) (registry.View, error)
	SetIntegration(ctx context.Context, ref string, p registry.SetParams) (registry.View, error)
	RemoveIntegration(ctx context.Context, ref string, typ integration.Type) error
	TestIntegration(ctx context.Context, ref string, typ integration.Type) (registry.View, error)
	Providers(ctx context.Context) (map[integration.Type][]integration.Spec, error)
}

var (
	_ integrationOps = directOps{}
	_ integrationOps = apiOps{}
)

var errNoKeys = usageError{errors.New("integrations need the key-encryption key: --key-file FILE (or TENANTKIT_KEY_FILE)")}

func (d directOps) reg() (*registry.Registry, error) {
	if d.registry == nil {
		return nil, errNoKeys
	}
	return d.registry, nil
}

func (d directOps) ListIntegrations(ctx context.Context, ref string) ([]registry.View, error) {
	r, err := d.reg()
	if err != nil {
		return nil, err
	}
	vs, err := r.List(ctx, ref)
	return vs, problemErr(err)
}

func (d directOps) ShowIntegration(ctx context.Context, ref string, typ integration.Type) (registry.View, error) {
	r, err := d.reg()
	if err != nil {
		return registry.View{}, err
	}
	v, err := r.Show(ctx, ref, typ)
	return v, problemErr(err)
}

func (d directOps) SetIntegration(ctx context.Context, ref string, p registry.SetParams) (registry.View, error) {
	r, err := d.reg()
	if err != nil {
		return registry.View{}, err
	}
	v, err := r.Set(ctx, d.actor, ref, p)
	return v, problemErr(err)
}

func (d directOps) RemoveIntegration(ctx context.Context, ref string, typ integration.Type) error {
	r, err := d.reg()
	if err != nil {
		return err
	}
	return problemErr(r.Remove(ctx, d.actor, ref, typ))
}

func (d directOps) TestIntegration(ctx context.Context, ref string, typ integration.Type) (registry.View, error) {
	r, err := d.reg()
	if err != nil {
		return registry.View{}, err
	}
	v, err := r.Test(ctx, ref, typ)
	return v, problemErr(err)
}

func (d directOps) Providers(context.Context) (map[integration.Type][]integration.Spec, error) {
	r, err := d.reg()
	if err != nil {
		return nil, err
	}
	out := map[integration.Type][]integration.Spec{}
	for _, t := range integration.Types() {
		if specs, err := r.Specs(t); err == nil {
			out[t] = specs
		}
	}
	return out, nil
}

// withIntegrations runs fn with the integration ops for the flags:
// directly, with a registry on --key-file; else through the server.
func withIntegrations(g *globals, fn func(ctx context.Context, ops integrationOps, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		ops, done, err := connectAs[integrationOps](cmd.Context(), g)
		if err != nil {
			return err
		}
		defer done()
		if d, ok := ops.(directOps); ok {
			if d.registry, err = directRegistry(cmd.Context(), g, d.store); err != nil {
				return err
			}
			ops = d
		}
		return fn(cmd.Context(), ops, args)
	}
}

func newIntegrations(e env, g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "integrations",
		Short: "Tenants' own accounts at email, storage, payment and SMS providers, with encrypted credentials",
		Long: "A tenant may bring its own account per type (email, storage, payment, sms); without one the\n" +
			"platform's default serves it. Credentials are encrypted under the tenant's data key and only\n" +
			"ever shown masked.",
	}
	cmd.AddCommand(integrationsList(e, g), integrationsShow(e, g), integrationsSet(e, g), integrationsRemove(e, g),
		integrationsTest(e, g), integrationsProviders(e, g))
	return group(cmd)
}

func integrationsList(e env, g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "list ID|SLUG",
		Short: "Show what serves a tenant for every type",
		Args:  exactArgs(1, "one tenant ID or SLUG"),
		RunE: withIntegrations(g, func(ctx context.Context, ops integrationOps, args []string) error {
			vs, err := ops.ListIntegrations(ctx, args[0])
			if err != nil {
				return err
			}
			if g.output == "json" {
				return writeJSON(e.stdout, map[string]any{"integrations": vs})
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TYPE\tPROVIDER\tSOURCE\tACTIVE\tSETTINGS\tCREDENTIALS")
			for _, v := range vs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%s\t%s\n", v.Type, v.Provider, v.Source, v.Active, pairs(v.Settings), pairs(v.Credentials))
			}
			return tw.Flush()
		}),
	}
}

func pairs(m map[string]string) string {
	if len(m) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, " ")
}

func writeView(e env, g *globals, v registry.View) error {
	if g.output == "json" {
		return writeJSON(e.stdout, v)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "type:\t%s\nprovider:\t%s\nsource:\t%s\nactive:\t%v\nsettings:\t%s\ncredentials:\t%s\n",
		v.Type, v.Provider, v.Source, v.Active, pairs(v.Settings), pairs(v.Credentials))
	return tw.Flush()
}

func integrationsShow(e env, g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "show ID|SLUG TYPE",
		Short: "Show what serves a tenant for one type, credentials masked",
		Args:  exactArgs(2, "a tenant ID or SLUG and a TYPE (email, storage, payment, sms)"),
		RunE: withIntegrations(g, func(ctx context.Context, ops integrationOps, args []string) error {
			v, err := ops.ShowIntegration(ctx, args[0], integration.Type(args[1]))
			if err != nil {
				return err
			}
			return writeView(e, g, v)
		}),
	}
}

func integrationsSet(e env, g *globals) *cobra.Command {
	var (
		provider       string
		creds, setting []string
		inactive       bool
	)
	cmd := &cobra.Command{
		Use:   "set ID|SLUG TYPE --provider NAME [--credential k=v|k=-|k=@FILE]... [--setting k=v]... [--inactive]",
		Short: "Give a tenant its own account of a type",
		Long: "Give a tenant its own account of a type. Credentials are checked against the provider's fields\n" +
			"now, encrypted under the tenant's data key, and never shown again. Keep them out of your shell\n" +
			"history: k=- reads the value from standard input, k=@FILE from a file. Credentials not given\n" +
			"keep their stored values while the provider stays the same.",
		Args: exactArgs(2, "a tenant ID or SLUG and a TYPE (email, storage, payment, sms)"),
	}
	cmd.Flags().StringVar(&provider, "provider", "", "the provider (tenantkit integrations providers lists them)")
	cmd.Flags().StringArrayVar(&creds, "credential", nil, "a secret field: name=value, name=- (stdin) or name=@FILE")
	cmd.Flags().StringArrayVar(&setting, "setting", nil, "a plain field: name=value")
	cmd.Flags().BoolVar(&inactive, "inactive", false, "store it but keep serving the tenant with the platform default")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if provider == "" {
			return usageError{errors.New("set needs --provider")}
		}
		c, err := fieldValues(e.stdin, "--credential", creds, true)
		if err != nil {
			return err
		}
		s, err := fieldValues(e.stdin, "--setting", setting, false)
		if err != nil {
			return err
		}
		active := !inactive
		p := registry.SetParams{Type: integration.Type(args[1]), Provider: provider, Credentials: c, Settings: s, Active: &active}
		return withIntegrations(g, func(ctx context.Context, ops integrationOps, args []string) error {
			v, err := ops.SetIntegration(ctx, args[0], p)
			if err != nil {
				return err
			}
			return writeView(e, g, v)
		})(cmd, args)
	}
	return cmd
}

// fieldValues parses name=value flags; with secrets, name=- reads the
// value from in (once) and name=@FILE from the file.
func fieldValues(in io.Reader, flag string, raw []string, secrets bool) (map[string]string, error) {
	out := map[string]string{}
	stdinUsed := false
	for _, kv := range raw {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || name == "" {
			return nil, usageError{fmt.Errorf("%s %q: want name=value", flag, strings.SplitN(kv, "=", 2)[0])}
		}
		if _, dup := out[name]; dup {
			return nil, usageError{fmt.Errorf("%s %s given twice", flag, name)}
		}
		switch {
		case secrets && value == "-":
			if stdinUsed {
				return nil, usageError{fmt.Errorf("%s: only one value can come from standard input", flag)}
			}
			stdinUsed = true
			b, err := io.ReadAll(io.LimitReader(in, 1<<16))
			if err != nil {
				return nil, err
			}
			value = strings.TrimRight(string(b), "\r\n")
		case secrets && strings.HasPrefix(value, "@"):
			b, err := os.ReadFile(value[1:])
			if err != nil {
				return nil, usageError{fmt.Errorf("%s %s: %w", flag, name, err)}
			}
			value = strings.TrimRight(string(b), "\r\n")
		}
		out[name] = value
	}
	return out, nil
}

func integrationsRemove(e env, g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "remove ID|SLUG TYPE",
		Short: "Remove a tenant's own account of a type: the platform default serves it again",
		Args:  exactArgs(2, "a tenant ID or SLUG and a TYPE"),
		RunE: withIntegrations(g, func(ctx context.Context, ops integrationOps, args []string) error {
			if err := ops.RemoveIntegration(ctx, args[0], integration.Type(args[1])); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%s: %s integration removed\n", args[0], args[1])
			return nil
		}),
	}
}

func integrationsTest(e env, g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "test ID|SLUG TYPE",
		Short: "Check the credentials serving a tenant for a type against the provider",
		Args:  exactArgs(2, "a tenant ID or SLUG and a TYPE"),
		RunE: withIntegrations(g, func(ctx context.Context, ops integrationOps, args []string) error {
			v, err := ops.TestIntegration(ctx, args[0], integration.Type(args[1]))
			if err != nil {
				return err
			}
			if g.output == "json" {
				return writeJSON(e.stdout, map[string]any{"ok": true, "integration": v})
			}
			fmt.Fprintf(e.stdout, "%s: %s %s (%s) ok\n", args[0], v.Type, v.Provider, v.Source)
			return nil
		}),
	}
}

func integrationsProviders(e env, g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "providers",
		Short: "List the providers of every type and the fields each takes",
		Args:  exactArgs(0, "no arguments"),
		RunE: withIntegrations(g, func(ctx context.Context, ops integrationOps, _ []string) error {
			specs, err := ops.Providers(ctx)
			if err != nil {
				return err
			}
			if g.output == "json" {
				return writeJSON(e.stdout, specs)
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TYPE\tPROVIDER\tCREDENTIALS\tSETTINGS")
			for _, t := range integration.Types() {
				for _, s := range specs[t] {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t, s.Provider, fieldList(s.Credentials), fieldList(s.Settings))
				}
			}
			return tw.Flush()
		}),
	}
}

func fieldList(fs []integration.Field) string {
	if len(fs) == 0 {
		return "-"
	}
	parts := make([]string, len(fs))
	for i, f := range fs {
		parts[i] = f.Name
		if f.Required {
			parts[i] += "*"
		}
	}
	return strings.Join(parts, " ")
}

// kmsConfig is the key-encryption key the flags name.
func kmsConfig(g *globals, create bool) (registry.KMSConfig, error) {
	switch {
	case g.kmsKeyURI != "" && (g.keyFile != "" || g.vaultAddr != ""):
		return registry.KMSConfig{}, usageError{errors.New("give one of --key-file, --vault-addr and --kms-key-uri")}
	case g.kmsKeyURI != "":
		return registry.KMSConfig{KeyURI: g.kmsKeyURI, CredentialsFile: g.kmsCredentials}, nil
	case g.keyFile != "" && g.vaultAddr != "":
		return registry.KMSConfig{}, usageError{errors.New("give --key-file or --vault-addr, not both")}
	case g.vaultAddr != "":
		if g.vaultKey == "" || g.vaultToken == "" {
			return registry.KMSConfig{}, usageError{errors.New("--vault-addr needs --vault-key and TENANTKIT_VAULT_TOKEN")}
		}
		return registry.KMSConfig{Vault: keys.VaultConfig{Address: g.vaultAddr, Token: g.vaultToken, KeyName: g.vaultKey}}, nil
	case g.keyFile != "":
		return registry.KMSConfig{KeyFile: g.keyFile, CreateKeyFile: create}, nil
	}
	return registry.KMSConfig{}, errNoKeys
}

// directRegistry builds the registry the CLI works with directly.
func directRegistry(_ context.Context, g *globals, store *catalog.Store) (*registry.Registry, error) {
	kms, err := kmsConfig(g, false)
	if err != nil {
		return nil, err
	}
	pf, err := registry.ReadPlatformFile(g.integrations)
	if err != nil {
		return nil, usageError{fmt.Errorf("--integrations: %w", err)}
	}
	r, _, err := registry.Standard(registry.StandardConfig{Store: store, KMS: kms, Defaults: pf.Defaults, Logger: discardLogger()})
	return r, err
}
