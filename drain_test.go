package tenantkit_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantkit/tenantkit"
	"github.com/tenantkit/tenantkit/internal/bus"
)

// TestDrainNoticeReleasesIdleBindings: a listening Kit that hears a
// cutover's drain notice gives up its idle connections' bindings to that
// tenant itself — the sessions live on, nobody ended them — runs the
// tenant's work unbound while the drain lasts, and binds again once it is
// withdrawn. (Shown failing once with the Kit's sweep removed: the idle
// binding stayed until the drain lapsed.)
func TestDrainNoticeReleasesIdleBindings(t *testing.T) {
	t.Parallel()
	p := acmeAndGlobex(t)
	kit := p.ListeningKit(t, tenantkit.Config{ConnBudget: 1, PoolSize: 1})
	acme := p.Scoped(t, kit, "acme")
	tn, _ := tenantkit.FromContext(acme)
	var pid int
	if err := kit.QueryRow(acme, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	if _, bound := p.Bindings(t, tn.ID)[pid]; !bound {
		t.Fatal("the connection is not bound to acme after its first statement")
	}
	notice := func(seconds float64) {
		t.Helper()
		err := p.Store().Publish(context.Background(), bus.Message{Tenant: tn.ID.String(), DrainEpoch: tn.Placement.Epoch + 1,
			DrainSeconds: seconds})
		if err != nil {
			t.Fatal(err)
		}
	}
	notice(60)
	waitFor(t, 10*time.Second, func() bool { return len(p.Bindings(t, tn.ID)) == 0 })
	super, err := pgx.Connect(context.Background(), p.Catalog.Server.SuperuserURL(p.SharedDatabase))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Catalog.Server.CloseAndWait(t, super)
	var alive bool
	if err := super.QueryRow(context.Background(), "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE pid = $1)", pid).Scan(&alive); err != nil || !alive {
		t.Fatalf("the released session was ended (%v): the Kit should have released it", err)
	}
	var again int
	if err := kit.QueryRow(acme, "SELECT pg_backend_pid()").Scan(&again); err != nil {
		t.Fatal(err)
	}
	if n := len(p.Bindings(t, tn.ID)); again != pid || n != 0 {
		t.Fatalf("during the drain: ran on %d (was %d), %d sessions bound", again, pid, n)
	}
	notice(0.001) // withdrawn
	waitFor(t, 10*time.Second, func() bool {
		if err := kit.QueryRow(acme, "SELECT 1").Scan(new(int)); err != nil {
			t.Fatal(err)
		}
		_, bound := p.Bindings(t, tn.ID)[pid]
		return bound
	})
}
