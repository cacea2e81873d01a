package cli

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantkit/tenantkit/internal/adminapi"
	"github.com/tenantkit/tenantkit/internal/catalog"
)

// usagePeriod is a past month the usage tests write, so that it never is
// the current one.
const usagePeriod = "2024-10"

// seedUsage makes acme, globex and initech (which uses nothing), and gives
// acme and globex usage in usagePeriod and acme 5 calls in period now.
func seedUsage(t *testing.T, s *catalog.Store, now string) {
	t.Helper()
	ctx := context.Background()
	ids := createTenants(t, s, "acme", "globex", "initech")
	writeUsage(t, s, time.Now(),
		catalog.UsageDelta{Tenant: ids["acme"], Period: usagePeriod, APICalls: 1234, ComputeMicros: 90_000_000, DBMicros: 2_500_000,
			DBQueries: 42, BandwidthBytes: 5 << 20, Jobs: 12, JobMicros: 3_500_000, Users: []uint64{1, 2, 3}},
		catalog.UsageDelta{Tenant: ids["globex"], Period: usagePeriod, APICalls: 7, ComputeMicros: 700, DBQueries: 1, BandwidthBytes: 900, Users: []uint64{9}},
		catalog.UsageDelta{Tenant: ids["acme"], Period: now, APICalls: 5},
	)
	at := time.Date(2024, 10, 3, 4, 5, 6, 0, time.UTC)
	if err := s.RecordStorage(ctx, at, []catalog.StorageSample{{Tenant: ids["acme"], Bytes: 3<<20 + 1, Method: "estimate"}}); err != nil {
		t.Fatal(err)
	}
}

func createTenants(t *testing.T, s *catalog.Store, slugs ...string) map[string]uuid.UUID {
	t.Helper()
	ids := map[string]uuid.UUID{}
	for _, slug := range slugs {
		tn, err := s.CreateTenant(context.Background(), "test", catalog.CreateParams{Slug: slug, Name: slug, Plan: "free"})
		if err != nil {
			t.Fatal(err)
		}
		ids[slug] = tn.ID
	}
	return ids
}

// writeUsage adds deltas in one flush, their load counted at `at`.
func writeUsage(t *testing.T, s *catalog.Store, at time.Time, deltas ...catalog.UsageDelta) {
	t.Helper()
	if _, err := s.WriteUsage(context.Background(), catalog.UsageBatch{ID: uuid.New(), At: at, Deltas: deltas}); err != nil {
		t.Fatal(err)
	}
}

// fieldsOf reads "Name:  value" lines.
func fieldsOf(out string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

// squeeze collapses the runs of spaces of a table line.
func squeeze(line string) string { return strings.Join(strings.Fields(line), " ") }

func TestUsageCommand(t *testing.T) {
	t.Parallel()
	now := catalog.Period(time.Now())
	sc := scenario{seed: func(t *testing.T, _ *pgxpool.Pool, s *catalog.Store) { seedUsage(t, s, now) }}
	for mode, newTarget := range sc.modes() {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			tg := newTarget(t)
			r := runCLI(t, tg.env, "usage", "acme", "--period", usagePeriod)
			if r.exit != exitOK || r.stderr != "" {
				t.Fatalf("usage acme: %+v", r)
			}
			got := fieldsOf(r.stdout)
			want := map[string]string{
				"Period":       usagePeriod,
				"API calls":    "1234",
				"Compute":      "1.5 min (90000 ms)",
				"DB time":      "2.5 s (2500 ms)",
				"DB queries":   "42",
				"Bandwidth":    "5.0 MiB (5242880 bytes)",
				"Storage":      "3.0 MiB (3145729 bytes), estimate, sampled 2024-10-03T04:05:06Z",
				"Active users": "3",
				"Jobs":         "12",
				"Job time":     "3.5 s (3500 ms)",
			}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("%s: %q, want %q; output:\n%s", k, got[k], v, r.stdout)
				}
			}
			if !strings.HasPrefix(got["Tenant"], "acme (") || !uuidRE.MatchString(got["Tenant"]) {
				t.Errorf("Tenant: %q", got["Tenant"])
			}

			// Small numbers are shown exactly, and a tenant without a
			// storage sample says so.
			r = runCLI(t, tg.env, "usage", "globex", "--period", usagePeriod)
			got = fieldsOf(r.stdout)
			if r.exit != exitOK || got["Compute"] != "0.7 ms" || got["DB time"] != "0 ms" || got["Bandwidth"] != "900 B" ||
				got["Storage"] != "not sampled in the period" || got["API calls"] != "7" ||
				got["Jobs"] != "0" || got["Job time"] != "0 ms" {
				t.Fatalf("usage globex: %+v", r)
			}

			r = runCLI(t, tg.env, "usage", "acme", "--period", usagePeriod, "-o", "json")
			var u catalog.UsageReport
			if err := json.Unmarshal([]byte(r.stdout), &u); err != nil || r.exit != exitOK {
				t.Fatalf("usage -o json: %v %+v", err, r)
			}
			if u.Slug != "acme" || u.APICalls != 1234 || u.ComputeMs != 90_000 || u.DBMs != 2500 || u.DBQueries != 42 ||
				u.BandwidthBytes != 5<<20 || u.StorageBytes != 3<<20+1 || u.ActiveUsers != 3 ||
				u.Jobs != 12 || u.JobMs != 3500 {
				t.Fatalf("usage -o json: %+v", u)
			}

			// Without --period: this month.
			r = runCLI(t, tg.env, "usage", "acme")
			if catalog.Period(time.Now()) != now {
				t.Skip("the month changed during the test")
			}
			if got := fieldsOf(r.stdout); r.exit != exitOK || got["Period"] != now || got["API calls"] != "5" || got["Compute"] != "0 ms" {
				t.Fatalf("usage acme this month: %+v", r)
			}
		})
	}
}

func TestUsageCommandRefusals(t *testing.T) {
	t.Parallel()
	sc := scenario{seed: func(t *testing.T, _ *pgxpool.Pool, s *catalog.Store) { seedUsage(t, s, catalog.Period(time.Now())) }}
	for mode, newTarget := range sc.modes() {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			tg := newTarget(t)
			cases := []struct {
				args []string
				exit int
				want string
			}{
				{[]string{"usage", "acme", "--period", "2024-13"}, exitUsage, `tenantkit: --period must be a month written YYYY-MM, like 2026-11, not "2024-13"`},
				{[]string{"usage", "--all", "--period", "last month"}, exitUsage, `tenantkit: --period must be a month written YYYY-MM, like 2026-11, not "last month"`},
				{[]string{"usage", "acme", "--period", "2024-10-01", "-o", "json"}, exitUsage, `tenantkit: --period must be a month written YYYY-MM, like 2026-11, not "2024-10-01"`},
				{[]string{"usage", "nosuch", "--period", usagePeriod}, exitError, "tenantkit: no such tenant"},
				{[]string{"usage"}, exitUsage, "tenantkit: tenantkit usage: want one SLUG, or --all"},
				{[]string{"usage", "acme", "globex"}, exitUsage, "tenantkit: tenantkit usage: want one SLUG, or --all"},
				{[]string{"usage", "--all", "acme"}, exitUsage, "tenantkit: tenantkit usage: want no SLUG with --all"},
			}
			for _, c := range cases {
				r := runCLI(t, tg.env, c.args...)
				requireOneErrorLine(t, r)
				if r.exit != c.exit || strings.TrimSuffix(r.stderr, "\n") != c.want {
					t.Errorf("%s: exit %d, stderr %q; want %d, %q", shellJoin(c.args), r.exit, r.stderr, c.exit, c.want)
				}
			}
		})
	}
}

func TestUsageAllCommand(t *testing.T) {
	t.Parallel()
	now := catalog.Period(time.Now())
	sc := scenario{seed: func(t *testing.T, _ *pgxpool.Pool, s *catalog.Store) { seedUsage(t, s, now) }}
	for mode, newTarget := range sc.modes() {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			tg := newTarget(t)
			r := runCLI(t, tg.env, "usage", "--all", "--period", usagePeriod)
			if r.exit != exitOK || r.stderr != "" {
				t.Fatalf("usage --all: %+v", r)
			}
			lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
			want := []string{
				"usage in " + usagePeriod,
				"TENANT API CALLS COMPUTE DB TIME DB QUERIES BANDWIDTH STORAGE USERS JOBS JOB TIME",
				"acme 1234 1.5 min 2.5 s 42 5.0 MiB 3.0 MiB 3 12 3.5 s",
				"globex 7 0.7 ms 0 ms 1 900 B - 1 0 0 ms",
			}
			if len(lines) != len(want) {
				t.Fatalf("usage --all printed %d lines, want %d:\n%s", len(lines), len(want), r.stdout)
			}
			for i := range want {
				if squeeze(lines[i]) != want[i] {
					t.Errorf("line %d: %q, want %q", i, squeeze(lines[i]), want[i])
				}
			}

			r = runCLI(t, tg.env, "usage", "--all", "--period", usagePeriod, "-o", "json")
			var out adminapi.UsageExport
			if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || r.exit != exitOK {
				t.Fatalf("usage --all -o json: %v %+v", err, r)
			}
			if out.Period != usagePeriod || len(out.Tenants) != 2 || out.Tenants[0].APICalls != 1234 || out.Tenants[0].Jobs != 12 || out.Tenants[1].Slug != "globex" {
				t.Fatalf("usage --all -o json: %+v", out)
			}

			r = runCLI(t, tg.env, "usage", "--all", "--period", "2025-01")
			if r.exit != exitOK || squeeze(r.stdout) != "usage in 2025-01 TENANT API CALLS COMPUTE DB TIME DB QUERIES BANDWIDTH STORAGE USERS JOBS JOB TIME" {
				t.Fatalf("usage --all of a month without usage: %+v", r)
			}

			r = runCLI(t, tg.env, "usage", "--all")
			if catalog.Period(time.Now()) != now {
				t.Skip("the month changed during the test")
			}
			if lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n"); r.exit != exitOK || len(lines) != 3 ||
				lines[0] != "usage in "+now || !strings.HasPrefix(squeeze(lines[2]), "acme 5 0 ms 0 ms 0 0 B - 0") {
				t.Fatalf("usage --all this month: %+v", r)
			}
		})
	}
}
