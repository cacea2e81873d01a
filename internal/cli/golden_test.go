package cli

import (
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/tenantkit/tenantkit/tenantkittest"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the direct-mode output")

// step is one CLI run of a scenario, compared with testdata/NAME.golden.
// In args, $UUID1 stands for the first uuid the scenario printed.
type step struct {
	name string
	args []string
	exit int
}

// tenantSteps run in order on an empty catalog, once against the catalog
// and once through a server; both must print the same.
var tenantSteps = []step{
	{"tenants_list_empty", []string{"tenants", "list"}, exitOK},
	{"tenants_create", []string{"tenants", "create", "acme", "--name", "Acme Corp"}, exitOK},
	{"tenants_create_json", []string{"tenants", "create", "globex", "--name", "Globex Corporation", "--plan", "pro", "-o", "json"}, exitOK},
	{"tenants_create_invalid_slug", []string{"tenants", "create", "Bad_Slug", "--name", "Bad"}, exitError},
	{"tenants_create_invalid_fields", []string{"tenants", "create", "ab", "--name", " ", "--plan", "gold"}, exitError},
	{"tenants_create_reserved_slug", []string{"tenants", "create", "admin", "--name", "Admin"}, exitError},
	{"tenants_create_slug_taken", []string{"tenants", "create", "acme", "--name", "Another Acme"}, exitError},
	{"tenants_create_args", []string{"tenants", "create", "--name", "No Slug"}, exitUsage},
	{"tenants_get", []string{"tenants", "get", "acme"}, exitOK},
	{"tenants_get_by_id", []string{"tenants", "get", "$UUID1"}, exitOK},
	{"tenants_get_json", []string{"tenants", "get", "acme", "-o", "json"}, exitOK},
	{"tenants_get_unknown", []string{"tenants", "get", "nosuch"}, exitError},
	{"tenants_get_args", []string{"tenants", "get", "acme", "globex"}, exitUsage},
	{"tenants_update", []string{"tenants", "update", "acme", "--name", "Acme Inc", "--plan", "pro"}, exitOK},
	{"tenants_update_invalid", []string{"tenants", "update", "acme", "--name", "", "--plan", "gold"}, exitError},
	{"tenants_update_nothing", []string{"tenants", "update", "acme"}, exitUsage},
	{"tenants_update_unknown", []string{"tenants", "update", "nosuch", "--plan", "pro"}, exitError},
	{"tenants_suspend", []string{"tenants", "suspend", "acme", "--reason", "unpaid invoice"}, exitOK},
	{"tenants_suspend_json", []string{"tenants", "suspend", "acme", "--reason", "unpaid invoice", "-o", "json"}, exitOK},
	{"tenants_suspend_no_reason", []string{"tenants", "suspend", "globex", "--reason", ""}, exitError},
	{"tenants_list", []string{"tenants", "list"}, exitOK},
	{"tenants_list_json", []string{"tenants", "list", "-o", "json"}, exitOK},
	{"tenants_list_page", []string{"tenants", "list", "--limit", "1"}, exitOK},
	{"tenants_list_next_page", []string{"tenants", "list", "--limit", "1", "--after", "acme"}, exitOK},
	{"tenants_list_suspended", []string{"tenants", "list", "--status", "suspended"}, exitOK},
	{"tenants_list_invalid", []string{"tenants", "list", "--status", "gone", "--limit", "501"}, exitError},
	{"tenants_list_bad_output", []string{"tenants", "list", "-o", "yaml"}, exitUsage},
	{"tenants_resume", []string{"tenants", "resume", "acme"}, exitOK},
	{"tenants_resume_unknown", []string{"tenants", "resume", "nosuch"}, exitError},
	{"tenants_delete", []string{"tenants", "delete", "globex"}, exitOK},
	{"tenants_delete_again_json", []string{"tenants", "delete", "globex", "-o", "json"}, exitOK},
	{"tenants_suspend_deleted", []string{"tenants", "suspend", "globex"}, exitError},
	{"tenants_list_deleted", []string{"tenants", "list", "--status", "deleted"}, exitOK},
	{"tenants_delete_unknown", []string{"tenants", "delete", "nosuch"}, exitError},
}

// catalogSteps run in order on an empty database, against it only.
var catalogSteps = []step{
	{"catalog_status_pending", []string{"catalog", "status"}, exitOK},
	{"catalog_migrate", []string{"catalog", "migrate"}, exitOK},
	{"catalog_migrate_again_json", []string{"catalog", "migrate", "-o", "json"}, exitOK},
	{"catalog_status", []string{"catalog", "status"}, exitOK},
	{"catalog_status_json", []string{"catalog", "status", "-o", "json"}, exitOK},
	{"catalog_status_args", []string{"catalog", "status", "now"}, exitUsage},
}

func TestTenantsGolden(t *testing.T) {
	t.Parallel()
	checkModes(t, tenantSteps, map[string]func(*testing.T) target{
		"direct": func(t *testing.T) target { tg, _ := directTarget(t); return tg },
		"http":   httpTarget,
	})
}

// checkModes runs steps once per mode, the modes in parallel, and checks
// each step's transcript against its golden file, written from mode
// "direct", and that every mode printed the same.
func checkModes(t *testing.T, steps []step, modes map[string]func(*testing.T) target) {
	t.Helper()
	var (
		mu   sync.Mutex
		outs = map[string][]string{}
	)
	t.Run("modes", func(t *testing.T) {
		for name, newTarget := range modes {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				out := runSteps(t, newTarget(t), steps)
				mu.Lock()
				defer mu.Unlock()
				outs[name] = out
			})
		}
	})
	for name := range modes {
		if len(outs[name]) != len(steps) {
			t.Fatalf("mode %s did not finish its scenario", name)
		}
	}
	for i, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			checkGolden(t, s.name, outs["direct"][i])
			for name, out := range outs {
				if out[i] != outs["direct"][i] {
					t.Errorf("%s, got:\n%s\ndirectly, got:\n%s", name, out[i], outs["direct"][i])
				}
			}
		})
	}
}

func TestCatalogGolden(t *testing.T) {
	t.Parallel()
	db := tenantkittest.NewDatabase(t)
	out := runSteps(t, target{name: "direct", env: map[string]string{"TENANTKIT_DATABASE_URL": db.OwnerDSN()}}, catalogSteps)
	for i, s := range catalogSteps {
		t.Run(s.name, func(t *testing.T) { checkGolden(t, s.name, out[i]) })
	}
}

// runSteps runs steps in order against tg and returns each one's
// normalised transcript. It checks the exit status of each and that a
// failure is one line on stderr and nothing on stdout.
func runSteps(t *testing.T, tg target, steps []step) []string {
	t.Helper()
	n := newNormalizer()
	out := make([]string, 0, len(steps))
	for _, s := range steps {
		args := make([]string, len(s.args))
		for i, a := range s.args {
			args[i] = strings.ReplaceAll(a, "$UUID1", n.id(1))
		}
		r := runCLI(t, tg.env, args...)
		if r.exit != s.exit {
			t.Errorf("%s: %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", tg.name, s.name, r.exit, s.exit, r.stdout, r.stderr)
		}
		if r.exit != exitOK {
			requireOneErrorLine(t, r)
		} else if r.stderr != "" {
			t.Errorf("%s: %s: stderr on success: %q", tg.name, s.name, r.stderr)
		}
		out = append(out, transcript(s.args, n.replace(r.stdout), n.replace(r.stderr), r.exit))
	}
	return out
}

func transcript(args []string, stdout, stderr string, exit int) string {
	var b strings.Builder
	b.WriteString("$ tenantkit " + shellJoin(args) + "\n")
	b.WriteString("exit " + strconv.Itoa(exit) + "\n")
	b.WriteString("-- stdout --\n" + stdout)
	b.WriteString("-- stderr --\n" + stderr)
	return b.String()
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run Golden -update to write it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs; got:\n%s\nwant:\n%s", path, got, want)
	}
}
