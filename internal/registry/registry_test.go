package registry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/integration"
	"github.com/tenantkit/tenantkit/internal/keys"
	"github.com/tenantkit/tenantkit/internal/registry"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

func TestMain(m *testing.M) { tenantkittest.Main(m) }

// The secrets of the tests: none may ever show up in the catalog, an
// error, a view or the audit log.
var (
	secretA = tenantkittest.Secret("sk_live_tenantA_0123456789abcdef")
	secretB = tenantkittest.Secret("sk_live_tenantB_fedcba9876543210")
)

// probe is the test provider: it keeps the config it was built from.
type probe struct{ cfg integration.Config }

func (p *probe) Test(context.Context) error {
	if p.cfg.Credentials["api_key"] == "wrong" {
		return errors.New("provider says 401 unauthorized")
	}
	return nil
}

func probeKind() registry.Kind {
	return registry.Kind{
		Specs: func() []integration.Spec {
			return []integration.Spec{{Type: integration.Email, Provider: "probe",
				Credentials: []integration.Field{{Name: "api_key", Required: true}, {Name: "extra"}},
				Settings:    []integration.Field{{Name: "region"}}}}
		},
		New: func(provider string, cfg integration.Config) (any, error) { return &probe{cfg}, nil },
	}
}

type bundle struct {
	db      *tenantkittest.Database
	pool    *pgxpool.Pool
	store   *catalog.Store
	keyring *keys.Keyring
	reg     *registry.Registry
	queries *tenantkittest.QueryCounter
}

func setup(t testing.TB) *bundle {
	t.Helper()
	ctx := context.Background()
	b := &bundle{db: tenantkittest.NewCatalog(t), queries: &tenantkittest.QueryCounter{}}
	cfg, err := pgxpool.ParseConfig(b.db.OwnerDSN())
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.Tracer = b.queries
	if b.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.pool.Close)
	if b.store, err = catalog.NewStore(catalog.StoreConfig{Pool: b.pool}); err != nil {
		t.Fatal(err)
	}
	kek, err := keys.LocalKEK(keys.LocalConfig{Path: filepath.Join(t.TempDir(), "kek.json"), Create: true})
	if err != nil {
		t.Fatal(err)
	}
	if b.keyring, err = keys.NewKeyring(keys.KeyringConfig{Store: b.store.Keys(), KEKs: []keys.KEK{kek}}); err != nil {
		t.Fatal(err)
	}
	b.reg, err = registry.New(registry.Config{
		Store: b.store, Cipher: registry.KeyringCipher{Keyring: b.keyring},
		Kinds:    map[integration.Type]registry.Kind{integration.Email: probeKind()},
		Defaults: map[integration.Type]registry.Default{integration.Email: {Provider: "probe", Credentials: map[string]string{"api_key": "platform-key-000000"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, slug := range []string{"acme", "globex"} {
		if _, err := b.store.CreateTenant(ctx, "test", catalog.CreateParams{Slug: slug, Name: slug}); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

func (b *bundle) set(t *testing.T, slug, secret string) registry.View {
	t.Helper()
	v, err := b.reg.Set(context.Background(), "test", slug, registry.SetParams{
		Type: integration.Email, Provider: "probe", Credentials: map[string]string{"api_key": secret}, Settings: map[string]string{"region": "eu"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// noSecrets fails when any text holds a secret.
func noSecrets(t *testing.T, where string, texts ...string) {
	t.Helper()
	for _, s := range texts {
		for _, secret := range []string{secretA, secretB} {
			if strings.Contains(s, secret) {
				t.Fatalf("%s shows a secret: %s", where, s)
			}
		}
	}
}

func TestCatalogHoldsOnlyCiphertextAndViewsAreMasked(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	v := b.set(t, "acme", secretA)
	if v.Credentials["api_key"] != "••••cdef" || v.Source != registry.SourceTenant {
		t.Fatalf("view %+v", v)
	}
	var creds, audit, wrapped []byte
	if err := b.pool.QueryRow(ctx, "SELECT credentials::text::bytea FROM tenantkit.integrations").Scan(&creds); err != nil {
		t.Fatal(err)
	}
	if err := b.pool.QueryRow(ctx, "SELECT string_agg(coalesce(after::text, ''), ' ')::bytea FROM tenantkit.audit_log").Scan(&audit); err != nil {
		t.Fatal(err)
	}
	if err := b.pool.QueryRow(ctx, "SELECT string_agg(wrapped, ''::bytea) FROM tenantkit.tenant_keys").Scan(&wrapped); err != nil {
		t.Fatal(err)
	}
	var stored map[string][]byte
	if err := json.Unmarshal(creds, &stored); err != nil || len(stored["api_key"]) == 0 {
		t.Fatalf("stored credentials %s: %v", creds, err)
	}
	for what, blob := range map[string][]byte{"credentials": creds, "decoded ciphertext": stored["api_key"], "audit": audit, "wrapped keys": wrapped} {
		if bytes.Contains(blob, []byte(secretA)) {
			t.Fatalf("the catalog's %s hold the secret", what)
		}
	}
	if !strings.Contains(string(audit), `"api_key": "set"`) {
		t.Fatalf("audit does not say which credential was set: %s", audit)
	}
	shown, err := b.reg.Show(ctx, "acme", integration.Email)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(shown)
	noSecrets(t, "Show", string(out))
}

func TestSetRefusesBadConfigurationsAndWritesNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	for _, p := range []registry.SetParams{
		{Type: integration.Email, Provider: "carrier-pigeon", Credentials: map[string]string{"api_key": secretA}},
		{Type: integration.Email, Provider: "probe", Credentials: map[string]string{"extra": secretA}},
		{Type: integration.Email, Provider: "probe", Credentials: map[string]string{"api_key": secretA, "pin": secretB}},
		{Type: "fax", Provider: "probe"},
	} {
		_, err := b.reg.Set(ctx, "test", "acme", p)
		if !errors.Is(err, registry.ErrUnknownProvider) && !errors.Is(err, integration.ErrInvalidConfig) && !errors.Is(err, registry.ErrUnknownType) {
			t.Fatalf("%+v: %v", p, err)
		}
		noSecrets(t, "the refusal", err.Error())
	}
	var n int
	if err := b.pool.QueryRow(ctx, "SELECT count(*) FROM tenantkit.integrations").Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d integrations written by refused sets (%v)", n, err)
	}
}

func TestResolveTenantOrPlatformAndWarmLookupsSendNoQuery(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.set(t, "acme", secretA)
	acme, _ := b.store.GetTenant(ctx, "acme")
	globex, _ := b.store.GetTenant(ctx, "globex")
	r, err := b.reg.Resolve(ctx, acme.ID, acme.Slug, integration.Email)
	if err != nil || r.Source != registry.SourceTenant || r.Name != "probe" || r.Provider.(*probe).cfg.Credentials["api_key"] != secretA || r.Provider.(*probe).cfg.Settings["region"] != "eu" {
		t.Fatalf("acme resolves to %+v: %v", r, err)
	}
	r, err = b.reg.Resolve(ctx, globex.ID, globex.Slug, integration.Email)
	if err != nil || r.Source != registry.SourcePlatform || r.Provider.(*probe).cfg.Credentials["api_key"] != "platform-key-000000" {
		t.Fatalf("globex resolves to %+v: %v", r, err)
	}
	before := b.queries.N()
	for range 100 {
		if _, err := b.reg.Resolve(ctx, acme.ID, acme.Slug, integration.Email); err != nil {
			t.Fatal(err)
		}
	}
	if n := b.queries.N() - before; n != 0 {
		t.Fatalf("100 warm lookups sent %d queries", n)
	}
	// Changing the settings keeps the stored credential.
	if _, err := b.reg.Set(ctx, "test", "acme", registry.SetParams{Type: integration.Email, Provider: "probe", Settings: map[string]string{"region": "us"}}); err != nil {
		t.Fatal(err)
	}
	r, err = b.reg.Resolve(ctx, acme.ID, acme.Slug, integration.Email)
	if err != nil || r.Provider.(*probe).cfg.Credentials["api_key"] != secretA || r.Provider.(*probe).cfg.Settings["region"] != "us" {
		t.Fatalf("after a settings change: %+v %v", r, err)
	}
	if _, err := b.reg.Test(ctx, "acme", integration.Email); err != nil {
		t.Fatal(err)
	}
	b.set(t, "globex", "wrong")
	_, err = b.reg.Test(ctx, "globex", integration.Email)
	if !errors.Is(err, registry.ErrTestFailed) {
		t.Fatalf("test with a wrong key: %v", err)
	}
}

// TestS1CiphertextMovedToAnotherTenantFailsToDecrypt copies acme's stored
// credential into globex's row: it must not decrypt as globex's.
func TestS1CiphertextMovedToAnotherTenantFailsToDecrypt(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.set(t, "acme", secretA)
	b.set(t, "globex", secretB)
	if _, err := b.pool.Exec(ctx, `UPDATE tenantkit.integrations SET credentials =
		(SELECT credentials FROM tenantkit.integrations i JOIN tenantkit.tenants t ON t.id = i.tenant_id WHERE t.slug = 'acme')
		WHERE tenant_id = (SELECT id FROM tenantkit.tenants WHERE slug = 'globex')`); err != nil {
		t.Fatal(err)
	}
	b.reg.Reset()
	globex, _ := b.store.GetTenant(ctx, "globex")
	_, err := b.reg.Resolve(ctx, globex.ID, globex.Slug, integration.Email)
	if err == nil {
		t.Fatal("acme's credential decrypted as globex's")
	}
	noSecrets(t, "the decrypt error", err.Error())
	// And between fields of one tenant.
	if _, err := b.pool.Exec(ctx, `UPDATE tenantkit.integrations
		SET credentials = jsonb_build_object('extra', credentials->'api_key', 'api_key', credentials->'api_key')`); err != nil {
		t.Fatal(err)
	}
	b.reg.Reset()
	acme, _ := b.store.GetTenant(ctx, "acme")
	if _, err := b.reg.Resolve(ctx, acme.ID, acme.Slug, integration.Email); err == nil {
		t.Fatal("api_key's ciphertext decrypted as field extra")
	}
}

// TestS2ShreddedTenantsCredentialsCannotBeRead: after the tenant's data
// key is destroyed, its stored credentials cannot be read, by this keyring
// or a fresh one.
func TestS2ShreddedTenantsCredentialsCannotBeRead(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.set(t, "acme", secretA)
	acme, _ := b.store.GetTenant(ctx, "acme")
	if err := b.keyring.Shred(ctx, acme.ID); err != nil {
		t.Fatal(err)
	}
	b.reg.Reset()
	_, err := b.reg.Resolve(ctx, acme.ID, acme.Slug, integration.Email)
	if !errors.Is(err, keys.ErrKeyDestroyed) && !errors.Is(err, keys.ErrNoKey) {
		t.Fatalf("after shredding: %v", err)
	}
	var n int
	if err := b.pool.QueryRow(ctx, "SELECT count(*) FROM tenantkit.tenant_keys WHERE tenant_id = $1", acme.ID).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d keys left after shredding (%v)", n, err)
	}
}

// BenchmarkResolveWarm is an integration lookup for a warm tenant: the
// provider built from its decrypted credentials, from memory. It reports
// the catalog queries per lookup, which must be 0.
func BenchmarkResolveWarm(b *testing.B) {
	bn := setup(b)
	ctx := context.Background()
	if _, err := bn.reg.Set(ctx, "test", "acme", registry.SetParams{Type: integration.Email, Provider: "probe",
		Credentials: map[string]string{"api_key": secretA}}); err != nil {
		b.Fatal(err)
	}
	acme, err := bn.store.GetTenant(ctx, "acme")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := bn.reg.Resolve(ctx, acme.ID, acme.Slug, integration.Email); err != nil {
		b.Fatal(err)
	}
	before := bn.queries.N()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := bn.reg.Resolve(ctx, acme.ID, acme.Slug, integration.Email); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(bn.queries.N()-before)/float64(b.N), "queries/op")
}

// TestS3RotationUnderLoadOnTheCatalog: while readers decrypt (no key
// cache, so every read unwraps from the catalog) and writers replace
// credentials, the operator rotates the local key-encryption key and
// re-wraps every data key — as `tenantkit keys rotate` does. No read or
// write fails, every key ends wrapped by the new KEK, and every tenant's
// last credential reads back.
func TestS3RotationUnderLoadOnTheCatalog(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	keyFile := filepath.Join(t.TempDir(), "rot.json")
	kek, err := keys.LocalKEK(keys.LocalConfig{Path: keyFile, Create: true})
	if err != nil {
		t.Fatal(err)
	}
	uncached, err := keys.NewKeyring(keys.KeyringConfig{Store: b.store.Keys(), KEKs: []keys.KEK{kek}, CacheTTL: -1})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.New(registry.Config{Store: b.store, Cipher: registry.KeyringCipher{Keyring: uncached},
		Kinds: map[integration.Type]registry.Kind{integration.Email: probeKind()}})
	if err != nil {
		t.Fatal(err)
	}
	const tenants = 8
	slugs := make([]string, tenants)
	for i := range slugs {
		slugs[i] = fmt.Sprintf("t%02d", i)
		if _, err := b.store.CreateTenant(ctx, "test", catalog.CreateParams{Slug: slugs[i], Name: slugs[i]}); err != nil {
			t.Fatal(err)
		}
		v := fmt.Sprintf("key-%d-0", i)
		if _, err := reg.Set(ctx, "test", slugs[i], registry.SetParams{Type: integration.Email, Provider: "probe", Credentials: map[string]string{"api_key": v}}); err != nil {
			t.Fatal(err)
		}
	}
	var (
		wg       sync.WaitGroup
		failures atomic.Int64
		firstErr atomic.Value
		stop     = make(chan struct{})
	)
	fail := func(err error) { failures.Add(1); firstErr.CompareAndSwap(nil, err) }
	for w := range 4 { // readers
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ { // until the rotation is done
				select {
				case <-stop:
					return
				default:
				}
				n := (i + w) % tenants
				tn, _ := b.store.GetTenant(ctx, slugs[n])
				reg.Invalidate(tn.ID)
				if _, err := reg.Resolve(ctx, tn.ID, tn.Slug, integration.Email); err != nil {
					fail(err)
				}
			}
		}()
	}
	for w := range 2 { // writers
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 1; i <= 60; i++ {
				n := (i*3 + w) % tenants
				v := fmt.Sprintf("key-%d-%d-%d", n, w, i)
				if _, err := reg.Set(ctx, "test", slugs[n], registry.SetParams{Type: integration.Email, Provider: "probe",
					Credentials: map[string]string{"api_key": v}}); err != nil {
					fail(err)
					continue
				}
			}
		}()
	}
	// The operator's rotation, from another "process": its own view of
	// the key file and its own keyring.
	op, err := keys.LocalKEK(keys.LocalConfig{Path: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	before := op.ID()
	if err := op.Rotate(); err != nil {
		t.Fatal(err)
	}
	opRing, err := keys.NewKeyring(keys.KeyringConfig{Store: b.store.Keys(), KEKs: []keys.KEK{op}, RewrapPageSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	res, err := opRing.RewrapAll(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	if n := failures.Load(); n != 0 {
		t.Fatalf("%d reads or writes failed during the rotation, first: %v", n, firstErr.Load())
	}
	if res, err = opRing.RewrapAll(ctx, nil); err != nil || res.Remaining != 0 {
		t.Fatalf("second pass: %+v %v", res, err)
	}
	total, by, err := b.store.Keys().CountKeys(ctx, op.ID())
	if err != nil || total == 0 || by != total || op.ID() == before {
		t.Fatalf("after rotation %d of %d keys wrapped by %s (was %s): %v", by, total, op.ID(), before, err)
	}
	for _, slug := range slugs {
		tn, _ := b.store.GetTenant(ctx, slug)
		reg.Invalidate(tn.ID)
		r, err := reg.Resolve(ctx, tn.ID, tn.Slug, integration.Email)
		if err != nil || !strings.HasPrefix(r.Provider.(*probe).cfg.Credentials["api_key"], "key-") {
			t.Fatalf("%s after rotation: %+v %v", slug, r, err)
		}
	}
}
