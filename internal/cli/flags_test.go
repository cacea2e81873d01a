package cli

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantkit/tenantkit/internal/catalog"
)

// seedFlagTenants makes tenants with fixed ids, so that their rollout
// buckets, and so the evaluations, are the same in every run: acme on
// pro, globex on free, initech on enterprise, and hooli, deleted.
func seedFlagTenants(t *testing.T, pool *pgxpool.Pool, _ *catalog.Store) {
	t.Helper()
	_, err := pool.Exec(context.Background(), `INSERT INTO tenantkit.tenants (id, slug, name, plan, status, deleted_at) VALUES
		('00000000-0000-4000-8000-00000000000a', 'acme', 'Acme', 'pro', 'active', NULL),
		('00000000-0000-4000-8000-00000000000b', 'globex', 'Globex', 'free', 'active', NULL),
		('00000000-0000-4000-8000-00000000000c', 'initech', 'Initech', 'enterprise', 'suspended', NULL),
		('00000000-0000-4000-8000-00000000000d', 'hooli', 'Hooli', 'pro', 'deleted', now())`)
	if err != nil {
		t.Fatal(err)
	}
}

// flagSteps run in order on a catalog with seedFlagTenants, once against
// it and once through the admin API; both must print the same.
var flagSteps = []step{
	{"flags_list_empty", []string{"flags", "list"}, exitOK},
	{"flags_create", []string{"flags", "create", "new-checkout", "--description", "The new checkout", "--rollout", "30%", "--min-plan", "pro"}, exitOK},
	{"flags_create_json", []string{"flags", "create", "dark-mode", "--rollout", "12.5%", "--default", "--seed", "ui", "-o", "json"}, exitOK},
	{"flags_create_bp", []string{"flags", "create", "tiny", "--rollout", "1bp"}, exitOK},
	{"flags_create_exists", []string{"flags", "create", "new-checkout"}, exitError},
	{"flags_create_invalid", []string{"flags", "create", "Bad Key", "--min-plan", "gold"}, exitError},
	{"flags_create_three_decimals", []string{"flags", "create", "x1", "--rollout", "0.001%"}, exitUsage},
	{"flags_create_over_100", []string{"flags", "create", "x1", "--rollout", "100.5%"}, exitUsage},
	{"flags_create_no_unit", []string{"flags", "create", "x1", "--rollout", "30"}, exitUsage},
	{"flags_update", []string{"flags", "update", "new-checkout", "--min-plan", "", "--kill"}, exitOK},
	{"flags_update_json", []string{"flags", "update", "new-checkout", "--kill=false", "--min-plan", "pro", "-o", "json"}, exitOK},
	{"flags_update_nothing", []string{"flags", "update", "new-checkout"}, exitUsage},
	{"flags_update_unknown", []string{"flags", "update", "nosuch", "--rollout", "100%"}, exitError},
	{"flags_override_on", []string{"flags", "override", "new-checkout", "globex", "on"}, exitOK},
	{"flags_override_off", []string{"flags", "override", "new-checkout", "initech", "off"}, exitOK},
	{"flags_override_json", []string{"flags", "override", "dark-mode", "acme", "off", "-o", "json"}, exitOK},
	{"flags_override_bad_value", []string{"flags", "override", "new-checkout", "acme", "maybe"}, exitUsage},
	{"flags_override_unknown_tenant", []string{"flags", "override", "new-checkout", "nosuch", "on"}, exitError},
	{"flags_override_unknown_flag", []string{"flags", "override", "nosuch", "acme", "on"}, exitError},
	{"flags_get", []string{"flags", "get", "new-checkout"}, exitOK},
	{"flags_get_unknown", []string{"flags", "get", "nosuch"}, exitError},
	{"flags_override_clear", []string{"flags", "override", "dark-mode", "acme", "clear"}, exitOK},
	{"flags_list", []string{"flags", "list"}, exitOK},
	{"flags_list_json", []string{"flags", "list", "-o", "json"}, exitOK},
	{"flags_evaluate", []string{"flags", "evaluate", "new-checkout"}, exitOK},
	{"flags_evaluate_json", []string{"flags", "evaluate", "dark-mode", "-o", "json"}, exitOK},
	{"flags_evaluate_unknown", []string{"flags", "evaluate", "nosuch"}, exitError},
	{"flags_for", []string{"flags", "for", "acme"}, exitOK},
	{"flags_for_json", []string{"flags", "for", "globex", "-o", "json"}, exitOK},
	{"flags_for_unknown", []string{"flags", "for", "nosuch"}, exitError},
	{"flags_delete", []string{"flags", "delete", "tiny"}, exitOK},
	{"flags_delete_unknown", []string{"flags", "delete", "tiny"}, exitError},
}

func TestFlagsGolden(t *testing.T) {
	t.Parallel()
	checkModes(t, flagSteps, scenario{seed: seedFlagTenants}.modes())
}

func TestRolloutPercentages(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   string
		bp   int
		err  string
		text string
	}{
		{in: "30%", bp: 3000, text: "30%"},
		{in: "12.5%", bp: 1250, text: "12.5%"},
		{in: "0.01%", bp: 1, text: "0.01%"},
		{in: "99.99%", bp: 9999, text: "99.99%"},
		{in: "100%", bp: 10000, text: "100%"},
		{in: "100.00%", bp: 10000, text: "100%"},
		{in: "0%", bp: 0, text: "0%"},
		{in: "0.10%", bp: 10, text: "0.1%"},
		{in: "2500bp", bp: 2500, text: "25%"},
		{in: "0bp", bp: 0, text: "0%"},
		{in: "10000bp", bp: 10000, text: "100%"},
		{in: "0.001%", err: "at most two decimals: rollouts go in steps of 0.01%"},
		{in: "100.01%", err: "must be at most 100%"},
		{in: "1000%", err: "must be at most 100%"},
		{in: "10001bp", err: "must be at most 10000bp (100%)"},
		{in: "30", err: "want a percentage such as 30%, 12.5% or 0.01%, or basis points such as 2500bp"},
		{in: "-5%", err: "want a percentage such as 30%, 12.5% or 0.01%"},
		{in: "5.%", err: "want a percentage such as 30%, 12.5% or 0.01%"},
		{in: ".5%", err: "want a percentage such as 30%, 12.5% or 0.01%"},
		{in: "1e2%", err: "want a percentage such as 30%, 12.5% or 0.01%"},
		{in: "12.5bp", err: "want a whole number of basis points, such as 2500bp"},
		{in: "+5bp", err: "want a whole number of basis points, such as 2500bp"},
	}
	for _, c := range cases {
		bp, err := parseRollout(c.in)
		switch {
		case c.err != "":
			if err == nil || err.Error() != c.err {
				t.Errorf("parseRollout(%q) = %d, %v; want error %q", c.in, bp, err, c.err)
			}
		case err != nil || bp != c.bp:
			t.Errorf("parseRollout(%q) = %d, %v; want %d", c.in, bp, err, c.bp)
		case formatRollout(bp) != c.text:
			t.Errorf("formatRollout(%d) = %q, want %q", bp, formatRollout(bp), c.text)
		}
	}
}
