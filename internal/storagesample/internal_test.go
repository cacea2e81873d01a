package storagesample

import (
	"math"
	"testing"

	"github.com/google/uuid"

	"github.com/tenantkit/tenantkit/internal/catalog"
)

func TestSamplePercent(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		reltuples float64
		above     int64
		want      float64
	}{
		{1_000_001, 1_000_000, 100 * 100_000 / 1_000_001.0}, // just above: a tenth of the pages
		{10_000_000, 1_000_000, 1},
		{1e10, 1_000_000, 0.001},
		{20, 5, 5},    // at least one row
		{0.5, 0, 100}, // never more than everything
	} {
		if got := samplePercent(c.reltuples, c.above); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("samplePercent(%v, %d) = %v, want %v", c.reltuples, c.above, got, c.want)
		}
	}
}

func TestByDatabase(t *testing.T) {
	t.Parallel()
	row := func(cluster, db, state string) catalog.PlacementRow {
		return catalog.PlacementRow{TenantID: uuid.New(), Cluster: cluster, Database: db, State: state, Tier: catalog.TierShared}
	}
	rows := []catalog.PlacementRow{
		row("b", "shared", catalog.PlacementReady),
		row("a", "shared", catalog.PlacementProvisioning),
		row("a", "shared", catalog.PlacementReady),
		row("a", "tenant_x", catalog.PlacementProvisioning), // nothing ready: not visited
		row("b", "shared", catalog.PlacementReady),
	}
	dbs := byDatabase(rows)
	if len(dbs) != 2 {
		t.Fatalf("%d databases, want 2", len(dbs))
	}
	if d := dbs[0]; d.cluster != "a" || d.name != "shared" || len(d.all) != 2 || len(d.ready) != 1 || d.ready[0].TenantID != rows[2].TenantID {
		t.Errorf("first database %+v, want a/shared with 2 placements, 1 ready", d)
	}
	if d := dbs[1]; d.cluster != "b" || len(d.all) != 2 || len(d.ready) != 2 {
		t.Errorf("second database %+v, want b/shared with 2 ready placements", d)
	}
}

func TestShares(t *testing.T) {
	t.Parallel()
	x, y, gone := uuid.New(), uuid.New(), uuid.New()
	tables := []table{{name: "a", size: 1000}, {name: "b", size: 300}, {name: "empty", size: 8192}}
	var a, b tupleBytes
	a.add(x, 30)
	a.add(y, 10)
	b.add(x, 10)
	b.add(gone, 20) // rows of a tenant not placed here keep their share
	got := shares(tables, []tupleBytes{a, b, {}})
	if got[x] != 750+100 || got[y] != 250 {
		t.Errorf("shares %v, want x 850, y 250", got)
	}
}
