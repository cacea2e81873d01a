package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"

	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/move"
)

// moveView shows a move's progress as it is polled.
type moveView interface {
	show(m catalog.Move)
	// close ends the view after the last show.
	close()
}

// newMoveView returns bars on a terminal and plain lines elsewhere (tests,
// CI, pipes), where a line is printed when the move enters a state or a
// phase, and otherwise at most once per every.
func newMoveView(w io.Writer, every time.Duration) moveView {
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return newBarView(f)
	}
	return &lineView{w: w, every: every}
}

func progressOf(m catalog.Move) move.Progress {
	var p move.Progress
	_ = json.Unmarshal(m.Progress, &p) // a move not started yet has {}
	return p
}

// progressLine is one line of a move's progress: "copying: orders
// 1200/5000 rows".
func progressLine(m catalog.Move) string {
	head := m.State
	if m.Phase != "" && m.Phase != m.State {
		head += " (" + m.Phase + ")"
	}
	detail := progressDetail(m, progressOf(m))
	switch {
	case m.CancelRequested && catalog.MoveRunning(m.State):
		detail = join(detail, "cancel requested")
	case m.RollbackRequested && m.State == catalog.MoveComplete:
		detail = join(detail, "rollback requested")
	}
	if detail == "" {
		return head
	}
	return head + ": " + detail
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

func progressDetail(m catalog.Move, p move.Progress) string {
	switch m.State {
	case catalog.MovePending:
		return "waiting for a runner"
	case catalog.MoveCopying:
		return copyDetail(p.Tables)
	case catalog.MoveCatchingUp:
		return lagDetail(p)
	case catalog.MoveVerifying:
		if len(p.Verified) > 0 {
			return fmt.Sprintf("%d/%d tables match", matching(p.Verified), len(p.Verified))
		}
	case catalog.MoveCutover:
		if p.CutoverAttempts > 1 {
			return fmt.Sprintf("attempt %d", p.CutoverAttempts)
		}
	case catalog.MoveComplete:
		if p.PauseMillis > 0 {
			return "writes paused " + millis(p.PauseMillis) + " at the cutover"
		}
	case catalog.MoveFailed, catalog.MoveRolledBack:
		return oneLine(m.LastError)
	}
	return ""
}

// copyDetail names the tables still copying, at most three.
func copyDetail(ts []move.TableProgress) string {
	var parts []string
	done := 0
	for _, t := range ts {
		if t.Done {
			done++
			continue
		}
		if len(parts) < 3 {
			parts = append(parts, fmt.Sprintf("%s %d/%d rows", t.Name, t.RowsCopied, t.RowsTotal))
		}
	}
	if len(ts) == 0 {
		return ""
	}
	s := fmt.Sprintf("%d/%d tables done", done, len(ts))
	if len(parts) > 0 {
		s = strings.Join(parts, ", ") + " (" + s + ")"
	}
	return s
}

func lagDetail(p move.Progress) string {
	return fmt.Sprintf("lag %s / %.1fs, %d changes applied", bytesText(p.LagBytes), p.LagSeconds, p.Changes)
}

func matching(cs []move.TableCheck) int {
	n := 0
	for _, c := range cs {
		if c.Match {
			n++
		}
	}
	return n
}

func millis(ms float64) string {
	return (time.Duration(ms * float64(time.Millisecond))).Round(10 * time.Microsecond).String()
}

// bytesText is n in binary units: "64.0 KiB".
func bytesText(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	f, unit := float64(n), -1
	for f >= 1024 && unit < 4 {
		f /= 1024
		unit++
	}
	return fmt.Sprintf("%.1f %ciB", f, "KMGTP"[unit])
}

// lineView prints plain lines.
type lineView struct {
	w          io.Writer
	every      time.Duration
	key, line  string
	state      string
	at         time.Time
	hasPrinted bool
}

func (v *lineView) show(m catalog.Move) {
	line, key := progressLine(m), m.State+"\x00"+m.Phase
	if v.hasPrinted && (line == v.line || (key == v.key && time.Since(v.at) < v.every)) {
		return
	}
	// A copy done between two polls still gets its line, from the table
	// counts it left in the progress.
	if (v.state == catalog.MovePending || v.state == catalog.MovePreparing) && afterCopy(m.State) {
		if ts := progressOf(m).Tables; len(ts) > 0 {
			fmt.Fprintln(v.w, catalog.MoveCopying+": "+copyDetail(ts))
		}
	}
	v.state = m.State
	fmt.Fprintln(v.w, line)
	v.key, v.line, v.at, v.hasPrinted = key, line, time.Now(), true
}

func (v *lineView) close() {}

// afterCopy reports whether a move in state has finished its copy.
func afterCopy(state string) bool {
	switch state {
	case catalog.MoveCatchingUp, catalog.MoveVerifying, catalog.MoveCutover, catalog.MoveComplete:
		return true
	}
	return false
}

// barView draws a bar per phase and, while copying, one per table.
type barView struct {
	p      *mpb.Progress
	mu     sync.Mutex
	last   catalog.Move
	state  string
	phase  *mpb.Bar
	tables map[string]*mpb.Bar
}

func newBarView(w io.Writer) *barView {
	return &barView{p: mpb.New(mpb.WithOutput(w), mpb.WithWidth(40), mpb.WithRefreshRate(150*time.Millisecond)), tables: map[string]*mpb.Bar{}}
}

func (v *barView) show(m catalog.Move) {
	v.mu.Lock()
	v.last = m
	v.mu.Unlock()
	if m.State != v.state {
		v.endPhase()
		v.state = m.State
		state := m.State
		v.phase = v.p.New(0, mpb.SpinnerStyle(), mpb.BarFillerOnComplete("✓"),
			mpb.PrependDecorators(decor.Name(state, decor.WC{W: 12, C: decor.DindentRight}), decor.Elapsed(decor.ET_STYLE_GO)),
			mpb.AppendDecorators(decor.Any(func(decor.Statistics) string { return v.status(state) })))
	}
	if m.State == catalog.MoveCopying {
		for _, t := range progressOf(m).Tables {
			v.table(t)
		}
	}
}

// status is the phase bar's text: the move's detail while it is in state.
func (v *barView) status(state string) string {
	v.mu.Lock()
	defer v.mu.Unlock()
	m := v.last
	if m.State != state {
		return ""
	}
	s := progressDetail(m, progressOf(m))
	if m.State == catalog.MoveCopying {
		s = "" // the tables have bars of their own
	}
	if m.Phase != "" && m.Phase != m.State {
		s = join(m.Phase, s)
	}
	if m.State == catalog.MoveCatchingUp || m.State == catalog.MoveCutover {
		if p := progressOf(m); p.PauseMillis > 0 {
			s = join(s, "writes paused "+millis(p.PauseMillis))
		}
	}
	return s
}

func (v *barView) table(t move.TableProgress) {
	b, ok := v.tables[t.Name]
	if !ok {
		bytes := func(decor.Statistics) string { return bytesText(v.tableBytes(t.Name)) }
		b = v.p.New(t.RowsTotal, mpb.BarStyle(), mpb.BarPriority(len(v.tables)+1),
			mpb.PrependDecorators(decor.Name("  "+t.Name, decor.WC{W: 20, C: decor.DindentRight}), decor.CountersNoUnit("%d/%d rows", decor.WC{W: 18})),
			mpb.AppendDecorators(decor.Any(bytes)))
		v.tables[t.Name] = b
	}
	if t.RowsTotal > 0 {
		b.SetTotal(t.RowsTotal, false)
	}
	b.SetCurrent(t.RowsCopied)
	if t.Done {
		b.SetTotal(-1, true)
	}
}

func (v *barView) tableBytes(name string) int64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, t := range progressOf(v.last).Tables {
		if t.Name == name {
			return t.Bytes
		}
	}
	return 0
}

// endPhase completes the bars of the phase that ended.
func (v *barView) endPhase() {
	if v.phase != nil {
		v.phase.SetTotal(-1, true)
	}
	for _, b := range v.tables {
		if !b.Completed() {
			b.Abort(false)
		}
	}
}

func (v *barView) close() {
	v.endPhase()
	if v.phase == nil {
		v.p.Shutdown()
		return
	}
	v.p.Wait()
}
