package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantkit/tenantkit/internal/adminapi"
	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/settings"
)

// settingsSteps run in order on a catalog with tenant acme, once against
// it with --settings-schema example and once through an admin API with
// the same schema; both must print the same.
var settingsSteps = []step{
	{"settings_get", []string{"settings", "get", "acme"}, exitOK},
	{"settings_get_json", []string{"settings", "get", "acme", "-o", "json"}, exitOK},
	{"settings_set", []string{"settings", "set", "acme", "tax_rate=0.2", "notifications.email_digest=daily"}, exitOK},
	{"settings_set_patch_json", []string{"settings", "set", "acme", "--patch", `{"locale":"fr-FR","custom_fields":[{"name":"Table","type":"number"}]}`,
		"--if-version", "1", "-o", "json"}, exitOK},
	{"settings_set_stale", []string{"settings", "set", "acme", "currency=EUR", "--if-version", "1"}, exitError},
	{"settings_set_invalid", []string{"settings", "set", "acme", "tax_rate=high", "notifications.email_digest=hourly", "colour=red"}, exitError},
	{"settings_set_null", []string{"settings", "set", "acme", "tax_rate=null", "order_cutoff_time=22:30"}, exitOK},
	{"settings_get_pointer", []string{"settings", "get", "acme", "--pointer", "/notifications/email_digest"}, exitOK},
	{"settings_get_pointer_json", []string{"settings", "get", "acme", "--pointer", "/custom_fields", "-o", "json"}, exitOK},
	{"settings_get_pointer_missing", []string{"settings", "get", "acme", "--pointer", "/nope"}, exitError},
	{"settings_get_pointer_bad", []string{"settings", "get", "acme", "--pointer", "nope"}, exitUsage},
	{"settings_set_nothing", []string{"settings", "set", "acme"}, exitUsage},
	{"settings_set_both", []string{"settings", "set", "acme", "tax_rate=0.1", "--patch", `{}`}, exitUsage},
	{"settings_set_twice", []string{"settings", "set", "acme", "notifications=1", "notifications.email_digest=daily"}, exitUsage},
	{"settings_set_bad_assignment", []string{"settings", "set", "acme", "tax_rate"}, exitUsage},
	{"settings_set_malformed", []string{"settings", "set", "acme", "--patch", `{"tax_rate":`}, exitError},
	{"settings_set_array", []string{"settings", "set", "acme", "--patch", `[]`}, exitError},
	{"settings_get_unknown", []string{"settings", "get", "nosuch"}, exitError},
}

func TestSettingsGolden(t *testing.T) {
	t.Parallel()
	schema, err := settings.Compile(settings.RestaurantSchema())
	if err != nil {
		t.Fatal(err)
	}
	checkModes(t, settingsSteps, scenario{
		seed: func(t *testing.T, _ *pgxpool.Pool, s *catalog.Store) {
			if _, err := s.CreateTenant(context.Background(), "test", catalog.CreateParams{Slug: "acme", Name: "Acme"}); err != nil {
				t.Fatal(err)
			}
		},
		api: func(c *adminapi.Config) { c.SettingsSchema = schema },
		env: map[string]string{"TENANTKIT_SETTINGS_SCHEMA": "example"},
	}.modes())
}

func TestSettingsSchemaFlag(t *testing.T) {
	t.Parallel()
	direct, _ := directTarget(t)
	if r := runCLI(t, direct.env, "tenants", "create", "acme", "--name", "Acme"); r.exit != exitOK {
		t.Fatalf("create acme: %+v", r)
	}
	dir := t.TempDir()
	notObject := filepath.Join(dir, "array.json")
	if err := os.WriteFile(notObject, []byte(`{"type":"array"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	strict := filepath.Join(dir, "strict.json")
	if err := os.WriteFile(strict, []byte(`{"type":"object","additionalProperties":false,"properties":{"plan_note":{"type":"string","default":"none"}}}`), 0o644); err != nil {
		t.Fatal(err)
	}

	// Without a schema, settings are any JSON object, without defaults.
	r := runCLI(t, direct.env, "settings", "set", "acme", "anything=1")
	if r.exit != exitOK || r.stdout != "{\n  \"anything\": 1\n}\n" {
		t.Fatalf("no schema: %+v", r)
	}
	// A schema file validates and fills in defaults.
	r = runCLI(t, direct.env, "settings", "set", "acme", "anything=null", "plan_note=gold", "--settings-schema", strict)
	if r.exit != exitOK || r.stdout != "{\n  \"plan_note\": \"gold\"\n}\n" {
		t.Fatalf("schema file: %+v", r)
	}
	r = runCLI(t, direct.env, "settings", "set", "acme", "extra=1", "--settings-schema", strict)
	requireOneErrorLine(t, r)
	if r.stderr != "tenantkit: invalid settings: /extra: is not a known setting\n" {
		t.Fatalf("schema file refuses: %q", r.stderr)
	}

	for _, c := range []struct{ schema, want string }{
		{filepath.Join(dir, "missing.json"), "tenantkit: --settings-schema: open " + filepath.Join(dir, "missing.json") + ": no such file or directory"},
		{notObject, `tenantkit: --settings-schema ` + notObject + `: settings: invalid schema: must declare "type": "object" at the top level, got "type": "array"`},
	} {
		r := runCLI(t, direct.env, "settings", "get", "acme", "--settings-schema", c.schema)
		if r.exit != exitUsage {
			t.Errorf("%s: exit %d", c.schema, r.exit)
		}
		requireOneErrorLine(t, r)
		if got := strings.TrimSuffix(r.stderr, "\n"); got != c.want {
			t.Errorf("stderr\n got %q\nwant %q", got, c.want)
		}
	}
	// Commands other than settings do not read the schema.
	if r := runCLI(t, direct.env, "tenants", "get", "acme", "--settings-schema", notObject); r.exit != exitOK {
		t.Fatalf("tenants get with a bad schema: %+v", r)
	}
}

func TestMergePatchOfAssignments(t *testing.T) {
	t.Parallel()
	cases := []struct {
		args []string
		want string
		err  string
	}{
		{args: []string{"tax_rate=0.2"}, want: `{"tax_rate":0.2}`},
		{args: []string{"notifications.email_digest=daily", "notifications.webhook_url=https://x.example/h"},
			want: `{"notifications":{"email_digest":"daily","webhook_url":"https://x.example/h"}}`},
		{args: []string{"a=true", "b=null", "c=\"12\"", "d=12", "e=[1,\"x\"]", "f={\"g\":1}", "h=", "i=a=b"},
			want: `{"a":true,"b":null,"c":"12","d":12,"e":[1,"x"],"f":{"g":1},"h":"","i":"a=b"}`},
		{args: []string{"x=01"}, want: `{"x":"01"}`},
		{args: []string{"a=1", "a=2"}, err: "settings set: a is set twice"},
		{args: []string{"a=1", "a.b=2"}, err: "settings set: a is set twice"},
		{args: []string{"a.b=2", "a=1"}, err: "settings set: a is set twice"},
		{args: []string{"a..b=1"}, err: `settings set: "a..b=1": want PATH=VALUE, such as tax_rate=0.2 or notifications.email_digest=daily`},
		{args: []string{"=1"}, err: `settings set: "=1": want PATH=VALUE, such as tax_rate=0.2 or notifications.email_digest=daily`},
		{args: []string{"novalue"}, err: `settings set: "novalue": want PATH=VALUE, such as tax_rate=0.2 or notifications.email_digest=daily`},
	}
	for _, c := range cases {
		got, err := mergePatchOf(c.args)
		switch {
		case c.err != "":
			if err == nil || err.Error() != c.err {
				t.Errorf("%q: %s, %v; want error %q", c.args, got, err, c.err)
			}
		case err != nil || string(got) != c.want:
			t.Errorf("%q: %s, %v; want %s", c.args, got, err, c.want)
		}
	}
}
