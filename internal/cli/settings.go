package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tenantkit/tenantkit/internal/adminapi"
	"github.com/tenantkit/tenantkit/internal/settings"
)

// settingsOps is what the settings commands need, served either by the
// catalog directly, validated against --settings-schema, or by a server's
// admin API, validated against the server's schema.
type settingsOps interface {
	GetSettings(ctx context.Context, ref string) (adminapi.Settings, error)
	PatchSettings(ctx context.Context, ref string, ifVersion *int64, patch []byte) (adminapi.Settings, error)
}

var (
	_ settingsOps = directOps{}
	_ settingsOps = apiOps{}
)

func (d directOps) GetSettings(ctx context.Context, ref string) (adminapi.Settings, error) {
	s, err := adminapi.GetSettings(ctx, d.store, d.schema, ref)
	return s, problemErr(err)
}

func (d directOps) PatchSettings(ctx context.Context, ref string, ifVersion *int64, patch []byte) (adminapi.Settings, error) {
	s, err := adminapi.PatchSettings(ctx, d.store, d.schema, d.actor, ref, ifVersion, patch)
	return s, problemErr(err)
}

// settingsSchemaDoc reads the JSON Schema of tenant settings that
// --settings-schema names: nil without one; "example" is the restaurant
// demo's.
func settingsSchemaDoc(g *globals) ([]byte, error) {
	switch g.settingsSchema {
	case "":
		return nil, nil
	case "example":
		return settings.RestaurantSchema(), nil
	}
	b, err := os.ReadFile(g.settingsSchema)
	if err != nil {
		return nil, usageError{fmt.Errorf("--settings-schema: %w", err)}
	}
	return b, nil
}

// loadSettingsSchema compiles the schema --settings-schema names: nil
// without one.
func loadSettingsSchema(g *globals) (*settings.Schema, error) {
	doc, err := settingsSchemaDoc(g)
	if err != nil || doc == nil {
		return nil, err
	}
	s, err := settings.Compile(doc)
	if err != nil {
		return nil, usageError{fmt.Errorf("--settings-schema %s: %w", g.settingsSchema, err)}
	}
	return s, nil
}

// withSettings runs fn with the settings ops for the flags. Directly, the
// settings are validated and defaulted with --settings-schema; a server
// uses its own.
func withSettings(g *globals, fn func(ctx context.Context, ops settingsOps, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		ops, done, err := connectAs[settingsOps](cmd.Context(), g)
		if err != nil {
			return err
		}
		defer done()
		if d, ok := ops.(directOps); ok {
			if d.schema, err = loadSettingsSchema(g); err != nil {
				return err
			}
			ops = d
		}
		return fn(cmd.Context(), ops, args)
	}
}

func newSettings(e env, g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "settings",
		Short: "Read and change tenants' settings, validated against the platform's JSON Schema",
		Long: "Read and change tenants' settings, validated against the platform's JSON Schema: the server's\n" +
			"with --server, else --settings-schema (without one, settings are any JSON object).",
	}
	cmd.AddCommand(settingsGet(e, g), settingsSet(e, g))
	return group(cmd)
}

func settingsGet(e env, g *globals) *cobra.Command {
	var pointer string
	cmd := &cobra.Command{
		Use:   "get ID|SLUG [--pointer /notifications/email_digest]",
		Short: "Show a tenant's settings with the schema's defaults filled in (-o json adds the version, for set --if-version)",
		Args:  exactArgs(1, "one ID or SLUG"),
	}
	cmd.Flags().StringVar(&pointer, "pointer", "", "show only the value at this JSON pointer (RFC 6901)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if pointer != "" && !strings.HasPrefix(pointer, "/") {
			return usageError{fmt.Errorf("--pointer %q: a JSON pointer starts with /, such as /notifications/email_digest", pointer)}
		}
		return withSettings(g, func(ctx context.Context, ops settingsOps, args []string) error {
			s, err := ops.GetSettings(ctx, args[0])
			if err != nil {
				return err
			}
			if pointer == "" {
				return printSettings(e, g, s)
			}
			vals, err := settings.NewValues(s.Settings)
			if err != nil {
				return err
			}
			v, ok := vals.Lookup(pointer)
			if !ok {
				return fmt.Errorf("no setting at %s", pointer)
			}
			if g.output == "json" {
				return writeJSON(e.stdout, map[string]any{"pointer": pointer, "value": v, "version": s.Version})
			}
			return writeJSON(e.stdout, v)
		})(cmd, args)
	}
	return cmd
}

func printSettings(e env, g *globals, s adminapi.Settings) error {
	if g.output == "json" {
		return writeJSON(e.stdout, s)
	}
	var b bytes.Buffer
	if err := json.Indent(&b, s.Settings, "", "  "); err != nil {
		return err
	}
	b.WriteByte('\n')
	_, err := b.WriteTo(e.stdout)
	return err
}

func settingsSet(e env, g *globals) *cobra.Command {
	var (
		patch     string
		ifVersion int64
	)
	cmd := &cobra.Command{
		Use:   "set ID|SLUG (PATH=VALUE... | --patch JSON) [--if-version N]",
		Short: "Change a tenant's settings with a JSON merge patch; null removes a value, so its default applies",
		Long: "Change a tenant's settings with a JSON merge patch (RFC 7396), given whole with --patch or built from\n" +
			"PATH=VALUE arguments: PATH is dotted (notifications.email_digest), VALUE is JSON when it parses as JSON\n" +
			"(0.2, true, null, [\"a\"]), else a string. null removes a stored value, so its default applies again.\n" +
			"The result must satisfy the schema; every invalid setting is named. With --if-version, the write is\n" +
			"refused if the settings changed since that version was read.",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 1 {
				return usageError{fmt.Errorf("%s: want an ID or SLUG, then PATH=VALUE arguments or --patch", cmd.CommandPath())}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&patch, "patch", "", `JSON merge patch, such as '{"tax_rate":0.2}'`)
	cmd.Flags().Int64Var(&ifVersion, "if-version", 0, "write only if the settings are still at this version (see get -o json)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		body := []byte(patch)
		switch {
		case patch != "" && len(args) > 1:
			return usageError{fmt.Errorf("settings set: give PATH=VALUE arguments or --patch, not both")}
		case patch == "" && len(args) == 1:
			return usageError{fmt.Errorf("settings set: give PATH=VALUE arguments or --patch")}
		case patch == "":
			var err error
			if body, err = mergePatchOf(args[1:]); err != nil {
				return err
			}
		}
		var ifv *int64
		if cmd.Flags().Changed("if-version") {
			ifv = &ifVersion
		}
		return withSettings(g, func(ctx context.Context, ops settingsOps, args []string) error {
			s, err := ops.PatchSettings(ctx, args[0], ifv, body)
			if err != nil {
				return err
			}
			return printSettings(e, g, s)
		})(cmd, args)
	}
	return cmd
}

// mergePatchOf builds a merge patch from PATH=VALUE assignments.
func mergePatchOf(assignments []string) ([]byte, error) {
	root := map[string]any{}
	for _, a := range assignments {
		k, v, ok := strings.Cut(a, "=")
		path := strings.Split(k, ".")
		if !ok || k == "" || containsEmpty(path) {
			return nil, usageError{fmt.Errorf("settings set: %q: want PATH=VALUE, such as tax_rate=0.2 or notifications.email_digest=daily", a)}
		}
		var val any = v
		if json.Valid([]byte(v)) {
			val = json.RawMessage(v)
		}
		node := root
		for i, seg := range path {
			child, exists := node[seg]
			if i == len(path)-1 {
				if exists {
					return nil, usageError{fmt.Errorf("settings set: %s is set twice", k)}
				}
				node[seg] = val
				break
			}
			if !exists {
				child = map[string]any{}
				node[seg] = child
			}
			m, ok := child.(map[string]any)
			if !ok {
				return nil, usageError{fmt.Errorf("settings set: %s is set twice", strings.Join(path[:i+1], "."))}
			}
			node = m
		}
	}
	return json.Marshal(root)
}

func containsEmpty(xs []string) bool {
	for _, x := range xs {
		if x == "" {
			return true
		}
	}
	return false
}
