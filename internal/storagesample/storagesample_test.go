package storagesample_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tenantkit/tenantkit/examples/orders"
	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/storagesample"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

func TestNewValidatesConfig(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]storagesample.Config{
		"no placements":     {},
		"negative sampling": {Placements: noReplication{}, SampleRowsAbove: -1},
		"negative workers":  {Placements: noReplication{}, Concurrency: -1},
	} {
		if _, err := storagesample.New(cfg); err == nil {
			t.Errorf("%s: New accepted %+v", name, cfg)
		}
	}
}

// TestSampleEveryTier: one Sample per tenant; schema and dedicated tenants
// get exactly their tables' total relation size; the shared tenants' shares
// add up to the shared tables' size in the ratio of their tuple bytes, and
// a shared tenant without rows gets 0. Each database is visited once.
func TestSampleEveryTier(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var l logs
	s := b.sampler(t, storagesample.Config{Logger: l.logger()})

	start := time.Now()
	samples, err := s.Sample(context.Background())
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Sample took %v for %d tenants in 2 databases", took, len(samples))
	got := bySlug(t, samples)
	if len(got) != len(tenants) {
		t.Fatalf("%d samples, want one per tenant (%d): %+v", len(got), len(tenants), samples)
	}
	for _, tn := range tenants {
		g := got[tn.slug]
		wantMethod := storagesample.MethodRelationSize
		if tn.tier == catalog.TierShared {
			wantMethod = storagesample.MethodEstimate
		}
		if g.Tenant != b.ids[tn.slug] || g.Tier != tn.tier || g.Method != wantMethod || !g.At.Equal(at) {
			t.Errorf("%s: %+v, want tenant %s, tier %s, method %s, at %v", tn.slug, g, b.ids[tn.slug], tn.tier, wantMethod, at)
		}
	}

	for _, slug := range []string{"iso", "own"} {
		pl := b.p.Placement(t, slug)
		want := b.relationSize(t, pl.Database, pl.Schema)
		if got[slug].Bytes != want {
			t.Errorf("%s (%s): %d bytes, want exactly %d (pg_total_relation_size of its tables)", slug, pl.Tier, got[slug].Bytes, want)
		}
	}

	want, total := b.sharedExpectation(t)
	big, small, empty := got["big"].Bytes, got["small"].Bytes, got["empty"].Bytes
	if sum := big + small + empty; !near(sum, float64(total), 2) {
		t.Errorf("shared estimates add up to %d, want the shared tables' %d", sum, total)
	}
	for _, slug := range []string{"big", "small"} {
		if w := want[b.ids[slug]]; !near(got[slug].Bytes, w, 1) {
			t.Errorf("%s: %d bytes, want %.1f (its share of the tuple bytes)", slug, got[slug].Bytes, w)
		}
	}
	if small <= 0 || big <= 5*small {
		t.Errorf("big %d, small %d: want big > 5 × small > 0", big, small)
	}
	if empty != 0 {
		t.Errorf("empty: %d bytes, want 0 for a tenant without rows", empty)
	}
	if n := len(l.lines("database measured")); n != 2 {
		t.Errorf("%d databases visited, want 2 (the shared database, once, and the dedicated one):\n%s", n, l.lines(""))
	}
}

// TestFallbackWithoutReplicationURL: read tenant by tenant under row-level
// security as the owner, the estimates are the ones of the single scan as
// the replication role.
func TestFallbackWithoutReplicationURL(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var l logs
	bypass, err := b.sampler(t, storagesample.Config{Logger: l.logger()}).Sample(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	scoped, err := b.sampler(t, storagesample.Config{Logger: l.logger(), Placements: noReplication{b.p.Store()}}).Sample(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n, m := len(l.lines("shared tables", "bypass_rls=true")), len(l.lines("shared tables", "bypass_rls=false")); n != 1 || m != 1 {
		t.Fatalf("%d readings past RLS and %d scoped ones, want 1 each", n, m)
	}
	if !slices.Equal(bypass, scoped) {
		t.Fatalf("without a replication URL:\n%+v\nwith one:\n%+v", scoped, bypass)
	}
	if got := bySlug(t, scoped); got["big"].Bytes <= 5*got["small"].Bytes || got["small"].Bytes == 0 {
		t.Fatalf("scoped estimates big %d, small %d: want big > 5 × small > 0", got["big"].Bytes, got["small"].Bytes)
	}
}

// TestUnreachableCluster: a cluster that refuses connections is named in
// the error, with its tenants, and every other tenant is still sampled.
func TestUnreachableCluster(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	before, err := b.sampler(t, storagesample.Config{}).Sample(ctx)
	if err != nil {
		t.Fatal(err)
	}

	store := b.p.Store()
	down := "postgres://tenantkit_owner:" + tenantkittest.Secret("down-cluster-pw") + "@127.0.0.1:1/postgres"
	if _, err := store.AddCluster(ctx, "test", catalog.ClusterParams{Name: "down", OwnerURL: down, AppURL: down, ReplicationURL: down}); err != nil {
		t.Fatal(err)
	}
	lost, err := store.CreateTenant(ctx, "test", catalog.CreateParams{Slug: "lost", Name: "Lost"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Place(ctx, "test", "lost", catalog.PlaceParams{Tier: catalog.TierDedicated, Cluster: "down"}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.SetPlacementState(ctx, "test", "lost", catalog.PlacementReady); err != nil {
		t.Fatal(err)
	}

	after, err := b.sampler(t, storagesample.Config{ConnectTimeout: 5 * time.Second}).Sample(ctx)
	if err == nil {
		t.Fatal("Sample reported no error with cluster down unreachable")
	}
	t.Logf("error: %v", err)
	if !strings.Contains(err.Error(), "cluster down") {
		t.Errorf("error does not name cluster down: %v", err)
	}
	var dbErr *storagesample.DatabaseError
	if !errors.As(err, &dbErr) || dbErr.Cluster != "down" || !slices.Equal(dbErr.Tenants, []uuid.UUID{lost.ID}) {
		t.Errorf("error %#v, want a DatabaseError of cluster down for tenant lost", dbErr)
	}
	if !slices.Equal(after, before) {
		t.Errorf("the other tenants' samples changed:\n%+v\nwant\n%+v", after, before)
	}
}

// TestBigTablesAreSampled: a shared table above SampleRowsAbove is read
// with TABLESAMPLE, and the estimates stay close to the exact ones.
func TestBigTablesAreSampled(t *testing.T) {
	t.Parallel()
	p := tenantkittest.NewPlatform(t, orders.Migrations())
	b := &bundle{p: p, ids: map[string]uuid.UUID{"alpha": p.Tenant(t, "alpha", catalog.TierShared), "gamma": p.Tenant(t, "gamma", catalog.TierShared)}}
	// 11,000 customers, every eleventh of c, so that each page holds both
	// tenants in the ratio of the whole table.
	conn := b.superuser(t, p.SharedDatabase)
	if _, err := conn.Exec(context.Background(), `INSERT INTO app.customers (tenant_id, email, name)
		SELECT CASE WHEN g % 11 = 0 THEN $2::uuid ELSE $1::uuid END, 'customer' || g || '@example.test', 'Customer ' || g
		FROM generate_series(1, 11000) g`, b.ids["alpha"], b.ids["gamma"]); err != nil {
		t.Fatal(err)
	}
	b.vacuum(t, p.SharedDatabase)
	// orders and order_items hold no row: their size is nobody's.
	want, _ := b.sharedExpectation(t)
	total := want[b.ids["alpha"]] + want[b.ids["gamma"]]

	var l logs
	samples, err := b.sampler(t, storagesample.Config{Logger: l.logger(), SampleRowsAbove: 10_000}).Sample(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(l.lines("table sampled", "schema=app table=customers ")) != 1 || len(l.lines("table sampled")) != 1 {
		t.Fatalf("want app.customers sampled, and nothing else; logs:\n%s", l.lines(""))
	}
	got := bySlug(t, samples)
	a, c := got["alpha"].Bytes, got["gamma"].Bytes
	t.Logf("sampled estimates a %d, c %d; exact %.0f, %.0f", a, c, want[b.ids["alpha"]], want[b.ids["gamma"]])
	if !near(a+c, total, 2) {
		t.Errorf("estimates add up to %d, want the size of the tables with rows, %.0f", a+c, total)
	}
	if !near(a, want[b.ids["alpha"]], 0.05*want[b.ids["alpha"]]) || !near(c, want[b.ids["gamma"]], 0.3*want[b.ids["gamma"]]) {
		t.Errorf("sampled estimates a %d, c %d; want within 5%% and 30%% of %.0f and %.0f", a, c, want[b.ids["alpha"]], want[b.ids["gamma"]])
	}
}

// TestRun hands a sample to fn at once and every interval, and returns
// when ctx ends.
func TestRun(t *testing.T) {
	t.Parallel()
	b := setup(t)
	s := b.sampler(t, storagesample.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan int, 10)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(ctx, 20*time.Millisecond, func(_ context.Context, samples []storagesample.Sample, err error) {
			if err != nil {
				t.Error(err)
			}
			got <- len(samples)
		})
	}()
	for range 2 {
		select {
		case n := <-got:
			if n != len(tenants) {
				t.Errorf("Run handed %d samples, want %d", n, len(tenants))
			}
		case <-time.After(30 * time.Second):
			t.Fatal("Run handed nothing")
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after ctx ended")
	}
}

// BenchmarkSample measures a Sample of the five tenants of setup, in two
// databases.
func BenchmarkSample(b *testing.B) {
	bd := setup(b)
	s := bd.sampler(b, storagesample.Config{})
	ctx := context.Background()
	for b.Loop() {
		if _, err := s.Sample(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
