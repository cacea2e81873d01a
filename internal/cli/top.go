package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/tenantkit/tenantkit/internal/adminapi"
	"github.com/tenantkit/tenantkit/internal/catalog"
)

// topOptions are the flags of tenantkit top.
type topOptions struct {
	window   time.Duration
	interval time.Duration
	// refreshes is how many snapshots to print; 0: until interrupted.
	refreshes int
}

// minTopInterval keeps a mistyped --interval from hammering the catalog.
const minTopInterval = 100 * time.Millisecond

func newTop(e env, g *globals) *cobra.Command {
	o := topOptions{}
	cmd := &cobra.Command{
		Use:   "top [--window 1m] [--interval 2s] [-n N]",
		Short: "Rank tenants by their recent load, like top, and show what to do about noisy ones",
		Long: "Rank tenants by their load over the last --window, summed over every server: first by their\n" +
			"share of the shared tier's database time, then by their share of requests. Noisy tenants\n" +
			"are flagged NOISY(db_time) or NOISY(requests), +THROTTLED when they are being throttled, and\n" +
			"listed under the table with the recommendation and the command that acts on it.\n" +
			"On a terminal the screen is redrawn every --interval until Ctrl-C (or -n refreshes); elsewhere\n" +
			"one snapshot is printed per refresh, separated by a blank line, once unless -n says otherwise.\n" +
			"-o json prints one snapshot as JSON.",
		Args: exactArgs(0, "no arguments"),
	}
	f := cmd.Flags()
	f.DurationVar(&o.window, "window", adminapi.DefaultLoadWindow, "rank by the load of this last stretch of time, 10s to 1h")
	f.DurationVar(&o.interval, "interval", 2*time.Second, "time between refreshes")
	f.IntVarP(&o.refreshes, "refreshes", "n", 0, "stop after N refreshes (default: until Ctrl-C on a terminal, 1 elsewhere)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := o.validate(); err != nil {
			return err
		}
		ops, done, err := connectAs[usageOps](cmd.Context(), g)
		if err != nil {
			return err
		}
		defer done()
		if g.output == "json" {
			rep, err := ops.Load(cmd.Context(), o.window)
			if err != nil {
				return err
			}
			return writeJSON(e.stdout, rep)
		}
		screen := terminalOf(e.stdout)
		o.refreshes = o.refreshesOn(screen, cmd.Flags().Changed("refreshes"))
		return runTop(cmd.Context(), e.stdout, screen, ops, o)
	}
	return cmd
}

func (o topOptions) validate() error {
	switch {
	case adminapi.CheckLoadWindow(o.window) != nil:
		return usageError{fmt.Errorf("--window must be between %s and %s, not %s", adminapi.MinLoadWindow, adminapi.MaxLoadWindow, o.window)}
	case o.interval < minTopInterval:
		return usageError{fmt.Errorf("--interval must be at least %s, not %s", minTopInterval, o.interval)}
	case o.refreshes < 0:
		return usageError{fmt.Errorf("-n must be 0 (until interrupted) or more, not %d", o.refreshes)}
	}
	return nil
}

// refreshesOn is how many snapshots to print on screen (nil: not a
// terminal) when -n was set or not: by default, until interrupted on a
// terminal and once elsewhere, so that `tenantkit top | cat` ends.
func (o topOptions) refreshesOn(screen topScreen, set bool) int {
	if set || screen != nil {
		return o.refreshes
	}
	return 1
}

// topScreen is a terminal top redraws in place.
type topScreen interface {
	// size is its columns and lines, 0 when unknown.
	size() (width, height int)
}

// terminal is a terminal on a file.
type terminal struct{ f *os.File }

func (t terminal) size() (int, int) {
	w, h, err := term.GetSize(int(t.f.Fd()))
	if err != nil {
		return 0, 0
	}
	return w, h
}

// terminalOf returns w as a terminal, or nil when it is not one (a pipe,
// a file, a test's buffer).
func terminalOf(w io.Writer) topScreen {
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return terminal{f}
	}
	return nil
}

// runTop prints a snapshot every o.interval: on screen (nil: not a
// terminal) redrawn in place, elsewhere one after the other. An interrupt
// ends it without an error.
func runTop(ctx context.Context, w io.Writer, screen topScreen, ops usageOps, o topOptions) error {
	next := time.NewTimer(o.interval)
	defer next.Stop()
	for i := 0; o.refreshes == 0 || i < o.refreshes; i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-next.C:
			}
			next.Reset(o.interval)
		}
		rep, err := ops.Load(ctx, o.window)
		if ctx.Err() != nil {
			return nil // interrupted while asking
		}
		if err != nil {
			return err
		}
		var b bytes.Buffer
		switch {
		case screen != nil:
			b.WriteString(clearScreen)
			width, height := screen.size()
			renderTop(&b, rep, width, height)
		default:
			if i > 0 {
				b.WriteByte('\n')
			}
			renderTop(&b, rep, 0, 0)
		}
		if _, err := w.Write(b.Bytes()); err != nil {
			return err
		}
	}
	return nil
}

// clearScreen moves the cursor home and clears the screen.
const clearScreen = "\x1b[H\x1b[2J"

// renderTop writes one snapshot: a header line, the ranking and the noisy
// tenants' findings. On a screen (width and height > 0) the snapshot fits
// it, as top's does, so that redrawing never scrolls: lines are cut to the
// width, and the ranking to the lines the findings leave — one tenant at
// least, with a line saying how many more there are. Findings too long
// for the screen are shown a line each, and then only the first.
func renderTop(w io.Writer, rep catalog.LoadReport, width, height int) {
	notes, shown := fitTop(rep, height)
	var out bytes.Buffer
	fmt.Fprintln(&out, topHeader(rep))
	var table bytes.Buffer
	tw := tabwriter.NewWriter(&table, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tTENANT\tTIER\tPLAN\tREQ/S\tREQ%\tDB ms/s\tSHARED-DB%\tCALLS\tSTORAGE\tUSERS\tFLAG")
	for i, t := range rep.Tenants[:shown] {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%.1f\t%.1f\t%.1f\t%s\t%d\t%s\t%d\t%s\n", i+1, topName(t), orDash(t.Tier), orDash(t.Plan),
			t.RequestRate, 100*t.RequestShare, 1000*t.DBRate, topSharedDB(t), t.Usage.APICalls, topStorage(t.Usage), t.Usage.ActiveUsers, topFlag(t.Noisy))
	}
	_ = tw.Flush()
	for _, line := range strings.Split(strings.TrimSuffix(table.String(), "\n"), "\n") {
		// A tenant without a flag would end in the padding of its
		// last cell.
		fmt.Fprintln(&out, strings.TrimRight(line, " "))
	}
	if left := len(rep.Tenants) - shown; left > 0 {
		fmt.Fprintf(&out, "… and %d more\n", left)
	}
	for _, n := range notes {
		fmt.Fprintln(&out, n)
	}
	text := out.String()
	if width > 0 {
		lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
		for i, l := range lines {
			lines[i] = clip(l, width)
		}
		text = strings.Join(lines, "\n") + "\n"
	}
	_, _ = io.WriteString(w, text)
}

// fitTop returns the findings to show and how many tenants to rank so
// that a snapshot fits height lines (any number when height is 0).
func fitTop(rep catalog.LoadReport, height int) ([]string, int) {
	notes, n := topNotes(rep), len(rep.Tenants)
	if height <= 0 {
		return notes, n
	}
	avail := height - 2 // the header and the column names
	rows := func(notes []string) int {
		r := avail - len(notes)
		if r >= n {
			return n
		}
		return r - 1 // and the line saying how many more
	}
	if rows(notes) < min(n, 1) {
		notes = topBriefNotes(rep)
	}
	if rows(notes) < min(n, 1) {
		// The first findings, then how many more: a line for the blank
		// one, and one for the count.
		keep := max(0, avail-min(n, 2)-2)
		if keep < len(notes)-1 {
			left := len(notes) - 1 - keep
			notes = append(notes[:1+keep:1+keep], fmt.Sprintf("… and %d more findings: tenantkit top -o json", left))
		}
	}
	return notes, max(min(n, 1), rows(notes))
}

// topBriefNotes is a line per finding: the tenant, its flag and the
// command.
func topBriefNotes(rep catalog.LoadReport) []string {
	return findingLines(rep, func(t catalog.TenantLoad, n catalog.NoisyState) []string {
		line := topName(t) + ": " + topFlag([]catalog.NoisyState{n})
		if n.Command != "" {
			line += ": " + n.Command
		}
		return []string{line}
	})
}

// findingLines is the lines lines gives each finding about a noisy
// tenant, after a blank line when there are any.
func findingLines(rep catalog.LoadReport, lines func(catalog.TenantLoad, catalog.NoisyState) []string) []string {
	var out []string
	for _, t := range rep.Tenants {
		for _, n := range t.Noisy {
			if len(out) == 0 {
				out = append(out, "")
			}
			out = append(out, lines(t, n)...)
		}
	}
	return out
}

// clip cuts s to width columns, one a rune, ending with "…" when cut.
func clip(s string, width int) string {
	if utf8.RuneCountInString(s) <= width {
		return s
	}
	r := []rune(s)
	return string(r[:max(width-1, 0)]) + "…"
}

// topHeader is the time, the window and the totals.
func topHeader(rep catalog.LoadReport) string {
	var reqRate, dbRate float64
	noisy := 0
	for _, t := range rep.Tenants {
		reqRate += t.RequestRate
		dbRate += t.DBRate
		if len(t.Noisy) > 0 {
			noisy++
		}
	}
	window := time.Duration(rep.WindowSeconds * float64(time.Second))
	return fmt.Sprintf("tenantkit top - %s, window %s, period %s: %d tenants, %.1f req/s, %.1f DB ms/s, %d noisy",
		rep.At.UTC().Format("2006-01-02 15:04:05 UTC"), window, rep.Period, len(rep.Tenants), reqRate, 1000*dbRate, noisy)
}

func topName(t catalog.TenantLoad) string {
	if t.Slug == "" {
		return t.TenantID.String()
	}
	return t.Slug
}

// topSharedDB is the tenant's share of the shared tier's database time,
// which only shared-tier tenants have.
func topSharedDB(t catalog.TenantLoad) string {
	if t.Tier != catalog.TierShared {
		return "-"
	}
	return fmt.Sprintf("%.1f", 100*t.SharedDBShare)
}

func topStorage(u catalog.UsageReport) string {
	if u.StorageSampledAt == nil {
		return "-"
	}
	return bytesText(u.StorageBytes)
}

// topFlag is NOISY(dimension) per finding, +THROTTLED when throttled.
func topFlag(ns []catalog.NoisyState) string {
	parts := make([]string, 0, len(ns))
	for _, n := range ns {
		s := "NOISY(" + n.Dimension + ")"
		if n.Throttled {
			s += "+THROTTLED"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ",")
}

// topNotes are, for each finding about a noisy tenant, a line saying what
// was found, the recommendation, and the command alone on its line, to be
// copied.
func topNotes(rep catalog.LoadReport) []string {
	return findingLines(rep, func(t catalog.TenantLoad, n catalog.NoisyState) []string {
		what := topName(t) + ": " + topFlag([]catalog.NoisyState{n}) + ", " + topShare(n) + " since " + topSince(rep.At, n.Since)
		if n.Processes > 1 {
			what += ", in " + strconv.Itoa(n.Processes) + " processes"
		}
		out := []string{what}
		if n.Recommendation != "" {
			out = append(out, "  "+n.Recommendation)
		}
		if n.Command != "" {
			out = append(out, "  "+n.Command)
		}
		return out
	})
}

func topShare(n catalog.NoisyState) string {
	pct := strconv.FormatFloat(100*n.Share, 'f', 1, 64) + "%"
	switch n.Dimension {
	case catalog.NoisyDBTime:
		return pct + " of the shared tier's database time"
	case catalog.NoisyRequests:
		return pct + " of requests"
	}
	return pct + " of " + n.Dimension
}

func topSince(now, since time.Time) string {
	if now.Sub(since) < 24*time.Hour {
		return since.UTC().Format("15:04:05 UTC")
	}
	return since.UTC().Format("2006-01-02 15:04 UTC")
}
