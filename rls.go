package tenantkit

import (
	"context"
	"fmt"

	"github.com/tenantkit/tenantkit/internal/rlsaudit"
)

// RLSViolation is one finding of the row-level security audit: where it is
// (target, schema, object), what is wrong, and the fix.
type RLSViolation = rlsaudit.Violation

// CheckRLS audits every target of the catalog — each shared database, tenant
// schema and dedicated database — as `tenantkit rls check` does: the app
// role is no superuser, has no BYPASSRLS and owns nothing; every tenant
// table has row-level security enabled and forced with tenantkit's policy
// for all commands; no TRUNCATE grant; views are security_invoker; SECURITY
// DEFINER functions pin search_path; keys begin with tenant_id. The error
// is for failing to run the audit, not for violations.
func (k *Kit) CheckRLS(ctx context.Context) ([]RLSViolation, error) {
	targets, err := k.store.Targets(ctx)
	if err != nil {
		return nil, err
	}
	ts := make([]rlsaudit.Target, len(targets))
	for i, t := range targets {
		ts[i] = rlsaudit.Target{Key: t.Key, DSN: t.OwnerDSN, Schema: t.Schema}
	}
	return rlsaudit.Check(ctx, ts, rlsaudit.Options{})
}

// checkRLSOnStart runs CheckRLS for Config.RLSCheckOnStart.
func (k *Kit) checkRLSOnStart(ctx context.Context) error {
	vs, err := k.CheckRLS(ctx)
	if err != nil {
		return fmt.Errorf("tenantkit: rls check: %w", err)
	}
	if len(vs) > 0 {
		return fmt.Errorf("tenantkit: refusing to start: %d row-level security violations, first: %s", len(vs), vs[0].String())
	}
	return nil
}
