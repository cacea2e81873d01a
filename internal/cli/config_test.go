package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/tenantkit/tenantkit/api"
	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/contract"
	"github.com/tenantkit/tenantkit/internal/pgcluster"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

// writeConfig writes a config file with body in a fresh directory and
// returns its path.
func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tenantkit.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// printedConfig runs config print -o json with vars and args and decodes
// its report, keyed by setting.
func printedConfig(t *testing.T, vars map[string]string, args ...string) (configReport, map[string]configEntry) {
	t.Helper()
	r := runCLI(t, vars, append([]string{"config", "print", "-o", "json"}, args...)...)
	if r.exit != exitOK {
		t.Fatalf("config print: exit %d, stderr: %s", r.exit, r.stderr)
	}
	var rep configReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("config print: %v in\n%s", err, r.stdout)
	}
	byKey := map[string]configEntry{}
	for _, s := range rep.Settings {
		if _, dup := byKey[s.Key]; dup {
			t.Errorf("config print: %q twice", s.Key)
		}
		byKey[s.Key] = s
	}
	return rep, byKey
}

// TestConfigPrecedence checks, through config print, that a flag on the
// command line wins over its environment variable, which wins over the
// file, which wins over the default, with the file named by --config or by
// TENANTKIT_CONFIG.
func TestConfigPrecedence(t *testing.T) {
	t.Parallel()
	path := writeConfig(t, `# every source of settings at once
addr: 10.0.0.1:9000
base-domain: file.example
database-url: postgres://file@db.example/file
redis-url: redis://file.example:6379/0
metrics-top-k: 7
no-rate-limit: true
access-log: false
otel-endpoint: http://file.example:4318
`)
	vars := map[string]string{
		"TENANTKIT_DATABASE_URL":      "postgres://env@db.example/env",
		"TENANTKIT_REDIS_URL":         "redis://env.example:6379/0",
		"OTEL_EXPORTER_OTLP_ENDPOINT": "http://env.example:4318",
	}
	flags := []string{"--base-domain", "flag.example", "--redis-url", "redis://flag.example:6379/0", "--access-log"}
	want := map[string]configEntry{
		"addr":            {Key: "addr", Value: "10.0.0.1:9000", Source: "file", Line: 2},
		"base-domain":     {Key: "base-domain", Value: "flag.example", Source: "flag"},
		"database-url":    {Key: "database-url", Value: "postgres://env@db.example/env", Source: "env", Env: "TENANTKIT_DATABASE_URL"},
		"redis-url":       {Key: "redis-url", Value: "redis://flag.example:6379/0", Source: "flag"},
		"metrics-top-k":   {Key: "metrics-top-k", Value: "7", Source: "file", Line: 6},
		"no-rate-limit":   {Key: "no-rate-limit", Value: "true", Source: "file", Line: 7},
		"access-log":      {Key: "access-log", Value: "true", Source: "flag"},
		"otel-endpoint":   {Key: "otel-endpoint", Value: "http://env.example:4318", Source: "env", Env: "OTEL_EXPORTER_OTLP_ENDPOINT"},
		"noisy-share":     {Key: "noisy-share", Value: "0.5", Source: "default"},
		"usage-flush":     {Key: "usage-flush", Value: "10s", Source: "default"},
		"migrations":      {Key: "migrations", Value: "", Source: "default"},
		"rls-check":       {Key: "rls-check", Value: "false", Source: "default"},
		"vault-token":     {Key: "vault-token", Source: "default", Env: "TENANTKIT_VAULT_TOKEN", EnvOnly: true},
		"settings-schema": {Key: "settings-schema", Value: "", Source: "default"},
	}
	withEnv := maps.Clone(vars)
	withEnv["TENANTKIT_CONFIG"] = path
	for name, run := range map[string]struct {
		vars map[string]string
		args []string
	}{
		"--config":         {vars, append([]string{"--config", path}, flags...)},
		"TENANTKIT_CONFIG": {withEnv, flags},
	} {
		t.Run(name, func(t *testing.T) {
			rep, got := printedConfig(t, run.vars, run.args...)
			if rep.File != path {
				t.Errorf("file = %q, want %q", rep.File, path)
			}
			for key, w := range want {
				if got[key] != w {
					t.Errorf("%s = %+v, want %+v", key, got[key], w)
				}
			}
			// Every key serve takes is shown, and only those.
			for _, key := range append(slices.Clone(serveGlobals), "addr", "no-mover", "storage-sample", "jwt-secret") {
				if _, ok := got[key]; !ok {
					t.Errorf("config print does not show %q", key)
				}
			}
			for _, key := range []string{"config", "help", "output", "server", "data-dir"} {
				if _, ok := got[key]; ok {
					t.Errorf("config print shows %q, which is no key of serve's", key)
				}
			}
		})
	}
	// Without a file, the file's keys fall back to their defaults.
	_, got := printedConfig(t, nil)
	if e := got["addr"]; e.Value != "127.0.0.1:8080" || e.Source != "default" {
		t.Errorf("without a file, addr = %+v", e)
	}
}

// TestConfigUnknownKey checks that an unknown key is refused with its file,
// line and name, exit 2, before serve or dev starts anything, and that each
// command takes only its own keys.
func TestConfigUnknownKey(t *testing.T) {
	t.Parallel()
	// serve would reach for this database, and fail with exit 1, if it
	// went past the file.
	vars := map[string]string{"TENANTKIT_DATABASE_URL": "postgres://u@127.0.0.1:1/none?connect_timeout=2", "TENANTKIT_ADMIN_TOKEN": testToken}
	path := writeConfig(t, "addr: 127.0.0.1:0\n\n# a typo\nadress: 127.0.0.1:0\n")
	for _, args := range [][]string{{"serve", "--config", path}, {"config", "print", "--config", path}} {
		r := runCLI(t, vars, args...)
		requireOneErrorLine(t, r)
		if r.exit != exitUsage {
			t.Errorf("%s: exit %d, want %d", shellJoin(args), r.exit, exitUsage)
		}
		if want := "tenantkit: " + path + `:4: unknown key "adress"` + "\n"; r.stderr != want {
			t.Errorf("%s: stderr %q, want %q", shellJoin(args), r.stderr, want)
		}
	}
	// no-mover is serve's, not dev's: dev refuses it before starting
	// PostgreSQL.
	dir := t.TempDir()
	path = writeConfig(t, "base-domain: localhost\nno-mover: true\n")
	r := runCLI(t, nil, "dev", "--config", path, "--data-dir", dir)
	requireOneErrorLine(t, r)
	if want := path + `:2: unknown key "no-mover"`; r.exit != exitUsage || !strings.Contains(r.stderr, want) {
		t.Errorf("dev: exit %d, stderr %q, want exit 2 and %q", r.exit, r.stderr, want)
	}
	if entries, _ := os.ReadDir(dir); len(entries) > 0 {
		t.Errorf("dev wrote to its data directory despite the bad file")
	}
}

// TestConfigBadFile checks that bad values, and files that are not a
// mapping of flag names to values, are refused with the file, the line and
// the key, exit 2, before serve starts anything.
func TestConfigBadFile(t *testing.T) {
	t.Parallel()
	vars := map[string]string{"TENANTKIT_DATABASE_URL": "postgres://u@127.0.0.1:1/none?connect_timeout=2", "TENANTKIT_ADMIN_TOKEN": testToken}
	for _, c := range []struct {
		name, body string
		args       []string
		want       string // after "tenantkit: PATH"
	}{
		{"bool", "addr: 127.0.0.1:0\nno-rate-limit: maybe\n", nil, `:2: key "no-rate-limit": invalid value "maybe"`},
		// The flag wins, but the file is still checked.
		{"bool under a flag", "no-rate-limit: maybe\n", []string{"--no-rate-limit"}, `:1: key "no-rate-limit": invalid value "maybe"`},
		{"int", "metrics-top-k: many\n", nil, `:1: key "metrics-top-k": invalid value "many"`},
		{"duration", "\n\nusage-flush: soon\n", nil, `:3: key "usage-flush": invalid value "soon"`},
		{"mapping value", "addr:\n  host: 127.0.0.1\n", nil, `:2: key "addr": want a single value, not a mapping`},
		{"list value", "addr: [127.0.0.1:8080, 127.0.0.1:8081]\n", nil, `:1: key "addr": want a single value, not a list`},
		{"no value", "addr:\n", nil, `:1: key "addr": no value`},
		{"twice", "addr: a\nbase-domain: b\naddr: c\n", nil, `:3: key "addr" given twice (first on line 1)`},
		{"typo", "base-domian: example.com\n", nil, `:1: unknown key "base-domian" (did you mean "base-domain"?)`},
		{"global serve does not use", "output: json\n", nil, `:1: unknown key "output"`},
		{"env-only secret", "vault-token: s.secret\n", nil, `:1: unknown key "vault-token": it is read from TENANTKIT_VAULT_TOKEN only`},
		{"list", "- addr\n", nil, `:1: want a mapping of flag names to values, not a list`},
		{"scalar", "addr 127.0.0.1:0\n", nil, `:1: want a mapping of flag names to values, not a single value`},
		{"syntax", "addr: [127.0.0.1\n", nil, `:1: did not find expected`},
		{"two documents", "addr: a\n---\naddr: b\n", nil, `:2: a second YAML document`},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := writeConfig(t, c.body)
			args := append([]string{"serve", "--config", path}, c.args...)
			r := runCLI(t, vars, args...)
			requireOneErrorLine(t, r)
			if r.exit != exitUsage {
				t.Errorf("exit %d, want %d", r.exit, exitUsage)
			}
			if want := "tenantkit: " + path + c.want; !strings.HasPrefix(r.stderr, want) {
				t.Errorf("stderr %q, want it to begin %q", r.stderr, want)
			}
		})
	}
	t.Run("unreadable", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "nosuch.yaml")
		r := runCLI(t, vars, "serve", "--config", path)
		requireOneErrorLine(t, r)
		if r.exit != exitUsage || !strings.Contains(r.stderr, path) {
			t.Errorf("exit %d, stderr %q: want exit 2 naming %s", r.exit, r.stderr, path)
		}
	})
	// dev checks its values too, before starting PostgreSQL.
	t.Run("dev", func(t *testing.T) {
		dir := t.TempDir()
		path := writeConfig(t, "data-dir: "+dir+"\nfresh: maybe\n")
		r := runCLI(t, nil, "dev", "--config", path, "--data-dir", dir)
		requireOneErrorLine(t, r)
		if want := path + `:2: key "fresh": invalid value "maybe"`; r.exit != exitUsage || !strings.Contains(r.stderr, want) {
			t.Errorf("exit %d, stderr %q, want exit 2 and %q", r.exit, r.stderr, want)
		}
	})
}

// TestConfigSecretsMasked checks that config print shows no secret, from
// a flag, the environment or the file, in a table or in JSON, and masks
// only the password of connection URLs.
func TestConfigSecretsMasked(t *testing.T) {
	t.Parallel()
	secrets := []string{"admin-token-0123456789", "hvs.vault-token-secret", "jwt-secret-0123456789-0123456789",
		"db-pass-in-file", "redis-pass-on-flag", "otel-pass-in-env", "db-pass-in-query"}
	path := writeConfig(t, "database-url: postgres://owner:db-pass-in-file@db.example:5432/tenantkit?sslmode=disable\n"+
		"token: admin-token-in-file-wins-not\n")
	vars := map[string]string{
		"TENANTKIT_ADMIN_TOKEN":       secrets[0],
		"TENANTKIT_VAULT_TOKEN":       secrets[1],
		"TENANTKIT_JWT_SECRET":        secrets[2],
		"OTEL_EXPORTER_OTLP_ENDPOINT": "https://otel:otel-pass-in-env@otel.example:4318",
	}
	args := []string{"--config", path, "--redis-url", "redis://:redis-pass-on-flag@redis.example:6379/0"}
	table := runCLI(t, vars, append([]string{"config", "print"}, args...)...)
	if table.exit != exitOK {
		t.Fatalf("config print: exit %d, stderr %s", table.exit, table.stderr)
	}
	_, got := printedConfig(t, vars, args...)
	out, _ := json.Marshal(got)
	for _, s := range append(secrets, "admin-token-in-file") {
		if strings.Contains(table.stdout, s) || strings.Contains(string(out), s) {
			t.Errorf("config print shows the secret %q", s)
		}
	}
	for key, want := range map[string]string{
		"token":         masked,
		"vault-token":   masked,
		"jwt-secret":    masked,
		"database-url":  "postgres://owner:xxxxx@db.example:5432/tenantkit?sslmode=disable",
		"redis-url":     "redis://:xxxxx@redis.example:6379/0",
		"otel-endpoint": "https://otel:xxxxx@otel.example:4318",
	} {
		if got[key].Value != want {
			t.Errorf("%s = %q, want %q", key, got[key].Value, want)
		}
		if !strings.Contains(table.stdout, want) {
			t.Errorf("the table does not show %s as %q:\n%s", key, want, table.stdout)
		}
	}
	if got["token"].Source != "env" || got["vault-token"].Source != "env" {
		t.Errorf("token from %q, vault-token from %q: want env", got["token"].Source, got["vault-token"].Source)
	}
	// Passwords in a URL's query and in a keyword/value string.
	for dsn, want := range map[string]string{
		"postgres://owner@db.example/tenantkit?password=db-pass-in-query": "postgres://owner@db.example/tenantkit?password=xxxxx",
		"host=db.example password='db pass in keywords' dbname=tenantkit": "host=db.example password=xxxxx dbname=tenantkit",
		"host=db.example PASSWORD=db-pass-in-query dbname=tenantkit":      "host=db.example PASSWORD=xxxxx dbname=tenantkit",
	} {
		_, got := printedConfig(t, map[string]string{"TENANTKIT_DATABASE_URL": dsn})
		if got["database-url"].Value != want {
			t.Errorf("database-url %q shown as %q, want %q", dsn, got["database-url"].Value, want)
		}
	}
}

// TestConfigExample checks that examples/tenantkit.yaml is accepted by
// serve: every key it sets is applied from the file, and serve goes past
// the file to its own checks (it stops at the missing admin token, before
// connecting to anything).
func TestConfigExample(t *testing.T) {
	t.Parallel()
	path := filepath.Join("..", "..", "examples", "tenantkit.yaml")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The file's raw values, as the flags' parsers get them.
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil || len(doc.Content) != 1 {
		t.Fatalf("%s: %v", path, err)
	}
	file := map[string]string{}
	for i, n := 0, doc.Content[0]; i+1 < len(n.Content); i += 2 {
		file[n.Content[i].Value] = n.Content[i+1].Value
	}
	for _, key := range []string{"addr", "base-domain", "database-url", "migrations"} {
		if _, ok := file[key]; !ok {
			t.Errorf("%s does not set %q", path, key)
		}
	}
	_, got := printedConfig(t, nil, "--config", path)
	for key, raw := range file {
		e := got[key]
		if e.Source != "file" || e.Line == 0 {
			t.Errorf("%s: %s = %+v, want it from the file", path, key, e)
		}
		if d, err := time.ParseDuration(raw); err == nil && key != "noisy-share" {
			raw = d.String() // 1m is shown as 1m0s
		}
		if want := maskSetting(key, raw); e.Value != want {
			t.Errorf("%s: %s = %q, want %q", path, key, e.Value, want)
		}
	}
	r := runCLI(t, nil, "serve", "--config", path)
	requireOneErrorLine(t, r)
	if want := "tenantkit: serve needs TENANTKIT_ADMIN_TOKEN"; r.exit != exitUsage || !strings.HasPrefix(r.stderr, want) {
		t.Errorf("serve --config %s: exit %d, stderr %q; want exit 2 and %q", path, r.exit, r.stderr, want)
	}
}

// TestConfigEnvTable checks that configEnv names exactly the environment
// variable each of serve's and dev's keys reads for its default: with
// every variable set to its own name, a flag's default shows which it read.
func TestConfigEnvTable(t *testing.T) {
	t.Parallel()
	getenv := func(k string) string { return "from " + k }
	root := newRoot(env{stdin: strings.NewReader(""), stdout: new(strings.Builder), stderr: new(strings.Builder), getenv: getenv})
	for _, name := range []string{"serve", "dev"} {
		cmd, _, err := root.Find([]string{name})
		if err != nil {
			t.Fatal(err)
		}
		check := func(f *pflag.Flag) {
			if f.Name == "config" {
				return
			}
			read := ""
			if v, ok := strings.CutPrefix(f.DefValue, "from "); ok {
				read = v
			}
			if configEnv[f.Name] != read {
				t.Errorf("%s --%s reads %q, configEnv says %q", name, f.Name, read, configEnv[f.Name])
			}
		}
		cmd.LocalFlags().VisitAll(check)
		cmd.InheritedFlags().VisitAll(check)
	}
}

// TestServeWithTheExampleConfig: `tenantkit serve --config
// examples/tenantkit.yaml`, as the README shows it, serves: the
// environment gives the catalog and the token (it wins over the file's
// placeholder URL), a flag the address (it wins over both). The server
// answers its contract and the admin API, then stops cleanly.
func TestServeWithTheExampleConfig(t *testing.T) {
	t.Parallel()
	db := tenantkittest.NewCatalog(t)
	port, err := pgcluster.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	const token = "example-config-token-0123456789"
	vars := map[string]string{"TENANTKIT_DATABASE_URL": db.OwnerDSN(), "TENANTKIT_ADMIN_TOKEN": token}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stderr := &tenantkittest.SyncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--config", filepath.Join("..", "..", "examples", "tenantkit.yaml"), "--addr", addr},
			env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: stderr, getenv: mapEnv(vars)})
	}()
	c := &http.Client{Timeout: 5 * time.Second, Transport: contract.Transport(t, nil)}
	get := func(path string) (int, []byte) {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := c.Do(req)
		if err != nil {
			return 0, nil
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		select {
		case code := <-done:
			t.Fatalf("serve exited %d before serving:\n%s", code, stderr)
		default:
		}
		if code, _ := get("/readyz"); code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve --config not ready on %s after a minute:\n%s", addr, stderr)
		}
	}
	if code, body := get("/api/v1/openapi.json"); code != http.StatusOK || !bytes.Equal(body, api.OpenAPI) {
		t.Errorf("GET /api/v1/openapi.json: %d, %.100s", code, body)
	}
	// The file's migrations (example) are in force: the server places new
	// tenants' data, and refuses one while no cluster is registered.
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/api/v1/tenants", strings.NewReader(`{"slug":"acme","name":"Acme"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict || !strings.Contains(string(body), "urn:tenantkit:problem:no-cluster") {
		t.Errorf("POST /api/v1/tenants: %d %s; want 409 no-cluster", resp.StatusCode, body)
	}
	// So is its settings-schema (example): a tenant's settings come with
	// the schema's defaults.
	pool, err := pgxpool.New(ctx, db.OwnerDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	store, err := catalog.NewStore(catalog.StoreConfig{Pool: pool})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.CreateTenant(ctx, "test", catalog.CreateParams{Slug: "acme", Name: "Acme"}); err != nil {
		t.Fatal(err)
	}
	if code, body := get("/api/v1/tenants/acme/settings"); code != http.StatusOK || !strings.Contains(string(body), `"currency":"USD"`) {
		t.Errorf("GET settings: %d %s; want the example schema's defaults", code, body)
	}
	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("serve exited %d, want 0:\n%s", code, stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop within 30 s of its context")
	}
}
