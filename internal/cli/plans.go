package cli

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tenantkit/tenantkit/internal/catalog"
)

// planOps is what the plans commands and the tenants commands about plans,
// limits and features need, served either by the catalog directly or by a
// server's admin API.
type planOps interface {
	tenantOps
	ListPlans(ctx context.Context) ([]catalog.Plan, error)
	GetPlan(ctx context.Context, name string) (catalog.Plan, error)
	CreatePlan(ctx context.Context, p catalog.PlanParams) (catalog.Plan, error)
	UpdatePlan(ctx context.Context, p catalog.PlanParams) (catalog.Plan, error)
	DeletePlan(ctx context.Context, name string) error
	SetTenantPlan(ctx context.Context, ref string, p catalog.SetPlanParams) (catalog.Tenant, error)
	TenantOverrides(ctx context.Context, ref string) (catalog.Overrides, error)
	PatchTenantOverrides(ctx context.Context, ref string, p catalog.OverridePatch) (catalog.Overrides, error)
	TenantUsage(ctx context.Context, ref string) ([]catalog.Usage, error)
	SetUsage(ctx context.Context, ref, name string, value int64) error
}

var (
	_ planOps = directOps{}
	_ planOps = apiOps{}
)

// connectAs is connect for commands that need more than tenantOps: both
// kinds of ops have every method.
func connectAs[T any](ctx context.Context, g *globals) (T, func(), error) {
	ops, done, err := connect(ctx, g)
	if err != nil {
		var zero T
		return zero, nil, err
	}
	return ops.(T), done, nil
}

func (d directOps) ListPlans(ctx context.Context) ([]catalog.Plan, error) {
	ps, err := d.store.ListPlans(ctx)
	return ps, problemErr(err)
}

func (d directOps) GetPlan(ctx context.Context, name string) (catalog.Plan, error) {
	p, err := d.store.GetPlan(ctx, name)
	return p, problemErr(err)
}

func (d directOps) CreatePlan(ctx context.Context, p catalog.PlanParams) (catalog.Plan, error) {
	out, err := d.store.CreatePlan(ctx, d.actor, p)
	return out, problemErr(err)
}

func (d directOps) UpdatePlan(ctx context.Context, p catalog.PlanParams) (catalog.Plan, error) {
	out, err := d.store.UpdatePlan(ctx, d.actor, p)
	return out, problemErr(err)
}

func (d directOps) DeletePlan(ctx context.Context, name string) error {
	return problemErr(d.store.DeletePlan(ctx, d.actor, name))
}

func (d directOps) SetTenantPlan(ctx context.Context, ref string, p catalog.SetPlanParams) (catalog.Tenant, error) {
	t, err := d.store.SetTenantPlan(ctx, d.actor, ref, p)
	return t, problemErr(err)
}

func (d directOps) TenantOverrides(ctx context.Context, ref string) (catalog.Overrides, error) {
	o, err := d.store.TenantOverrides(ctx, ref)
	return o, problemErr(err)
}

func (d directOps) PatchTenantOverrides(ctx context.Context, ref string, p catalog.OverridePatch) (catalog.Overrides, error) {
	o, err := d.store.PatchTenantOverrides(ctx, d.actor, ref, p)
	return o, problemErr(err)
}

func (d directOps) TenantUsage(ctx context.Context, ref string) ([]catalog.Usage, error) {
	us, err := d.store.TenantUsage(ctx, ref)
	return us, problemErr(err)
}

func (d directOps) SetUsage(ctx context.Context, ref, name string, value int64) error {
	return problemErr(d.store.SetUsage(ctx, ref, name, value))
}

func newPlans(e env, g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "plans", Short: "List, inspect, create, change and delete plans: their rank, features and limits"}
	cmd.AddCommand(plansList(e, g), plansGet(e, g), plansCreate(e, g), plansUpdate(e, g), plansDelete(e, g))
	return group(cmd)
}

// withPlans runs fn with the plan ops for the flags.
func withPlans(g *globals, fn func(ctx context.Context, ops planOps) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		ops, done, err := connectAs[planOps](cmd.Context(), g)
		if err != nil {
			return err
		}
		defer done()
		return fn(cmd.Context(), ops)
	}
}

func plansList(e env, g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List plans by rank",
		Args:  exactArgs(0, "no arguments"),
		RunE: withPlans(g, func(ctx context.Context, ops planOps) error {
			ps, err := ops.ListPlans(ctx)
			if err != nil {
				return err
			}
			if g.output == "json" {
				return writeJSON(e.stdout, ps)
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tRANK\tDISPLAY\tFEATURES\tLIMITS")
			for _, p := range ps {
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", p.Name, p.Rank, p.DisplayName, orDash(featureList(p.Features)), orDash(limitList(p.Limits)))
			}
			return tw.Flush()
		}),
	}
}

func plansGet(e env, g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "get NAME",
		Short: "Show a plan",
		Args:  exactArgs(1, "one plan NAME"),
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return withPlans(g, func(ctx context.Context, ops planOps) error {
			p, err := ops.GetPlan(ctx, args[0])
			if err != nil {
				return err
			}
			return printPlan(e.stdout, g.output, p)
		})(cmd, args)
	}
	return cmd
}

// planFlags are the flags of plans create and update.
type planFlags struct {
	displayName, description, tier string
	rank                           int
	features, limits               []string
	clearFeatures, clearLimits     bool
	// Billing: the plan's Stripe prices.
	basePrice, seatPrice, seatGauge string
	metered                         []string
	trialDays                       int
	clearBilling                    bool
}

func (f *planFlags) register(cmd *cobra.Command, update bool) {
	fs := cmd.Flags()
	fs.StringVar(&f.displayName, "display-name", "", "name people see")
	fs.StringVar(&f.description, "description", "", "what the plan is for")
	fs.IntVar(&f.rank, "rank", 0, "rank: higher plans are upgrades, and flags gate on it")
	fs.StringVar(&f.tier, "tier", catalog.TierShared, "default isolation tier of its tenants: shared, schema or dedicated")
	what := ""
	if update {
		what = "; replaces the plan's features when given"
	}
	fs.StringArrayVar(&f.features, "feature", nil, "a feature of the plan (repeatable"+what+")")
	if update {
		what = "; replaces the plan's limits when given"
	}
	fs.StringArrayVar(&f.limits, "limit", nil, "a limit of the plan, name=value (repeatable"+what+"); an absent limit is unlimited")
	if update {
		fs.BoolVar(&f.clearFeatures, "clear-features", false, "remove every feature of the plan")
		fs.BoolVar(&f.clearLimits, "clear-limits", false, "remove every limit of the plan (all unlimited)")
	}
	fs.StringVar(&f.basePrice, "base-price", "", "Stripe price billed flat each period (price_…; empty removes it)")
	fs.StringVar(&f.seatPrice, "seat-price", "", "Stripe price billed per seat (price_…; empty removes it)")
	fs.StringVar(&f.seatGauge, "seat-gauge", "", "usage gauge that counts seats (default users)")
	fs.StringArrayVar(&f.metered, "metered", nil, "metered price of a usage metric, METRIC=PRICE@METER_EVENT_NAME (repeatable; METRIC= removes it); metrics: "+strings.Join(catalog.MeteredMetrics, ", "))
	fs.IntVar(&f.trialDays, "trial-days", 0, "trial days of a new subscription on the plan")
	if update {
		fs.BoolVar(&f.clearBilling, "clear-billing", false, "remove every Stripe price of the plan")
	}
}

// billingChanged says whether any billing flag was given.
func (f *planFlags) billingChanged(cmd *cobra.Command) bool {
	for _, n := range []string{"base-price", "seat-price", "seat-gauge", "metered", "trial-days", "clear-billing"} {
		if cmd.Flags().Changed(n) {
			return true
		}
	}
	return false
}

// billing applies the billing flags to the plan's current prices (none on
// create): a flag given changes its price, the others stay.
func (f *planFlags) billing(cmd *cobra.Command, current *catalog.PlanBilling) (*catalog.PlanBilling, error) {
	changed := cmd.Flags().Changed
	if f.clearBilling {
		if changed("base-price") || changed("seat-price") || changed("seat-gauge") || changed("metered") || changed("trial-days") {
			return nil, usageError{fmt.Errorf("give --clear-billing or prices, not both")}
		}
		return &catalog.PlanBilling{}, nil
	}
	b := catalog.PlanBilling{}
	if current != nil {
		b = *current
		b.Metered = maps.Clone(current.Metered)
	}
	if changed("base-price") {
		b.BasePrice = f.basePrice
	}
	if changed("seat-price") {
		b.SeatPrice = f.seatPrice
		if f.seatPrice == "" {
			b.SeatGauge = ""
		}
	}
	if changed("seat-gauge") {
		b.SeatGauge = f.seatGauge
	}
	if changed("trial-days") {
		b.TrialDays = f.trialDays
	}
	for _, kv := range f.metered {
		metric, rest, ok := strings.Cut(kv, "=")
		metric = strings.TrimSpace(metric)
		if !ok || metric == "" {
			return nil, usageError{fmt.Errorf("--metered %q: want METRIC=PRICE@METER_EVENT_NAME, or METRIC= to remove it", kv)}
		}
		if rest == "" {
			delete(b.Metered, metric)
			continue
		}
		price, meter, ok := strings.Cut(rest, "@")
		if !ok || price == "" || meter == "" {
			return nil, usageError{fmt.Errorf("--metered %q: want METRIC=PRICE@METER_EVENT_NAME", kv)}
		}
		if b.Metered == nil {
			b.Metered = map[string]catalog.MeteredPrice{}
		}
		b.Metered[metric] = catalog.MeteredPrice{Price: price, Meter: meter}
	}
	return &b, nil
}

// params are the plan params of the flags given: on update, only those.
func (f *planFlags) params(cmd *cobra.Command, name string) (catalog.PlanParams, error) {
	p := catalog.PlanParams{Name: name}
	changed := cmd.Flags().Changed
	if changed("display-name") {
		p.DisplayName = &f.displayName
	}
	if changed("description") {
		p.Description = &f.description
	}
	if changed("rank") {
		p.Rank = &f.rank
	}
	if changed("tier") {
		p.DefaultTier = &f.tier
	}
	if f.clearFeatures && len(f.features) > 0 {
		return p, usageError{fmt.Errorf("give --feature or --clear-features, not both")}
	}
	if f.clearLimits && len(f.limits) > 0 {
		return p, usageError{fmt.Errorf("give --limit or --clear-limits, not both")}
	}
	if changed("feature") || f.clearFeatures {
		feats := append([]string{}, f.features...)
		p.Features = &feats
	}
	if changed("limit") || f.clearLimits {
		lims := map[string]int64{}
		for _, kv := range f.limits {
			k, v, err := parseAssignment("--limit", kv)
			if err != nil {
				return p, err
			}
			lims[k] = v
		}
		p.Limits = &lims
	}
	return p, nil
}

// parseAssignment parses name=value with a whole number value.
func parseAssignment(flag, kv string) (string, int64, error) {
	k, v, ok := strings.Cut(kv, "=")
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if !ok || k == "" || err != nil {
		return "", 0, usageError{fmt.Errorf("%s %q: want name=value with a whole number value", flag, kv)}
	}
	return strings.TrimSpace(k), n, nil
}

func plansCreate(e env, g *globals) *cobra.Command {
	var f planFlags
	cmd := &cobra.Command{
		Use:   "create NAME --display-name NAME [--rank N] [--tier TIER] [--feature F]... [--limit NAME=VALUE]...",
		Short: "Create a plan",
		Args:  exactArgs(1, "one plan NAME"),
	}
	f.register(cmd, false)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		p, err := f.params(cmd, args[0])
		if err != nil {
			return err
		}
		if f.billingChanged(cmd) {
			if p.Billing, err = f.billing(cmd, nil); err != nil {
				return err
			}
		}
		return withPlans(g, func(ctx context.Context, ops planOps) error {
			pl, err := ops.CreatePlan(ctx, p)
			if err != nil {
				return err
			}
			return printPlan(e.stdout, g.output, pl)
		})(cmd, args)
	}
	return cmd
}

func plansUpdate(e env, g *globals) *cobra.Command {
	var f planFlags
	cmd := &cobra.Command{
		Use:   "update NAME [--display-name NAME] [--rank N] [--tier TIER] [--feature F]... [--limit NAME=VALUE]... [--clear-features] [--clear-limits]",
		Short: "Change a plan; every tenant on it sees the change on its next request",
		Args:  exactArgs(1, "one plan NAME"),
	}
	f.register(cmd, true)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		p, err := f.params(cmd, args[0])
		if err != nil {
			return err
		}
		if p == (catalog.PlanParams{Name: args[0]}) && !f.billingChanged(cmd) {
			return usageError{fmt.Errorf("plans update: give --display-name, --description, --rank, --tier, --feature, --limit, --clear-features, --clear-limits, a price or --clear-billing")}
		}
		return withPlans(g, func(ctx context.Context, ops planOps) error {
			if f.billingChanged(cmd) {
				cur, err := ops.GetPlan(ctx, args[0])
				if err != nil {
					return err
				}
				if p.Billing, err = f.billing(cmd, cur.Billing); err != nil {
					return err
				}
			}
			pl, err := ops.UpdatePlan(ctx, p)
			if err != nil {
				return err
			}
			return printPlan(e.stdout, g.output, pl)
		})(cmd, args)
	}
	return cmd
}

func plansDelete(e env, g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a plan no tenant is on",
		Args:  exactArgs(1, "one plan NAME"),
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return withPlans(g, func(ctx context.Context, ops planOps) error {
			if err := ops.DeletePlan(ctx, args[0]); err != nil {
				return err
			}
			if g.output == "json" {
				return writeJSON(e.stdout, map[string]string{"deleted": args[0]})
			}
			fmt.Fprintf(e.stdout, "deleted plan %s\n", args[0])
			return nil
		})(cmd, args)
	}
	return cmd
}

func printPlan(w io.Writer, format string, p catalog.Plan) error {
	if format == "json" {
		return writeJSON(w, p)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	rows := [][2]string{
		{"Name", p.Name}, {"Display name", p.DisplayName}, {"Description", orDash(p.Description)},
		{"Rank", strconv.Itoa(p.Rank)}, {"Default tier", p.DefaultTier},
		{"Features", orDash(featureList(p.Features))}, {"Limits", orDash(limitList(p.Limits))},
		{"Billing", orDash(billingList(p.Billing))},
		{"Created", p.CreatedAt.UTC().Format(time.RFC3339)}, {"Updated", p.UpdatedAt.UTC().Format(time.RFC3339)},
	}
	for _, r := range rows {
		fmt.Fprintf(tw, "%s:\t%s\n", r[0], r[1])
	}
	return tw.Flush()
}

func featureList(fs []string) string {
	s := slices.Clone(fs)
	slices.Sort(s)
	return strings.Join(s, ",")
}

// limitList renders limits as name=value by name.
func limitList(ls map[string]int64) string {
	parts := make([]string, 0, len(ls))
	for _, k := range sortedNames(ls) {
		parts = append(parts, k+"="+strconv.FormatInt(ls[k], 10))
	}
	return strings.Join(parts, ",")
}

func sortedNames[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// billingList is a plan's prices on one line.
func billingList(b *catalog.PlanBilling) string {
	if b == nil {
		return ""
	}
	var parts []string
	if b.BasePrice != "" {
		parts = append(parts, "base "+b.BasePrice)
	}
	if b.SeatPrice != "" {
		parts = append(parts, "per seat ("+b.SeatGauge+") "+b.SeatPrice)
	}
	for _, m := range slices.Sorted(maps.Keys(b.Metered)) {
		parts = append(parts, fmt.Sprintf("%s %s@%s", m, b.Metered[m].Price, b.Metered[m].Meter))
	}
	if b.TrialDays > 0 {
		parts = append(parts, fmt.Sprintf("trial %d days", b.TrialDays))
	}
	return strings.Join(parts, "; ")
}
