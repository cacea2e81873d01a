package certstore_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantkit/tenantkit/internal/certstore"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

func TestMain(m *testing.M) { tenantkittest.Main(m) }

type bundle struct {
	db   *tenantkittest.Database
	pool *pgxpool.Pool
	s    *certstore.Storage
}

func setup(t *testing.T) *bundle {
	t.Helper()
	db := tenantkittest.NewCatalog(t)
	pool := newPool(t, db)
	return &bundle{db: db, pool: pool, s: newStorage(pool, "a", 0)}
}

// newPool opens a pool of its own on db, as another server instance would.
func newPool(t *testing.T, db *tenantkittest.Database) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(db.OwnerDSN())
	if err != nil {
		t.Fatal(err)
	}
	// Queries that forget their schema fail loudly.
	cfg.ConnConfig.RuntimeParams["search_path"] = ""
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// newStorage polls fast so that lock tests take little time. Its logger
// discards: refresh goroutines may log after the test has ended.
func newStorage(pool *pgxpool.Pool, owner string, ttl time.Duration) *certstore.Storage {
	return certstore.New(pool, certstore.Options{
		LockTTL:      ttl,
		PollInterval: 10 * time.Millisecond,
		Owner:        owner,
		Logger:       slog.New(slog.DiscardHandler),
	})
}

func (b *bundle) put(t *testing.T, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if err := b.s.Store(context.Background(), k, []byte("value of "+k)); err != nil {
			t.Fatal(err)
		}
	}
}

func (b *bundle) list(t *testing.T, dir string, recursive bool) []string {
	t.Helper()
	keys, err := b.s.List(context.Background(), dir, recursive)
	if err != nil {
		t.Fatalf("List(%q, %v): %v", dir, recursive, err)
	}
	return keys
}

func wantKeys(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s = %q, want %q", what, got, want)
	}
}

func TestStoreLoadStat(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	key := "certificates/acme/a.example/a.example.crt"

	if err := b.s.Store(ctx, key, []byte("first")); err != nil {
		t.Fatal(err)
	}
	first, err := b.s.Stat(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.s.Store(ctx, key, []byte("second!")); err != nil {
		t.Fatal(err)
	}
	got, err := b.s.Load(ctx, key)
	if err != nil || string(got) != "second!" {
		t.Fatalf("Load = %q, %v; want the overwritten value", got, err)
	}
	info, err := b.s.Stat(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if info.Key != key || !info.IsTerminal || info.Size != 7 || info.Modified.Before(first.Modified) {
		t.Fatalf("Stat = %+v after %+v; want a 7-byte file modified later", info, first)
	}
	if !b.s.Exists(ctx, key) {
		t.Fatal("Exists of a stored key is false")
	}

	// An empty value is a file all the same.
	if err := b.s.Store(ctx, "empty", nil); err != nil {
		t.Fatal(err)
	}
	if got, err := b.s.Load(ctx, "empty"); err != nil || len(got) != 0 {
		t.Fatalf("Load(empty) = %q, %v", got, err)
	}

	// Binary values come back byte for byte.
	bin := []byte{0, 1, 2, 0xff, '\\', '%'}
	if err := b.s.Store(ctx, "bin", bin); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.s.Load(ctx, "bin"); !bytes.Equal(got, bin) {
		t.Fatalf("Load(bin) = %v, want %v", got, bin)
	}
}

func TestMissingKeysDoNotExist(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.put(t, "acme/users/x/x.json")

	for _, key := range []string{"nope", "acme/users/y", "acme/use"} {
		if _, err := b.s.Load(ctx, key); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Load(%q) error = %v, want fs.ErrNotExist", key, err)
		}
		if _, err := b.s.Stat(ctx, key); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Stat(%q) error = %v, want fs.ErrNotExist", key, err)
		}
		for _, rec := range []bool{false, true} {
			if _, err := b.s.List(ctx, key, rec); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("List(%q, %v) error = %v, want fs.ErrNotExist", key, rec, err)
			}
		}
		if b.s.Exists(ctx, key) {
			t.Errorf("Exists(%q) = true", key)
		}
		if err := b.s.Delete(ctx, key); err != nil {
			t.Errorf("Delete(%q) = %v, want nil for a missing key", key, err)
		}
	}
	// A directory is a key to Load that does not exist.
	if _, err := b.s.Load(ctx, "acme/users"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load of a directory: %v, want fs.ErrNotExist", err)
	}
}

func TestListByPathComponents(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.put(t,
		"certificates/acme/a.example/a.example.crt",
		"certificates/acme/a.example/a.example.key",
		"certificates/acme/b.example/b.example.crt",
		"certificates/zerossl/c.example/c.example.crt",
		"certificatesX/d", // "certificates" is not a prefix of it
		"ocsp/e",
	)
	wantKeys(t, "List(certificates)", b.list(t, "certificates", false),
		"certificates/acme", "certificates/zerossl")
	wantKeys(t, "List(certificates/acme/)", b.list(t, "certificates/acme/", false),
		"certificates/acme/a.example", "certificates/acme/b.example")
	wantKeys(t, "List(certificates/acme/a.example)", b.list(t, "certificates/acme/a.example", false),
		"certificates/acme/a.example/a.example.crt", "certificates/acme/a.example/a.example.key")
	wantKeys(t, "List(certificates, recursive)", b.list(t, "certificates", true),
		"certificates/acme",
		"certificates/acme/a.example",
		"certificates/acme/a.example/a.example.crt",
		"certificates/acme/a.example/a.example.key",
		"certificates/acme/b.example",
		"certificates/acme/b.example/b.example.crt",
		"certificates/zerossl",
		"certificates/zerossl/c.example",
		"certificates/zerossl/c.example/c.example.crt",
	)
	wantKeys(t, "List(root)", b.list(t, "", false), "certificates", "certificatesX", "ocsp")
	// A file exists and has nothing below it, as in FileStorage.
	wantKeys(t, "List(a file)", b.list(t, "ocsp/e", false))
}

func TestStatDirectory(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.put(t, "dir/a", "dir/sub/b")
	newest, err := b.s.Stat(ctx, "dir/sub/b")
	if err != nil {
		t.Fatal(err)
	}
	info, err := b.s.Stat(ctx, "dir")
	if err != nil {
		t.Fatal(err)
	}
	if info.Key != "dir" || info.IsTerminal || !info.Modified.Equal(newest.Modified) {
		t.Fatalf("Stat(dir) = %+v, want a directory modified at %v", info, newest.Modified)
	}
	if !b.s.Exists(ctx, "dir/sub") {
		t.Fatal("Exists of a directory is false")
	}
}

func TestDeleteRemovesADirectory(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.put(t, "certs/a/a.crt", "certs/a/a.key", "certs/ab/ab.crt", "certs/b/b.crt")
	if err := b.s.Delete(ctx, "certs/a"); err != nil {
		t.Fatal(err)
	}
	wantKeys(t, "after Delete(certs/a)", b.list(t, "certs", true),
		"certs/ab", "certs/ab/ab.crt", "certs/b", "certs/b/b.crt")
	if err := b.s.Delete(ctx, "certs/b/b.crt"); err != nil {
		t.Fatal(err)
	}
	if b.s.Exists(ctx, "certs/b") {
		t.Fatal("a directory whose last file was deleted still exists")
	}
	if err := b.s.Delete(ctx, ""); err == nil {
		t.Fatal("Delete of the root succeeded")
	}
	wantKeys(t, "after Delete(root)", b.list(t, "", true), "certs", "certs/ab", "certs/ab/ab.crt")
}

// Keys are sanitized by certmagic to word characters, '@', '.' and '-',
// but '_' is a word character, and nothing stops another caller from
// using '%' or '\': prefix queries must take them literally.
func TestLikeMetacharactersAreLiteral(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.put(t, "a_b/1", "axb/2", "a%b/3", "aXYZb/4", `a\b/5`, "ab/6")

	wantKeys(t, "List(a_b)", b.list(t, "a_b", false), "a_b/1")
	wantKeys(t, "List(a%b)", b.list(t, "a%b", true), "a%b/3")
	wantKeys(t, `List(a\b)`, b.list(t, `a\b`, false), `a\b/5`)
	if b.s.Exists(ctx, "a%") {
		t.Fatal(`Exists("a%") = true: '%' matched "a_b/1"`)
	}
	if _, err := b.s.Stat(ctx, "a_"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Stat(a_) = %v, want fs.ErrNotExist", err)
	}
	for _, dir := range []string{"a_b", "a%b", `a\b`} {
		if err := b.s.Delete(ctx, dir); err != nil {
			t.Fatal(err)
		}
	}
	// C collation: byte order.
	wantKeys(t, "after deletes", b.list(t, "", false), "aXYZb", "ab", "axb")
}

// Two server instances share what either stores.
func TestStorageIsSharedAcrossPools(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	other := newStorage(newPool(t, b.db), "b", 0)
	b.put(t, "acme/account.json")
	got, err := other.Load(ctx, "acme/account.json")
	if err != nil || string(got) != "value of acme/account.json" {
		t.Fatalf("other instance Load = %q, %v", got, err)
	}
	if err := other.Delete(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if b.s.Exists(ctx, "acme/account.json") {
		t.Fatal("a key the other instance deleted still exists")
	}
}
