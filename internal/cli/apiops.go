package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tenantkit/tenantkit/client"
	"github.com/tenantkit/tenantkit/internal/adminapi"
	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/integration"
	"github.com/tenantkit/tenantkit/internal/problem"
	"github.com/tenantkit/tenantkit/internal/registry"
)

// apiOps runs the commands through a server's admin API with the public
// client. It speaks the catalog's types, as directOps does, and fails with
// the same *problem.Problem errors: the commands cannot tell them apart.
// Beside each ops interface is the assertion that it has every method.
type apiOps struct{ c *client.Client }

// newAPIOps returns the ops of the server at base, authenticating with
// token and naming actor in its audit log.
func newAPIOps(base, token, actor string) (apiOps, error) {
	c, err := client.New(client.Config{BaseURL: base, Token: token, Actor: headerSafe(actor, 100)})
	if err != nil {
		// The token and the actor cannot be refused: the URL is.
		return apiOps{}, fmt.Errorf("server URL %q must be http(s)://host[:port]", base)
	}
	return apiOps{c: c}, nil
}

// headerSafe is s without control characters, in at most n bytes, as the
// X-Tenantkit-Actor header takes it.
func headerSafe(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
	for len(s) > n {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}

// apiErr is the CLI's error for the client's: the server's problem as a
// *problem.Problem, and a request without an answer as "server
// unreachable".
func apiErr(err error) error {
	if err == nil {
		return nil
	}
	var e *client.Error
	if errors.As(err, &e) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		return problemOf(e)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("server unreachable: %w", ue.Err)
	}
	return err
}

// problemOf converts the client's problem back to the one the server
// wrote; an answer without problem details (not the admin API's, say) is
// an internal problem that tells its status.
func problemOf(e *client.Error) *problem.Problem {
	if e.Type == "about:blank" && e.Detail == "" && len(e.Errors) == 0 {
		return problem.New(e.Status, problem.Internal, fmt.Sprintf("server answered %d %s", e.Status, e.Title))
	}
	p := &problem.Problem{Type: e.Type, Title: e.Title, Status: e.Status, Detail: e.Detail, Instance: e.Instance}
	for _, f := range e.Errors {
		p.Errors = append(p.Errors, problem.FieldError(f))
	}
	for _, v := range e.Violations {
		p.Violations = append(p.Violations, problem.Violation(v))
	}
	p.Record, p.Found = e.Record, e.Found
	return p
}

// conv converts v, an answer of the client, to T, the catalog's type of
// it, by way of the JSON both read as the server writes it (the client's
// ids are strings, the catalog's uuids); err, the client's, becomes the
// CLI's. Types that match field for field are converted directly instead.
func conv[T any](v any, err error) (T, error) {
	var out T
	if err != nil {
		return out, apiErr(err)
	}
	b, err := json.Marshal(v)
	if err == nil {
		err = json.Unmarshal(b, &out)
	}
	if err != nil {
		return out, fmt.Errorf("reading the server's answer: %w", err)
	}
	return out, nil
}

// Tenants.

func (a apiOps) CreateTenant(ctx context.Context, p catalog.CreateParams) (catalog.Tenant, error) {
	t, _, err := a.CreateTenantOn(ctx, p, "", "")
	return t, err
}

// CreateTenantOn creates a tenant and has the server place its data on
// tier and cluster (each empty for the server's default). The placement is
// nil when the server places no data.
func (a apiOps) CreateTenantOn(ctx context.Context, p catalog.CreateParams, tier, cluster string) (catalog.Tenant, *catalog.Placement, error) {
	ct, err := a.c.CreateTenant(ctx, client.CreateTenantParams{Slug: p.Slug, Name: p.Name, Plan: p.Plan, Tier: tier, Cluster: cluster})
	t, err := conv[catalog.Tenant](ct.Tenant, err)
	if err != nil || ct.Placement == nil {
		return t, nil, err
	}
	pl := catalog.Placement(*ct.Placement)
	return t, &pl, nil
}

func (a apiOps) ListTenants(ctx context.Context, p catalog.ListParams) (catalog.Page, error) {
	return conv[catalog.Page](a.c.ListTenants(ctx, client.TenantListParams{After: p.After, Limit: p.Limit, Status: p.Status}))
}

func (a apiOps) GetTenant(ctx context.Context, ref string) (catalog.Tenant, error) {
	return conv[catalog.Tenant](a.c.GetTenant(ctx, ref))
}

func (a apiOps) UpdateTenant(ctx context.Context, ref string, p catalog.UpdateParams) (catalog.Tenant, error) {
	return conv[catalog.Tenant](a.c.UpdateTenant(ctx, ref, client.UpdateTenantParams(p)))
}

func (a apiOps) SuspendTenant(ctx context.Context, ref, reason string) (catalog.Tenant, error) {
	return conv[catalog.Tenant](a.c.SuspendTenant(ctx, ref, reason))
}

func (a apiOps) ResumeTenant(ctx context.Context, ref string) (catalog.Tenant, error) {
	return conv[catalog.Tenant](a.c.ResumeTenant(ctx, ref))
}

func (a apiOps) DeleteTenant(ctx context.Context, ref string) (catalog.Tenant, error) {
	return conv[catalog.Tenant](a.c.DeleteTenant(ctx, ref))
}

func (a apiOps) PurgeTenant(ctx context.Context, ref string) (catalog.Tenant, error) {
	return conv[catalog.Tenant](a.c.PurgeTenant(ctx, ref))
}

func (a apiOps) PlaceTenant(ctx context.Context, ref string, pp catalog.PlaceParams) (catalog.Placement, error) {
	pl, err := a.c.PlaceTenant(ctx, ref, client.PlaceParams(pp))
	return catalog.Placement(pl), apiErr(err)
}

// Plans, overrides and usage gauges.

func (a apiOps) ListPlans(ctx context.Context) ([]catalog.Plan, error) {
	ps, err := a.c.ListPlans(ctx)
	if err != nil {
		return nil, apiErr(err)
	}
	out := make([]catalog.Plan, len(ps))
	for i, p := range ps {
		out[i] = planOf(p)
	}
	return out, nil
}

// planOf is the client's plan as the catalog's: the same JSON.
func planOf(p client.Plan) catalog.Plan {
	out, _ := conv[catalog.Plan](p, nil)
	return out
}

// planParamsOf is the catalog's plan params as the client's: the same
// JSON.
func planParamsOf(p catalog.PlanParams) client.PlanParams {
	out, _ := conv[client.PlanParams](p, nil)
	return out
}

func (a apiOps) GetPlan(ctx context.Context, name string) (catalog.Plan, error) {
	p, err := a.c.GetPlan(ctx, name)
	return planOf(p), apiErr(err)
}

func (a apiOps) CreatePlan(ctx context.Context, p catalog.PlanParams) (catalog.Plan, error) {
	out, err := a.c.CreatePlan(ctx, planParamsOf(p))
	return planOf(out), apiErr(err)
}

func (a apiOps) UpdatePlan(ctx context.Context, p catalog.PlanParams) (catalog.Plan, error) {
	out, err := a.c.UpdatePlan(ctx, planParamsOf(p))
	return planOf(out), apiErr(err)
}

func (a apiOps) DeletePlan(ctx context.Context, name string) error {
	return apiErr(a.c.DeletePlan(ctx, name))
}

func (a apiOps) SetTenantPlan(ctx context.Context, ref string, p catalog.SetPlanParams) (catalog.Tenant, error) {
	return conv[catalog.Tenant](a.c.SetTenantPlan(ctx, ref, client.SetPlanParams(p)))
}

func (a apiOps) TenantOverrides(ctx context.Context, ref string) (catalog.Overrides, error) {
	o, err := a.c.TenantOverrides(ctx, ref)
	return catalog.Overrides(o), apiErr(err)
}

func (a apiOps) PatchTenantOverrides(ctx context.Context, ref string, p catalog.OverridePatch) (catalog.Overrides, error) {
	o, err := a.c.PatchTenantOverrides(ctx, ref, client.OverridePatch(p))
	return catalog.Overrides(o), apiErr(err)
}

func (a apiOps) TenantUsage(ctx context.Context, ref string) ([]catalog.Usage, error) {
	return conv[[]catalog.Usage](a.c.ListUsageGauges(ctx, ref))
}

func (a apiOps) SetUsage(ctx context.Context, ref, name string, value int64) error {
	_, err := a.c.SetUsageGauge(ctx, ref, name, value)
	return apiErr(err)
}

// Flags.

func (a apiOps) ListFlags(ctx context.Context) ([]catalog.Flag, error) {
	return conv[[]catalog.Flag](a.c.ListFlags(ctx))
}

func (a apiOps) GetFlag(ctx context.Context, key string) (catalog.Flag, error) {
	return conv[catalog.Flag](a.c.GetFlag(ctx, key))
}

func (a apiOps) CreateFlag(ctx context.Context, p catalog.FlagParams) (catalog.Flag, error) {
	return conv[catalog.Flag](a.c.CreateFlag(ctx, client.FlagParams(p)))
}

func (a apiOps) UpdateFlag(ctx context.Context, p catalog.FlagParams) (catalog.Flag, error) {
	return conv[catalog.Flag](a.c.UpdateFlag(ctx, client.FlagParams(p)))
}

func (a apiOps) DeleteFlag(ctx context.Context, key string) error {
	return apiErr(a.c.DeleteFlag(ctx, key))
}

// SetFlagOverride gives tenant ref its own value of a flag; nil removes
// the override.
func (a apiOps) SetFlagOverride(ctx context.Context, key, ref string, value *bool) (catalog.Flag, error) {
	if value == nil {
		return conv[catalog.Flag](a.c.ClearFlagOverride(ctx, key, ref))
	}
	return conv[catalog.Flag](a.c.SetFlagOverride(ctx, key, ref, *value))
}

func (a apiOps) EvaluateFlag(ctx context.Context, key string) (adminapi.FlagEvaluations, error) {
	return conv[adminapi.FlagEvaluations](a.c.EvaluateFlag(ctx, key))
}

func (a apiOps) EvaluateTenant(ctx context.Context, ref string) (adminapi.TenantFlags, error) {
	return conv[adminapi.TenantFlags](a.c.EvaluateTenant(ctx, ref))
}

// Moves.

func (a apiOps) CreateMove(ctx context.Context, ref string, p catalog.MoveParams) (catalog.Move, error) {
	return conv[catalog.Move](a.c.CreateMove(ctx, ref, client.MoveParams(p)))
}

func (a apiOps) ListMoves(ctx context.Context, tenant string, limit int) ([]catalog.Move, error) {
	return conv[[]catalog.Move](a.c.ListMoves(ctx, client.MoveListParams{Tenant: tenant, Limit: limit}))
}

func (a apiOps) GetMove(ctx context.Context, id string) (catalog.Move, error) {
	return conv[catalog.Move](a.c.GetMove(ctx, id))
}

func (a apiOps) CancelMove(ctx context.Context, id string) (catalog.Move, error) {
	return conv[catalog.Move](a.c.CancelMove(ctx, id))
}

func (a apiOps) RollbackMove(ctx context.Context, id string) (catalog.Move, error) {
	return conv[catalog.Move](a.c.RollbackMove(ctx, id))
}

// Settings.

func (a apiOps) GetSettings(ctx context.Context, ref string) (adminapi.Settings, error) {
	s, err := a.c.GetSettings(ctx, ref)
	return adminapi.Settings(s), apiErr(err)
}

func (a apiOps) PatchSettings(ctx context.Context, ref string, ifVersion *int64, patch []byte) (adminapi.Settings, error) {
	s, err := a.c.PatchSettings(ctx, ref, client.SettingsPatch{Patch: patch, IfVersion: ifVersion})
	return adminapi.Settings(s), apiErr(err)
}

// Usage and load.

func (a apiOps) Usage(ctx context.Context, ref, period string) (catalog.UsageReport, error) {
	return conv[catalog.UsageReport](a.c.Usage(ctx, ref, period))
}

// UsageAll returns every tenant's usage in period, asking for it in the
// largest pages the server gives.
func (a apiOps) UsageAll(ctx context.Context, period string) (adminapi.UsageExport, error) {
	all := adminapi.UsageExport{Tenants: []catalog.UsageReport{}}
	p := client.UsageExportParams{Period: period, Limit: catalog.MaxUsagePage}
	for {
		page, err := conv[adminapi.UsageExport](a.c.ExportUsage(ctx, p))
		if err != nil {
			return adminapi.UsageExport{}, err
		}
		all.Period = page.Period
		all.Tenants = append(all.Tenants, page.Tenants...)
		if page.Next == "" || page.Next == p.After {
			return all, nil
		}
		// Every page of the same month, though the server's turn over.
		p.Period, p.After = page.Period, page.Next
	}
}

func (a apiOps) Load(ctx context.Context, window time.Duration) (catalog.LoadReport, error) {
	return conv[catalog.LoadReport](a.c.Load(ctx, window))
}

// Integrations.

func (a apiOps) ListIntegrations(ctx context.Context, ref string) ([]registry.View, error) {
	return conv[[]registry.View](a.c.ListIntegrations(ctx, ref))
}

func (a apiOps) ShowIntegration(ctx context.Context, ref string, typ integration.Type) (registry.View, error) {
	return conv[registry.View](a.c.GetIntegration(ctx, ref, string(typ)))
}

func (a apiOps) SetIntegration(ctx context.Context, ref string, p registry.SetParams) (registry.View, error) {
	return conv[registry.View](a.c.SetIntegration(ctx, ref, client.IntegrationParams{
		Type: string(p.Type), Provider: p.Provider, Credentials: p.Credentials, Settings: p.Settings, Active: p.Active,
	}))
}

func (a apiOps) RemoveIntegration(ctx context.Context, ref string, typ integration.Type) error {
	return apiErr(a.c.RemoveIntegration(ctx, ref, string(typ)))
}

func (a apiOps) TestIntegration(ctx context.Context, ref string, typ integration.Type) (registry.View, error) {
	return conv[registry.View](a.c.TestIntegration(ctx, ref, string(typ)))
}

func (a apiOps) Providers(ctx context.Context) (map[integration.Type][]integration.Spec, error) {
	return conv[map[integration.Type][]integration.Spec](a.c.Providers(ctx))
}
