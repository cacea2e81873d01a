package cli

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/creack/pty"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantkit/tenantkit/internal/catalog"
)

// onTerminal runs the CLI with its standard output on a real
// pseudo-terminal of rows × cols, and returns what the terminal received,
// with the terminal's carriage returns taken out.
func onTerminal(t *testing.T, vars map[string]string, rows, cols uint16, args ...string) (int, string, string) {
	t.Helper()
	exit, screen, stderr := onTerminalRaw(t, vars, rows, cols, false, args...)
	return exit, strings.ReplaceAll(screen, "\r", ""), stderr
}

// onTerminalRaw is onTerminal with standard error on the terminal too
// when both is set (the returned stderr is then empty), and the
// terminal's output as it came.
func onTerminalRaw(t *testing.T, vars map[string]string, rows, cols uint16, both bool, args ...string) (int, string, string) {
	t.Helper()
	master, slave, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	defer master.Close()
	if err := pty.Setsize(master, &pty.Winsize{Rows: rows, Cols: cols}); err != nil {
		t.Fatal(err)
	}
	var screen bytes.Buffer
	read := make(chan struct{})
	go func() {
		defer close(read)
		_, _ = io.Copy(&screen, master) // ends with an error once the slave is closed
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stderr bytes.Buffer
	e := env{stdin: strings.NewReader(""), stdout: slave, stderr: &stderr, getenv: mapEnv(vars)}
	if both {
		e.stderr = slave
	}
	exit := run(ctx, args, e)
	slave.Close()
	select {
	case <-read:
	case <-time.After(10 * time.Second):
		t.Fatal("the terminal's output did not end")
	}
	return exit, screen.String(), stderr.String()
}

// TestTopOnATerminal: on a real terminal, top redraws in place — each
// snapshot clears the screen — and each snapshot fits the terminal, as
// its size reports it: lines cut to its width, the findings a line each
// when in full they would crowd out the ranking.
func TestTopOnATerminal(t *testing.T) {
	t.Parallel()
	sc := scenario{seed: func(t *testing.T, _ *pgxpool.Pool, s *catalog.Store) { seedLoad(t, s) }}
	tg := sc.modes()["direct"](t)
	const rows, cols = 8, 80
	exit, out, stderr := onTerminal(t, tg.env, rows, cols, "top", "-n", "2", "--interval", "100ms")
	if exit != exitOK || stderr != "" {
		t.Fatalf("top on a terminal: exit %d, stderr %q, screen:\n%s", exit, stderr, out)
	}
	frames := strings.Split(out, clearScreen)
	if frames[0] != "" || len(frames) != 3 {
		t.Fatalf("want 2 snapshots each starting with a clear screen, got %d parts:\n%q", len(frames)-1, out)
	}
	for i, f := range frames[1:] {
		lines := strings.Split(strings.TrimSuffix(f, "\n"), "\n")
		wide := 0
		for _, l := range lines {
			wide = max(wide, utf8.RuneCountInString(l))
		}
		if len(lines) != rows || wide != cols || !strings.HasSuffix(lines[1], "…") ||
			!strings.Contains(lines[2], "loud") || lines[6] != "loud: NOISY(db_time)+THROTTLED: "+loudCommand ||
			lines[7] != "busy: NOISY(requests): "+busyCommand {
			t.Fatalf("snapshot %d does not fit a %d×%d terminal (%d lines, %d columns at most):\n%s", i, cols, rows, len(lines), wide, f)
		}
	}
	// The same command into a pipe is plain text, lines uncut, the
	// findings in full.
	r := runCLI(t, tg.env, "top")
	if strings.Contains(r.stdout, "\x1b") || strings.Contains(r.stdout, "…") || !strings.Contains(r.stdout, "  "+loudCommand+"\n") {
		t.Fatalf("top into a pipe:\n%s", r.stdout)
	}
}

// TestMigrateShowsProgressOnATerminal: on a terminal, migrate up draws a
// progress bar over the targets on standard error, cleared when done;
// into a pipe it draws none (TestMigrateEveryTarget).
func TestMigrateShowsProgressOnATerminal(t *testing.T) {
	t.Parallel()
	p := newPlatform(t)
	p.createOnEveryTier(t)
	env := map[string]string{"TENANTKIT_DATABASE_URL": p.db.OwnerDSN(), "TENANTKIT_MIGRATIONS": "example"}
	exit, screen, _ := onTerminalRaw(t, env, 24, 120, true, "migrate", "up")
	if exit != exitOK || !strings.Contains(screen, "3 targets: 0 changed, 3 up to date, 0 failed") {
		t.Fatalf("migrate up on a terminal: exit %d:\n%q", exit, screen)
	}
	bar, _, _ := strings.Cut(screen, "TARGET")
	if !strings.Contains(bar, "migrating") || !strings.Contains(bar, "/3) [") || !strings.Contains(bar, "\r") {
		t.Fatalf("no progress bar over the 3 targets before the summary:\n%q", bar)
	}
}
