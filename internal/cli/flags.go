package cli

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tenantkit/tenantkit/internal/adminapi"
	"github.com/tenantkit/tenantkit/internal/catalog"
)

// flagOps is what the flags commands need, served either by the catalog
// directly or by a server's admin API.
type flagOps interface {
	tenantOps
	ListFlags(ctx context.Context) ([]catalog.Flag, error)
	GetFlag(ctx context.Context, key string) (catalog.Flag, error)
	CreateFlag(ctx context.Context, p catalog.FlagParams) (catalog.Flag, error)
	UpdateFlag(ctx context.Context, p catalog.FlagParams) (catalog.Flag, error)
	DeleteFlag(ctx context.Context, key string) error
	SetFlagOverride(ctx context.Context, key, ref string, value *bool) (catalog.Flag, error)
	EvaluateFlag(ctx context.Context, key string) (adminapi.FlagEvaluations, error)
	EvaluateTenant(ctx context.Context, ref string) (adminapi.TenantFlags, error)
}

var (
	_ flagOps = directOps{}
	_ flagOps = apiOps{}
)

func (d directOps) ListFlags(ctx context.Context) ([]catalog.Flag, error) {
	fs, err := d.store.ListFlags(ctx)
	return fs, problemErr(err)
}

func (d directOps) GetFlag(ctx context.Context, key string) (catalog.Flag, error) {
	f, err := d.store.GetFlag(ctx, key)
	return f, problemErr(err)
}

func (d directOps) CreateFlag(ctx context.Context, p catalog.FlagParams) (catalog.Flag, error) {
	f, err := d.store.CreateFlag(ctx, d.actor, p)
	return f, problemErr(err)
}

func (d directOps) UpdateFlag(ctx context.Context, p catalog.FlagParams) (catalog.Flag, error) {
	f, err := d.store.UpdateFlag(ctx, d.actor, p)
	return f, problemErr(err)
}

func (d directOps) DeleteFlag(ctx context.Context, key string) error {
	return problemErr(d.store.DeleteFlag(ctx, d.actor, key))
}

func (d directOps) SetFlagOverride(ctx context.Context, key, ref string, value *bool) (catalog.Flag, error) {
	f, err := d.store.SetFlagOverride(ctx, d.actor, key, ref, value)
	return f, problemErr(err)
}

func (d directOps) EvaluateFlag(ctx context.Context, key string) (adminapi.FlagEvaluations, error) {
	out, err := adminapi.EvaluateFlag(ctx, d.store, key)
	return out, problemErr(err)
}

func (d directOps) EvaluateTenant(ctx context.Context, ref string) (adminapi.TenantFlags, error) {
	out, err := adminapi.EvaluateTenant(ctx, d.store, ref)
	return out, problemErr(err)
}

func newFlags(e env, g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "flags", Short: "Feature flags: create, change, override per tenant, and see who gets them and why"}
	cmd.AddCommand(flagsList(e, g), flagsGet(e, g), flagsCreate(e, g), flagsUpdate(e, g), flagsDelete(e, g),
		flagsOverride(e, g), flagsEvaluate(e, g), flagsFor(e, g))
	return group(cmd)
}

// withFlags runs fn with the flag ops for the flags.
func withFlags(g *globals, fn func(ctx context.Context, ops flagOps, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		ops, done, err := connectAs[flagOps](cmd.Context(), g)
		if err != nil {
			return err
		}
		defer done()
		return fn(cmd.Context(), ops, args)
	}
}

func flagsList(e env, g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List flags by key",
		Args:  exactArgs(0, "no arguments"),
		RunE: withFlags(g, func(ctx context.Context, ops flagOps, _ []string) error {
			fs, err := ops.ListFlags(ctx)
			if err != nil {
				return err
			}
			if g.output == "json" {
				return writeJSON(e.stdout, fs)
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "KEY\tROLLOUT\tDEFAULT\tKILL SWITCH\tMIN PLAN\tOVERRIDES\tDESCRIPTION")
			for _, f := range fs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", f.Key, formatRollout(f.Rollout), onOff(f.Default),
					onOff(f.KillSwitch), orDash(f.MinPlan), len(f.Overrides), orDash(f.Description))
			}
			return tw.Flush()
		}),
	}
}

func flagsGet(e env, g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "get KEY",
		Short: "Show a flag and its per-tenant overrides",
		Args:  exactArgs(1, "one flag KEY"),
		RunE: withFlags(g, func(ctx context.Context, ops flagOps, args []string) error {
			f, err := ops.GetFlag(ctx, args[0])
			if err != nil {
				return err
			}
			return printFlag(ctx, e.stdout, g.output, ops, f)
		}),
	}
}

// flagFlags are the flags of flags create and update.
type flagFlags struct {
	description, rollout, minPlan, seed string
	def, kill                           bool
}

func (f *flagFlags) register(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&f.description, "description", "", "what the flag is for")
	fs.StringVar(&f.rollout, "rollout", "0%", "share of tenants that get the flag: a percentage with up to two decimals (30%, 12.5%, 0.01%) or basis points (2500bp)")
	fs.BoolVar(&f.def, "default", false, "value for tenants no rule decides")
	fs.BoolVar(&f.kill, "kill", false, "kill switch: off for every tenant without an override")
	fs.StringVar(&f.minPlan, "min-plan", "", `lowest plan that may have the flag ("" for none)`)
	fs.StringVar(&f.seed, "seed", "", "hash this instead of the key, so flags sharing a seed pick the same tenants")
}

// params are the flag params of the flags given: on update, only those.
func (f *flagFlags) params(cmd *cobra.Command, key string) (catalog.FlagParams, error) {
	p := catalog.FlagParams{Key: key}
	changed := cmd.Flags().Changed
	if changed("description") {
		p.Description = &f.description
	}
	if changed("rollout") {
		bp, err := parseRollout(f.rollout)
		if err != nil {
			return p, usageError{fmt.Errorf("--rollout %s: %w", f.rollout, err)}
		}
		p.Rollout = &bp
	}
	if changed("default") {
		p.Default = &f.def
	}
	if changed("kill") {
		p.KillSwitch = &f.kill
	}
	if changed("min-plan") {
		p.MinPlan = &f.minPlan
	}
	if changed("seed") {
		p.Seed = &f.seed
	}
	return p, nil
}

func flagsCreate(e env, g *globals) *cobra.Command {
	var f flagFlags
	cmd := &cobra.Command{
		Use:   "create KEY [--description TEXT] [--rollout 30%] [--default] [--kill] [--min-plan PLAN] [--seed SEED]",
		Short: "Create a flag",
		Args:  exactArgs(1, "one flag KEY"),
	}
	f.register(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		p, err := f.params(cmd, args[0])
		if err != nil {
			return err
		}
		return withFlags(g, func(ctx context.Context, ops flagOps, _ []string) error {
			fl, err := ops.CreateFlag(ctx, p)
			if err != nil {
				return err
			}
			return printFlag(ctx, e.stdout, g.output, ops, fl)
		})(cmd, args)
	}
	return cmd
}

func flagsUpdate(e env, g *globals) *cobra.Command {
	var f flagFlags
	cmd := &cobra.Command{
		Use:   "update KEY [--description TEXT] [--rollout 30%] [--default=BOOL] [--kill=BOOL] [--min-plan PLAN] [--seed SEED]",
		Short: "Change a flag: only the flags given change",
		Long:  `Change a flag: only the flags given change. --min-plan "" removes the plan gate; --kill=false lifts the kill switch.`,
		Args:  exactArgs(1, "one flag KEY"),
	}
	f.register(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		p, err := f.params(cmd, args[0])
		if err != nil {
			return err
		}
		if p == (catalog.FlagParams{Key: args[0]}) {
			return usageError{fmt.Errorf("flags update: give --description, --rollout, --default, --kill, --min-plan or --seed")}
		}
		return withFlags(g, func(ctx context.Context, ops flagOps, _ []string) error {
			fl, err := ops.UpdateFlag(ctx, p)
			if err != nil {
				return err
			}
			return printFlag(ctx, e.stdout, g.output, ops, fl)
		})(cmd, args)
	}
	return cmd
}

func flagsDelete(e env, g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "delete KEY",
		Short: "Delete a flag and its overrides",
		Args:  exactArgs(1, "one flag KEY"),
		RunE: withFlags(g, func(ctx context.Context, ops flagOps, args []string) error {
			if err := ops.DeleteFlag(ctx, args[0]); err != nil {
				return err
			}
			if g.output == "json" {
				return writeJSON(e.stdout, map[string]string{"deleted": args[0]})
			}
			fmt.Fprintf(e.stdout, "deleted flag %s\n", args[0])
			return nil
		}),
	}
}

func flagsOverride(e env, g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "override KEY ID|SLUG on|off|clear",
		Short: "Give one tenant its own value of a flag, before every other rule; clear removes it",
		Args:  exactArgs(3, "a flag KEY, a tenant ID or SLUG, and on, off or clear"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var value *bool
			switch args[2] {
			case "on":
				value = ptrTo(true)
			case "off":
				value = ptrTo(false)
			case "clear":
			default:
				return usageError{fmt.Errorf("flags override: want on, off or clear, not %q", args[2])}
			}
			return withFlags(g, func(ctx context.Context, ops flagOps, args []string) error {
				f, err := ops.SetFlagOverride(ctx, args[0], args[1], value)
				if err != nil {
					return err
				}
				if g.output == "json" {
					return writeJSON(e.stdout, f)
				}
				if value == nil {
					fmt.Fprintf(e.stdout, "%s: %s has no override\n", f.Key, args[1])
				} else {
					fmt.Fprintf(e.stdout, "%s: %s overridden %s\n", f.Key, args[1], onOff(*value))
				}
				return nil
			})(cmd, args)
		},
	}
}

func flagsEvaluate(e env, g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "evaluate KEY",
		Short: "Show a flag's value for every tenant, with its rollout bucket and why",
		Long: "Show a flag's value for every tenant that is not deleted, and why: override, kill_switch, plan_gate,\n" +
			"rollout or default. BUCKET is the tenant's rollout bucket, 0 to 9999: a rollout of 30% reaches the buckets below 3000.",
		Args: exactArgs(1, "one flag KEY"),
		RunE: withFlags(g, func(ctx context.Context, ops flagOps, args []string) error {
			out, err := ops.EvaluateFlag(ctx, args[0])
			if err != nil {
				return err
			}
			if g.output == "json" {
				return writeJSON(e.stdout, out)
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TENANT\tPLAN\tBUCKET\tVALUE\tREASON")
			for _, ev := range out.Evaluations {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", ev.Tenant, ev.Plan, ev.Bucket, onOff(ev.Value), ev.Reason)
			}
			return tw.Flush()
		}),
	}
}

func flagsFor(e env, g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "for ID|SLUG",
		Short: "Show every flag's value for one tenant, and why",
		Args:  exactArgs(1, "one tenant ID or SLUG"),
		RunE: withFlags(g, func(ctx context.Context, ops flagOps, args []string) error {
			out, err := ops.EvaluateTenant(ctx, args[0])
			if err != nil {
				return err
			}
			if g.output == "json" {
				return writeJSON(e.stdout, out)
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "FLAG\tVALUE\tREASON")
			for _, ev := range out.Flags {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", ev.Flag, onOff(ev.Value), ev.Reason)
			}
			return tw.Flush()
		}),
	}
}

func printFlag(ctx context.Context, w io.Writer, format string, ops flagOps, f catalog.Flag) error {
	if format == "json" {
		return writeJSON(w, f)
	}
	var overrides []string
	for id, v := range f.Overrides {
		name := id.String()
		if t, err := ops.GetTenant(ctx, name); err == nil {
			name = t.Slug
		}
		overrides = append(overrides, name+"="+onOff(v))
	}
	slices.Sort(overrides)
	seed := f.Seed
	if seed == "" {
		seed = "- (the key)"
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	rows := [][2]string{
		{"Key", f.Key}, {"Description", orDash(f.Description)}, {"Kill switch", onOff(f.KillSwitch)},
		{"Min plan", orDash(f.MinPlan)}, {"Rollout", formatRollout(f.Rollout)}, {"Default", onOff(f.Default)},
		{"Seed", seed}, {"Overrides", orDash(strings.Join(overrides, ", "))},
		{"Created", f.CreatedAt.UTC().Format(time.RFC3339)}, {"Updated", f.UpdatedAt.UTC().Format(time.RFC3339)},
	}
	for _, r := range rows {
		fmt.Fprintf(tw, "%s:\t%s\n", r[0], r[1])
	}
	return tw.Flush()
}

// parseRollout reads a rollout as basis points: a percentage with up to
// two decimals ("30%", "12.5%", "0.01%") or basis points ("2500bp").
func parseRollout(s string) (int, error) {
	if n, ok := strings.CutSuffix(s, "bp"); ok {
		bp, err := strconv.Atoi(n)
		if err != nil || !digits(n) {
			return 0, fmt.Errorf("want a whole number of basis points, such as 2500bp")
		}
		if bp > 10000 {
			return 0, fmt.Errorf("must be at most 10000bp (100%%)")
		}
		return bp, nil
	}
	n, ok := strings.CutSuffix(s, "%")
	if !ok {
		return 0, fmt.Errorf("want a percentage such as 30%%, 12.5%% or 0.01%%, or basis points such as 2500bp")
	}
	whole, frac, dot := strings.Cut(n, ".")
	if !digits(whole) || (dot && !digits(frac)) {
		return 0, fmt.Errorf("want a percentage such as 30%%, 12.5%% or 0.01%%")
	}
	if len(whole) > 3 {
		return 0, fmt.Errorf("must be at most 100%%")
	}
	if len(frac) > 2 {
		return 0, fmt.Errorf("at most two decimals: rollouts go in steps of 0.01%%")
	}
	w, _ := strconv.Atoi(whole)
	f, _ := strconv.Atoi((frac + "00")[:2])
	bp := w*100 + f
	if bp > 10000 {
		return 0, fmt.Errorf("must be at most 100%%")
	}
	return bp, nil
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// formatRollout shows basis points as a percentage: 1250 is "12.5%".
func formatRollout(bp int) string {
	s := fmt.Sprintf("%d.%02d", bp/100, bp%100)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s + "%"
}
