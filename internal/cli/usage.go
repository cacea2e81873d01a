package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tenantkit/tenantkit/internal/adminapi"
	"github.com/tenantkit/tenantkit/internal/catalog"
)

// usageOps is what the usage and top commands need, served either by the
// catalog directly or by a server's admin API.
type usageOps interface {
	Usage(ctx context.Context, ref, period string) (catalog.UsageReport, error)
	UsageAll(ctx context.Context, period string) (adminapi.UsageExport, error)
	Load(ctx context.Context, window time.Duration) (catalog.LoadReport, error)
}

var (
	_ usageOps = directOps{}
	_ usageOps = apiOps{}
)

// Usage is the admin API's GET /api/v1/tenants/{ref}/usage: period ""
// is the current month.
func (d directOps) Usage(ctx context.Context, ref, period string) (catalog.UsageReport, error) {
	u, err := d.store.UsageFor(ctx, ref, adminapi.PeriodOr(period, time.Now()))
	return u, problemErr(err)
}

// UsageAll is the admin API's GET /api/v1/usage.
func (d directOps) UsageAll(ctx context.Context, period string) (adminapi.UsageExport, error) {
	out, err := adminapi.ExportUsage(ctx, d.store, adminapi.PeriodOr(period, time.Now()))
	return out, problemErr(err)
}

// Load is the admin API's GET /api/v1/load: window 0 is the default.
func (d directOps) Load(ctx context.Context, window time.Duration) (catalog.LoadReport, error) {
	if window == 0 {
		window = adminapi.DefaultLoadWindow
	}
	if err := adminapi.CheckLoadWindow(window); err != nil {
		return catalog.LoadReport{}, problemErr(err)
	}
	rep, err := d.store.Load(ctx, time.Now(), window)
	return rep, problemErr(err)
}

func newUsage(e env, g *globals) *cobra.Command {
	var (
		period string
		all    bool
	)
	cmd := &cobra.Command{
		Use:   "usage SLUG|--all [--period YYYY-MM]",
		Short: "Show a tenant's metered usage in a billing month, or with --all every tenant's",
		Long: "Show what a tenant used in a billing month (UTC; default: the current one): API calls,\n" +
			"compute and database time, database queries, bandwidth, the last storage sample and the\n" +
			"users active in the month. With --all (and no SLUG), list every tenant that used\n" +
			"anything in the month, as a billing export; -o json prints it for a program.",
		Example: "  tenantkit usage acme\n  tenantkit usage acme --period 2026-10 -o json\n  tenantkit usage --all --period 2026-10",
		Args: func(cmd *cobra.Command, args []string) error {
			if all {
				return exactArgs(0, "no SLUG with --all")(cmd, args)
			}
			return exactArgs(1, "one SLUG, or --all")(cmd, args)
		},
	}
	cmd.Flags().StringVar(&period, "period", "", "billing month, YYYY-MM (default: the current UTC month)")
	cmd.Flags().BoolVar(&all, "all", false, "list every tenant's usage in the month")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := checkPeriod(period); err != nil {
			return err
		}
		ops, done, err := connectAs[usageOps](cmd.Context(), g)
		if err != nil {
			return err
		}
		defer done()
		if all {
			out, err := ops.UsageAll(cmd.Context(), period)
			if err != nil {
				return err
			}
			return printUsageExport(e.stdout, g.output, out)
		}
		u, err := ops.Usage(cmd.Context(), args[0], period)
		if err != nil {
			return err
		}
		return printUsageReport(e.stdout, g.output, u)
	}
	return cmd
}

// checkPeriod refuses a --period that is not a month before anything is
// asked of the catalog or the server.
func checkPeriod(period string) error {
	if period == "" {
		return nil
	}
	if _, err := catalog.ParsePeriod(period); err != nil {
		return usageError{fmt.Errorf("--period must be a month written YYYY-MM, like 2026-11, not %q", period)}
	}
	return nil
}

func printUsageReport(w io.Writer, format string, u catalog.UsageReport) error {
	if format == "json" {
		return writeJSON(w, u)
	}
	updated := "nothing recorded"
	if u.UpdatedAt != nil {
		updated = u.UpdatedAt.UTC().Format(time.RFC3339)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	rows := [][2]string{
		{"Tenant", u.Slug + " (" + u.TenantID.String() + ")"},
		{"Period", u.Period},
		{"API calls", strconv.FormatInt(u.APICalls, 10)},
		{"Compute", usageTimeExact(u.ComputeMs)},
		{"DB time", usageTimeExact(u.DBMs)},
		{"DB queries", strconv.FormatInt(u.DBQueries, 10)},
		{"Bandwidth", usageBytesExact(u.BandwidthBytes)},
		{"Storage", usageStorage(u)},
		{"Active users", strconv.FormatInt(u.ActiveUsers, 10)},
		{"Jobs", strconv.FormatInt(u.Jobs, 10)},
		{"Job time", usageTimeExact(u.JobMs)},
		{"Updated", updated},
	}
	for _, r := range rows {
		fmt.Fprintf(tw, "%s:\t%s\n", r[0], r[1])
	}
	return tw.Flush()
}

func printUsageExport(w io.Writer, format string, out adminapi.UsageExport) error {
	if format == "json" {
		return writeJSON(w, out)
	}
	fmt.Fprintf(w, "usage in %s\n", out.Period)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TENANT\tAPI CALLS\tCOMPUTE\tDB TIME\tDB QUERIES\tBANDWIDTH\tSTORAGE\tUSERS\tJOBS\tJOB TIME")
	for _, u := range out.Tenants {
		storage := "-"
		if u.StorageSampledAt != nil {
			storage = bytesText(u.StorageBytes)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%d\t%s\t%s\t%d\t%d\t%s\n", u.Slug, u.APICalls, usageTime(u.ComputeMs), usageTime(u.DBMs),
			u.DBQueries, bytesText(u.BandwidthBytes), storage, u.ActiveUsers, u.Jobs, usageTime(u.JobMs))
	}
	return tw.Flush()
}

// usageTime is ms of time in the largest unit it makes at least one of,
// up to hours: "0.7 ms", "2.5 s", "1.5 min".
func usageTime(ms float64) string {
	switch {
	case ms < 1000:
		return strconv.FormatFloat(ms, 'f', -1, 64) + " ms"
	case ms < 60_000:
		return fmt.Sprintf("%.1f s", ms/1000)
	case ms < 3_600_000:
		return fmt.Sprintf("%.1f min", ms/60_000)
	}
	return fmt.Sprintf("%.1f h", ms/3_600_000)
}

// usageTimeExact is usageTime with the exact milliseconds when it rounds
// them: a bill is checked against them.
func usageTimeExact(ms float64) string {
	if ms < 1000 {
		return usageTime(ms)
	}
	return usageTime(ms) + " (" + strconv.FormatFloat(ms, 'f', -1, 64) + " ms)"
}

// usageBytesExact is bytesText with the exact count when it rounds it.
func usageBytesExact(n int64) string {
	if n < 1024 {
		return bytesText(n)
	}
	return bytesText(n) + " (" + strconv.FormatInt(n, 10) + " bytes)"
}

func usageStorage(u catalog.UsageReport) string {
	if u.StorageSampledAt == nil {
		return "not sampled in the period"
	}
	s := usageBytesExact(u.StorageBytes)
	if u.StorageMethod != "" {
		s += ", " + u.StorageMethod
	}
	return s + ", sampled " + u.StorageSampledAt.UTC().Format(time.RFC3339)
}
