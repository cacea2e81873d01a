package cli

import (
	"context"
	"log/slog"
	"maps"
	"net/http/httptest"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantkit/tenantkit/internal/adminapi"
	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/contract"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

// scenario is a fresh catalog per mode, seeded the same way, reached
// directly ("direct") or through an admin API over it ("http").
type scenario struct {
	// seed prepares the catalog. Defaults to nothing.
	seed func(t *testing.T, pool *pgxpool.Pool, s *catalog.Store)
	// api configures the admin API of mode http. Defaults to nothing.
	api func(*adminapi.Config)
	// env is added to the environment of mode direct.
	env map[string]string
}

func (sc scenario) modes() map[string]func(*testing.T) target {
	return map[string]func(*testing.T) target{
		"direct": func(t *testing.T) target {
			db, _, _ := sc.catalog(t)
			env := map[string]string{"TENANTKIT_DATABASE_URL": db.OwnerDSN()}
			maps.Copy(env, sc.env)
			return target{name: "direct", env: env}
		},
		"http": func(t *testing.T) target {
			_, _, store := sc.catalog(t)
			cfg := adminapi.Config{Store: store, Token: testToken, Logger: slog.New(slog.DiscardHandler)}
			if sc.api != nil {
				sc.api(&cfg)
			}
			api, err := adminapi.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			ts := httptest.NewServer(contract.Handler(t, api.Handler()))
			t.Cleanup(ts.Close)
			return target{name: "http", env: map[string]string{"TENANTKIT_SERVER": ts.URL, "TENANTKIT_ADMIN_TOKEN": testToken}}
		},
	}
}

func (sc scenario) catalog(t *testing.T) (*tenantkittest.Database, *pgxpool.Pool, *catalog.Store) {
	t.Helper()
	db := tenantkittest.NewCatalog(t)
	pool, err := pgxpool.New(context.Background(), db.OwnerDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	store, err := catalog.NewStore(catalog.StoreConfig{Pool: pool})
	if err != nil {
		t.Fatal(err)
	}
	if sc.seed != nil {
		sc.seed(t, pool, store)
	}
	return db, pool, store
}

// planSteps run in order on a fresh catalog, once against it and once
// through the admin API; both must print the same.
var planSteps = []step{
	{"plans_list", []string{"plans", "list"}, exitOK},
	{"plans_list_json", []string{"plans", "list", "-o", "json"}, exitOK},
	{"plans_get", []string{"plans", "get", "pro"}, exitOK},
	{"plans_get_unknown", []string{"plans", "get", "gold"}, exitError},
	{"plans_create", []string{"plans", "create", "team", "--display-name", "Team", "--rank", "5", "--feature", "orders", "--feature", "sso",
		"--limit", "max_users=20", "--limit", "api_rps=50"}, exitOK},
	{"plans_create_json", []string{"plans", "create", "solo", "--display-name", "Solo", "--rank", "1", "--tier", "schema", "-o", "json"}, exitOK},
	{"plans_create_exists", []string{"plans", "create", "team", "--display-name", "Team again"}, exitError},
	{"plans_create_invalid", []string{"plans", "create", "Bad Name", "--rank", "-1", "--limit", "max_users=-1"}, exitError},
	{"plans_create_bad_limit", []string{"plans", "create", "duo", "--display-name", "Duo", "--limit", "max_users"}, exitUsage},
	{"plans_update", []string{"plans", "update", "team", "--limit", "max_users=25", "--description", "Small teams"}, exitOK},
	{"plans_update_clear_features_json", []string{"plans", "update", "solo", "--clear-features", "--feature", "orders"}, exitUsage},
	{"plans_update_nothing", []string{"plans", "update", "team"}, exitUsage},
	{"plans_update_unknown", []string{"plans", "update", "gold", "--rank", "3"}, exitError},
	{"plans_update_billing", []string{"plans", "update", "team", "--base-price", "price_team", "--seat-price", "price_seat",
		"--metered", "api_calls=price_api@api_calls", "--metered", "jobs=price_jobs@jobs", "--trial-days", "14"}, exitOK},
	{"plans_update_billing_one_price", []string{"plans", "update", "team", "--metered", "jobs=", "--base-price", "price_team_v2", "-o", "json"}, exitOK},
	{"plans_update_billing_invalid", []string{"plans", "update", "team", "--base-price", "prod_team", "--metered", "page_views=price_pv@pv"}, exitError},
	{"plans_update_billing_bad_flag", []string{"plans", "update", "team", "--metered", "api_calls=price_api"}, exitUsage},
	{"plans_update_billing_clear_and_set", []string{"plans", "update", "team", "--clear-billing", "--base-price", "price_x"}, exitUsage},
	{"plans_get_billing", []string{"plans", "get", "team"}, exitOK},
	{"plans_update_clear_billing", []string{"plans", "update", "team", "--clear-billing"}, exitOK},
	{"plans_list_after_create", []string{"plans", "list"}, exitOK},

	{"limits_tenant_create", []string{"tenants", "create", "acme", "--name", "Acme", "--plan", "pro"}, exitOK},
	{"tenants_gauges_empty", []string{"tenants", "gauges", "acme"}, exitOK},
	{"tenants_gauges_set", []string{"tenants", "gauges", "acme", "--set", "users=12", "--set", "storage_mb=300"}, exitOK},
	{"tenants_gauges_json", []string{"tenants", "gauges", "acme", "-o", "json"}, exitOK},
	{"tenants_gauges_bad", []string{"tenants", "gauges", "acme", "--set", "users=many"}, exitUsage},
	{"tenants_set_plan_refused", []string{"tenants", "set-plan", "acme", "free"}, exitError},
	{"tenants_update_plan_refused", []string{"tenants", "update", "acme", "--plan", "free"}, exitError},
	{"tenants_limits", []string{"tenants", "limits", "acme"}, exitOK},
	{"tenants_limits_set", []string{"tenants", "limits", "acme", "--set", "max_users=20", "--set", "seats=3"}, exitOK},
	{"tenants_set_plan", []string{"tenants", "set-plan", "acme", "free"}, exitOK},
	{"tenants_limits_refused", []string{"tenants", "limits", "acme", "--set", "max_users=3"}, exitError},
	{"tenants_limits_force", []string{"tenants", "limits", "acme", "--set", "max_users=3", "--force"}, exitOK},
	{"tenants_gauges_exceeded", []string{"tenants", "gauges", "acme"}, exitOK},
	{"tenants_limits_json", []string{"tenants", "limits", "acme", "--set", "max_users=30", "--unset", "seats", "-o", "json"}, exitOK},
	{"tenants_set_plan_json", []string{"tenants", "set-plan", "acme", "team", "-o", "json"}, exitOK},
	{"tenants_set_plan_same", []string{"tenants", "set-plan", "acme", "team"}, exitOK},
	{"tenants_limits_unset", []string{"tenants", "limits", "acme", "--unset", "max_users"}, exitOK},
	{"tenants_limits_set_and_unset", []string{"tenants", "limits", "acme", "--set", "seats=1", "--unset", "seats"}, exitUsage},
	{"tenants_set_plan_forced", []string{"tenants", "set-plan", "acme", "free", "--force"}, exitOK},
	{"tenants_set_plan_unknown", []string{"tenants", "set-plan", "acme", "gold"}, exitError},
	{"tenants_set_plan_args", []string{"tenants", "set-plan", "acme"}, exitUsage},
	{"tenants_set_plan_unknown_tenant", []string{"tenants", "set-plan", "nosuch", "pro"}, exitError},
	{"tenants_features", []string{"tenants", "features", "acme", "--on", "sso", "--off", "orders"}, exitOK},
	{"tenants_features_json", []string{"tenants", "features", "acme", "--unset", "orders", "-o", "json"}, exitOK},
	{"tenants_features_twice", []string{"tenants", "features", "acme", "--on", "sso", "--off", "sso"}, exitUsage},
	{"tenants_features_invalid", []string{"tenants", "features", "acme", "--on", "Bad Feature"}, exitError},

	{"plans_delete_in_use", []string{"plans", "delete", "free"}, exitError},
	{"plans_delete", []string{"plans", "delete", "solo"}, exitOK},
	{"plans_delete_unknown", []string{"plans", "delete", "solo"}, exitError},
}

func TestPlansGolden(t *testing.T) {
	t.Parallel()
	checkModes(t, planSteps, scenario{}.modes())
}
