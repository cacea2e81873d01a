package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/problem"
)

// forceHint tells how to apply a change the tenant's usage exceeds.
func forceHint(err error) error {
	var p *problem.Problem
	if errors.As(err, &p) && p.Kind() == problem.LimitExceeded {
		return fmt.Errorf("%s (use --force to apply anyway)", p.Error())
	}
	return err
}

// entitlements are what a tenant gets: its plan's features and limits
// with its own overrides over them, and its usage.
type entitlements struct {
	tenant    catalog.Tenant
	plan      catalog.Plan
	overrides catalog.Overrides
	usage     []catalog.Usage
}

func loadEntitlements(ctx context.Context, ops planOps, ref string) (entitlements, error) {
	var (
		en  entitlements
		err error
	)
	if en.tenant, err = ops.GetTenant(ctx, ref); err != nil {
		return en, err
	}
	ref = en.tenant.ID.String()
	if en.plan, err = ops.GetPlan(ctx, en.tenant.Plan); err != nil {
		return en, err
	}
	if en.overrides, err = ops.TenantOverrides(ctx, ref); err != nil {
		return en, err
	}
	en.usage, err = ops.TenantUsage(ctx, ref)
	return en, err
}

// features are the tenant's effective features: the plan's, then its
// overrides, as the tenant context has them.
func (en entitlements) features() map[string]bool {
	fs := map[string]bool{}
	for _, f := range en.plan.Features {
		fs[f] = true
	}
	for f, on := range en.overrides.Features {
		fs[f] = on
	}
	return fs
}

// limits are the tenant's effective limits: the plan's, then its
// overrides. An absent limit is unlimited.
func (en entitlements) limits() map[string]int64 {
	ls := map[string]int64{}
	for k, v := range en.plan.Limits {
		ls[k] = v
	}
	for k, v := range en.overrides.Limits {
		ls[k] = v
	}
	return ls
}

func (en entitlements) usageOf(name string) (catalog.Usage, bool) {
	for _, u := range en.usage {
		if u.Name == name {
			return u, true
		}
	}
	return catalog.Usage{}, false
}

func tenantsSetPlan(e env, g *globals) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "set-plan ID|SLUG PLAN [--force]",
		Short: "Move a tenant to another plan: its features and limits change at once",
		Long: "Move a tenant to another plan: its features and limits change at once.\n" +
			"A plan whose limits the tenant's current usage exceeds is refused unless --force.",
		Args: exactArgs(2, "an ID or SLUG and a PLAN"),
	}
	cmd.Flags().BoolVar(&force, "force", false, "apply the plan even if the tenant's usage exceeds its limits")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return withPlans(g, func(ctx context.Context, ops planOps) error {
			before, err := ops.GetTenant(ctx, args[0])
			if err != nil {
				return err
			}
			if _, err := ops.SetTenantPlan(ctx, before.ID.String(), catalog.SetPlanParams{Plan: args[1], Force: force}); err != nil {
				return forceHint(err)
			}
			en, err := loadEntitlements(ctx, ops, before.ID.String())
			if err != nil {
				return err
			}
			return printSetPlan(e.stdout, g.output, before.Plan, en)
		})(cmd, args)
	}
	return cmd
}

func printSetPlan(w io.Writer, format, previous string, en entitlements) error {
	if format == "json" {
		return writeJSON(w, struct {
			Tenant       catalog.Tenant   `json:"tenant"`
			PreviousPlan string           `json:"previous_plan"`
			Features     map[string]bool  `json:"features"`
			Limits       map[string]int64 `json:"limits"`
		}{en.tenant, previous, en.features(), en.limits()})
	}
	if previous == en.tenant.Plan {
		fmt.Fprintf(w, "%s: already on plan %s\n", en.tenant.Slug, previous)
	} else {
		fmt.Fprintf(w, "%s: plan %s → %s\n", en.tenant.Slug, previous, en.tenant.Plan)
	}
	var feats []string
	fs := en.features()
	for _, f := range sortedNames(fs) {
		_, over := en.overrides.Features[f]
		switch {
		case fs[f] && over:
			feats = append(feats, f+" (override)")
		case fs[f]:
			feats = append(feats, f)
		case over:
			feats = append(feats, "no "+f+" (override)")
		}
	}
	var lims []string
	ls := en.limits()
	for _, k := range sortedNames(ls) {
		s := k + "=" + strconv.FormatInt(ls[k], 10)
		if _, over := en.overrides.Limits[k]; over {
			s += " (override)"
		}
		lims = append(lims, s)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Features:\t%s\n", orDash(strings.Join(feats, ", ")))
	fmt.Fprintf(tw, "Limits:\t%s\n", orDash(strings.Join(lims, ", ")))
	return tw.Flush()
}

func tenantsLimits(e env, g *globals) *cobra.Command {
	var (
		set, unset []string
		force      bool
	)
	cmd := &cobra.Command{
		Use:   "limits ID|SLUG [--set NAME=VALUE]... [--unset NAME]... [--force]",
		Short: "Show a tenant's limits, or override its plan's with its own",
		Long: "Show a tenant's limits: its plan's, its own overrides, the effective value and the usage each is checked against.\n" +
			"--set overrides a limit for this tenant; --unset removes the override, so the plan's applies again.\n" +
			"A limit below the tenant's current usage is refused unless --force.",
		Args: exactArgs(1, "one ID or SLUG"),
	}
	cmd.Flags().StringArrayVar(&set, "set", nil, "override a limit, NAME=VALUE (repeatable)")
	cmd.Flags().StringArrayVar(&unset, "unset", nil, "remove the override of a limit (repeatable)")
	cmd.Flags().BoolVar(&force, "force", false, "apply limits the tenant's usage already exceeds")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		p := catalog.OverridePatch{Limits: map[string]*int64{}, Force: force}
		for _, kv := range set {
			k, v, err := parseAssignment("--set", kv)
			if err != nil {
				return err
			}
			p.Limits[k] = &v
		}
		for _, k := range unset {
			if _, ok := p.Limits[k]; ok {
				return usageError{fmt.Errorf("--set and --unset both name %q", k)}
			}
			p.Limits[k] = nil
		}
		return withPlans(g, func(ctx context.Context, ops planOps) error {
			if len(p.Limits) > 0 {
				if _, err := ops.PatchTenantOverrides(ctx, args[0], p); err != nil {
					return forceHint(err)
				}
			}
			en, err := loadEntitlements(ctx, ops, args[0])
			if err != nil {
				return err
			}
			return printLimits(e.stdout, g.output, en)
		})(cmd, args)
	}
	return cmd
}

// limitRow is one limit of a tenant; nil is absent (unlimited).
type limitRow struct {
	Limit     string `json:"limit"`
	Plan      *int64 `json:"plan"`
	Override  *int64 `json:"override"`
	Effective *int64 `json:"effective"`
	Usage     string `json:"usage"`
	Current   *int64 `json:"current"`
}

func printLimits(w io.Writer, format string, en entitlements) error {
	ls := en.limits()
	rows := make([]limitRow, 0, len(ls))
	for _, k := range sortedNames(ls) {
		r := limitRow{Limit: k, Usage: catalog.UsageOf(k), Effective: ptrTo(ls[k])}
		if v, ok := en.plan.Limits[k]; ok {
			r.Plan = &v
		}
		if v, ok := en.overrides.Limits[k]; ok {
			r.Override = &v
		}
		if u, ok := en.usageOf(r.Usage); ok {
			r.Current = &u.Value
		}
		rows = append(rows, r)
	}
	if format == "json" {
		return writeJSON(w, struct {
			Tenant string     `json:"tenant"`
			Plan   string     `json:"plan"`
			Limits []limitRow `json:"limits"`
		}{en.tenant.Slug, en.tenant.Plan, rows})
	}
	fmt.Fprintf(w, "%s on plan %s (absent limits are unlimited)\n", en.tenant.Slug, en.tenant.Plan)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "LIMIT\tPLAN\tOVERRIDE\tEFFECTIVE\tUSAGE")
	for _, r := range rows {
		usage := "-"
		if r.Current != nil {
			usage = fmt.Sprintf("%d %s", *r.Current, r.Usage)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Limit, num(r.Plan), num(r.Override), num(r.Effective), usage)
	}
	return tw.Flush()
}

func num(p *int64) string {
	if p == nil {
		return "-"
	}
	return strconv.FormatInt(*p, 10)
}

func ptrTo[T any](v T) *T { return &v }

func tenantsFeatures(e env, g *globals) *cobra.Command {
	var on, off, unset []string
	cmd := &cobra.Command{
		Use:   "features ID|SLUG [--on F]... [--off F]... [--unset F]...",
		Short: "Show a tenant's features, or turn features on or off for it alone",
		Long: "Show a tenant's features: its plan's, its own overrides and whether each is on.\n" +
			"--on and --off override the plan for this tenant; --unset removes the override.",
		Args: exactArgs(1, "one ID or SLUG"),
	}
	cmd.Flags().StringArrayVar(&on, "on", nil, "turn a feature on for this tenant (repeatable)")
	cmd.Flags().StringArrayVar(&off, "off", nil, "turn a feature off for this tenant (repeatable)")
	cmd.Flags().StringArrayVar(&unset, "unset", nil, "remove the tenant's override of a feature (repeatable)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		p := catalog.OverridePatch{Features: map[string]*bool{}}
		for _, l := range []struct {
			names []string
			value *bool
		}{{on, ptrTo(true)}, {off, ptrTo(false)}, {unset, nil}} {
			for _, f := range l.names {
				if _, ok := p.Features[f]; ok {
					return usageError{fmt.Errorf("feature %q is named twice", f)}
				}
				p.Features[f] = l.value
			}
		}
		return withPlans(g, func(ctx context.Context, ops planOps) error {
			if len(p.Features) > 0 {
				if _, err := ops.PatchTenantOverrides(ctx, args[0], p); err != nil {
					return err
				}
			}
			en, err := loadEntitlements(ctx, ops, args[0])
			if err != nil {
				return err
			}
			return printFeatures(e.stdout, g.output, en)
		})(cmd, args)
	}
	return cmd
}

// featureRow is one feature of a tenant.
type featureRow struct {
	Feature  string `json:"feature"`
	Plan     bool   `json:"plan"`
	Override *bool  `json:"override"`
	Enabled  bool   `json:"enabled"`
}

func printFeatures(w io.Writer, format string, en entitlements) error {
	fs := en.features()
	inPlan := map[string]bool{}
	for _, f := range en.plan.Features {
		inPlan[f] = true
	}
	rows := make([]featureRow, 0, len(fs))
	for _, f := range sortedNames(fs) {
		r := featureRow{Feature: f, Plan: inPlan[f], Enabled: fs[f]}
		if v, ok := en.overrides.Features[f]; ok {
			r.Override = &v
		}
		rows = append(rows, r)
	}
	if format == "json" {
		return writeJSON(w, struct {
			Tenant   string       `json:"tenant"`
			Plan     string       `json:"plan"`
			Features []featureRow `json:"features"`
		}{en.tenant.Slug, en.tenant.Plan, rows})
	}
	fmt.Fprintf(w, "%s on plan %s\n", en.tenant.Slug, en.tenant.Plan)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FEATURE\tPLAN\tOVERRIDE\tENABLED")
	for _, r := range rows {
		over := "-"
		if r.Override != nil {
			over = onOff(*r.Override)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Feature, yesNo(r.Plan), over, yesNo(r.Enabled))
	}
	return tw.Flush()
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func tenantsGauges(e env, g *globals) *cobra.Command {
	var set []string
	cmd := &cobra.Command{
		Use:   "gauges ID|SLUG [--set NAME=VALUE]...",
		Short: "Show or record a tenant's current usage, which plan changes and limits are checked against",
		Long: "Show or record a tenant's current usage (users, storage_mb, …): a limit max_X is checked against usage X,\n" +
			"any other limit against the usage of its own name, when the tenant's plan or limits change.",
		Args: exactArgs(1, "one ID or SLUG"),
	}
	cmd.Flags().StringArrayVar(&set, "set", nil, "record a usage, NAME=VALUE (repeatable)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		type gauge struct {
			name  string
			value int64
		}
		var gs []gauge
		for _, kv := range set {
			k, v, err := parseAssignment("--set", kv)
			if err != nil {
				return err
			}
			gs = append(gs, gauge{k, v})
		}
		return withPlans(g, func(ctx context.Context, ops planOps) error {
			for _, gg := range gs {
				if err := ops.SetUsage(ctx, args[0], gg.name, gg.value); err != nil {
					return err
				}
			}
			en, err := loadEntitlements(ctx, ops, args[0])
			if err != nil {
				return err
			}
			return printGauges(e.stdout, g.output, en)
		})(cmd, args)
	}
	return cmd
}

// gaugeRow is one usage of a tenant and the limit checked against it.
type gaugeRow struct {
	Usage      string    `json:"usage"`
	Value      int64     `json:"value"`
	Limit      string    `json:"limit,omitempty"`
	Allowed    *int64    `json:"allowed"`
	MeasuredAt time.Time `json:"measured_at"`
}

func printGauges(w io.Writer, format string, en entitlements) error {
	ls := en.limits()
	rows := make([]gaugeRow, 0, len(en.usage))
	for _, u := range en.usage {
		r := gaugeRow{Usage: u.Name, Value: u.Value, MeasuredAt: u.MeasuredAt}
		for _, k := range sortedNames(ls) {
			if catalog.UsageOf(k) == u.Name {
				r.Limit, r.Allowed = k, ptrTo(ls[k])
				break
			}
		}
		rows = append(rows, r)
	}
	if format == "json" {
		return writeJSON(w, struct {
			Tenant string     `json:"tenant"`
			Gauges []gaugeRow `json:"gauges"`
		}{en.tenant.Slug, rows})
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "USAGE\tVALUE\tLIMIT\tMEASURED")
	for _, r := range rows {
		limit := "-"
		if r.Allowed != nil {
			limit = fmt.Sprintf("%s=%d", r.Limit, *r.Allowed)
			if r.Value > *r.Allowed {
				limit += " (exceeded)"
			}
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", r.Usage, r.Value, limit, r.MeasuredAt.UTC().Format(time.RFC3339))
	}
	return tw.Flush()
}
