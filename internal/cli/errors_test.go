package cli

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/tenantkit/tenantkit/internal/pgcluster"
)

// errCase is a CLI run that must fail with one line on stderr and nothing
// on stdout.
type errCase struct {
	name string
	on   []target
	args []string
	exit int
	// want is the whole stderr line, without its newline; wantRE a
	// pattern for it when it holds something that varies, like a port.
	want, wantRE string
}

func TestErrorPaths(t *testing.T) {
	t.Parallel()
	direct, _ := directTarget(t)
	viaHTTP := httpTarget(t)
	for _, tg := range []target{direct, viaHTTP} {
		if r := runCLI(t, tg.env, "tenants", "create", "acme", "--name", "Acme Corp"); r.exit != exitOK {
			t.Fatalf("%s: create acme: %+v", tg.name, r)
		}
	}
	none := target{name: "none", env: map[string]string{}}
	both := []target{direct, viaHTTP}
	only := func(tg target) []target { return []target{tg} }
	with := func(name string, vars map[string]string) []target { return []target{{name: name, env: vars}} }
	freePort := func() string {
		p, err := pgcluster.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		return strconv.Itoa(p)
	}
	deadServer := "http://127.0.0.1:" + freePort()
	notTenantkit := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "<html>bad gateway</html>", http.StatusBadGateway)
	}))
	t.Cleanup(notTenantkit.Close)
	const pw = "s3cret-pw"
	deadCatalog := "postgres://tenantkit_owner:" + pw + "@127.0.0.1:" + freePort() + "/tenantkit?sslmode=disable&connect_timeout=5"
	badCatalog := "postgres://tenantkit_owner:" + pw + "@127.0.0.1:notaport/tenantkit"
	const noTarget = "tenantkit: no catalog or server given: set TENANTKIT_DATABASE_URL (or --database-url), or --server with --token"

	cases := []errCase{
		// Nowhere to send the command.
		{name: "no target list", on: only(none), args: []string{"tenants", "list"}, exit: exitUsage, want: noTarget},
		{name: "no target create", on: only(none), args: []string{"tenants", "create", "acme", "--name", "Acme"}, exit: exitUsage, want: noTarget},
		{name: "no target get", on: only(none), args: []string{"tenants", "get", "acme"}, exit: exitUsage, want: noTarget},
		{name: "no target update", on: only(none), args: []string{"tenants", "update", "acme", "--plan", "pro"}, exit: exitUsage, want: noTarget},
		{name: "no target suspend", on: only(none), args: []string{"tenants", "suspend", "acme"}, exit: exitUsage, want: noTarget},
		{name: "no target resume", on: only(none), args: []string{"tenants", "resume", "acme"}, exit: exitUsage, want: noTarget},
		{name: "no target delete", on: only(none), args: []string{"tenants", "delete", "acme"}, exit: exitUsage, want: noTarget},
		{name: "no target plans list", on: only(none), args: []string{"plans", "list"}, exit: exitUsage, want: noTarget},
		{name: "no target set-plan", on: only(none), args: []string{"tenants", "set-plan", "acme", "pro"}, exit: exitUsage, want: noTarget},
		{name: "no target flags list", on: only(none), args: []string{"flags", "list"}, exit: exitUsage, want: noTarget},
		{name: "no target settings get", on: only(none), args: []string{"settings", "get", "acme"}, exit: exitUsage, want: noTarget},
		{name: "no catalog status", on: only(none), args: []string{"catalog", "status"}, exit: exitUsage,
			want: "tenantkit: catalog status needs TENANTKIT_DATABASE_URL or --database-url"},
		{name: "no catalog migrate", on: only(none), args: []string{"catalog", "migrate"}, exit: exitUsage,
			want: "tenantkit: catalog migrate needs TENANTKIT_DATABASE_URL or --database-url"},
		{name: "server flag without token", on: only(none), args: []string{"tenants", "list", "--server", deadServer}, exit: exitUsage,
			want: "tenantkit: --server needs --token (or TENANTKIT_ADMIN_TOKEN)"},
		{name: "server env without token", on: with("server-env", map[string]string{"TENANTKIT_SERVER": deadServer}), args: []string{"tenants", "list"}, exit: exitUsage,
			want: "tenantkit: --server needs --token (or TENANTKIT_ADMIN_TOKEN)"},
		{name: "bad server URL", on: only(none), args: []string{"tenants", "list", "--server", "ftp://example.com", "--token", testToken}, exit: exitUsage,
			want: `tenantkit: server URL "ftp://example.com" must be http(s)://host[:port]`},
		{name: "bad database URL", on: only(none), args: []string{"tenants", "list", "--database-url", badCatalog}, exit: exitUsage,
			wantRE: `^tenantkit: bad database URL: .+$`},

		// Usage errors: the same whichever the target.
		{name: "bad output", on: both, args: []string{"tenants", "get", "acme", "-o", "yaml"}, exit: exitUsage,
			want: `tenantkit: --output must be table or json, not "yaml"`},
		{name: "bad output without target", on: only(none), args: []string{"tenants", "list", "--output", "xml"}, exit: exitUsage,
			want: `tenantkit: --output must be table or json, not "xml"`},
		{name: "get without ref", on: both, args: []string{"tenants", "get"}, exit: exitUsage,
			want: "tenantkit: tenantkit tenants get: want one ID or SLUG"},
		{name: "list with an arg", on: both, args: []string{"tenants", "list", "acme"}, exit: exitUsage,
			want: "tenantkit: tenantkit tenants list: want no arguments"},
		{name: "create with two slugs", on: both, args: []string{"tenants", "create", "a1a", "b2b", "--name", "X"}, exit: exitUsage,
			want: "tenantkit: tenantkit tenants create: want one SLUG"},
		{name: "suspend without ref", on: both, args: []string{"tenants", "suspend"}, exit: exitUsage,
			want: "tenantkit: tenantkit tenants suspend: want one ID or SLUG"},
		{name: "unknown flag", on: both, args: []string{"tenants", "list", "--bogus"}, exit: exitUsage,
			want: "tenantkit: unknown flag: --bogus"},
		{name: "unknown root flag", on: both, args: []string{"--bogus", "tenants", "list"}, exit: exitUsage,
			want: "tenantkit: unknown flag: --bogus"},
		{name: "unknown shorthand", on: both, args: []string{"tenants", "get", "acme", "-x"}, exit: exitUsage,
			want: "tenantkit: unknown shorthand flag: 'x' in -x"},
		{name: "bad flag value", on: both, args: []string{"tenants", "list", "--limit", "ten"}, exit: exitUsage,
			want: `tenantkit: invalid argument "ten" for "--limit" flag: strconv.ParseInt: parsing "ten": invalid syntax`},
		{name: "flag without value", on: both, args: []string{"tenants", "suspend", "acme", "--reason"}, exit: exitUsage,
			want: "tenantkit: flag needs an argument: --reason"},
		{name: "update without fields", on: both, args: []string{"tenants", "update", "acme"}, exit: exitUsage,
			want: "tenantkit: tenants update: give --name or --plan"},
		{name: "unknown command", on: both, args: []string{"bogus"}, exit: exitUsage,
			want: `tenantkit: unknown command "bogus" for "tenantkit"`},
		{name: "unknown tenants command", on: both, args: []string{"tenants", "lst"}, exit: exitUsage,
			want: `tenantkit: unknown command "lst" for "tenantkit tenants" (did you mean "list"?)`},
		{name: "unknown catalog command", on: both, args: []string{"catalog", "migrat"}, exit: exitUsage,
			want: `tenantkit: unknown command "migrat" for "tenantkit catalog" (did you mean "migrate"?)`},
		{name: "serve without catalog", on: only(none), args: []string{"serve"}, exit: exitUsage,
			want: "tenantkit: serve needs --database-url or TENANTKIT_DATABASE_URL"},
		{name: "serve with a short token", on: only(direct), args: []string{"serve", "--token", "short"}, exit: exitUsage,
			want: "tenantkit: serve needs TENANTKIT_ADMIN_TOKEN (or --token) of at least 16 characters"},
		{name: "dev with an arg", on: only(none), args: []string{"dev", "now"}, exit: exitUsage,
			want: "tenantkit: tenantkit dev: want no arguments"},
		{name: "dev with a short token", on: with("short-token", map[string]string{"TENANTKIT_ADMIN_TOKEN": "short"}),
			args: []string{"dev", "--data-dir", t.TempDir()}, exit: exitUsage,
			want: "tenantkit: TENANTKIT_ADMIN_TOKEN must be at least 16 characters"},

		// Refused by the catalog, directly or through the server.
		{name: "invalid slug", on: both, args: []string{"tenants", "create", "acme-", "--name", "Acme"}, exit: exitError,
			want: "tenantkit: some fields are invalid: slug must be a lowercase DNS label: letters a-z, digits and hyphens, not starting or ending with a hyphen"},
		{name: "short slug", on: both, args: []string{"tenants", "create", "ab", "--name", "AB"}, exit: exitError,
			want: "tenantkit: some fields are invalid: slug must be 3 to 63 characters"},
		{name: "slug taken", on: both, args: []string{"tenants", "create", "acme", "--name", "Acme Again"}, exit: exitError,
			want: "tenantkit: that slug is taken"},
		{name: "unknown slug", on: both, args: []string{"tenants", "get", "nosuch"}, exit: exitError,
			want: "tenantkit: no such tenant"},
		{name: "unknown id", on: both, args: []string{"tenants", "suspend", "00000000-0000-4000-8000-000000000000", "--reason", "x"}, exit: exitError,
			want: "tenantkit: no such tenant"},
		{name: "newline in plan", on: both, args: []string{"tenants", "create", "new-co", "--name", "A\nB", "--plan", "gold\nplan"}, exit: exitError,
			want: `tenantkit: some fields are invalid: plan must be a known plan, not "gold\nplan"`},

		// The server or the catalog cannot be had.
		{name: "wrong token", on: only(viaHTTP), args: []string{"tenants", "list", "--token", "wrong-token-0123456789"}, exit: exitError,
			want: "tenantkit: wrong bearer token"},
		{name: "server unreachable", on: only(none), args: []string{"tenants", "get", "acme", "--server", deadServer, "--token", testToken}, exit: exitError,
			wantRE: `^tenantkit: server unreachable: dial tcp 127\.0\.0\.1:\d+: connect: connection refused$`},
		{name: "not a tenantkit server", on: only(none), args: []string{"tenants", "list", "--server", notTenantkit.URL, "--token", testToken}, exit: exitError,
			want: "tenantkit: server answered 502 Bad Gateway"},
		{name: "catalog unreachable", on: only(none), args: []string{"tenants", "get", "acme", "--database-url", deadCatalog}, exit: exitError,
			wantRE: `^tenantkit: .*127\.0\.0\.1.*connection refused.*$`},
		{name: "catalog unreachable for status", on: only(none), args: []string{"catalog", "status", "--database-url", deadCatalog}, exit: exitError,
			wantRE: `^tenantkit: .*connection refused.*$`},
	}
	for _, c := range cases {
		for _, tg := range c.on {
			t.Run(c.name+"/"+tg.name, func(t *testing.T) {
				t.Parallel()
				r := runCLI(t, tg.env, c.args...)
				if r.exit != c.exit {
					t.Errorf("exit %d, want %d", r.exit, c.exit)
				}
				requireOneErrorLine(t, r)
				line := strings.TrimSuffix(r.stderr, "\n")
				switch {
				case c.wantRE != "":
					if !regexp.MustCompile(c.wantRE).MatchString(line) {
						t.Errorf("stderr %q does not match %s", line, c.wantRE)
					}
				case line != c.want:
					t.Errorf("stderr:\n got %q\nwant %q", line, c.want)
				}
				if strings.Contains(r.stderr, pw) {
					t.Errorf("stderr shows the database password: %q", r.stderr)
				}
			})
		}
	}
}

// TestGroupCommandsShowHelp checks that a bare group command still shows
// its help and succeeds.
func TestGroupCommandsShowHelp(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{}, {"tenants"}, {"catalog"}, {"tenants", "--help"}, {"plans"}, {"flags"}, {"settings"}, {"settings", "set", "--help"}} {
		r := runCLI(t, map[string]string{}, args...)
		if r.exit != exitOK || r.stderr != "" || !strings.Contains(r.stdout, "Usage:") {
			t.Errorf("tenantkit %s: exit %d, stderr %q, stdout:\n%s", shellJoin(args), r.exit, r.stderr, r.stdout)
		}
	}
}
