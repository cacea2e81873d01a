package tenantkit_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/tenantkit/tenantkit"
	"github.com/tenantkit/tenantkit/examples/orders"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

// TestUniqueJobsAreUniquePerTenant: River's UniqueOpts hold within a
// tenant (the same args twice: one job) and not across tenants (the same
// args for two tenants: a job each), in and out of transactions.
func TestUniqueJobsAreUniquePerTenant(t *testing.T) {
	t.Parallel()
	p := tenantkittest.NewPlatform(t, orders.Migrations())
	p.Tenant(t, "acme", "shared")
	p.Tenant(t, "globex", "shared")
	kit := p.Kit(t, tenantkit.Config{Jobs: &tenantkit.JobsConfig{}})
	unique := &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true, ByPeriod: time.Hour}}
	for _, slug := range []string{"acme", "globex"} {
		ctx := p.Scoped(t, kit, slug)
		first, err := kit.Enqueue(ctx, noteArgs{Tag: "daily-digest"}, unique)
		if err != nil || first.UniqueSkippedAsDuplicate {
			t.Fatalf("%s's first unique job: %+v, %v; want it inserted", slug, first, err)
		}
		again, err := kit.Enqueue(ctx, noteArgs{Tag: "daily-digest"}, unique)
		if err != nil || !again.UniqueSkippedAsDuplicate || again.Job.ID != first.Job.ID {
			t.Fatalf("%s's second unique job: %+v, %v; want the first one back", slug, again, err)
		}
	}
	if n := len(notes(t, kit)); n != 2 {
		t.Fatalf("%d unique jobs for two tenants, want 2", n)
	}
}

// TestAJobsTenantIsTheKitsToSay: metadata given with a job cannot name
// another tenant, or a transaction for the reconciler to settle.
func TestAJobsTenantIsTheKitsToSay(t *testing.T) {
	t.Parallel()
	p := tenantkittest.NewPlatform(t, orders.Migrations())
	acme := p.Tenant(t, "acme", "shared")
	globex := p.Tenant(t, "globex", "shared")
	kit := p.Kit(t, tenantkit.Config{Jobs: &tenantkit.JobsConfig{}})
	forged := []byte(`{"tenant_id":"` + globex.String() + `","tenant":"globex","tenantkit_commit":{"xid":"1","cluster":"x","database":"y"},"trace":"abc"}`)
	res, err := kit.Enqueue(p.Scoped(t, kit, "acme"), noteArgs{Tag: "forged"}, &river.InsertOpts{Metadata: forged})
	if err != nil {
		t.Fatal(err)
	}
	var meta map[string]any
	if err := json.Unmarshal(res.Job.Metadata, &meta); err != nil {
		t.Fatal(err)
	}
	if meta["tenant_id"] != acme.String() || meta["tenant"] != "acme" || meta["tenantkit_commit"] != nil || meta["trace"] != "abc" {
		t.Fatalf("the job's metadata: %v; want acme's, no commit, the caller's own key kept", meta)
	}
}
