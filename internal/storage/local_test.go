package storage_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/tenantkit/tenantkit/internal/integration"
	"github.com/tenantkit/tenantkit/internal/storage"
)

// localSetup is a local Bucket of a new tenant over a temporary root, with
// a directory outside the root holding a file no tenant may reach.
type localSetup struct {
	root    string
	tenant  string // the tenant's directory under root
	outside string // a directory outside root
	bucket  storage.Bucket
}

const outsideSecret = "outside the root"

func setupLocal(t *testing.T) localSetup {
	t.Helper()
	s := localSetup{root: t.TempDir(), outside: t.TempDir()}
	id := uuid.New()
	s.tenant = filepath.Join(s.root, id.String())
	s.bucket = newBucket(t, storage.ProviderLocal, integration.Config{Tenant: id, Settings: map[string]string{"root": s.root}})
	if err := os.WriteFile(filepath.Join(s.outside, "secret.txt"), []byte(outsideSecret), 0o600); err != nil {
		t.Fatal(err)
	}
	return s
}

// plant makes a symbolic link at name (under the tenant's directory)
// pointing to target.
func (s localSetup) plant(t *testing.T, name, target string) {
	t.Helper()
	link := filepath.Join(s.tenant, name)
	if err := os.MkdirAll(filepath.Dir(link), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// outsideFiles lists what is in the outside directory.
func (s localSetup) outsideFiles(t *testing.T) []string {
	t.Helper()
	return filesUnder(t, s.outside)
}

func TestLocalSymlinkOutOfRootIsNotFollowed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, target := range []func(s localSetup) string{
		func(s localSetup) string { return s.outside }, // absolute
		func(s localSetup) string {
			rel, _ := filepath.Rel(filepath.Join(s.tenant, "objects"), s.outside)
			return rel
		}, // relative, climbing out
	} {
		s := setupLocal(t)
		put(t, s.bucket, "ok.txt", "fine", "text/plain")
		s.plant(t, "objects/evil", target(s))
		s.plant(t, "objects/evil.txt", filepath.Join(target(s), "secret.txt"))

		for _, key := range []string{"evil/secret.txt", "evil.txt"} {
			rc, _, err := s.bucket.Get(ctx, key)
			if err == nil {
				rc.Close()
				t.Fatalf("Get(%q) followed a link out of the root", key)
			}
		}
		if err := s.bucket.Put(ctx, "evil/planted.txt", strings.NewReader("x"), 1, "text/plain"); err == nil {
			t.Fatal("Put through a link out of the root succeeded")
		}
		_ = s.bucket.Delete(ctx, "evil/secret.txt") // may fail or do nothing; checked below
		_ = s.bucket.Delete(ctx, "evil.txt")
		objs, err := s.bucket.List(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		if got := keysOf(objs); !slices.Equal(got, []string{"ok.txt"}) {
			t.Fatalf("List shows %q", got)
		}
		if objs, err := s.bucket.List(ctx, "evil/"); err == nil && len(objs) != 0 {
			t.Fatalf("List(evil/) shows %+v", objs)
		}
		if got := s.outsideFiles(t); !slices.Equal(got, []string{"secret.txt"}) {
			t.Fatalf("outside now holds %q", got)
		}
		if b, err := os.ReadFile(filepath.Join(s.outside, "secret.txt")); err != nil || string(b) != outsideSecret {
			t.Fatalf("outside file changed: %q, %v", b, err)
		}
	}
}

// A link in a tenant's directory to another tenant's directory (inside
// the shared root, outside the tenant's own) is refused too.
func TestLocalSymlinkToAnotherTenantIsNotFollowed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	root := t.TempDir()
	idA, idB := uuid.New(), uuid.New()
	a := newBucket(t, storage.ProviderLocal, integration.Config{Tenant: idA, Settings: map[string]string{"root": root}})
	b := newBucket(t, storage.ProviderLocal, integration.Config{Tenant: idB, Settings: map[string]string{"root": root}})
	put(t, a, "secret.txt", "A's", "text/plain")
	put(t, b, "mine.txt", "B's", "text/plain")
	if err := os.Symlink(filepath.Join("..", "..", idA.String(), "objects"), filepath.Join(root, idB.String(), "objects", "a")); err != nil {
		t.Fatal(err)
	}
	if rc, _, err := b.Get(ctx, "a/secret.txt"); err == nil {
		rc.Close()
		t.Fatal("B read A's object through a link")
	}
	if err := b.Put(ctx, "a/secret.txt", strings.NewReader("B's now"), 7, "text/plain"); err == nil {
		t.Fatal("B overwrote A's object through a link")
	}
	if body, _ := get(t, a, "secret.txt"); body != "A's" {
		t.Fatalf("A's object is %q", body)
	}
}

// The tenant's directory itself replaced by a link out of the root.
func TestLocalTenantDirectoryLinkIsNotFollowed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := setupLocal(t)
	if err := os.Symlink(s.outside, s.tenant); err != nil {
		t.Fatal(err)
	}
	if err := s.bucket.Put(ctx, "x.txt", strings.NewReader("x"), 1, "text/plain"); err == nil {
		t.Fatal("Put through a linked tenant directory succeeded")
	}
	if rc, _, err := s.bucket.Get(ctx, "secret.txt"); err == nil {
		rc.Close()
		t.Fatal("Get through a linked tenant directory succeeded")
	}
	if err := s.bucket.(integration.Tester).Test(ctx); err == nil {
		t.Fatal("Test passed on a linked tenant directory")
	}
	if got := s.outsideFiles(t); !slices.Equal(got, []string{"secret.txt"}) {
		t.Fatalf("outside now holds %q", got)
	}
}

// A link that stays inside the tenant's directory is an alias, as on any
// file system.
func TestLocalSymlinkInsideTenantWorks(t *testing.T) {
	t.Parallel()
	s := setupLocal(t)
	put(t, s.bucket, "real/file.txt", "here", "text/plain")
	s.plant(t, "objects/alias", "real")
	if body, _ := get(t, s.bucket, "alias/file.txt"); body != "here" {
		t.Fatalf("body %q", body)
	}
}

func TestLocalLayout(t *testing.T) {
	t.Parallel()
	s := setupLocal(t)
	put(t, s.bucket, "a/b.txt", "data", "text/plain")
	got, err := os.ReadFile(filepath.Join(s.tenant, "objects", "a", "b.txt"))
	if err != nil || string(got) != "data" {
		t.Fatalf("objects/a/b.txt: %q, %v", got, err)
	}
	if err := s.bucket.Delete(context.Background(), "a/b.txt"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(s.tenant, "objects", "a")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the emptied folder stays: %v", err)
	}
	if tmp, _ := os.ReadDir(filepath.Join(s.tenant, "tmp")); len(tmp) != 0 {
		t.Fatalf("tmp/ keeps %d files", len(tmp))
	}
}

func TestLocalTestFailsOnAMissingRoot(t *testing.T) {
	t.Parallel()
	root := filepath.Join(t.TempDir(), "missing")
	b := newBucket(t, storage.ProviderLocal, integration.Config{Tenant: uuid.New(), Settings: map[string]string{"root": root}})
	if err := b.(integration.Tester).Test(context.Background()); err == nil {
		t.Fatal("Test passed on a missing root")
	}
	if _, err := os.Stat(root); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Test made the root: %v", err)
	}
}

func TestLocalConfig(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		settings map[string]string
		want     string
	}{
		{map[string]string{}, `setting "root" is required`},
		{map[string]string{"root": "relative/dir"}, `setting "root" must be an absolute path`},
		{map[string]string{"root": "/srv", "bucket": "x"}, `setting "bucket" is not one local takes`},
	} {
		_, err := storage.New(storage.ProviderLocal, integration.Config{Settings: c.settings})
		mustErrIs(t, err, integration.ErrInvalidConfig)
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v lacks %q", err, c.want)
		}
	}
}

func TestUnknownProvider(t *testing.T) {
	t.Parallel()
	_, err := storage.New("ftp", integration.Config{})
	mustErrIs(t, err, storage.ErrUnknownProvider)
}

func TestSpecs(t *testing.T) {
	t.Parallel()
	var names []string
	for _, s := range storage.Specs() {
		if s.Type != integration.Storage || s.Description == "" {
			t.Errorf("spec %+v", s)
		}
		names = append(names, s.Provider)
	}
	if !slices.Equal(names, []string{"local", "s3"}) {
		t.Fatalf("providers %q", names)
	}
}
