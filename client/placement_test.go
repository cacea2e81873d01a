package client_test

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/tenantkit/tenantkit/client"
	"github.com/tenantkit/tenantkit/examples/orders"
	"github.com/tenantkit/tenantkit/internal/adminapi"
	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/placement"
)

// withProvisioner makes the API place tenants' data, with the example
// app's migrations.
func withProvisioner(t *testing.T) func(*adminapi.Config) {
	return func(c *adminapi.Config) {
		prov, err := placement.New(placement.Config{Store: c.Store, Migrations: orders.Migrations(), Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		c.Provisioner = prov
	}
}

const clusterPW = "cluster-pw-0123456789"

// placeReady registers clusters c1 and c2 through the client, on hosts
// that do not exist, and creates tenants placed ready on c1 through the
// store: placing them through the API would build their data there.
func (b bundle) placeReady(t *testing.T, tiers map[string]string) {
	t.Helper()
	ctx := context.Background()
	for _, name := range []string{"c1", "c2"} {
		if _, err := b.c.AddCluster(ctx, client.ClusterParams{Name: name,
			OwnerURL: "postgres://tenantkit_owner:" + clusterPW + "@" + name + ".invalid/postgres",
			AppURL:   "postgres://tenantkit_app:" + clusterPW + "@" + name + ".invalid/postgres"}); err != nil {
			t.Fatal(err)
		}
	}
	for slug, tier := range tiers {
		if _, err := b.store.CreateTenant(ctx, "test", catalog.CreateParams{Slug: slug, Name: "Tenant " + slug}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.store.EnsurePlacement(ctx, "test", slug, tier, "c1"); err != nil {
			t.Fatal(err)
		}
		if _, err := b.store.SetPlacementState(ctx, "test", slug, catalog.PlacementReady); err != nil {
			t.Fatal(err)
		}
	}
}

func TestClustersAndPlacement(t *testing.T) {
	t.Parallel()
	b := setup(t, withProvisioner(t))
	ctx := context.Background()
	b.placeReady(t, map[string]string{"acme": client.TierSchema})

	cs, err := b.c.ListClusters(ctx)
	if err != nil || len(cs) != 2 || cs[0].Name != "c1" || cs[0].SharedDatabase != "tenantkit_shared" ||
		cs[0].OwnerURL != "postgres://tenantkit_owner:xxxxx@c1.invalid/postgres" {
		t.Fatalf("clusters: %+v %v", cs, err)
	}
	_, err = b.c.AddCluster(ctx, client.ClusterParams{Name: "C 3", OwnerURL: "mysql://x", AppURL: "postgres://h/db"})
	e := wantError(t, err, http.StatusUnprocessableEntity, "invalid-fields")
	if len(e.Errors) != 2 || e.Errors[0].Field != "name" || e.Errors[1].Field != "owner_url" {
		t.Fatalf("bad cluster: %+v", e.Errors)
	}
	_, err = b.c.AddCluster(ctx, client.ClusterParams{Name: "c1", OwnerURL: "postgres://h/db", AppURL: "postgres://h/db"})
	wantError(t, err, http.StatusConflict, "cluster-exists")

	pl, err := b.c.GetPlacement(ctx, "acme")
	if err != nil || pl.Tier != client.TierSchema || pl.Cluster != "c1" || pl.State != "ready" || pl.Epoch != 1 || pl.Schema == "" {
		t.Fatalf("placement: %+v %v", pl, err)
	}
	// Placing a tenant placed already gives its placement back.
	if again, err := b.c.PlaceTenant(ctx, "acme", client.PlaceParams{}); err != nil || again != pl {
		t.Fatalf("place again: %+v %v, want %+v", again, err, pl)
	}
	if _, err := b.store.CreateTenant(ctx, "test", catalog.CreateParams{Slug: "initech", Name: "Initech"}); err != nil {
		t.Fatal(err)
	}
	_, err = b.c.GetPlacement(ctx, "initech")
	wantError(t, err, http.StatusNotFound, "not-placed")

	if err := b.c.RemoveCluster(ctx, "c2"); err != nil {
		t.Fatal(err)
	}
	wantError(t, b.c.RemoveCluster(ctx, "c2"), http.StatusNotFound, "cluster-not-found")
	wantError(t, b.c.RemoveCluster(ctx, "c1"), http.StatusConflict, "cluster-in-use")
}

func TestMoves(t *testing.T) {
	t.Parallel()
	b := setup(t, withProvisioner(t))
	ctx := context.Background()
	b.placeReady(t, map[string]string{"acme": client.TierShared, "globex": client.TierSchema})

	m, err := b.c.CreateMove(ctx, "acme", client.MoveParams{Tier: client.TierDedicated, Cluster: "c2"})
	if err != nil || m.ID == "" || m.Slug != "acme" || m.State != client.MovePending || m.SourceTier != client.TierShared ||
		m.SourceCluster != "c1" || m.TargetTier != client.TierDedicated || m.TargetCluster != "c2" || m.RequestedBy != "api:test" ||
		string(m.Progress) != "{}" || string(m.Timings) != "{}" {
		t.Fatalf("create: %+v %v", m, err)
	}
	g, err := b.c.CreateMove(ctx, "globex", client.MoveParams{Tier: client.TierShared})
	if err != nil || g.TargetCluster != "c1" {
		t.Fatalf("create globex: %+v %v", g, err)
	}
	_, err = b.c.CreateMove(ctx, "acme", client.MoveParams{Tier: client.TierSchema})
	wantError(t, err, http.StatusConflict, "move-in-progress")
	_, err = b.c.CreateMove(ctx, "globex", client.MoveParams{Tier: "gold"})
	wantError(t, err, http.StatusUnprocessableEntity, "invalid-fields")

	all, err := b.c.ListMoves(ctx, client.MoveListParams{})
	if err != nil || len(all) != 2 || all[0].ID != g.ID || all[1].ID != m.ID {
		t.Fatalf("list, newest first: %+v %v", all, err)
	}
	if mine, err := b.c.ListMoves(ctx, client.MoveListParams{Tenant: "acme", Limit: 5}); err != nil || len(mine) != 1 || mine[0].ID != m.ID {
		t.Fatalf("acme's: %+v %v", mine, err)
	}
	if one, err := b.c.ListMoves(ctx, client.MoveListParams{Limit: 1}); err != nil || len(one) != 1 || one[0].ID != g.ID {
		t.Fatalf("limit 1: %+v %v", one, err)
	}
	_, err = b.c.ListMoves(ctx, client.MoveListParams{Limit: 501})
	wantError(t, err, http.StatusUnprocessableEntity, "invalid-fields")

	if got, err := b.c.GetMove(ctx, m.ID); err != nil || got.ID != m.ID || got.TargetDatabase != m.TargetDatabase {
		t.Fatalf("get: %+v %v", got, err)
	}
	if got, err := b.c.CancelMove(ctx, m.ID); err != nil || !got.CancelRequested {
		t.Fatalf("cancel: %+v %v", got, err)
	}
	_, err = b.c.RollbackMove(ctx, m.ID)
	if e := wantError(t, err, http.StatusConflict, "move-state"); !strings.Contains(e.Detail, "only a complete move") {
		t.Fatalf("rollback of a pending move: %+v", e)
	}
	for _, id := range []string{"not-a-uuid", "00000000-0000-4000-8000-000000000000"} {
		_, err = b.c.GetMove(ctx, id)
		wantError(t, err, http.StatusNotFound, "move-not-found")
	}
}

// A server that places no data refuses moves: no runner would work them.
func TestMovesNeedAProvisioner(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	if _, err := b.c.CreateTenant(ctx, client.CreateTenantParams{Slug: "acme", Name: "Acme"}); err != nil {
		t.Fatal(err)
	}
	_, err := b.c.CreateMove(ctx, "acme", client.MoveParams{Tier: client.TierSchema})
	wantError(t, err, http.StatusNotImplemented, "not-implemented")
	_, err = b.c.PlaceTenant(ctx, "acme", client.PlaceParams{})
	wantError(t, err, http.StatusNotImplemented, "not-implemented")
	if ms, err := b.c.ListMoves(ctx, client.MoveListParams{}); err != nil || len(ms) != 0 {
		t.Fatalf("moves: %+v %v", ms, err)
	}
}
