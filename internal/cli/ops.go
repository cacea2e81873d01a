package cli

import (
	"context"
	"errors"
	"os"
	"os/user"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/tenantkit/tenantkit/internal/adminapi"
	"github.com/tenantkit/tenantkit/internal/billing"
	"github.com/tenantkit/tenantkit/internal/bus"
	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/placement"
	"github.com/tenantkit/tenantkit/internal/registry"
	"github.com/tenantkit/tenantkit/internal/settings"
)

// tenantOps is what the tenants commands need, served either by the
// catalog directly or by a server's admin API.
type tenantOps interface {
	CreateTenant(ctx context.Context, p catalog.CreateParams) (catalog.Tenant, error)
	ListTenants(ctx context.Context, p catalog.ListParams) (catalog.Page, error)
	GetTenant(ctx context.Context, ref string) (catalog.Tenant, error)
	UpdateTenant(ctx context.Context, ref string, p catalog.UpdateParams) (catalog.Tenant, error)
	SuspendTenant(ctx context.Context, ref, reason string) (catalog.Tenant, error)
	ResumeTenant(ctx context.Context, ref string) (catalog.Tenant, error)
	DeleteTenant(ctx context.Context, ref string) (catalog.Tenant, error)
	PlaceTenant(ctx context.Context, ref string, pp catalog.PlaceParams) (catalog.Placement, error)
	PurgeTenant(ctx context.Context, ref string) (catalog.Tenant, error)
}

var errNoTarget = errors.New("no catalog or server given: set TENANTKIT_DATABASE_URL (or --database-url), or --server with --token")

// connect returns the ops for the flags: --server wins over the database.
func connect(ctx context.Context, g *globals) (tenantOps, func(), error) {
	if g.server != "" {
		if g.token == "" {
			return nil, nil, usageError{errors.New("--server needs --token (or TENANTKIT_ADMIN_TOKEN)")}
		}
		c, err := newAPIOps(g.server, g.token, cliActor())
		if err != nil {
			return nil, nil, usageError{err}
		}
		return c, func() {}, nil
	}
	if g.databaseURL == "" {
		return nil, nil, usageError{errNoTarget}
	}
	pool, err := pgxpool.New(ctx, g.databaseURL)
	if err != nil {
		return nil, nil, usageError{errors.New("bad database URL: " + err.Error())}
	}
	closers := []func(){pool.Close}
	var after func(context.Context, bus.Message)
	if g.redisURL != "" {
		r, err := bus.NewRedis(bus.RedisConfig{URL: g.redisURL})
		if err != nil {
			pool.Close()
			return nil, nil, usageError{err}
		}
		closers = append(closers, func() { _ = r.Close() })
		after = func(ctx context.Context, m bus.Message) { _ = r.Publish(ctx, m) }
	}
	if _, err := g.stripe(); err != nil {
		pool.Close()
		return nil, nil, err
	}
	// Stripe is reached for only by the commands that bill, and the
	// platform keyring is read for its key only then.
	stripe := sync.OnceValues(func() (*billing.Billing, error) {
		if _, err := g.billingFromKeyring(ctx, pool, "-"); err != nil {
			return nil, err
		}
		return g.stripe()
	})
	check := func(ctx context.Context, pb catalog.PlanBilling) error {
		b, err := stripe()
		if b == nil {
			return err
		}
		return b.CheckPrices(ctx, pb)
	}
	store, err := catalog.NewStore(catalog.StoreConfig{Pool: pool, AfterCommitFunc: after, PlanCheck: check})
	if err != nil {
		pool.Close()
		return nil, nil, err
	}
	closeAll := func() {
		for _, c := range closers {
			c()
		}
	}
	ops := directOps{store: store, stripe: stripe, pool: pool, actor: cliActor()}
	if g.migrations != "" {
		fsys, err := migrationsFS(g.migrations)
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		if ops.prov, err = placement.New(placement.Config{Store: store, Migrations: fsys, Logger: discardLogger()}); err != nil {
			closeAll()
			return nil, nil, err
		}
	}
	return ops, closeAll, nil
}

func cliActor() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "cli:" + u.Username
	}
	if h, err := os.Hostname(); err == nil {
		return "cli@" + h
	}
	return "cli"
}

// directOps runs tenant operations against the catalog, with the same
// errors as the admin API.
type directOps struct {
	store *catalog.Store
	// stripe is the platform's Stripe, from the environment or the
	// platform keyring; nil with billing off.
	stripe func() (*billing.Billing, error)
	// pool is the catalog's, which store uses too.
	pool  *pgxpool.Pool
	prov  *placement.Provisioner // nil without --migrations
	actor string
	// schema validates settings; nil without --settings-schema, or
	// outside the settings commands.
	schema *settings.Schema
	// registry serves integrations; nil without --key-file, or outside
	// the integrations commands.
	registry *registry.Registry
	// jobs is a client of the catalog's jobs queue; nil outside the jobs
	// commands.
	jobs *river.Client[pgx.Tx]
}

var errNoMigrations = usageError{errors.New("placing tenant data needs the application's migrations: --migrations DIR (or TENANTKIT_MIGRATIONS)")}

func (d directOps) PlaceTenant(ctx context.Context, ref string, pp catalog.PlaceParams) (catalog.Placement, error) {
	if d.prov == nil {
		return catalog.Placement{}, errNoMigrations
	}
	pl, err := d.prov.Place(ctx, d.actor, ref, pp)
	return pl, problemErr(err)
}

func (d directOps) PurgeTenant(ctx context.Context, ref string) (catalog.Tenant, error) {
	if d.prov == nil {
		return catalog.Tenant{}, errNoMigrations
	}
	if err := d.prov.Deprovision(ctx, d.actor, ref); err != nil {
		return catalog.Tenant{}, problemErr(err)
	}
	if err := d.store.ShredTenant(ctx, d.actor, ref); err != nil {
		return catalog.Tenant{}, problemErr(err)
	}
	return d.DeleteTenant(ctx, ref)
}

func problemErr(err error) error {
	if err == nil {
		return nil
	}
	p := adminapi.ProblemFor(err)
	if p.Kind() == "internal" {
		return err // the user's own catalog: show the cause
	}
	return p
}

func (d directOps) CreateTenant(ctx context.Context, p catalog.CreateParams) (catalog.Tenant, error) {
	t, err := d.store.CreateTenant(ctx, d.actor, p)
	return t, problemErr(err)
}

func (d directOps) ListTenants(ctx context.Context, p catalog.ListParams) (catalog.Page, error) {
	page, err := d.store.ListTenants(ctx, p)
	return page, problemErr(err)
}

func (d directOps) GetTenant(ctx context.Context, ref string) (catalog.Tenant, error) {
	t, err := d.store.GetTenant(ctx, ref)
	return t, problemErr(err)
}

func (d directOps) UpdateTenant(ctx context.Context, ref string, p catalog.UpdateParams) (catalog.Tenant, error) {
	t, err := d.store.UpdateTenant(ctx, d.actor, ref, p)
	return t, problemErr(err)
}

func (d directOps) SuspendTenant(ctx context.Context, ref, reason string) (catalog.Tenant, error) {
	t, err := d.store.SuspendTenant(ctx, d.actor, ref, reason)
	return t, problemErr(err)
}

func (d directOps) ResumeTenant(ctx context.Context, ref string) (catalog.Tenant, error) {
	t, err := d.store.ResumeTenant(ctx, d.actor, ref)
	return t, problemErr(err)
}

func (d directOps) DeleteTenant(ctx context.Context, ref string) (catalog.Tenant, error) {
	t, err := d.store.DeleteTenant(ctx, d.actor, ref)
	return t, problemErr(err)
}
