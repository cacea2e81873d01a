package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/problem"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

// Commands the noisy findings of seedLoad recommend.
const (
	loudCommand = "tenantkit move loud --to schema"
	busyCommand = "tenantkit tenants limits busy --set api_rps=50"
)

// seedLoad places loud and calm on the shared tier and busy on a
// dedicated database, gives them load now, and records loud noisy on
// database time (throttled) and busy noisy on requests. By their share of
// the shared tier's database time they rank loud, calm, busy, though busy
// sends the most requests.
func seedLoad(t *testing.T, s *catalog.Store) {
	t.Helper()
	ctx := context.Background()
	if _, err := s.AddCluster(ctx, "test", catalog.ClusterParams{Name: "c1", OwnerURL: "postgres://owner@127.0.0.1:1/x", AppURL: "postgres://app@127.0.0.1:1/x"}); err != nil {
		t.Fatal(err)
	}
	ids := createTenants(t, s, "calm", "loud", "busy")
	for slug, tier := range map[string]string{"calm": catalog.TierShared, "loud": catalog.TierShared, "busy": catalog.TierDedicated} {
		if _, err := s.Place(ctx, "test", slug, catalog.PlaceParams{Tier: tier, Cluster: "c1"}); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	period := catalog.Period(now)
	writeUsage(t, s, now,
		catalog.UsageDelta{Tenant: ids["loud"], Period: period, APICalls: 30, DBMicros: 900_000, Users: []uint64{1, 2}},
		catalog.UsageDelta{Tenant: ids["calm"], Period: period, APICalls: 10, DBMicros: 100_000, Users: []uint64{3}},
		catalog.UsageDelta{Tenant: ids["busy"], Period: period, APICalls: 60, DBMicros: 2_000_000},
	)
	if err := s.RecordStorage(ctx, now, []catalog.StorageSample{{Tenant: ids["calm"], Bytes: 2 << 20, Method: "relation_size"}}); err != nil {
		t.Fatal(err)
	}
	for _, ev := range []catalog.NoisyEvent{
		{Tenant: ids["loud"], Dimension: catalog.NoisyDBTime, Share: 0.9, Since: now, Noisy: true, Throttled: true, DetectedBy: "test",
			Recommendation: "move loud off the shared tier: it takes 90% of its database time", Command: loudCommand},
		{Tenant: ids["busy"], Dimension: catalog.NoisyRequests, Share: 0.6, Since: now, Noisy: true, DetectedBy: "test",
			Recommendation: "cap busy's request rate", Command: busyCommand},
	} {
		if err := s.RecordNoisy(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
}

// topSnapshot is one printed snapshot of top.
type topSnapshot struct {
	header string
	rows   [][]string // the fields of each ranking line
	notes  []string
}

// parseTop splits top's output into snapshots, which start with their
// header line and are separated by a blank line.
func parseTop(t *testing.T, out string) []topSnapshot {
	t.Helper()
	var snaps []topSnapshot
	for _, chunk := range strings.Split(strings.TrimSuffix(out, "\n"), "\n\ntenantkit top - ") {
		if len(snaps) > 0 {
			chunk = "tenantkit top - " + chunk
		}
		table, notes, _ := strings.Cut(chunk, "\n\n")
		lines := strings.Split(table, "\n")
		if len(lines) < 2 || !strings.HasPrefix(lines[0], "tenantkit top - ") ||
			squeeze(lines[1]) != "# TENANT TIER PLAN REQ/S REQ% DB ms/s SHARED-DB% CALLS STORAGE USERS FLAG" {
			t.Fatalf("not a snapshot of top:\n%s", chunk)
		}
		s := topSnapshot{header: lines[0]}
		for _, l := range lines[2:] {
			s.rows = append(s.rows, columns(lines[1], l))
		}
		if notes != "" {
			s.notes = strings.Split(notes, "\n")
		}
		snaps = append(snaps, s)
	}
	return snaps
}

// columns cuts a line of a table into the columns of its header, whose
// names hold no space but DB ms/s.
func columns(header, line string) []string {
	var starts []int
	for i := 0; i < len(header); i++ {
		if header[i] != ' ' && (i == 0 || header[i-1] == ' ') && !strings.HasPrefix(header[i:], "ms/s") {
			starts = append(starts, i)
		}
	}
	out := make([]string, len(starts))
	for i, at := range starts {
		end := len(line)
		if i+1 < len(starts) {
			end = min(end, starts[i+1])
		}
		if at < end {
			out[i] = strings.TrimSpace(line[at:end])
		}
	}
	return out
}

// checkLoadSnapshot checks a snapshot of seedLoad's tenants: their rank,
// columns, flags, and the findings with their commands alone on a line.
func checkLoadSnapshot(t *testing.T, s topSnapshot) {
	t.Helper()
	for _, part := range []string{"window 1m0s", "period " + catalog.Period(time.Now()), ": 3 tenants", "2 noisy"} {
		if !strings.Contains(s.header, part) {
			t.Errorf("header %q lacks %q", s.header, part)
		}
	}
	// Every column but REQ/S and DB ms/s, which depend on how much of the
	// current load bucket has passed.
	want := [][]string{
		{"1", "loud", "shared", "free", "30.0", "90.0", "30", "-", "2", "NOISY(db_time)+THROTTLED"},
		{"2", "calm", "shared", "free", "10.0", "10.0", "10", "2.0 MiB", "1", ""},
		{"3", "busy", "dedicated", "free", "60.0", "-", "60", "-", "0", "NOISY(requests)"},
	}
	if len(s.rows) != len(want) {
		t.Fatalf("%d ranked tenants, want %d: %q", len(s.rows), len(want), s.rows)
	}
	for i, w := range want {
		r := s.rows[i]
		got := []string{r[0], r[1], r[2], r[3], r[5], r[7], r[8], r[9], r[10], r[11]}
		if strings.Join(got, "|") != strings.Join(w, "|") {
			t.Errorf("row %d: %q, want %q", i+1, got, w)
		}
		for _, rate := range []string{r[4], r[6]} {
			if _, err := strconv.ParseFloat(rate, 64); err != nil || rate == "0.0" {
				t.Errorf("row %d: a rate of %q", i+1, rate)
			}
		}
	}
	wantNotes := []string{
		"",
		"loud: NOISY(db_time)+THROTTLED, 90.0% of the shared tier's database time since ",
		"  move loud off the shared tier: it takes 90% of its database time",
		"  " + loudCommand,
		"busy: NOISY(requests), 60.0% of requests since ",
		"  cap busy's request rate",
		"  " + busyCommand,
	}
	notes := append([]string{""}, s.notes...)
	if len(notes) != len(wantNotes) {
		t.Fatalf("notes:\n%s", strings.Join(s.notes, "\n"))
	}
	for i, w := range wantNotes {
		if !strings.HasPrefix(notes[i], w) || (!strings.HasSuffix(w, "since ") && notes[i] != w) {
			t.Errorf("note line %d: %q, want %q", i, notes[i], w)
		}
	}
}

func TestTopCommand(t *testing.T) {
	t.Parallel()
	sc := scenario{seed: func(t *testing.T, _ *pgxpool.Pool, s *catalog.Store) { seedLoad(t, s) }}
	for mode, newTarget := range sc.modes() {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			tg := newTarget(t)
			// Not on a terminal, top prints one snapshot and ends.
			r := runCLI(t, tg.env, "top")
			if r.exit != exitOK || r.stderr != "" || strings.Contains(r.stdout, "\x1b") {
				t.Fatalf("top: %+v", r)
			}
			snaps := parseTop(t, r.stdout)
			if len(snaps) != 1 {
				t.Fatalf("top printed %d snapshots, want 1:\n%s", len(snaps), r.stdout)
			}
			checkLoadSnapshot(t, snaps[0])

			r = runCLI(t, tg.env, "top", "-n", "3", "--interval", "100ms", "--window", "1m")
			if r.exit != exitOK || strings.Contains(r.stdout, "\x1b") {
				t.Fatalf("top -n 3: %+v", r)
			}
			if snaps = parseTop(t, r.stdout); len(snaps) != 3 {
				t.Fatalf("top -n 3 printed %d snapshots:\n%s", len(snaps), r.stdout)
			}
			for _, s := range snaps {
				checkLoadSnapshot(t, s)
			}

			r = runCLI(t, tg.env, "top", "--window", "30s", "-n", "1")
			if snaps := parseTop(t, r.stdout); r.exit != exitOK || !strings.Contains(snaps[0].header, "window 30s") {
				t.Fatalf("top --window 30s: %+v", r)
			}
		})
	}
}

func TestTopCommandJSON(t *testing.T) {
	t.Parallel()
	sc := scenario{seed: func(t *testing.T, _ *pgxpool.Pool, s *catalog.Store) { seedLoad(t, s) }}
	for mode, newTarget := range sc.modes() {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			tg := newTarget(t)
			// -o json is one snapshot, even when asked for more.
			r := runCLI(t, tg.env, "top", "-o", "json", "-n", "3", "--window", "2m")
			if r.exit != exitOK || r.stderr != "" {
				t.Fatalf("top -o json: %+v", r)
			}
			dec := json.NewDecoder(strings.NewReader(r.stdout))
			var rep catalog.LoadReport
			if err := dec.Decode(&rep); err != nil {
				t.Fatalf("top -o json: %v\n%s", err, r.stdout)
			}
			if _, err := dec.Token(); err != io.EOF {
				t.Fatalf("top -o json printed more than one document:\n%s", r.stdout)
			}
			var slugs []string
			for _, tl := range rep.Tenants {
				slugs = append(slugs, tl.Slug)
			}
			if rep.WindowSeconds != 120 || strings.Join(slugs, ",") != "loud,calm,busy" {
				t.Fatalf("top -o json: window %v, tenants %v", rep.WindowSeconds, slugs)
			}
			if n := rep.Tenants[0].Noisy; len(n) != 1 || n[0].Command != loudCommand || !n[0].Throttled || rep.Tenants[0].Usage.APICalls != 30 {
				t.Fatalf("loud: %+v", rep.Tenants[0])
			}
		})
	}
}

func TestTopCommandRefusals(t *testing.T) {
	t.Parallel()
	tg, _ := directTarget(t)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"top", "--window", "5s"}, "tenantkit: --window must be between 10s and 1h0m0s, not 5s"},
		{[]string{"top", "--window", "2h", "-o", "json"}, "tenantkit: --window must be between 10s and 1h0m0s, not 2h0m0s"},
		{[]string{"top", "--interval", "0s"}, "tenantkit: --interval must be at least 100ms, not 0s"},
		{[]string{"top", "-n", "-1"}, "tenantkit: -n must be 0 (until interrupted) or more, not -1"},
		{[]string{"top", "now"}, "tenantkit: tenantkit top: want no arguments"},
	}
	for _, c := range cases {
		r := runCLI(t, tg.env, c.args...)
		requireOneErrorLine(t, r)
		if r.exit != exitUsage || strings.TrimSuffix(r.stderr, "\n") != c.want {
			t.Errorf("%s: exit %d, stderr %q; want %d, %q", shellJoin(c.args), r.exit, r.stderr, exitUsage, c.want)
		}
	}
}

// fixedScreen is a terminal of a given height, of any width.
type fixedScreen int

func (s fixedScreen) size() (int, int) { return 0, int(s) }

// On a terminal, top clears the screen and redraws every interval until
// interrupted, each snapshot fitting the screen.
func TestTopRedrawsOnATerminal(t *testing.T) {
	t.Parallel()
	_, _, store := scenario{}.catalog(t)
	seedLoad(t, store)
	ops := directOps{store: store}
	ctx, cancel := context.WithCancel(context.Background())
	var out tenantkittest.SyncBuffer
	done := make(chan error, 1)
	go func() {
		done <- runTop(ctx, &out, fixedScreen(100), ops, topOptions{window: time.Minute, interval: 50 * time.Millisecond})
	}()
	deadline := time.Now().Add(30 * time.Second)
	for strings.Count(out.String(), clearScreen) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("3 redraws did not come in 30s:\n%q", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel() // Ctrl-C
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("interrupted top: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("top did not end when interrupted")
	}
	frames := strings.Split(out.String(), clearScreen)
	if frames[0] != "" {
		t.Fatalf("output before the first clear: %q", frames[0])
	}
	for _, f := range frames[1:] {
		s := parseTop(t, f)
		if len(s) != 1 {
			t.Fatalf("a frame holds %d snapshots:\n%s", len(s), f)
		}
		checkLoadSnapshot(t, s[0])
	}

	// On 9 lines the findings in full (7 lines with the blank one) would
	// leave no room for the ranking: they come a line each, and the three
	// tenants fit.
	var b bytes.Buffer
	if err := runTop(context.Background(), &b, fixedScreen(9), ops, topOptions{window: time.Minute, interval: time.Second, refreshes: 1}); err != nil {
		t.Fatal(err)
	}
	frame := strings.TrimPrefix(b.String(), clearScreen)
	lines := strings.Split(strings.TrimSuffix(frame, "\n"), "\n")
	if len(lines) != 8 || strings.Fields(lines[2])[1] != "loud" || strings.Fields(lines[4])[1] != "busy" ||
		lines[6] != "loud: NOISY(db_time)+THROTTLED: "+loudCommand || lines[7] != "busy: NOISY(requests): "+busyCommand {
		t.Fatalf("a frame on 9 lines:\n%s", frame)
	}
	// On 7 lines, the first tenant, how many more, and the findings a
	// line each; on 6, how many findings there are.
	for _, c := range []struct {
		height int
		notes  []string
	}{
		{7, []string{"loud: NOISY(db_time)+THROTTLED: " + loudCommand, "busy: NOISY(requests): " + busyCommand}},
		{6, []string{"… and 2 more findings: tenantkit top -o json"}},
	} {
		b.Reset()
		if err := runTop(context.Background(), &b, fixedScreen(c.height), ops, topOptions{window: time.Minute, interval: time.Second, refreshes: 1}); err != nil {
			t.Fatal(err)
		}
		frame = strings.TrimPrefix(b.String(), clearScreen)
		lines = strings.Split(strings.TrimSuffix(frame, "\n"), "\n")
		if len(lines) != c.height || strings.Fields(lines[2])[1] != "loud" || lines[3] != "… and 2 more" ||
			strings.Join(lines[5:], "\n") != strings.Join(c.notes, "\n") {
			t.Fatalf("a frame on %d lines:\n%s", c.height, frame)
		}
	}
	b.Reset()
	// Interrupted before the first snapshot: nothing, and no error.
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if err := runTop(cancelled, &b, fixedScreen(100), ops, topOptions{window: time.Minute, interval: time.Second}); err != nil || b.Len() != 0 {
		t.Fatalf("top interrupted at once: %v, printed %q", err, b.String())
	}
	if err := runTop(context.Background(), &b, fixedScreen(12), ops, topOptions{window: time.Minute, interval: time.Second, refreshes: 1}); err != nil {
		t.Fatal(err)
	}
	// On 12 lines, the findings in full and the three tenants.
	if lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n"); len(lines) != 12 || !strings.Contains(lines[3], "calm") ||
		!strings.Contains(lines[4], "busy") || strings.TrimSpace(lines[8]) != loudCommand {
		t.Fatalf("a frame on 12 lines:\n%s", b.String())
	}
}

func TestTopRefreshesByDefault(t *testing.T) {
	t.Parallel()
	cases := []struct {
		screen topScreen
		set    bool
		n      int
		want   int
	}{
		{nil, false, 0, 1},             // `tenantkit top | cat` ends
		{fixedScreen(40), false, 0, 0}, // a terminal: until interrupted
		{nil, true, 0, 0},              // -n 0 says until interrupted
		{nil, true, 3, 3},
		{fixedScreen(40), true, 2, 2},
	}
	for _, c := range cases {
		if got := (topOptions{refreshes: c.n}).refreshesOn(c.screen, c.set); got != c.want {
			t.Errorf("refreshes on %v with -n %d given %v: %d, want %d", c.screen, c.n, c.set, got, c.want)
		}
	}
}

// Without --server, top reads the load as the admin API serves it: a
// window of 0 is the default, one out of bounds an invalid-fields problem.
func TestTopDirectLoadMatchesTheAPI(t *testing.T) {
	t.Parallel()
	_, _, store := scenario{}.catalog(t)
	ops := directOps{store: store}
	rep, err := ops.Load(context.Background(), 0)
	if err != nil || rep.WindowSeconds != 60 || rep.Tenants == nil {
		t.Fatalf("default window: %+v %v", rep, err)
	}
	for _, window := range []time.Duration{9 * time.Second, time.Hour + time.Second} {
		_, err := ops.Load(context.Background(), window)
		var p *problem.Problem
		if !errors.As(err, &p) || p.Kind() != problem.InvalidFields || len(p.Errors) != 1 || p.Errors[0].Field != "window" {
			t.Fatalf("window %s: %v", window, err)
		}
	}
}

// A finding that several processes make says how many.
func TestTopNotesCountProcesses(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	rep := catalog.LoadReport{At: at, Tenants: []catalog.TenantLoad{{Slug: "loud", Noisy: []catalog.NoisyState{
		{Dimension: catalog.NoisyRequests, Share: 0.6, Since: at, Processes: 3, Command: "tenantkit tenants limits loud --set api_rps=10"},
	}}}}
	notes := topNotes(rep)
	if len(notes) != 3 || !strings.HasSuffix(notes[1], "60.0% of requests since 10:00:00 UTC, in 3 processes") {
		t.Fatalf("notes: %q", notes)
	}
	rep.Tenants[0].Noisy[0].Processes = 1
	if notes := topNotes(rep); strings.Contains(notes[1], "processes") {
		t.Fatalf("one process named: %q", notes[1])
	}
}
