package storage_test

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/tenantkit/tenantkit/internal/integration"
	"github.com/tenantkit/tenantkit/internal/storage"
)

// world is one storage that many tenants share.
type world struct {
	// bucket is tenant's Bucket on the storage.
	bucket func(t *testing.T, tenant uuid.UUID) storage.Bucket
	// stored lists every object path on the storage, whichever tenant
	// wrote it: file paths under the root for local, keys for s3.
	stored func(t *testing.T) []string
	// home is the path prefix under which everything of tenant must sit.
	home func(tenant uuid.UUID) string
}

func localWorld(t *testing.T) world {
	root := t.TempDir()
	return world{
		bucket: func(t *testing.T, tenant uuid.UUID) storage.Bucket {
			return newBucket(t, storage.ProviderLocal, integration.Config{Tenant: tenant, Settings: map[string]string{"root": root}})
		},
		stored: func(t *testing.T) []string { return filesUnder(t, root) },
		home:   func(tenant uuid.UUID) string { return tenant.String() + "/" },
	}
}

// filesUnder lists the regular files under dir, as slash-separated paths
// relative to it.
func filesUnder(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		out = append(out, filepath.ToSlash(rel))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func s3World(t *testing.T) world {
	srv := startS3(t)
	return world{
		bucket: func(t *testing.T, tenant uuid.UUID) storage.Bucket {
			return newBucket(t, storage.ProviderS3, srv.config(tenant, nil))
		},
		stored: srv.keys,
		home:   func(tenant uuid.UUID) string { return "tenants/" + tenant.String() + "/" },
	}
}

// TestBucketConformance runs the same behaviour against both providers:
// local over a temporary directory, s3 against a real S3 gateway
// (versitygw) started for the test.
func TestBucketConformance(t *testing.T) {
	t.Parallel()
	worlds := []struct {
		name string
		make func(t *testing.T) world
	}{{"local", localWorld}, {"s3", s3World}}
	cases := []struct {
		name string
		run  func(t *testing.T, w world)
	}{
		{"PutGet", testPutGet},
		{"Overwrite", testOverwrite},
		{"UnknownSize", testUnknownSize},
		{"DefaultContentType", testDefaultContentType},
		{"ShortBody", testShortBody},
		{"NotFound", testNotFound},
		{"Delete", testDelete},
		{"List", testList},
		{"Confinement", testConfinement},
		{"InvalidKeys", testInvalidKeys},
		{"Tester", testTester},
	}
	for _, wc := range worlds {
		t.Run(wc.name, func(t *testing.T) {
			t.Parallel()
			w := wc.make(t)
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					c.run(t, w)
				})
			}
		})
	}
}

func put(t *testing.T, b storage.Bucket, key, body, contentType string) {
	t.Helper()
	if err := b.Put(context.Background(), key, strings.NewReader(body), int64(len(body)), contentType); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func get(t *testing.T, b storage.Bucket, key string) (string, storage.Object) {
	t.Helper()
	rc, obj, err := b.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	defer rc.Close()
	body, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %q: %v", key, err)
	}
	return string(body), obj
}

func keysOf(objs []storage.Object) []string {
	out := make([]string, len(objs))
	for i, o := range objs {
		out[i] = o.Key
	}
	return out
}

func testPutGet(t *testing.T, w world) {
	b := w.bucket(t, uuid.New())
	put(t, b, "docs/2024/report.pdf", "%PDF-1.7 not really", "application/pdf")
	body, obj := get(t, b, "docs/2024/report.pdf")
	if body != "%PDF-1.7 not really" {
		t.Fatalf("body %q", body)
	}
	if obj.Key != "docs/2024/report.pdf" || obj.Size != int64(len(body)) || obj.ContentType != "application/pdf" || obj.ModTime.IsZero() {
		t.Fatalf("object %+v", obj)
	}
}

func testOverwrite(t *testing.T, w world) {
	b := w.bucket(t, uuid.New())
	put(t, b, "a.txt", "first version", "text/plain")
	put(t, b, "a.txt", "second", "text/markdown")
	body, obj := get(t, b, "a.txt")
	if body != "second" || obj.Size != 6 || obj.ContentType != "text/markdown" {
		t.Fatalf("got %q %+v", body, obj)
	}
}

func testUnknownSize(t *testing.T, w world) {
	b := w.bucket(t, uuid.New())
	want := bytes.Repeat([]byte("0123456789"), 1000)
	if err := b.Put(context.Background(), "blob", io.MultiReader(bytes.NewReader(want)), -1, "application/x-test"); err != nil {
		t.Fatal(err)
	}
	body, obj := get(t, b, "blob")
	if body != string(want) || obj.Size != int64(len(want)) {
		t.Fatalf("got %d bytes, object %+v", len(body), obj)
	}
}

func testDefaultContentType(t *testing.T, w world) {
	b := w.bucket(t, uuid.New())
	put(t, b, "raw", "x", "")
	if _, obj := get(t, b, "raw"); obj.ContentType != "application/octet-stream" {
		t.Fatalf("content type %q", obj.ContentType)
	}
}

func testShortBody(t *testing.T, w world) {
	b := w.bucket(t, uuid.New())
	if err := b.Put(context.Background(), "short", strings.NewReader("12345"), 10, "text/plain"); err == nil {
		t.Fatal("Put of 5 bytes announced as 10 succeeded")
	}
	_, _, err := b.Get(context.Background(), "short")
	mustErrIs(t, err, storage.ErrNotFound)
}

func testNotFound(t *testing.T, w world) {
	b := w.bucket(t, uuid.New())
	_, _, err := b.Get(context.Background(), "nothing/here")
	mustErrIs(t, err, storage.ErrNotFound)
	put(t, b, "dir/file", "x", "text/plain")
	// A folder of keys is not an object.
	_, _, err = b.Get(context.Background(), "dir")
	mustErrIs(t, err, storage.ErrNotFound)
}

func testDelete(t *testing.T, w world) {
	ctx := context.Background()
	b := w.bucket(t, uuid.New())
	put(t, b, "x/y/z", "zz", "text/plain")
	put(t, b, "x/keep", "k", "text/plain")
	if err := b.Delete(ctx, "x/y/z"); err != nil {
		t.Fatal(err)
	}
	_, _, err := b.Get(ctx, "x/y/z")
	mustErrIs(t, err, storage.ErrNotFound)
	if err := b.Delete(ctx, "x/y/z"); err != nil {
		t.Fatalf("deleting a missing key: %v", err)
	}
	objs, err := b.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := keysOf(objs); !slices.Equal(got, []string{"x/keep"}) {
		t.Fatalf("after delete: %q", got)
	}
	// The key of a deleted folder can hold an object again.
	put(t, b, "x/y", "now a file", "text/plain")
	if body, _ := get(t, b, "x/y"); body != "now a file" {
		t.Fatalf("body %q", body)
	}
}

func testList(t *testing.T, w world) {
	ctx := context.Background()
	b := w.bucket(t, uuid.New())
	for _, k := range []string{"b/c/d", "ab", "a/2", "a/1", "a-z"} {
		put(t, b, k, "data of "+k, "text/plain")
	}
	for _, c := range []struct {
		prefix string
		want   []string
	}{
		{"", []string{"a-z", "a/1", "a/2", "ab", "b/c/d"}},
		{"a", []string{"a-z", "a/1", "a/2", "ab"}},
		{"a/", []string{"a/1", "a/2"}},
		{"a/1", []string{"a/1"}},
		{"b/c/", []string{"b/c/d"}},
		{"b/c/d", []string{"b/c/d"}},
		{"zzz", []string{}},
		{"b/x/", []string{}},
	} {
		objs, err := b.List(ctx, c.prefix)
		if err != nil {
			t.Fatalf("List(%q): %v", c.prefix, err)
		}
		if got := keysOf(objs); !slices.Equal(got, c.want) {
			t.Errorf("List(%q) = %q, want %q", c.prefix, got, c.want)
		}
		for _, o := range objs {
			if o.Size != int64(len("data of "+o.Key)) || o.ModTime.IsZero() {
				t.Errorf("List(%q): %+v", c.prefix, o)
			}
		}
	}
}

// testConfinement: a tenant's Bucket neither sees nor touches another
// tenant's objects, and everything it writes lands in its own part.
func testConfinement(t *testing.T, w world) {
	ctx := context.Background()
	idA, idB := uuid.New(), uuid.New()
	a, b := w.bucket(t, idA), w.bucket(t, idB)
	put(t, a, "private/secret.txt", "A's secret", "text/plain")
	put(t, b, "mine.txt", "B's", "text/plain")

	objs, err := b.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := keysOf(objs); !slices.Equal(got, []string{"mine.txt"}) {
		t.Fatalf("B lists %q", got)
	}
	if objs, _ := b.List(ctx, "private/"); len(objs) != 0 {
		t.Fatalf("B lists A's folder: %+v", objs)
	}
	_, _, err = b.Get(ctx, "private/secret.txt")
	mustErrIs(t, err, storage.ErrNotFound)
	if err := b.Delete(ctx, "private/secret.txt"); err != nil {
		t.Fatal(err)
	}
	if body, _ := get(t, a, "private/secret.txt"); body != "A's secret" {
		t.Fatalf("A's object changed: %q", body)
	}
	// Keys that would climb out to A's part are refused.
	for _, key := range []string{
		"../" + idA.String() + "/objects/private/secret.txt",
		"../../tenants/" + idA.String() + "/private/secret.txt",
		"../" + idA.String() + "/private/secret.txt",
	} {
		_, _, err := b.Get(ctx, key)
		mustErrIs(t, err, storage.ErrInvalidKey)
		err = b.Put(ctx, key, strings.NewReader("overwritten"), 11, "text/plain")
		mustErrIs(t, err, storage.ErrInvalidKey)
		mustErrIs(t, b.Delete(ctx, key), storage.ErrInvalidKey)
		_, err = b.List(ctx, key)
		mustErrIs(t, err, storage.ErrInvalidKey)
	}
	if body, _ := get(t, a, "private/secret.txt"); body != "A's secret" {
		t.Fatalf("A's object changed: %q", body)
	}
	for _, p := range w.stored(t) {
		if strings.Contains(p, idA.String()) && !strings.HasPrefix(p, w.home(idA)) ||
			strings.Contains(p, idB.String()) && !strings.HasPrefix(p, w.home(idB)) {
			t.Errorf("stored outside its tenant's part: %q", p)
		}
	}
}

func testInvalidKeys(t *testing.T, w world) {
	ctx := context.Background()
	id := uuid.New()
	b := w.bucket(t, id)
	// Every refused key names "escaped" or "passwd", which no other test
	// writes, so a store that took one would show it.
	for _, key := range []string{"", "/etc/passwd", "..", "../escaped", "a/../../escaped", "../../../escaped",
		"a/./escaped", "a//escaped", "escaped/", `a\escaped`, `..\escaped`, "a\x00escaped", "a\nescaped", "a\x7fescaped", "a\u0085escaped"} {
		err := b.Put(ctx, key, strings.NewReader("x"), 1, "text/plain")
		mustErrIs(t, err, storage.ErrInvalidKey)
		_, _, err = b.Get(ctx, key)
		mustErrIs(t, err, storage.ErrInvalidKey)
		mustErrIs(t, b.Delete(ctx, key), storage.ErrInvalidKey)
	}
	for _, prefix := range []string{"/", "../", "a//", "..", `a\`, "a\x00"} {
		_, err := b.List(ctx, prefix)
		mustErrIs(t, err, storage.ErrInvalidKey)
	}
	for _, p := range w.stored(t) {
		if strings.HasPrefix(p, w.home(id)) || strings.Contains(p, "escaped") || strings.Contains(p, "passwd") {
			t.Errorf("a refused key was stored: %q", p)
		}
	}
}

func testTester(t *testing.T, w world) {
	b := w.bucket(t, uuid.New())
	tester, ok := b.(integration.Tester)
	if !ok {
		t.Fatalf("%T is no integration.Tester", b)
	}
	if err := tester.Test(context.Background()); err != nil {
		t.Fatal(err)
	}
}
