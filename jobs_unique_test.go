package tenantkit_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

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
	// In transactions, the unique check is made as the outbox is relayed:
	// two transactions of acme give one job more, globex's one its own.
	for _, slug := range []string{"acme", "acme", "globex"} {
		ctx := p.Scoped(t, kit, slug)
		if err := kit.Tx(ctx, func(tx pgx.Tx) error {
			_, err := kit.EnqueueTx(ctx, tx, noteArgs{Tag: "in-tx"}, unique)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, 10*time.Second, "the outbox to be relayed", func() bool { return outboxRows(t, p, "acme") == 0 })
	if n := len(notes(t, kit)); n != 4 {
		t.Fatalf("%d unique jobs, want 4: one per tenant out of transactions and one per tenant in them", n)
	}
}

// TestAJobsTenantIsTheKitsToSay: metadata given with a job, in or out of
// a transaction, cannot name another tenant (nor carry the key an earlier
// design kept a transaction under); JobTenant reads the tenant back.
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
	if id, slug, ok := tenantkit.JobTenant(res.Job); !ok || id != acme || slug != "acme" {
		t.Fatalf("JobTenant: %v %q %v, want acme's", id, slug, ok)
	}
	ctx := p.Scoped(t, kit, "acme")
	var inTx int64
	if err := kit.Tx(ctx, func(tx pgx.Tx) error {
		r, err := kit.EnqueueTx(ctx, tx, noteArgs{Tag: "forged-in-tx"}, &river.InsertOpts{Metadata: forged})
		if err == nil {
			inTx = r.Job.ID
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var job *rivertype.JobRow
	waitUntil(t, 10*time.Second, "the job to reach River", func() bool {
		job, err = kit.Jobs().JobGet(context.Background(), inTx)
		return err == nil
	})
	if id, slug, ok := tenantkit.JobTenant(job); !ok || id != acme || slug != "acme" || strings.Contains(string(job.Metadata), "tenantkit_commit") {
		t.Fatalf("the relayed job's tenant: %v %q %v (%s), want acme's", id, slug, ok, job.Metadata)
	}
	if _, _, ok := tenantkit.JobTenant(&rivertype.JobRow{Metadata: []byte(`{}`)}); ok {
		t.Fatal("JobTenant found a tenant in a job without one")
	}
}
