package catalog_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

// previousRelease is the commit this work started from: the release
// before catalog migration 00008 and the instances heartbeat. A fixed
// commit keeps the test reproducible; a later release that changes the
// catalog moves it to the commit before that change.
const previousRelease = "a8f962c4144d7473a7a4171d278dc2438c071db8"

const upgradeToken = "upgrade-admin-token-0123456789"

// TestUpgradeRollingFleetKeepsServing upgrades a serving fleet the way an
// operator does: the previous release serves; this release's binary
// migrates the catalog under it (expand only); this release's serve
// starts beside it on the same catalog; the previous release stops.
// Admin API and tenant requests to every instance succeed throughout. A
// previous-release instance also restarts on the migrated catalog (a
// restart or a rollback), and a contract migration of a later release is
// held back while the fleet serves. Last, the hold-back is shown to be
// what protects an old instance: released anyway, with the operator's
// word, while an old instance still serves, it breaks that instance.
func TestUpgradeRollingFleetKeepsServing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds two binaries (~1-2 min)")
	}
	t.Parallel()
	root := repoWithHistory(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	oldBin, newBin := buildReleases(ctx, t, root)
	db := tenantkittest.NewDatabase(t)
	url := db.OwnerDSN()

	// The previous release serves; its serve migrated the empty catalog.
	old := startServe(ctx, t, oldBin, "old", url)
	admin(ctx, t, old.addr, http.MethodPost, "/api/v1/tenants", `{"slug":"acme","name":"Acme"}`, http.StatusCreated)
	p := newProber(ctx, t)
	p.add(old)
	p.healthy(t)

	// The dry run shows 00008 (expand) and the rest of this release's
	// migrations would run, and changes nothing.
	var plan struct {
		DryRun         bool  `json:"dry_run"`
		CatalogVersion int64 `json:"catalog_version"`
		Pending        []catalog.Step
		Instances      []catalog.Instance
		Jobs           struct{ Pending []int }
	}
	decode(t, cli(ctx, t, newBin, url, "catalog", "migrate", "--dry-run", "-o", "json"), &plan)
	want := ""
	for _, s := range plan.Pending {
		want += fmt.Sprintf("applied %05d\n", s.Version)
		if s.Phase != catalog.PhaseExpand || !s.Apply {
			t.Fatalf("dry run: %05d is %s and apply=%t; this release's migrations must all be expand", s.Version, s.Phase, s.Apply)
		}
	}
	if len(plan.Jobs.Pending) > 0 {
		// River's tables for jobs arrive with this release too.
		vs := make([]string, len(plan.Jobs.Pending))
		for i, v := range plan.Jobs.Pending {
			vs[i] = fmt.Sprint(v)
		}
		want += "applied River's migrations " + strings.Join(vs, ", ") + " to schema tenantkit_jobs (jobs)\n"
	}
	if !plan.DryRun || plan.CatalogVersion != 7 || len(plan.Pending) != int(catalog.SchemaVersion()-7) || plan.Pending[0].Version != 8 ||
		!strings.Contains(plan.Pending[0].SQL, "CREATE TABLE tenantkit.instances") || len(plan.Instances) != 0 {
		t.Fatalf("dry run on the previous release's catalog: %+v", plan)
	}
	t.Logf("tenantkit catalog migrate --dry-run:\n%s", cli(ctx, t, newBin, url, "catalog", "migrate", "--dry-run"))
	if st := status(ctx, t, newBin, url); st.Migrations[7].Applied {
		t.Fatal("the dry run applied 00008")
	}
	p.healthy(t)

	// This release migrates the catalog under the serving fleet.
	if out := cli(ctx, t, newBin, url, "catalog", "migrate"); out != want {
		t.Fatalf("catalog migrate printed %q, want %q", out, want)
	}
	p.healthy(t)

	// A previous-release instance (re)starts on the migrated catalog: it
	// must, for restarts and rollbacks during the upgrade.
	straggler := startServe(ctx, t, oldBin, "old-restarted", url)
	p.add(straggler)
	p.healthy(t)

	// This release's serve joins the fleet and heartbeats; the previous
	// release's instances cannot be seen.
	next := startServe(ctx, t, newBin, "new", url)
	p.add(next)
	p.healthy(t)
	st := status(ctx, t, newBin, url)
	if len(st.Instances) != 1 || st.Instances[0].Addr != next.addr || st.Instances[0].SchemaVersion != catalog.SchemaVersion() {
		t.Fatalf("instances %+v; want the new one alone, at %s, built for %05d", st.Instances, next.addr, catalog.SchemaVersion())
	}
	t.Logf("tenantkit catalog status:\n%s", cli(ctx, t, newBin, url, "catalog", "status"))

	// A later release's contract migration (dropping a column this fleet
	// reads) is held back: without --contract, and with it while the new
	// instance, built for an older catalog, heartbeats.
	// The fleet's requests are checked first: they are what the hold-back
	// protects.
	m := newMigrator(t, url)
	res, err := m.Migrate(ctx, catalog.MigrateOpts{})
	p.healthy(t)
	if err != nil || len(res.Applied) != 0 || res.Pending[0].Apply || res.Pending[1].Apply {
		t.Fatalf("migrate with a later contract migration: %+v, %v; want it held back", res, err)
	}
	res, err = m.Migrate(ctx, catalog.MigrateOpts{Contract: true})
	p.healthy(t)
	if err != nil || len(res.Applied) != 0 || !strings.Contains(res.Pending[0].HeldBack, fmt.Sprintf("built for catalog %05d", catalog.SchemaVersion())) {
		t.Fatalf("migrate --contract while the new instance serves: %+v, %v; want it held back for it", res, err)
	}

	// The previous release stops: the rolling upgrade is done.
	p.remove(old)
	old.stop(t)
	p.healthy(t)

	// The straggler is a previous-release instance the operator forgot:
	// it does not heartbeat. Once the new instance stops, the operator's
	// --contract releases the migration, and the straggler breaks: the
	// hold-back was what kept it serving.
	p.remove(next)
	next.stop(t)
	res, err = m.Migrate(ctx, catalog.MigrateOpts{Contract: true})
	if err != nil || len(res.Applied) != 2 {
		t.Fatalf("migrate --contract with no instance heartbeating: %+v, %v", res, err)
	}
	failure := p.firstFailure(t, straggler)
	t.Logf("with the contract migration released, the previous release fails: %s", failure)
	if line := lineWith(straggler.out.String(), "suspension_reason"); line == "" {
		t.Errorf("the straggler's log does not name the dropped column:\n%s", tail(straggler.out.String(), 20))
	} else {
		t.Logf("its log: %s", line)
	}
	p.remove(straggler)
	straggler.stop(t)
}

// repoWithHistory returns the repository's root, or skips the test when
// this is not a git checkout holding previousRelease.
func repoWithHistory(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Skipf("not a git checkout (%v): the previous release cannot be built", err)
	}
	root := strings.TrimSpace(string(out))
	if err := exec.Command("git", "-C", root, "cat-file", "-e", previousRelease+"^{commit}").Run(); err != nil {
		t.Skipf("the git history does not hold the previous release %s (a shallow clone?)", previousRelease[:12])
	}
	return root
}

// buildReleases builds the previous release from git and this one from
// the working tree, at once.
func buildReleases(ctx context.Context, t *testing.T, root string) (oldBin, newBin string) {
	t.Helper()
	dir := t.TempDir()
	oldBin, newBin = filepath.Join(dir, "tenantkit-old"), filepath.Join(dir, "tenantkit-new")
	src := filepath.Join(dir, "previous")
	var wg sync.WaitGroup
	errs := make([]error, 2)
	start := time.Now()
	wg.Go(func() { errs[0] = buildPrevious(ctx, root, src, oldBin) })
	wg.Go(func() { errs[1] = goBuild(ctx, root, newBin) })
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("built the previous release (%s) and this tree in %s", previousRelease[:12], time.Since(start).Round(time.Second))
	return oldBin, newBin
}

func buildPrevious(ctx context.Context, root, src, bin string) error {
	archive := filepath.Join(filepath.Dir(src), "previous.tar")
	if out, err := exec.CommandContext(ctx, "git", "-C", root, "archive", "-o", archive, previousRelease).CombinedOutput(); err != nil {
		return fmt.Errorf("git archive %s: %v\n%s", previousRelease, err, out)
	}
	if err := os.MkdirAll(src, 0o755); err != nil {
		return err
	}
	if out, err := exec.CommandContext(ctx, "tar", "-xf", archive, "-C", src).CombinedOutput(); err != nil {
		return fmt.Errorf("tar: %v\n%s", err, out)
	}
	return goBuild(ctx, src, bin)
}

func goBuild(ctx context.Context, dir, bin string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/tenantkit")
	cmd.Dir = dir
	cmd.Env = append(childEnv(), "GOFLAGS="+strings.TrimSpace(os.Getenv("GOFLAGS")+" -buildvcs=false"))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build in %s: %v\n%s", dir, err, out)
	}
	return nil
}

// childEnv is this process's environment without tenantkit's variables,
// so that a child is configured by the test alone.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TENANTKIT_") && !strings.HasPrefix(kv, "GOFLAGS=") {
			env = append(env, kv)
		}
	}
	return env
}

// cli runs a tenantkit command against the catalog and returns its
// standard output; it fails the test when the command fails.
func cli(ctx context.Context, t *testing.T, bin, url string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(childEnv(), "TENANTKIT_DATABASE_URL="+url)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tenantkit %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

func status(ctx context.Context, t *testing.T, bin, url string) catalog.StatusReport {
	t.Helper()
	var st catalog.StatusReport
	decode(t, cli(ctx, t, bin, url, "catalog", "status", "-o", "json"), &st)
	return st
}

func decode(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("%v:\n%s", err, s)
	}
}

// serveProcess is a tenantkit serve running as a child process.
type serveProcess struct {
	name string
	addr string
	cmd  *exec.Cmd
	out  *tenantkittest.SyncBuffer
	done chan struct{}
	err  error
}

// startServe starts bin's serve on the catalog at url and waits until it
// listens.
func startServe(ctx context.Context, t *testing.T, bin, name, url string) *serveProcess {
	t.Helper()
	s := &serveProcess{name: name, out: &tenantkittest.SyncBuffer{}, done: make(chan struct{})}
	s.cmd = exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--no-rate-limit")
	s.cmd.Env = append(childEnv(), "TENANTKIT_DATABASE_URL="+url, "TENANTKIT_ADMIN_TOKEN="+upgradeToken)
	s.cmd.Stderr = s.out
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			fmt.Fprintln(s.out, sc.Text())
			if a, ok := strings.CutPrefix(sc.Text(), "tenantkit serving on http://"); ok {
				addr <- a
			}
		}
		s.err = s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		_ = s.cmd.Process.Kill()
		<-s.done
	})
	select {
	case s.addr = <-addr:
		return s
	case <-s.done:
		t.Fatalf("%s serve exited before it listened: %v\n%s", name, s.err, tail(s.out.String(), 30))
	case <-time.After(time.Minute):
		t.Fatalf("%s serve not listening after a minute:\n%s", name, tail(s.out.String(), 30))
	case <-ctx.Done():
		t.Fatalf("%s serve: %v", name, ctx.Err())
	}
	return nil
}

// stop stops the instance as an orchestrator does (SIGTERM) and wants a
// clean exit within 30 s.
func (s *serveProcess) stop(t *testing.T) {
	t.Helper()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
		if s.err != nil {
			t.Fatalf("%s serve exited with %v after SIGTERM:\n%s", s.name, s.err, tail(s.out.String(), 30))
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("%s serve still running 30 s after SIGTERM", s.name)
	}
}

func lineWith(s, substr string) string {
	for line := range strings.Lines(s) {
		if strings.Contains(line, substr) {
			return strings.TrimSpace(line)
		}
	}
	return ""
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// admin sends one admin API request and wants the status.
func admin(ctx context.Context, t *testing.T, addr, method, path, body string, want int) {
	t.Helper()
	if err := request(ctx, addr, method, path, body, "", want); err != nil {
		t.Fatal(err)
	}
}

// request sends one request to the instance at addr: an admin API one
// with the token, or a tenant one when host is set.
func request(ctx context.Context, addr, method, path, body, host string, want int) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, "http://"+addr+path, strings.NewReader(body))
	if err != nil {
		return err
	}
	if host != "" {
		req.Host = host
	} else {
		req.Header.Set("Authorization", "Bearer "+upgradeToken)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: %d, want %d: %s", method, path, resp.StatusCode, want, strings.TrimSpace(string(b)))
	}
	return nil
}

// prober sends requests to every instance of the fleet in a loop, every
// 20 ms, until the test ends: on each, an admin read, every fourth time an
// admin write, and a tenant request.
type prober struct {
	mu      sync.Mutex
	targets map[*serveProcess]*probeStats
}

type probeStats struct {
	ok       int
	failures []string
}

func newProber(ctx context.Context, t *testing.T) *prober {
	p := &prober{targets: map[*serveProcess]*probeStats{}}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for round := 0; ctx.Err() == nil; round++ {
			p.mu.Lock()
			targets := make([]*serveProcess, 0, len(p.targets))
			for s := range p.targets {
				targets = append(targets, s)
			}
			p.mu.Unlock()
			for _, s := range targets {
				if err := probe(ctx, s.addr, round); ctx.Err() == nil {
					p.record(s, err)
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return p
}

func probe(ctx context.Context, addr string, round int) error {
	if err := request(ctx, addr, http.MethodGet, "/api/v1/tenants/acme", "", "", http.StatusOK); err != nil {
		return err
	}
	if round%4 == 0 {
		body := fmt.Sprintf(`{"name":"Acme %d"}`, round)
		if err := request(ctx, addr, http.MethodPatch, "/api/v1/tenants/acme", body, "", http.StatusOK); err != nil {
			return err
		}
	}
	return request(ctx, addr, http.MethodGet, "/api/whoami", "", "acme.localhost", http.StatusOK)
}

func (p *prober) record(s *serveProcess, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	st, ok := p.targets[s]
	if !ok {
		return
	}
	if err != nil {
		st.failures = append(st.failures, s.name+": "+err.Error())
		return
	}
	st.ok++
}

func (p *prober) add(s *serveProcess) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.targets[s] = &probeStats{}
}

func (p *prober) remove(s *serveProcess) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.targets, s)
}

func (p *prober) snapshot() map[*serveProcess]probeStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[*serveProcess]probeStats{}
	for s, st := range p.targets {
		out[s] = probeStats{ok: st.ok, failures: append([]string(nil), st.failures...)}
	}
	return out
}

// healthy waits until every instance answered 5 more rounds, up to 30 s,
// and fails the test on any failed request so far.
func (p *prober) healthy(t *testing.T) {
	t.Helper()
	before := p.snapshot()
	deadline := time.Now().Add(30 * time.Second)
	for {
		now, waiting := p.snapshot(), ""
		for s, st := range now {
			if len(st.failures) > 0 {
				t.Fatalf("%d requests failed, first: %s\n%s log:\n%s", len(st.failures), st.failures[0], s.name, tail(s.out.String(), 20))
			}
			if st.ok < before[s].ok+5 {
				waiting = s.name
			}
		}
		if waiting == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s answered fewer than 5 rounds in 30 s", waiting)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// firstFailure waits up to 30 s for a request to s to fail and returns it.
func (p *prober) firstFailure(t *testing.T, s *serveProcess) string {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if st := p.snapshot()[s]; len(st.failures) > 0 {
			return st.failures[0]
		}
	}
	t.Fatalf("%s kept serving for 30 s: the contract migration did not break it, so holding it back proves nothing", s.name)
	return ""
}
