package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/tenantkit/tenantkit/internal/adminapi"
	"github.com/tenantkit/tenantkit/internal/catalog"
)

// moveOps is what the move commands need, served either by the catalog
// directly or by a server's admin API.
type moveOps interface {
	CreateMove(ctx context.Context, ref string, p catalog.MoveParams) (catalog.Move, error)
	ListMoves(ctx context.Context, tenant string, limit int) ([]catalog.Move, error)
	GetMove(ctx context.Context, id string) (catalog.Move, error)
	CancelMove(ctx context.Context, id string) (catalog.Move, error)
	RollbackMove(ctx context.Context, id string) (catalog.Move, error)
}

var (
	_ moveOps = directOps{}
	_ moveOps = apiOps{}
)

func connectMoves(ctx context.Context, g *globals) (moveOps, func(), error) {
	ops, done, err := connect(ctx, g)
	if err != nil {
		return nil, nil, err
	}
	return ops.(moveOps), done, nil
}

func (d directOps) CreateMove(ctx context.Context, ref string, p catalog.MoveParams) (catalog.Move, error) {
	m, err := d.store.CreateMove(ctx, d.actor, ref, p)
	return adminapi.MoveView(m), problemErr(err)
}

func (d directOps) ListMoves(ctx context.Context, tenant string, limit int) ([]catalog.Move, error) {
	if limit < 0 || limit > 500 {
		// As the admin API does; the store would take the default.
		return nil, problemErr(&catalog.ValidationError{Fields: []catalog.FieldError{{Field: "limit", Message: "must be a whole number between 1 and 500"}}})
	}
	ms, err := d.store.ListMoves(ctx, tenant, limit)
	for i := range ms {
		ms[i] = adminapi.MoveView(ms[i])
	}
	return ms, problemErr(err)
}

func (d directOps) GetMove(ctx context.Context, id string) (catalog.Move, error) {
	return d.moveByID(id, func(id uuid.UUID) (catalog.Move, error) { return d.store.GetMove(ctx, id) })
}

func (d directOps) CancelMove(ctx context.Context, id string) (catalog.Move, error) {
	return d.moveByID(id, func(id uuid.UUID) (catalog.Move, error) { return d.store.RequestMoveCancel(ctx, d.actor, id) })
}

func (d directOps) RollbackMove(ctx context.Context, id string) (catalog.Move, error) {
	return d.moveByID(id, func(id uuid.UUID) (catalog.Move, error) { return d.store.RequestMoveRollback(ctx, d.actor, id) })
}

// moveByID runs fn on the move id names; an id that is not a uuid names
// no move, as the admin API answers.
func (d directOps) moveByID(id string, fn func(uuid.UUID) (catalog.Move, error)) (catalog.Move, error) {
	u, err := uuid.Parse(id)
	if err != nil {
		return catalog.Move{}, problemErr(catalog.ErrMoveNotFound)
	}
	m, err := fn(u)
	return adminapi.MoveView(m), problemErr(err)
}

func newMoves(e env, g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "moves", Short: "List, inspect, follow, cancel and roll back tenant moves"}
	cmd.AddCommand(movesList(e, g), movesShow(e, g), movesWait(e, g), movesCancel(e, g), movesRollback(e, g))
	return group(cmd)
}

func movesList(e env, g *globals) *cobra.Command {
	var (
		tenant string
		limit  int
	)
	cmd := &cobra.Command{
		Use:   "list [--tenant ID|SLUG] [--limit N]",
		Short: "List moves, newest first",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 1 || limit > 500 {
				return usageError{fmt.Errorf("--limit must be between 1 and 500, not %d", limit)}
			}
			ops, done, err := connectMoves(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer done()
			ms, err := ops.ListMoves(cmd.Context(), tenant, limit)
			if err != nil {
				return err
			}
			return printMoves(e.stdout, g.output, ms)
		},
	}
	cmd.Flags().StringVar(&tenant, "tenant", "", "only the moves of this tenant")
	cmd.Flags().IntVar(&limit, "limit", 50, "at most this many, 1 to 500")
	return cmd
}

// withMove runs fn on the move named by the one argument and prints what
// it returns with print.
func withMove(e env, g *globals, fn func(context.Context, moveOps, string) (catalog.Move, error), print func(io.Writer, catalog.Move) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		ops, done, err := connectMoves(cmd.Context(), g)
		if err != nil {
			return err
		}
		defer done()
		m, err := fn(cmd.Context(), ops, args[0])
		if err != nil {
			return err
		}
		if g.output == "json" {
			return writeJSON(e.stdout, m)
		}
		return print(e.stdout, m)
	}
}

func movesShow(e env, g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "show ID",
		Short: "Show a move: where from and to, its state, each phase's timing, the copy, the lag and the verification",
		Args:  exactArgs(1, "one move ID"),
		RunE: withMove(e, g, func(ctx context.Context, ops moveOps, id string) (catalog.Move, error) {
			return ops.GetMove(ctx, id)
		}, printMove),
	}
}

func movesWait(e env, g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "wait ID",
		Short: "Follow a move until it ends; without --server, work it in this process (needs --migrations)",
		Args:  exactArgs(1, "one move ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if g.server == "" && g.migrations == "" {
				return errNoMigrationsToWait
			}
			ops, done, err := connectMoves(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer done()
			m, err := ops.GetMove(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return followMove(cmd.Context(), e, g, ops, m.ID)
		},
	}
}

func movesCancel(e env, g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "cancel ID",
		Short: "Stop a running move; its runner removes what it built and the tenant stays where it is",
		Args:  exactArgs(1, "one move ID"),
		RunE: withMove(e, g, func(ctx context.Context, ops moveOps, id string) (catalog.Move, error) {
			return ops.CancelMove(ctx, id)
		}, func(w io.Writer, m catalog.Move) error {
			_, err := fmt.Fprintf(w, "cancel of move %s (%s, %s) requested: its runner stops it and removes what it built\n", m.ID, m.Slug, m.State)
			return err
		}),
	}
}

func movesRollback(e env, g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "rollback ID",
		Short: "Undo a complete move inside its confidence period: the tenant goes back with the writes made since",
		Args:  exactArgs(1, "one move ID"),
		RunE: withMove(e, g, func(ctx context.Context, ops moveOps, id string) (catalog.Move, error) {
			return ops.RollbackMove(ctx, id)
		}, func(w io.Writer, m catalog.Move) error {
			_, err := fmt.Fprintf(w, "rollback of move %s (%s) requested: %s returns to %s\n", m.ID, m.Slug, m.Slug, moveSource(m))
			return err
		}),
	}
}

func printMoves(w io.Writer, format string, ms []catalog.Move) error {
	if format == "json" {
		if ms == nil {
			ms = []catalog.Move{}
		}
		return writeJSON(w, map[string]any{"moves": ms})
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTENANT\tFROM\tTO\tSTATE\tCREATED")
	for _, m := range ms {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", m.ID, m.Slug, m.SourceTier+"@"+m.SourceCluster, m.TargetTier+"@"+m.TargetCluster,
			moveState(m), m.CreatedAt.UTC().Format(time.RFC3339))
	}
	return tw.Flush()
}

func moveState(m catalog.Move) string {
	s := m.State
	switch {
	case m.CancelRequested && catalog.MoveRunning(m.State):
		s += " (cancel requested)"
	case m.RollbackRequested && m.State == catalog.MoveComplete:
		s += " (rollback requested)"
	}
	return s
}

// printMove tells a move's story.
func printMove(w io.Writer, m catalog.Move) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	rows := [][2]string{
		{"Move", m.ID.String()}, {"Tenant", m.Slug + " (" + m.TenantID.String() + ")"},
		{"From", fmt.Sprintf("%s (epoch %d)", moveSource(m), m.SourceEpoch)}, {"To", moveTarget(m)},
		{"State", moveState(m)}, {"Phase", m.Phase},
		{"Requested", m.RequestedBy + " at " + m.CreatedAt.UTC().Format(time.RFC3339)},
		{"Attempts", fmt.Sprint(m.Attempts)},
		{"Cutover", timeText(m.CutoverAt)}, {"Finished", timeText(m.FinishedAt)},
		{"Source kept until", timeText(m.RetainUntil)}, {"Cleaned", timeText(m.CleanedAt)},
		{"Last error", oneLine(m.LastError)},
	}
	for _, r := range rows {
		if r[1] != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", r[0], r[1])
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if t := timingRows(m.Timings); len(t) > 0 {
		fmt.Fprintln(w, "\nTimings:")
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, r := range t {
			fmt.Fprintf(tw, "  %s\t%s\n", r[0], r[1])
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return printProgress(w, m)
}

func printProgress(w io.Writer, m catalog.Move) error {
	p := progressOf(m)
	if len(p.Tables) > 0 {
		fmt.Fprintln(w, "\nCopy:")
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "  TABLE\tROWS\tOF\tBYTES\tDONE\t")
		for _, t := range p.Tables {
			fmt.Fprintf(tw, "  %s\t%d\t%d\t%s\t%s\t\n", t.Name, t.RowsCopied, t.RowsTotal, bytesText(t.Bytes), yesNo(t.Done))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if p.AppliedLSN != "" || p.Changes > 0 || p.LagBytes > 0 {
		fmt.Fprintf(w, "\nStream: %s", lagDetail(p))
		if p.AppliedLSN != "" {
			fmt.Fprintf(w, ", applied up to %s (source at %s)", p.AppliedLSN, p.SourceLSN)
		}
		fmt.Fprintln(w)
	}
	if len(p.Verified) > 0 {
		fmt.Fprintf(w, "\nVerification: %d/%d tables match\n", matching(p.Verified), len(p.Verified))
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  TABLE\tSOURCE ROWS\tTARGET ROWS\tSOURCE HASH\tTARGET HASH\tMATCH")
		for _, c := range p.Verified {
			fmt.Fprintf(tw, "  %s\t%d\t%d\t%s\t%s\t%s\n", c.Name, c.SourceRows, c.TargetRows, c.SourceHash, c.TargetHash, yesNo(c.Match))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if p.PauseMillis > 0 || p.CutoverAttempts > 0 {
		fmt.Fprintf(w, "\nCutover: writes paused %s, fences taken: %d\n", millis(p.PauseMillis), p.CutoverAttempts)
	}
	return nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func timeText(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// timingRows flattens a move's timings, whatever their shape ("phase":
// time, or "phase": {"started": time, "ended": time}), into rows in order
// of time, with how long each phase took when it has a start and an end.
func timingRows(raw json.RawMessage) [][2]string {
	var tm map[string]any
	if json.Unmarshal(raw, &tm) != nil || len(tm) == 0 {
		return nil
	}
	type group struct {
		first time.Time
		rows  [][2]string
	}
	var groups []group
	for k, v := range tm {
		g := group{}
		if sub, ok := v.(map[string]any); ok {
			var times []time.Time
			for _, sk := range sortedKeys(sub) {
				s, t := timingValue(sub[sk])
				g.rows = append(g.rows, [2]string{k + " " + sk, s})
				if !t.IsZero() {
					times = append(times, t)
				}
			}
			if len(times) > 0 {
				sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
				g.first = times[0]
				sort.SliceStable(g.rows, func(i, j int) bool { return rowTime(g.rows[i]).Before(rowTime(g.rows[j])) })
			}
			if len(times) == 2 {
				g.rows = append(g.rows, [2]string{k + " took", times[1].Sub(times[0]).Round(time.Millisecond).String()})
			}
		} else {
			s, t := timingValue(v)
			g.first, g.rows = t, [][2]string{{k, s}}
		}
		if len(g.rows) > 0 {
			groups = append(groups, g)
		}
	}
	sort.Slice(groups, func(i, j int) bool {
		a, b := groups[i], groups[j]
		switch {
		case a.first.IsZero() != b.first.IsZero():
			return !a.first.IsZero()
		case !a.first.Equal(b.first):
			return a.first.Before(b.first)
		}
		return a.rows[0][0] < b.rows[0][0]
	})
	var out [][2]string
	for _, g := range groups {
		out = append(out, g.rows...)
	}
	return out
}

func rowTime(r [2]string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, r[1])
	return t
}

// timingValue renders a timing: a time in UTC, anything else as JSON.
func timingValue(v any) (string, time.Time) {
	if s, ok := v.(string); ok {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return t.UTC().Format(time.RFC3339), t
		}
		return s, time.Time{}
	}
	b, _ := json.Marshal(v)
	return strings.TrimSpace(string(b)), time.Time{}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
