package catalog_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantkit/tenantkit/internal/bus"
	"github.com/tenantkit/tenantkit/internal/catalog"
)

func ptr[T any](v T) *T { return &v }

func TestSeededPlansHaveRanksFeaturesAndLimits(t *testing.T) {
	t.Parallel()
	b := setup(t)
	plans, err := b.store.ListPlans(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range plans {
		names = append(names, p.Name)
	}
	if len(plans) != 3 || names[0] != "free" || names[1] != "pro" || names[2] != "enterprise" {
		t.Fatalf("plans by rank: %v", names)
	}
	if plans[0].Limits[catalog.LimitMaxUsers] != 5 || plans[1].Limits[catalog.LimitAPIRPS] != 100 {
		t.Fatalf("limits: %v / %v", plans[0].Limits, plans[1].Limits)
	}
	if _, ok := plans[2].Limits[catalog.LimitMaxUsers]; ok {
		t.Fatal("enterprise must have no user limit (unlimited)")
	}
	if !contains(plans[1].Features, "sso") || contains(plans[0].Features, "sso") {
		t.Fatalf("features: free %v, pro %v", plans[0].Features, plans[1].Features)
	}
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func TestSetPlanChangesFeaturesAndLimitsAtOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	tn, err := b.store.CreateTenant(ctx, "t", catalog.CreateParams{Slug: "acme", Name: "Acme", Plan: "free"})
	if err != nil {
		t.Fatal(err)
	}
	drain(b.sent)
	if _, err := b.store.SetTenantPlan(ctx, "t", "acme", catalog.SetPlanParams{Plan: "pro"}); err != nil {
		t.Fatal(err)
	}
	if m := <-b.sent; m.Tenant != tn.ID.String() {
		t.Fatalf("invalidation %+v", m)
	}
	tc, err := b.store.LoadContext(ctx, tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	if tc.Plan != "pro" || !tc.Feature("sso") || tc.Limits[catalog.LimitMaxUsers] != 50 || tc.PlanRank != 10 {
		t.Fatalf("after set-plan: plan %s features %v limits %v rank %d", tc.Plan, tc.Features, tc.Limits, tc.PlanRank)
	}
	entries, err := b.store.Audit(ctx, tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	last := entries[len(entries)-1]
	if last.Action != "tenant.set_plan" || string(last.Before) != `{"plan": "free"}` {
		t.Fatalf("audit %s %s", last.Action, last.Before)
	}
	_, err = b.store.SetTenantPlan(ctx, "t", "acme", catalog.SetPlanParams{Plan: "gold"})
	var ve *catalog.ValidationError
	if !errors.As(err, &ve) || ve.Fields[0].Field != "plan" {
		t.Fatalf("unknown plan: %v", err)
	}
}

func TestDowngradeBelowUsageIsRefusedUnlessForced(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	tn, err := b.store.CreateTenant(ctx, "t", catalog.CreateParams{Slug: "acme", Name: "Acme", Plan: "pro"})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.store.SetUsage(ctx, "acme", "users", 12); err != nil {
		t.Fatal(err)
	}
	_, err = b.store.SetTenantPlan(ctx, "t", "acme", catalog.SetPlanParams{Plan: "free"})
	var le *catalog.LimitExceededError
	if !errors.As(err, &le) {
		t.Fatalf("downgrade with 12 users to free (5): %v", err)
	}
	want := catalog.Violation{Limit: "max_users", Usage: "users", Current: 12, Allowed: 5}
	if len(le.Violations) != 1 || le.Violations[0] != want {
		t.Fatalf("violations %+v", le.Violations)
	}
	if got, _ := b.store.GetTenant(ctx, "acme"); got.Plan != "pro" {
		t.Fatalf("refused downgrade changed the plan to %s", got.Plan)
	}
	// The same refusal through the generic update.
	if _, err := b.store.UpdateTenant(ctx, "t", "acme", catalog.UpdateParams{Plan: ptr("free")}); !errors.As(err, &le) {
		t.Fatalf("update --plan: %v", err)
	}
	// An override that lifts the limit makes the downgrade fit.
	if _, err := b.store.PatchTenantOverrides(ctx, "t", "acme", catalog.OverridePatch{Limits: map[string]*int64{"max_users": ptr(int64(20))}}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.SetTenantPlan(ctx, "t", "acme", catalog.SetPlanParams{Plan: "free"}); err != nil {
		t.Fatalf("with the override: %v", err)
	}
	// Lowering the override below usage is refused, and nothing is written.
	_, err = b.store.PatchTenantOverrides(ctx, "t", "acme", catalog.OverridePatch{Limits: map[string]*int64{"max_users": ptr(int64(3))}})
	if !errors.As(err, &le) {
		t.Fatalf("override below usage: %v", err)
	}
	if o, _ := b.store.TenantOverrides(ctx, "acme"); o.Limits["max_users"] != 20 {
		t.Fatalf("refused override was written: %v", o.Limits)
	}
	// Removing the override is a downgrade too; forced, it applies.
	if _, err := b.store.PatchTenantOverrides(ctx, "t", "acme", catalog.OverridePatch{Limits: map[string]*int64{"max_users": nil}, Force: true}); err != nil {
		t.Fatal(err)
	}
	tc, _ := b.store.LoadContext(ctx, tn.ID)
	if tc.Limits["max_users"] != 5 {
		t.Fatalf("limits after removing the override: %v", tc.Limits)
	}
}

func TestPlanCRUD(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	p, err := b.store.CreatePlan(ctx, "t", catalog.PlanParams{
		Name: "team", DisplayName: ptr("Team"), Rank: ptr(5),
		Features: &[]string{"orders", "sso"}, Limits: &map[string]int64{"max_users": 20, "api_rps": 50},
	})
	if err != nil {
		t.Fatal(err)
	}
	if p.Rank != 5 || len(p.Features) != 2 || p.Limits["api_rps"] != 50 {
		t.Fatalf("created %+v", p)
	}
	if _, err := b.store.CreatePlan(ctx, "t", catalog.PlanParams{Name: "team", DisplayName: ptr("x")}); !errors.Is(err, catalog.ErrPlanExists) {
		t.Fatalf("duplicate: %v", err)
	}
	_, err = b.store.CreatePlan(ctx, "t", catalog.PlanParams{Name: "Bad Name", Limits: &map[string]int64{"Max": -1}})
	var ve *catalog.ValidationError
	if !errors.As(err, &ve) || len(ve.Fields) != 4 {
		t.Fatalf("bad plan: %v", err)
	}
	p, err = b.store.UpdatePlan(ctx, "t", catalog.PlanParams{Name: "team", Limits: &map[string]int64{"max_users": 25}})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Limits) != 1 || p.Limits["max_users"] != 25 || len(p.Features) != 2 || p.DisplayName != "Team" {
		t.Fatalf("updated %+v", p)
	}
	if _, err := b.store.CreateTenant(ctx, "t", catalog.CreateParams{Slug: "acme", Name: "Acme", Plan: "team"}); err != nil {
		t.Fatal(err)
	}
	if err := b.store.DeletePlan(ctx, "t", "team"); !errors.Is(err, catalog.ErrPlanInUse) {
		t.Fatalf("delete a plan in use: %v", err)
	}
	if err := b.store.DeletePlan(ctx, "t", "nope"); !errors.Is(err, catalog.ErrPlanNotFound) {
		t.Fatalf("delete unknown: %v", err)
	}
}

func TestFlagsCRUDAndOverridesAreAudited(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	tn, err := b.store.CreateTenant(ctx, "t", catalog.CreateParams{Slug: "acme", Name: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	drain(b.sent)
	f, err := b.store.CreateFlag(ctx, "t", catalog.FlagParams{Key: "new-checkout", Rollout: ptr(3000), MinPlan: ptr("pro")})
	if err != nil {
		t.Fatal(err)
	}
	if m := <-b.sent; !m.Flags {
		t.Fatalf("flag write sent %+v", m)
	}
	if f.Rollout != 3000 || f.MinPlan != "pro" {
		t.Fatalf("created %+v", f)
	}
	_, err = b.store.CreateFlag(ctx, "t", catalog.FlagParams{Key: "x", Rollout: ptr(10001), MinPlan: ptr("gold")})
	var ve *catalog.ValidationError
	if !errors.As(err, &ve) || len(ve.Fields) != 2 {
		t.Fatalf("bad flag: %v", err)
	}
	if f, err = b.store.UpdateFlag(ctx, "t", catalog.FlagParams{Key: "new-checkout", MinPlan: ptr(""), KillSwitch: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	if f.MinPlan != "" || !f.KillSwitch || f.Rollout != 3000 {
		t.Fatalf("updated %+v", f)
	}
	if f, err = b.store.SetFlagOverride(ctx, "t", "new-checkout", "acme", ptr(true)); err != nil {
		t.Fatal(err)
	}
	if !f.Overrides[tn.ID] {
		t.Fatalf("override %+v", f.Overrides)
	}
	set, err := b.store.LoadFlags(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Flags) != 1 || !set.Flags[0].Overrides[tn.ID] || set.PlanRanks["enterprise"] != 20 {
		t.Fatalf("flag set %+v", set)
	}
	if _, err := b.store.SetFlagOverride(ctx, "t", "nope", "acme", ptr(true)); !errors.Is(err, catalog.ErrFlagNotFound) {
		t.Fatalf("override of unknown flag: %v", err)
	}
	if err := b.store.DeleteFlag(ctx, "t", "new-checkout"); err != nil {
		t.Fatal(err)
	}
	audit, err := b.store.FlagAudit(ctx, "new-checkout")
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range audit {
		actions = append(actions, e.Action)
	}
	if len(actions) != 4 || actions[0] != "flag.create" || actions[1] != "flag.update" || actions[2] != "flag.override" || actions[3] != "flag.delete" {
		t.Fatalf("audit %v", actions)
	}
	var before map[string]any
	_ = json.Unmarshal(audit[1].Before, &before)
	if before["kill_switch"] != false || before["min_plan"] != "pro" {
		t.Fatalf("update audit before: %s", audit[1].Before)
	}
}

func TestSettingsVersionsAndAudit(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	tn, err := b.store.CreateTenant(ctx, "t", catalog.CreateParams{Slug: "acme", Name: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	_, st, err := b.store.GetSettings(ctx, "acme")
	if err != nil || st.Version != 0 || string(st.Doc) != "{}" {
		t.Fatalf("fresh settings %+v %v", st, err)
	}
	set := func(doc string) catalog.SettingsUpdate {
		return func(json.RawMessage) (json.RawMessage, any, error) {
			return json.RawMessage(doc), map[string]string{"doc": doc}, nil
		}
	}
	_, st, err = b.store.UpdateSettings(ctx, "t", "acme", ptr(int64(0)), set(`{"locale": "fr-FR"}`))
	if err != nil || st.Version != 1 {
		t.Fatalf("first write %+v %v", st, err)
	}
	_, _, err = b.store.UpdateSettings(ctx, "t", "acme", ptr(int64(0)), set(`{"locale": "de-DE"}`))
	if !errors.Is(err, catalog.ErrVersionMismatch) {
		t.Fatalf("stale version: %v", err)
	}
	_, st, err = b.store.UpdateSettings(ctx, "t", "acme", nil, set(`{"locale": "de-DE"}`))
	if err != nil || st.Version != 2 {
		t.Fatalf("unconditional write %+v %v", st, err)
	}
	refused := errors.New("refused")
	_, _, err = b.store.UpdateSettings(ctx, "t", "acme", nil, func(json.RawMessage) (json.RawMessage, any, error) { return nil, nil, refused })
	if !errors.Is(err, refused) {
		t.Fatal(err)
	}
	tc, _ := b.store.LoadContext(ctx, tn.ID)
	if tc.SettingsVersion != 2 || !json.Valid(tc.StoredSettings) || string(tc.StoredSettings) != `{"locale": "de-DE"}` {
		t.Fatalf("context settings %s v%d", tc.StoredSettings, tc.SettingsVersion)
	}
	entries, _ := b.store.Audit(ctx, tn.ID)
	n := 0
	for _, e := range entries {
		if e.Action == "settings.update" {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("%d settings audit rows, want 2", n)
	}
}

func drain(c chan bus.Message) {
	for {
		select {
		case <-c:
		default:
			return
		}
	}
}

// TestEveryNotifyingTableNotifies writes each table whose trigger feeds the
// invalidation bus and checks the message it sends: a trigger that reads a
// column its table lacks would fail the write itself.
func TestEveryNotifyingTableNotifies(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, b.db.OwnerDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tn, err := b.store.CreateTenant(ctx, "t", catalog.CreateParams{Slug: "acme", Name: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.AddCluster(ctx, "t", catalog.ClusterParams{
		Name: "c1", OwnerURL: "postgres://o@127.0.0.1/postgres", AppURL: "postgres://a@127.0.0.1/postgres",
		ReplicationURL: "postgres://r@127.0.0.1/postgres", SharedDatabase: "shared",
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.CreateFlag(ctx, "t", catalog.FlagParams{Key: "f"}); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+bus.Channel); err != nil {
		t.Fatal(err)
	}
	id := tn.ID.String()
	for _, tc := range []struct {
		sql  string
		want bus.Message
	}{
		{"UPDATE tenantkit.clusters SET shared_database = 'shared2' WHERE name = 'c1'", bus.Message{All: true}},
		{"UPDATE tenantkit.plans SET rank = 1 WHERE name = 'free'", bus.Message{All: true, Flags: true}},
		{"INSERT INTO tenantkit.plan_limits VALUES ('free', 'x', 1)", bus.Message{All: true}},
		{"INSERT INTO tenantkit.plan_features VALUES ('free', 'x')", bus.Message{All: true}},
		{"INSERT INTO tenantkit.tenant_limits VALUES ('" + id + "', 'x', 1)", bus.Message{Tenant: id}},
		{"INSERT INTO tenantkit.tenant_features VALUES ('" + id + "', 'x', true)", bus.Message{Tenant: id}},
		{"INSERT INTO tenantkit.tenant_settings (tenant_id) VALUES ('" + id + "')", bus.Message{Tenant: id}},
		{"UPDATE tenantkit.flags SET rollout = 5 WHERE key = 'f'", bus.Message{Flags: true}},
		{"INSERT INTO tenantkit.flag_overrides VALUES ('f', '" + id + "', true)", bus.Message{Flags: true}},
	} {
		if _, err := b.pool.Exec(ctx, tc.sql); err != nil {
			t.Fatalf("%s: %v", tc.sql, err)
		}
		wait, cancel := context.WithTimeout(ctx, 5*time.Second)
		n, err := conn.WaitForNotification(wait)
		cancel()
		if err != nil {
			t.Fatalf("%s: no notification: %v", tc.sql, err)
		}
		m, err := bus.Decode(n.Payload)
		if err != nil || m.All != tc.want.All || m.Flags != tc.want.Flags || m.Tenant != tc.want.Tenant {
			t.Fatalf("%s: sent %s, want %+v", tc.sql, n.Payload, tc.want)
		}
	}
}
