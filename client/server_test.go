package client_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantkit/tenantkit/client"
	"github.com/tenantkit/tenantkit/internal/adminapi"
	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/contract"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

// TestMain fails the package when an operation of the admin API's
// contract got no validated answer: the client's tests reach every route.
func TestMain(m *testing.M) { tenantkittest.Main(contract.Covering(m)) }

// token is the admin token of every test server.
const token = "client-test-token-0123456789"

// newServer starts the admin API that cfg configures, over HTTP, until the
// test ends. It fills in an empty Store with a catalog of the test's own,
// an empty Token with token and an empty Logger with a discarding one.
//
// Every test server of the package is made here, so that what is true of
// one (the checks wrapped around its handler, say) is true of all.
func newServer(t testing.TB, cfg adminapi.Config) *httptest.Server {
	t.Helper()
	if cfg.Store == nil {
		cfg.Store, _ = newCatalog(t)
	}
	if cfg.Token == "" {
		cfg.Token = token
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	api, err := adminapi.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Every exchange is held to api/openapi.yaml.
	ts := httptest.NewServer(contract.Handler(t, api.Handler()))
	t.Cleanup(ts.Close)
	return ts
}

// newCatalog gives the test a migrated catalog of its own, and the pool
// the store uses, whose queries must name their schema.
func newCatalog(t testing.TB) (*catalog.Store, *pgxpool.Pool) {
	t.Helper()
	db := tenantkittest.NewCatalog(t)
	cfg, err := pgxpool.ParseConfig(db.OwnerDSN())
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = ""
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	store, err := catalog.NewStore(catalog.StoreConfig{Pool: pool})
	if err != nil {
		t.Fatal(err)
	}
	return store, pool
}

// bundle is what a test of the client needs: a client of a real admin API,
// and the catalog behind it.
type bundle struct {
	c     *client.Client
	url   string
	store *catalog.Store
	pool  *pgxpool.Pool
}

// setup starts an admin API over a catalog of the test's own; opts adjust
// its Config. The client acts as "test".
func setup(t *testing.T, opts ...func(*adminapi.Config)) bundle {
	t.Helper()
	store, pool := newCatalog(t)
	cfg := adminapi.Config{Store: store}
	for _, o := range opts {
		o(&cfg)
	}
	ts := newServer(t, cfg)
	return bundle{c: newClient(t, client.Config{BaseURL: ts.URL}), url: ts.URL, store: store, pool: pool}
}

// newClient returns a client of cfg, with token and actor "test" unless
// cfg says otherwise.
func newClient(t testing.TB, cfg client.Config) *client.Client {
	t.Helper()
	if cfg.Token == "" {
		cfg.Token = token
	}
	if cfg.Actor == "" {
		cfg.Actor = "test"
	}
	c, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
