package cli

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stripe/stripe-go/v86/webhook"

	"github.com/tenantkit/tenantkit"
	"github.com/tenantkit/tenantkit/examples/orders"
	"github.com/tenantkit/tenantkit/internal/adminapi"
	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/challtestsrv"
	"github.com/tenantkit/tenantkit/internal/contract"
	"github.com/tenantkit/tenantkit/internal/domains"
	"github.com/tenantkit/tenantkit/internal/pgcluster"
	"github.com/tenantkit/tenantkit/internal/problem"
	"github.com/tenantkit/tenantkit/internal/server"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

// TestDev runs `tenantkit dev` as a user would: start, suspend and resume
// a tenant with the CLI while watching its requests, stop; start again on
// the same data directory; start over with --fresh.
func TestDev(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL clusters")
	}
	if _, err := pgcluster.FindBinDir(); err != nil {
		t.Skip(err)
	}
	dir := devDataDir(t)

	// First run: a new cluster, the demo tenants, suspend and resume.
	dev := startDev(t, dir)
	first := dev.vars
	w := whoamiClient{base: first["TENANTKIT_URL"]}
	w.requireActive(t, "acme", "free")
	requireAdminList(t, first, 3)

	// Measure invalidation, not a cold load: acme must be cached.
	w.requireCached(t, superuserURL(t, dir), "acme")
	direct := map[string]string{"TENANTKIT_DATABASE_URL": first["TENANTKIT_DATABASE_URL"]}
	if r := runCLI(t, direct, "tenants", "suspend", "acme", "--reason", "unpaid invoice"); r.exit != exitOK {
		t.Fatalf("suspend acme: %+v", r)
	}
	latency := w.waitStatus(t, "acme", http.StatusForbidden, time.Second)
	t.Logf("suspend → 403 in %v", latency)
	w.requireSuspended(t, "acme", "unpaid invoice")
	if r := runCLI(t, direct, "tenants", "resume", "acme"); r.exit != exitOK {
		t.Fatalf("resume acme: %+v", r)
	}
	latency = w.waitStatus(t, "acme", http.StatusOK, time.Second)
	t.Logf("resume → 200 in %v", latency)
	w.requireActive(t, "acme", "free")

	shopToken := requireHTTPSWithACustomDomain(t, first)
	requireReceiptByMail(t, first)
	requireSuspensionHoldsAReceipt(t, first)
	requirePlansFlagsSettingsAndRateLimits(t, first, w)
	requireBrandedEmailThroughIntegrations(t, first)
	requireLoadUsageAndNoisy(t, first)
	requireBillingInDev(t, first)

	// The CLI through the dev server, with the settings of dev.env.
	viaServer := map[string]string{"TENANTKIT_SERVER": first["TENANTKIT_URL"], "TENANTKIT_ADMIN_TOKEN": first["TENANTKIT_ADMIN_TOKEN"]}
	if r := runCLI(t, viaServer, "tenants", "list"); r.exit != exitOK || strings.Count(r.stdout, "\n") != 4 {
		t.Errorf("tenants list through the dev server: %+v", r)
	}
	pgAddr := hostOf(t, first["TENANTKIT_DATABASE_URL"])
	dev.stop(t)
	requirePostgresStopped(t, dir, pgAddr)

	// Second run: the same cluster, tenants and secrets.
	dev = startDev(t, dir)
	second := dev.vars
	for _, k := range []string{"TENANTKIT_ADMIN_TOKEN", "TENANTKIT_DATABASE_URL", "TENANTKIT_APP_DATABASE_URL"} {
		if second[k] != first[k] {
			t.Errorf("second run: %s changed from %q to %q", k, first[k], second[k])
		}
	}
	w = whoamiClient{base: second["TENANTKIT_URL"]}
	w.requireActive(t, "acme", "free")
	requireAdminList(t, second, 3)
	requireHTTPSAfterRestart(t, first, second, shopToken)
	if r := runCLI(t, direct, "tenants", "create", "hooli", "--name", "Hooli"); r.exit != exitOK {
		t.Fatalf("create hooli: %+v", r)
	}
	w.waitStatus(t, "hooli", http.StatusOK, 5*time.Second)
	dev.stop(t)
	requirePostgresStopped(t, dir, pgAddr)

	// Third run, --fresh: new secrets, the demo tenants only.
	dev = startDev(t, dir, "--fresh")
	third := dev.vars
	if third["TENANTKIT_ADMIN_TOKEN"] == first["TENANTKIT_ADMIN_TOKEN"] {
		t.Error("--fresh kept the admin token")
	}
	requireAdminList(t, third, 3)
	direct = map[string]string{"TENANTKIT_DATABASE_URL": third["TENANTKIT_DATABASE_URL"]}
	if r := runCLI(t, direct, "tenants", "get", "hooli"); r.exit != exitError || r.stderr != "tenantkit: no such tenant\n" {
		t.Errorf("after --fresh, get hooli: %+v", r)
	}
	w = whoamiClient{base: third["TENANTKIT_URL"]}
	w.requireActive(t, "acme", "free")
	w.waitStatus(t, "hooli", http.StatusNotFound, time.Second)
	dev.stop(t)
	requirePostgresStopped(t, dir, hostOf(t, third["TENANTKIT_DATABASE_URL"]))
}

// devDataDir is a data directory the postgres user can reach when the
// tests run as root, removed with whatever cluster is left in it.
func devDataDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "tkdev-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := pgcluster.StopIfRunning(filepath.Join(dir, "postgres")); err != nil {
			t.Logf("stop a leftover cluster: %v", err)
		}
		os.RemoveAll(dir)
	})
	return dir
}

// devProcess is `tenantkit dev` running in a goroutine, as a process
// would.
type devProcess struct {
	cancel         context.CancelFunc
	done           chan int
	stdout, stderr *tenantkittest.SyncBuffer
	vars           map[string]string // dev.env
	stopped        bool
}

// startDev runs `tenantkit dev` on a free port and waits until it serves
// and has written its dev.env.
func startDev(t *testing.T, dir string, args ...string) *devProcess {
	t.Helper()
	addr, tlsAddr := freeAddr(t), freeAddr(t) // not dev's fixed HTTPS port: another dev may hold it
	ctx, cancel := context.WithCancel(context.Background())
	d := &devProcess{cancel: cancel, done: make(chan int, 1), stdout: &tenantkittest.SyncBuffer{}, stderr: &tenantkittest.SyncBuffer{}}
	args = append([]string{"dev", "--data-dir", dir, "--addr", addr, "--tls-addr", tlsAddr}, args...)
	go func() {
		d.done <- run(ctx, args, env{stdin: strings.NewReader(""), stdout: d.stdout, stderr: d.stderr, getenv: mapEnv(nil)})
	}()
	t.Cleanup(func() { d.stop(t) })

	deadline := time.Now().Add(2 * time.Minute)
	for {
		select {
		case code := <-d.done:
			d.stopped = true
			t.Fatalf("dev exited %d before serving\nstdout:\n%s\nstderr:\n%s", code, d.stdout, d.stderr)
		default:
		}
		// dev.env can be left from an earlier run: wait for this one's.
		if vars, err := readEnvFile(filepath.Join(dir, "dev.env")); err == nil && vars["TENANTKIT_URL"] == "http://"+addr && answers(addr) {
			d.vars = vars
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dev not serving on %s after 2 minutes\nstdout:\n%s\nstderr:\n%s", addr, d.stdout, d.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, k := range []string{"TENANTKIT_URL", "TENANTKIT_ADMIN_TOKEN", "TENANTKIT_DATABASE_URL", "TENANTKIT_APP_DATABASE_URL"} {
		if d.vars[k] == "" {
			t.Errorf("dev.env has no %s: %v", k, d.vars)
		}
	}
	return d
}

// stop cancels dev's context, as SIGINT would, and requires a clean exit
// within 30 seconds.
func (d *devProcess) stop(t *testing.T) {
	t.Helper()
	if d.stopped {
		return
	}
	d.stopped = true
	d.cancel()
	select {
	case code := <-d.done:
		if code != exitOK {
			t.Errorf("dev exited %d, want 0\nstderr:\n%s", code, d.stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("dev still running 30s after it was told to stop\nstdout:\n%s", d.stdout)
	}
	out := d.stdout.String()
	if !strings.HasSuffix(out, "server stopped\nPostgreSQL stopped\n") {
		t.Errorf("dev's output does not end with the server and PostgreSQL stopping:\n%s", out)
	}
	if s := d.stderr.String(); s != "" {
		t.Logf("dev's stderr:\n%s", s)
	}
}

func readEnvFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	vars := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			vars[k] = v
		}
	}
	return vars, sc.Err()
}

// answers reports whether something accepts TCP connections on addr.
func answers(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func hostOf(t *testing.T, rawURL string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// requirePostgresStopped checks that the cluster in dir is down: no
// postmaster.pid and nothing on its port.
func requirePostgresStopped(t *testing.T, dir, addr string) {
	t.Helper()
	pid := filepath.Join(dir, "postgres", "pgdata", "postmaster.pid")
	if _, err := os.Stat(pid); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s still there after dev stopped (stat: %v)", pid, err)
	}
	if answers(addr) {
		t.Errorf("PostgreSQL still accepts connections on %s after dev stopped", addr)
	}
}

// requireAdminList checks the admin API with dev.env's token.
func requireAdminList(t *testing.T, vars map[string]string, want int) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, vars["TENANTKIT_URL"]+"/api/v1/tenants", nil)
	req.Header.Set("Authorization", "Bearer "+vars["TENANTKIT_ADMIN_TOKEN"])
	var page catalog.Page
	code, _, body := do(t, req)
	if code != http.StatusOK {
		t.Fatalf("GET /api/v1/tenants: %d %s", code, body)
	}
	if err := json.Unmarshal(body, &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Tenants) != want {
		t.Errorf("admin API lists %d tenants, want %d: %s", len(page.Tenants), want, body)
	}
}

func do(t *testing.T, req *http.Request) (int, string, []byte) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second, Transport: contract.Transport(t, nil)} // admin-API answers held to the contract
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), b
}

// whoamiClient asks the dev server who a tenant's subdomain resolves to.
type whoamiClient struct{ base string }

func (w whoamiClient) get(t *testing.T, slug string) (int, string, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, w.base+"/api/whoami", nil)
	req.Host = slug + ".localhost"
	return do(t, req)
}

func (w whoamiClient) requireActive(t *testing.T, slug, plan string) {
	t.Helper()
	code, ctype, body := w.get(t, slug)
	var got server.Whoami
	if code != http.StatusOK || !strings.HasPrefix(ctype, "application/json") || json.Unmarshal(body, &got) != nil {
		t.Fatalf("whoami %s: %d %s %s", slug, code, ctype, body)
	}
	if got.Slug != slug || got.Plan != plan || got.Status != catalog.StatusActive {
		t.Errorf("whoami %s: %+v, want slug %s, plan %s, active", slug, got, slug, plan)
	}
}

func (w whoamiClient) requireSuspended(t *testing.T, slug, reason string) {
	t.Helper()
	code, ctype, body := w.get(t, slug)
	var p problem.Problem
	if code != http.StatusForbidden || ctype != problem.ContentType || json.Unmarshal(body, &p) != nil {
		t.Fatalf("whoami %s: %d %s %s", slug, code, ctype, body)
	}
	if p.Type != problem.TypePrefix+problem.TenantSuspended || p.Reason != reason {
		t.Errorf("whoami %s: %s, want type %s and reason %q", slug, body, problem.TypePrefix+problem.TenantSuspended, reason)
	}
}

// requireCached makes sure the server answers for slug from its cache, so
// that what follows measures invalidation. The proof is a change the
// catalog's triggers do not announce (session_replication_role = replica)
// that whoami does not show. The listener drops the whole cache once it
// connects, which may come after the first requests, hence the retries.
func (w whoamiClient) requireCached(t *testing.T, superuser, slug string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, superuser)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rename := func(name string) {
		t.Helper()
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SET LOCAL session_replication_role = replica"); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "UPDATE tenantkit.tenants SET name = $1 WHERE slug = $2", name, slug)
			return err
		})
		if err != nil {
			t.Fatalf("rename %s unannounced: %v", slug, err)
		}
	}
	var original string
	if err := conn.QueryRow(ctx, "SELECT name FROM tenantkit.tenants WHERE slug = $1", slug).Scan(&original); err != nil {
		t.Fatal(err)
	}
	defer rename(original)
	deadline := time.Now().Add(10 * time.Second)
	for i := 1; ; i++ {
		name := original + " #" + strconv.Itoa(i)
		rename(name)
		code, _, body := w.get(t, slug)
		var got server.Whoami
		if code != http.StatusOK || json.Unmarshal(body, &got) != nil {
			t.Fatalf("whoami %s: %d %s", slug, code, body)
		}
		if got.Name != name {
			t.Logf("whoami %s served from the cache after %d tries", slug, i)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("whoami %s is never served from the cache", slug)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// superuserURL connects to the dev cluster's catalog as its superuser.
func superuserURL(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "postgres", "cluster.json"))
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Port     int    `json:"port"`
		Password string `json:"password"`
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	return pgcluster.URL("127.0.0.1:"+strconv.Itoa(st.Port), pgcluster.Superuser, st.Password, devCatalogDB)
}

// waitStatus polls whoami until it answers status, failing after within,
// and returns how long that took.
func (w whoamiClient) waitStatus(t *testing.T, slug string, status int, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		code, _, body := w.get(t, slug)
		took := time.Since(start)
		if code == status {
			return took
		}
		if took > within {
			t.Fatalf("whoami %s still %d %s after %v, want %d", slug, code, body, within, status)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestDevWithoutPostgreSQL: no server binaries is one line naming the
// package to install, a failure exit, and nothing created.
func TestDevWithoutPostgreSQL(t *testing.T) {
	t.Setenv(pgcluster.EnvBinDir, t.TempDir()) // a directory with no server in it
	dir := filepath.Join(t.TempDir(), "dev")
	r := runCLI(t, nil, "dev", "--data-dir", dir, "--addr", "127.0.0.1:0")
	requireOneErrorLine(t, r)
	if r.exit != exitError || !strings.Contains(r.stderr, "apt-get install postgresql") {
		t.Fatalf("exit %d, stderr %q", r.exit, r.stderr)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("data dir created without a server: %v", err)
	}
}

// requirePlansFlagsSettingsAndRateLimits walks the demo the banner
// prints, as a new user would with dev.env loaded: acme goes from free to
// pro with the CLI and the next request sees pro's features and limits; a
// downgrade globex's users exceed is refused; a flag at 30 % shows which
// tenants got it and why; a setting of the wrong type is refused naming
// its field; hammering acme gets 429s while globex is served.
func requirePlansFlagsSettingsAndRateLimits(t *testing.T, vars map[string]string, w whoamiClient) {
	t.Helper()
	direct := map[string]string{}
	for k, v := range vars {
		if k != "TENANTKIT_URL" {
			direct[k] = v
		}
	}
	if r := runCLI(t, direct, "tenants", "set-plan", "acme", "pro"); r.exit != exitOK {
		t.Fatalf("set-plan acme pro: %+v", r)
	}
	var who server.Whoami
	for deadline := time.Now().Add(5 * time.Second); who.Plan != "pro"; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("whoami acme still on %q after set-plan pro", who.Plan)
		}
		_, _, body := w.get(t, "acme")
		_ = json.Unmarshal(body, &who)
	}
	if !who.Features["sso"] || who.Limits["max_users"] != 50 || who.Limits["api_rps"] != 100 {
		t.Fatalf("acme on pro sees features %v and limits %v", who.Features, who.Limits)
	}
	if r := runCLI(t, direct, "tenants", "set-plan", "globex", "free"); r.exit != exitError ||
		!strings.Contains(r.stderr, "users is 12 but max_users allows 5") {
		t.Fatalf("set-plan globex free with 12 users: %+v", r)
	}

	if r := runCLI(t, direct, "flags", "update", "new-checkout", "--rollout", "30%"); r.exit != exitOK {
		t.Fatalf("flags update: %+v", r)
	}
	r := runCLI(t, direct, "flags", "evaluate", "new-checkout", "-o", "json")
	var evs adminapi.FlagEvaluations
	if r.exit != exitOK || json.Unmarshal([]byte(r.stdout), &evs) != nil || len(evs.Evaluations) != 3 {
		t.Fatalf("flags evaluate: %+v", r)
	}
	for _, ev := range evs.Evaluations {
		want, reason := ev.Bucket < 3000, "default"
		if want {
			reason = "rollout"
		}
		if ev.Value != want || ev.Reason != reason {
			t.Errorf("%s in bucket %d at 30%%: %v because %s", ev.Tenant, ev.Bucket, ev.Value, ev.Reason)
		}
	}

	r = runCLI(t, direct, "settings", "set", "acme", "tax_rate=high")
	if r.exit == exitOK || !strings.Contains(r.stderr, "/tax_rate") {
		t.Fatalf("settings set tax_rate=high: %+v", r)
	}
	if r := runCLI(t, direct, "settings", "set", "acme", "currency=EUR"); r.exit != exitOK {
		t.Fatalf("settings set currency=EUR: %+v", r)
	}

	// acme is back on free (10/s, burst 20); globex is on pro (100/s).
	if r := runCLI(t, direct, "tenants", "set-plan", "acme", "free"); r.exit != exitOK {
		t.Fatalf("set-plan acme free: %+v", r)
	}
	w.waitStatus(t, "acme", http.StatusTooManyRequests, 10*time.Second)
	for i := range 30 {
		if code, _, body := w.get(t, "globex"); code != http.StatusOK {
			t.Fatalf("globex request %d while acme is limited: %d %s", i, code, body)
		}
	}
}

// requireBrandedEmailThroughIntegrations walks the integrations demo: globex
// gets its own SMTP account with the CLI (the password from stdin), its
// test email arrives in the dev mail server branded as globex, acme's goes
// through the platform's default, and the catalog holds only ciphertext.
func requireBrandedEmailThroughIntegrations(t *testing.T, vars map[string]string) {
	t.Helper()
	if vars["TENANTKIT_MAIL_URL"] == "" {
		t.Fatal("dev.env has no TENANTKIT_MAIL_URL: the dev server runs no mail server")
	}
	direct := map[string]string{}
	for k, v := range vars {
		if k != "TENANTKIT_URL" {
			direct[k] = v
		}
	}
	secret := tenantkittest.Secret("globex-smtp-password-from-stdin-77")
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	exit := run(ctx, []string{"integrations", "set", "globex", "email", "--provider", "smtp",
		"--setting", "host=127.0.0.1", "--setting", "port=" + vars["TENANTKIT_MAIL_SMTP_PORT"], "--setting", "tls=none",
		"--credential", "username=globex", "--credential", "password=-"},
		env{stdin: strings.NewReader(secret + "\n"), stdout: &stdout, stderr: &stderr, getenv: mapEnv(direct)})
	if exit != exitOK || !strings.Contains(stdout.String(), "password=••••n-77") || strings.Contains(stdout.String()+stderr.String(), secret) {
		t.Fatalf("integrations set: %d %s %s", exit, stdout.String(), stderr.String())
	}
	r := runCLI(t, direct, "email", "test", "globex", "--to", "you@example.com")
	if r.exit != exitOK || !strings.Contains(r.stdout, "team@globex.example") || !strings.Contains(r.stdout, "(tenant)") {
		t.Fatalf("email test globex: %+v", r)
	}
	r = runCLI(t, direct, "email", "test", "acme", "--to", "you@example.com")
	if r.exit != exitOK || !strings.Contains(r.stdout, "no-reply@tenantkit.localhost") || !strings.Contains(r.stdout, "(platform)") {
		t.Fatalf("email test acme: %+v", r)
	}
	r = runCLI(t, direct, "integrations", "list", "globex", "-o", "json")
	if r.exit != exitOK || strings.Contains(r.stdout, secret) || !strings.Contains(r.stdout, `"source": "tenant"`) {
		t.Fatalf("integrations list: %+v", r)
	}

	var list struct{ Messages []struct{ ID string } }
	getJSON(t, vars["TENANTKIT_MAIL_URL"]+"/api/v1/messages", &list)
	var globex *mailMessage
	for _, m := range list.Messages {
		var full mailMessage
		getJSON(t, vars["TENANTKIT_MAIL_URL"]+"/api/v1/message/"+m.ID, &full)
		if full.From.Address == "team@globex.example" {
			globex = &full
		}
	}
	if globex == nil || globex.From.Name != "Globex" || !strings.Contains(globex.HTML, "https://assets.localhost/globex/logo.png") ||
		!strings.Contains(globex.HTML, "#1971c2") {
		t.Fatalf("globex's test email as the mail server got it: %+v (of %d messages)", globex, len(list.Messages))
	}

	conn, err := pgx.Connect(ctx, vars["TENANTKIT_DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var stored string
	if err := conn.QueryRow(ctx, "SELECT string_agg(credentials::text, ' ') FROM tenantkit.integrations").Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stored, secret) || !strings.Contains(stored, "password") {
		t.Fatalf("the catalog holds %s", stored)
	}
}

type mailMessage struct {
	From    struct{ Name, Address string }
	To      []struct{ Name, Address string }
	Subject string
	Text    string
	HTML    string
}

// requireReceiptByMail walks the receipt demo: a receipt of acme's seeded
// order, asked for over HTTP, is sent by a background job to the dev mail
// server, once, branded as acme, with the order's line and total.
func requireReceiptByMail(t *testing.T, vars map[string]string) {
	t.Helper()
	if vars["TENANTKIT_MAIL_URL"] == "" {
		t.Fatal("dev.env has no TENANTKIT_MAIL_URL: the dev server runs no mail server")
	}
	req, _ := http.NewRequest(http.MethodGet, vars["TENANTKIT_URL"]+"/api/orders", nil)
	req.Host = "acme.localhost"
	code, _, body := do(t, req)
	var list struct{ Orders []orders.Order }
	if code != http.StatusOK || json.Unmarshal(body, &list) != nil || len(list.Orders) == 0 {
		t.Fatalf("acme's orders: %d %s", code, body)
	}
	seeded := list.Orders[len(list.Orders)-1]
	m := requireReceipt(t, vars["TENANTKIT_URL"], vars["TENANTKIT_DATABASE_URL"], vars["TENANTKIT_MAIL_URL"], seeded.ID, "chef@acme.example")
	if m.From.Name != "Acme via tenantkit dev" || m.From.Address != "no-reply@tenantkit.localhost" || !strings.Contains(m.HTML, "#d9480f") ||
		!strings.Contains(m.Text, "1 × margherita at 11.50 USD: 11.50 USD") || !strings.Contains(m.Text, "Total: 11.50 USD") {
		t.Fatalf("acme's receipt as the dev mail server got it: %+v", m)
	}
	// The operator sees the job: in the CLI, and in River's UI behind the
	// admin token.
	r := runCLI(t, map[string]string{"TENANTKIT_DATABASE_URL": vars["TENANTKIT_DATABASE_URL"]}, "jobs", "list", "--tenant", "acme", "--kind", "receipt")
	if r.exit != exitOK || !strings.Contains(r.stdout, "receipt") || !strings.Contains(r.stdout, "completed") || !strings.Contains(r.stdout, "acme") {
		t.Fatalf("tenantkit jobs list --tenant acme: exit %d\n%s%s", r.exit, r.stdout, r.stderr)
	}
	ui, _ := http.NewRequest(http.MethodGet, vars["TENANTKIT_URL"]+"/admin/jobs/", nil)
	ui.SetBasicAuth("admin", vars["TENANTKIT_ADMIN_TOKEN"])
	if code, ct, _ := do(t, ui); code != http.StatusOK || !strings.HasPrefix(ct, "text/html") {
		t.Fatalf("GET /admin/jobs/ with the admin token: %d %s", code, ct)
	}
	anon, _ := http.NewRequest(http.MethodGet, vars["TENANTKIT_URL"]+"/admin/jobs/", nil)
	if code, _, _ := do(t, anon); code != http.StatusUnauthorized {
		t.Fatalf("GET /admin/jobs/ without the token: %d, want 401", code)
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

// requireSuspensionHoldsAReceipt walks the rest of the receipt demo:
// suspending acme holds its next receipt job until tenants resume acme.
// The application refuses a suspended tenant's requests, so the receipt is
// asked for as the application's own code would, through a Kit on the dev
// catalog; the dev server's workers hold it, spending no attempt.
func requireSuspensionHoldsAReceipt(t *testing.T, vars map[string]string) {
	t.Helper()
	ctx := context.Background()
	direct := map[string]string{"TENANTKIT_DATABASE_URL": vars["TENANTKIT_DATABASE_URL"]}
	const address = "chef@acme.example"
	before := len(mailTo(t, vars["TENANTKIT_MAIL_URL"], address))
	if r := runCLI(t, direct, "tenants", "suspend", "acme", "--reason", "unpaid invoice"); r.exit != exitOK {
		t.Fatalf("suspend acme: %+v", r)
	}
	kit, err := tenantkit.New(tenantkit.Config{DatabaseURL: vars["TENANTKIT_DATABASE_URL"], Jobs: &tenantkit.JobsConfig{}})
	if err != nil {
		t.Fatal(err)
	}
	defer kit.Close()
	acme, err := kit.Lookup(ctx, "acme")
	if err != nil || acme.Status != tenantkit.StatusSuspended {
		t.Fatalf("acme: %+v, %v; want it suspended", acme, err)
	}
	list, err := tenantkit.Query(tenantkit.WithTenant(ctx, acme), kit, "SELECT id FROM orders ORDER BY id LIMIT 1", nil, pgx.RowTo[int64])
	if err != nil || len(list) != 1 {
		t.Fatalf("acme's first order: %v, %v", list, err)
	}
	res, err := orders.RequestReceipt(tenantkit.WithTenant(ctx, acme), kit, list[0])
	if err != nil {
		t.Fatal(err)
	}
	id := strconv.FormatInt(res.Job.ID, 10)
	time.Sleep(5 * time.Second) // past the dev server's snooze of a suspended tenant's job
	if r := runCLI(t, direct, "jobs", "show", id); r.exit != exitOK || strings.Contains(r.stdout, "completed") {
		t.Fatalf("acme's receipt job while acme is suspended: exit %d\n%s%s", r.exit, r.stdout, r.stderr)
	}
	if n := len(mailTo(t, vars["TENANTKIT_MAIL_URL"], address)); n != before {
		t.Fatalf("a receipt went out while acme was suspended (%d mails, %d before)", n, before)
	}
	if r := runCLI(t, direct, "tenants", "resume", "acme"); r.exit != exitOK {
		t.Fatalf("resume acme: %+v", r)
	}
	for deadline := time.Now().Add(30 * time.Second); len(mailTo(t, vars["TENANTKIT_MAIL_URL"], address)) == before; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("acme's held receipt was not sent within 30s of tenants resume acme")
		}
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		r := runCLI(t, direct, "jobs", "show", id)
		if r.exit == exitOK && strings.Contains(r.stdout, "completed") && strings.Contains(r.stdout, "Attempt:    1 of") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("acme's receipt job after resume, want completed at its first attempt: exit %d\n%s%s", r.exit, r.stdout, r.stderr)
		}
	}
}

// requireBillingInDev walks billing's done-when in make dev: billing is on
// against stripe-mock, dev.env holds the webhook secret, tenantkit billing
// status acme shows its subscription; a signed invoice.payment_failed for
// acme posted to /webhooks/stripe suspends it with "payment overdue" (dev's
// grace is 0), and a signed invoice.paid resumes it.
func requireBillingInDev(t *testing.T, vars map[string]string) {
	t.Helper()
	secret := vars["TENANTKIT_STRIPE_WEBHOOK_SECRET"]
	if secret == "" || vars["TENANTKIT_STRIPE_API_BASE"] == "" {
		t.Fatalf("dev.env has no billing settings: %v", vars)
	}
	direct := map[string]string{"TENANTKIT_DATABASE_URL": vars["TENANTKIT_DATABASE_URL"]}
	var acmeID string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		r := runCLI(t, direct, "billing", "status", "acme", "-o", "json")
		var st struct {
			Tenant  struct{ ID string }
			Account struct {
				SubscriptionID string `json:"subscription_id"`
			}
		}
		if r.exit == exitOK && json.Unmarshal([]byte(r.stdout), &st) == nil && strings.HasPrefix(st.Account.SubscriptionID, "sub_") {
			acmeID = st.Tenant.ID
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tenantkit billing status acme shows no subscription after 30s: exit %d\n%s%s", r.exit, r.stdout, r.stderr)
		}
	}
	made := time.Now().Add(-time.Minute) // each event a second after the one before, as Stripe's are
	post := func(id, typ string) {
		made = made.Add(time.Second)
		payload, _ := json.Marshal(map[string]any{"id": id, "object": "event", "api_version": "2026-06-24.dahlia", "created": made.Unix(),
			"type": typ, "data": map[string]any{"object": map[string]any{"id": "in_dev", "object": "invoice",
				"parent": map[string]any{"subscription_details": map[string]any{"metadata": map[string]string{"tenant_id": acmeID}}}}}})
		sp := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: secret, Timestamp: time.Now()})
		req, _ := http.NewRequest(http.MethodPost, vars["TENANTKIT_URL"]+"/webhooks/stripe", bytes.NewReader(payload))
		req.Header.Set("Stripe-Signature", sp.Header)
		if code, _, body := do(t, req); code != http.StatusOK {
			t.Fatalf("POST /webhooks/stripe %s: %d %s", typ, code, body)
		}
	}
	status := func() string {
		r := runCLI(t, direct, "tenants", "get", "acme", "-o", "json")
		var tn struct {
			Status           string `json:"status"`
			SuspensionReason string `json:"suspension_reason"`
		}
		_ = json.Unmarshal([]byte(r.stdout), &tn)
		return strings.TrimSpace(tn.Status + " " + tn.SuspensionReason)
	}
	for _, step := range []struct{ typ, want string }{{"invoice.payment_failed", "suspended payment overdue"}, {"invoice.paid", "active"}} {
		post("evt_dev_"+strings.ReplaceAll(step.typ, ".", "_"), step.typ)
		for deadline := time.Now().Add(20 * time.Second); status() != step.want; time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("after %s acme is %q, want %q", step.typ, status(), step.want)
			}
		}
	}
}

// requireHTTPSWithACustomDomain walks HTTPS in make dev as the banner shows
// it, offline: through the dev server, domains add acme shop.acme.test
// prints the TXT record; dev dns txt sets it in the dev DNS server;
// domains verify verifies it; then an HTTPS request for shop.acme.test,
// dialled to the TLS port, gets a certificate the local ACME CA issued on
// demand, trusted through TENANTKIT_DEV_CA, and is answered by the dev
// server as acme. A host that is not verified is refused during the
// handshake; acme.BASE-DOMAIN is served with the dev CA's own
// certificate. It returns shop.acme.test's verification token.
func requireHTTPSWithACustomDomain(t *testing.T, vars map[string]string) string {
	t.Helper()
	for _, k := range []string{"TENANTKIT_HTTPS_URL", "TENANTKIT_DEV_CA", "TENANTKIT_DEV_DNS", "TENANTKIT_DNS_RESOLVER", "TENANTKIT_BASE_DOMAIN"} {
		if vars[k] == "" {
			t.Fatalf("dev.env has no %s: the dev server serves no HTTPS: %v", k, vars)
		}
	}
	viaServer := map[string]string{"TENANTKIT_SERVER": vars["TENANTKIT_URL"], "TENANTKIT_ADMIN_TOKEN": vars["TENANTKIT_ADMIN_TOKEN"]}
	r := runCLI(t, viaServer, "domains", "add", "acme", "shop.acme.test")
	record := regexp.MustCompile(`(?m)^(_tenantkit-challenge\.shop\.acme\.test)\. 300 IN TXT "([^"]+)"$`).FindStringSubmatch(r.stdout)
	if r.exit != exitOK || record == nil {
		t.Fatalf("domains add acme shop.acme.test: %+v", r)
	}
	// The unverified host first: no record, no certificate.
	roots, addr := devTLS(t, vars)
	if _, err := handshake(addr, "shop.acme.test", roots); err == nil {
		t.Fatal("a certificate for shop.acme.test before it was verified")
	}
	if r := runCLI(t, vars, "dev", "dns", "txt", record[1], record[2]); r.exit != exitOK {
		t.Fatalf("dev dns txt: %+v", r)
	}
	if r := runCLI(t, viaServer, "domains", "verify", "shop.acme.test"); r.exit != exitOK || !strings.Contains(r.stdout, "verified") {
		t.Fatalf("domains verify shop.acme.test: %+v", r)
	}

	start := time.Now()
	leaf := requireHTTPSWhoami(t, vars, "shop.acme.test", "acme")
	t.Logf("shop.acme.test: certificate issued and served in %v", time.Since(start))
	if !slices.Equal(leaf.DNSNames, []string{"shop.acme.test"}) || bytes.Contains(leaf.RawIssuer, []byte("tenantkit dev")) {
		t.Errorf("shop.acme.test served a certificate for %v issued by %s, want one of its own from the ACME CA", leaf.DNSNames, leaf.Issuer)
	}
	// Any page of the host comes from the dev server: the storefront
	// page, or the example app's answer where there is none.
	resp, err := devHTTPSClient(t, vars).Get("https://shop.acme.test:" + portOf(t, addr) + "/")
	if err != nil {
		t.Fatalf("GET https://shop.acme.test/: %v", err)
	}
	resp.Body.Close()
	if resp.TLS == nil || resp.Header.Get("Content-Type") == "" {
		t.Errorf("GET https://shop.acme.test/: %s %v", resp.Status, resp.Header)
	}

	if _, err := handshake(addr, "other.acme.test", roots); err == nil {
		t.Fatal("a certificate for other.acme.test, which no tenant verified")
	}
	base := requireHTTPSWhoami(t, vars, "acme."+vars["TENANTKIT_BASE_DOMAIN"], "acme")
	if !bytes.Contains(base.RawIssuer, []byte("tenantkit dev CA")) {
		t.Errorf("acme.%s served a certificate issued by %s, want the dev CA", vars["TENANTKIT_BASE_DOMAIN"], base.Issuer)
	}
	return record[2]
}

// requireHTTPSAfterRestart: a second run keeps the dev CA (its
// certificate in TENANTKIT_DEV_CA is the same), puts the verified
// domain's proof record back in the new DNS server, and serves the domain
// with a certificate from the new ACME CA that the new bundle trusts.
func requireHTTPSAfterRestart(t *testing.T, first, second map[string]string, token string) {
	t.Helper()
	devCA := func(vars map[string]string) []byte {
		b, err := os.ReadFile(vars["TENANTKIT_DEV_CA"])
		if err != nil {
			t.Fatal(err)
		}
		block, _ := pem.Decode(b)
		if block == nil {
			t.Fatalf("%s holds no certificate", vars["TENANTKIT_DEV_CA"])
		}
		return block.Bytes
	}
	if first["TENANTKIT_DEV_CA"] != second["TENANTKIT_DEV_CA"] || !bytes.Equal(devCA(first), devCA(second)) {
		t.Errorf("the dev CA changed across a restart: %s, then %s", first["TENANTKIT_DEV_CA"], second["TENANTKIT_DEV_CA"])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := (domains.Proof{Resolver: second["TENANTKIT_DNS_RESOLVER"]}).Check(ctx, "shop.acme.test", token); err != nil {
		t.Errorf("after a restart, shop.acme.test's proof in the dev DNS: %v", err)
	}
	requireHTTPSWhoami(t, second, "shop.acme.test", "acme")
}

// devTLS returns the roots of TENANTKIT_DEV_CA and the TLS address.
func devTLS(t *testing.T, vars map[string]string) (*x509.CertPool, string) {
	t.Helper()
	b, err := os.ReadFile(vars["TENANTKIT_DEV_CA"])
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(b) {
		t.Fatalf("%s holds no certificate", vars["TENANTKIT_DEV_CA"])
	}
	return roots, hostOf(t, vars["TENANTKIT_HTTPS_URL"])
}

// devHTTPSClient trusts TENANTKIT_DEV_CA only and dials every host to the
// dev server's TLS port, as curl --resolve does.
func devHTTPSClient(t *testing.T, vars map[string]string) *http.Client {
	t.Helper()
	roots, addr := devTLS(t, vars)
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}
	t.Cleanup(tr.CloseIdleConnections)
	// The first request for a custom domain waits for its certificate.
	return &http.Client{Transport: tr, Timeout: 90 * time.Second}
}

// requireHTTPSWhoami asks https://host:TLS-PORT/api/whoami which tenant
// host is, requires slug, and returns the certificate served.
func requireHTTPSWhoami(t *testing.T, vars map[string]string, host, slug string) *x509.Certificate {
	t.Helper()
	_, addr := devTLS(t, vars)
	resp, err := devHTTPSClient(t, vars).Get("https://" + host + ":" + portOf(t, addr) + "/api/whoami")
	if err != nil {
		t.Fatalf("GET https://%s/api/whoami: %v", host, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var who server.Whoami
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &who) != nil || who.Slug != slug {
		t.Fatalf("GET https://%s/api/whoami: %s %s, want %s", host, resp.Status, body, slug)
	}
	return resp.TLS.PeerCertificates[0]
}

func portOf(t *testing.T, addr string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// TestDevDNS: tenantkit dev dns sets and clears TXT records in a dev DNS
// server found through TENANTKIT_DEV_DNS, and fails with one line when
// that is unset or does not answer.
func TestDevDNS(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // a first run builds it
	defer cancel()
	srv, err := challtestsrv.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	vars := map[string]string{"TENANTKIT_DEV_DNS": srv.ManagementURL()}
	const name = "_tenantkit-challenge.shop.example.test"
	r := runCLI(t, vars, "dev", "dns", "txt", "_tenantkit-challenge.Shop.example.test.", "tok-1")
	if r.exit != exitOK || r.stdout != name+`. TXT "tok-1"`+"\n" {
		t.Fatalf("dev dns txt: %+v", r)
	}
	if got, err := challtestsrv.LookupTXT(ctx, "udp", srv.DNSAddr(), name); err != nil || !slices.Equal(got, []string{"tok-1"}) {
		t.Fatalf("TXT %s after dev dns txt: %q, %v", name, got, err)
	}
	if r := runCLI(t, vars, "dev", "dns", "clear", name); r.exit != exitOK {
		t.Fatalf("dev dns clear: %+v", r)
	}
	if got, err := challtestsrv.LookupTXT(ctx, "tcp", srv.DNSAddr(), name); err != nil || len(got) != 0 {
		t.Fatalf("TXT %s after dev dns clear: %q, %v", name, got, err)
	}
	if r := runCLI(t, nil, "dev", "dns"); r.exit != exitOK || !strings.Contains(r.stdout, "Usage:") {
		t.Errorf("dev dns: %+v", r)
	}

	dead := "http://" + freeAddr(t)
	for _, c := range []struct {
		vars map[string]string
		args []string
		exit int
		want string
	}{
		{nil, []string{"txt", name, "v"}, exitUsage, "tenantkit: TENANTKIT_DEV_DNS is not set: start tenantkit dev, then load its settings: set -a; . .tenantkit/dev/dev.env; set +a"},
		{map[string]string{"TENANTKIT_DEV_DNS": "localhost:1"}, []string{"clear", name}, exitUsage, `tenantkit: TENANTKIT_DEV_DNS "localhost:1" is not an http(s)://host:port URL`},
		{map[string]string{"TENANTKIT_DEV_DNS": dead}, []string{"txt", name, "v"}, exitError, "tenantkit: the dev DNS server at " + dead + " does not answer (is tenantkit dev running?)"},
		{vars, []string{"txt", name}, exitUsage, "tenantkit: tenantkit dev dns txt: want a NAME and a VALUE"},
		{vars, []string{"txt", "a..test", "v"}, exitError, `tenantkit: challtestsrv: "a..test" is not a DNS name`},
		{vars, []string{"bogus"}, exitUsage, `tenantkit: unknown command "bogus" for "tenantkit dev dns"`},
	} {
		r := runCLI(t, c.vars, append([]string{"dev", "dns"}, c.args...)...)
		requireOneErrorLine(t, r)
		if r.exit != c.exit || !strings.HasPrefix(r.stderr, c.want) {
			t.Errorf("dev dns %s: exit %d, stderr %q; want exit %d and %q", shellJoin(c.args), r.exit, r.stderr, c.exit, c.want)
		}
	}
}
