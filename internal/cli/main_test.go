package cli

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantkit/tenantkit"
	"github.com/tenantkit/tenantkit/internal/contract"
	"github.com/tenantkit/tenantkit/internal/server"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

func TestMain(m *testing.M) { tenantkittest.Main(m) }

// result is what one CLI run left behind.
type result struct {
	exit           int
	stdout, stderr string
}

// runCLI runs the CLI in-process with args and the given environment.
func runCLI(t *testing.T, vars map[string]string, args ...string) result {
	t.Helper()
	return runCLIWithInput(t, vars, "", args...)
}

// runCLIWithInput is runCLI with stdin on standard input.
func runCLIWithInput(t *testing.T, vars map[string]string, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	exit := run(ctx, args, env{stdin: strings.NewReader(stdin), stdout: &stdout, stderr: &stderr, getenv: mapEnv(vars)})
	return result{exit: exit, stdout: stdout.String(), stderr: stderr.String()}
}

func mapEnv(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// requireOneErrorLine fails unless r is a failure with an empty stdout and
// exactly one "tenantkit: " line on stderr.
func requireOneErrorLine(t *testing.T, r result) {
	t.Helper()
	if r.exit == exitOK {
		t.Fatalf("exit 0, want a failure; stdout:\n%s", r.stdout)
	}
	if r.stdout != "" {
		t.Errorf("stdout not empty on failure:\n%s", r.stdout)
	}
	if !strings.HasPrefix(r.stderr, "tenantkit: ") || !strings.HasSuffix(r.stderr, "\n") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("stderr is not one \"tenantkit: \" line: %q", r.stderr)
	}
}

// target is where tenant commands go: a catalog database, or a server.
type target struct {
	name string
	env  map[string]string
}

// directTarget is a fresh catalog, reached with TENANTKIT_DATABASE_URL.
func directTarget(t *testing.T) (target, *tenantkittest.Database) {
	t.Helper()
	db := tenantkittest.NewCatalog(t)
	return target{name: "direct", env: map[string]string{"TENANTKIT_DATABASE_URL": db.OwnerDSN()}}, db
}

const testToken = "test-admin-token-0123456789"

// httpTarget is an httptest server with the admin API on a fresh catalog,
// reached with TENANTKIT_SERVER and TENANTKIT_ADMIN_TOKEN, and no database
// URL: everything must go through the server.
func httpTarget(t *testing.T) target {
	t.Helper()
	return httpTargetOn(t, tenantkittest.NewCatalog(t))
}

// httpTargetOn is httpTarget on the catalog db.
func httpTargetOn(t *testing.T, db *tenantkittest.Database) target {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), db.OwnerDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	log := slog.New(slog.DiscardHandler)
	kit, err := tenantkit.New(tenantkit.Config{Pool: pool, DatabaseURL: db.OwnerDSN(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kit.Close)
	srv, err := server.New(server.Config{Pool: pool, Kit: kit, AdminToken: testToken, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(contract.Handler(t, srv.Handler()))
	t.Cleanup(ts.Close)
	return target{name: "http", env: map[string]string{"TENANTKIT_SERVER": ts.URL, "TENANTKIT_ADMIN_TOKEN": testToken}}
}

var (
	uuidRE = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	timeRE = regexp.MustCompile(`\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})`)
)

// timePlaceholder is as wide as the RFC 3339 UTC times of table output, so
// that columns stay aligned; JSON times, of any precision, get it too.
const timePlaceholder = "<TIME..............>"

// normalizer replaces uuids and times with placeholders. A uuid becomes
// <UUID-n>, n counting distinct uuids in order of appearance across
// everything the normalizer sees, padded to a uuid's width.
type normalizer struct {
	ids map[string]string
}

func newNormalizer() *normalizer { return &normalizer{ids: map[string]string{}} }

func (n *normalizer) replace(s string) string {
	s = uuidRE.ReplaceAllStringFunc(s, func(id string) string {
		if p, ok := n.ids[id]; ok {
			return p
		}
		p := "<UUID-" + strconv.Itoa(len(n.ids)+1)
		p += strings.Repeat(".", len(id)-len(p)-1) + ">"
		n.ids[id] = p
		return p
	})
	return timeRE.ReplaceAllString(s, timePlaceholder)
}

// id returns the uuid that became placeholder number i (from 1).
func (n *normalizer) id(i int) string {
	prefix := "<UUID-" + strconv.Itoa(i) + "."
	for id, p := range n.ids {
		if strings.HasPrefix(p, prefix) {
			return id
		}
	}
	return ""
}

// shellJoin renders args as a command line for golden files.
func shellJoin(args []string) string {
	parts := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\"'$\\") {
			a = fmt.Sprintf("%q", a)
		}
		parts[i] = a
	}
	return strings.Join(parts, " ")
}
