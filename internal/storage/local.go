package storage

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/tenantkit/tenantkit/internal/integration"
)

// The parts of a tenant's directory: the objects by key, their metadata by
// key, and files being written.
const (
	dirObjects = "objects"
	dirMeta    = "meta"
	dirTmp     = "tmp"
)

const defaultContentType = "application/octet-stream"

func localSpec() integration.Spec {
	return integration.Spec{
		Type:        integration.Storage,
		Provider:    ProviderLocal,
		Description: "A directory on the server's disk; each tenant's objects live under root/<tenant-id>/.",
		Settings: []integration.Field{
			{Name: "root", Required: true, Description: "Absolute path of the directory that holds every tenant's directory."},
		},
	}
}

// LocalBucket keeps one tenant's objects under root/<tenant-id>/ on the
// local disk. Every operation goes through an os.Root opened on the
// tenant's directory, so no key and no symbolic link found there reaches
// outside it. An object "a/b" is the file objects/a/b, its content type
// sits in meta/a/b, and writes land in tmp/ first and are renamed into
// place, so a reader sees a whole object or none. As on a file system, and
// unlike S3, a key cannot be both an object and the folder of others
// ("a" and "a/b").
type LocalBucket struct {
	root   string
	tenant string // the tenant's directory: its id
}

func newLocal(cfg integration.Config) (bucket, error) {
	root := setting(cfg.Settings, "root")
	if !filepath.IsAbs(root) {
		return nil, invalidSetting(ProviderLocal, "root", "must be an absolute path")
	}
	return &LocalBucket{root: filepath.Clean(root), tenant: cfg.Tenant.String()}, nil
}

func (b *LocalBucket) String() string {
	return fmt.Sprintf("storage.LocalBucket{root: %q, tenant: %s}", b.root, b.tenant)
}

// Format prints the bucket as String does, whatever the verb.
func (b *LocalBucket) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, b.String()) }

// open returns the tenant's directory as an os.Root; create makes it (and
// its parts) when missing.
func (b *LocalBucket) open(create bool) (*os.Root, error) {
	top, err := os.OpenRoot(b.root)
	if err != nil {
		return nil, err
	}
	defer top.Close()
	if create {
		for _, d := range []string{dirObjects, dirMeta, dirTmp} {
			if err := top.MkdirAll(path.Join(b.tenant, d), 0o700); err != nil {
				return nil, err
			}
		}
	}
	return top.OpenRoot(b.tenant)
}

func (b *LocalBucket) fail(op, key string, err error) error {
	if key == "" {
		return fmt.Errorf("storage local: %s: %w", op, err)
	}
	return fmt.Errorf("storage local: %s %q: %w", op, key, err)
}

// missing reports whether err says a path (or one of its parents) is not there.
func missing(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// Put implements Bucket.
func (b *LocalBucket) Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	if size < -1 {
		return b.fail("put", key, fmt.Errorf("size %d is negative", size))
	}
	if err := ctx.Err(); err != nil {
		return b.fail("put", key, err)
	}
	if contentType == "" {
		contentType = defaultContentType
	}
	tr, err := b.open(true)
	if err != nil {
		return b.fail("put", key, err)
	}
	defer tr.Close()
	data, err := writeTemp(ctx, tr, r, size)
	if err != nil {
		return b.fail("put", key, err)
	}
	defer tr.Remove(data) // fails harmlessly once renamed
	m, _ := json.Marshal(localMeta{ContentType: contentType})
	meta, err := writeTemp(ctx, tr, bytes.NewReader(m), int64(len(m)))
	if err != nil {
		return b.fail("put", key, err)
	}
	defer tr.Remove(meta)
	if err := place(tr, meta, path.Join(dirMeta, key)); err != nil {
		return b.fail("put", key, err)
	}
	if err := place(tr, data, path.Join(dirObjects, key)); err != nil {
		return b.fail("put", key, err)
	}
	return nil
}

type localMeta struct {
	ContentType string `json:"content_type"`
}

// writeTemp copies size bytes of r (all of it for -1) to a new file in
// tmp/ and returns its name.
func writeTemp(ctx context.Context, tr *os.Root, r io.Reader, size int64) (string, error) {
	name := path.Join(dirTmp, rand.Text())
	f, err := tr.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	src := io.Reader(ctxReader{ctx, r})
	if size >= 0 {
		src = io.LimitReader(src, size)
	}
	n, err := io.Copy(f, src)
	if err == nil && size >= 0 && n != size {
		err = fmt.Errorf("body ended after %d of %d bytes", n, size)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = tr.Remove(name)
		return "", err
	}
	return name, nil
}

// ctxReader stops a copy when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// place renames tmp to target, making target's folder. An empty folder
// where the object goes (left when its keys were deleted) is removed, and
// a folder removed by a concurrent Delete is made again, once.
func place(tr *os.Root, tmp, target string) error {
	if err := tr.MkdirAll(path.Dir(target), 0o700); err != nil {
		return err
	}
	err := tr.Rename(tmp, target)
	if err == nil {
		return nil
	}
	if fi, serr := tr.Lstat(target); serr == nil && fi.IsDir() {
		if tr.Remove(target) != nil {
			return errors.New("the key is the folder of other keys")
		}
	} else if !missing(err) {
		return err
	}
	if err := tr.MkdirAll(path.Dir(target), 0o700); err != nil {
		return err
	}
	return tr.Rename(tmp, target)
}

// Get implements Bucket.
func (b *LocalBucket) Get(ctx context.Context, key string) (io.ReadCloser, Object, error) {
	if err := CheckKey(key); err != nil {
		return nil, Object{}, err
	}
	if err := ctx.Err(); err != nil {
		return nil, Object{}, b.fail("get", key, err)
	}
	tr, err := b.open(false)
	if err != nil {
		return nil, Object{}, b.notFoundOr("get", key, err)
	}
	defer tr.Close()
	f, err := tr.Open(path.Join(dirObjects, key))
	if err != nil {
		return nil, Object{}, b.notFoundOr("get", key, err)
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, Object{}, b.notFoundOr("get", key, err)
	}
	obj := Object{Key: key, Size: fi.Size(), ModTime: fi.ModTime(), ContentType: readContentType(tr, key)}
	return &object{rc: f, key: key, r: newRedactor(nil)}, obj, nil
}

// notFoundOr wraps ErrNotFound when err is nil (not a regular file) or says
// the path is missing, and err otherwise.
func (b *LocalBucket) notFoundOr(op, key string, err error) error {
	if err == nil || missing(err) {
		return fmt.Errorf("%w: %q", ErrNotFound, key)
	}
	return b.fail(op, key, err)
}

func readContentType(tr *os.Root, key string) string {
	raw, err := tr.ReadFile(path.Join(dirMeta, key))
	if err != nil {
		return defaultContentType
	}
	var m localMeta
	if json.Unmarshal(raw, &m) != nil || m.ContentType == "" {
		return defaultContentType
	}
	return m.ContentType
}

// Delete implements Bucket.
func (b *LocalBucket) Delete(ctx context.Context, key string) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return b.fail("delete", key, err)
	}
	tr, err := b.open(false)
	if err != nil {
		if missing(err) {
			return nil
		}
		return b.fail("delete", key, err)
	}
	defer tr.Close()
	for _, part := range []string{dirObjects, dirMeta} {
		if err := removeFile(tr, path.Join(part, key)); err != nil {
			return b.fail("delete", key, err)
		}
		prune(tr, part, key)
	}
	return nil
}

// removeFile removes name unless it is missing or a folder (no object).
func removeFile(tr *os.Root, name string) error {
	fi, err := tr.Lstat(name)
	switch {
	case missing(err):
		return nil
	case err != nil:
		return err
	case fi.IsDir():
		return nil
	}
	if err := tr.Remove(name); err != nil && !missing(err) {
		return err
	}
	return nil
}

// prune removes the folders of key that are left empty, deepest first.
func prune(tr *os.Root, part, key string) {
	for d := path.Dir(key); d != "."; d = path.Dir(d) {
		if tr.Remove(path.Join(part, d)) != nil {
			return
		}
	}
}

// List implements Bucket.
func (b *LocalBucket) List(ctx context.Context, prefix string) ([]Object, error) {
	if err := checkPrefix(prefix); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, b.fail("list", prefix, err)
	}
	tr, err := b.open(false)
	if err != nil {
		if missing(err) {
			return []Object{}, nil
		}
		return nil, b.fail("list", prefix, err)
	}
	defer tr.Close()
	start := dirObjects
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		start = path.Join(dirObjects, prefix[:i])
	}
	out := []Object{}
	walk := func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == start && missing(err) {
				return fs.SkipAll
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		key := strings.TrimPrefix(p, dirObjects+"/")
		if d.IsDir() {
			if p != start && !strings.HasPrefix(key+"/", prefix) && !strings.HasPrefix(prefix, key+"/") {
				return fs.SkipDir
			}
			return nil
		}
		// Symbolic links are not objects: List never follows one.
		if !d.Type().IsRegular() || !strings.HasPrefix(key, prefix) {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil // deleted since the folder was read
		}
		out = append(out, Object{Key: key, Size: fi.Size(), ModTime: fi.ModTime()})
		return nil
	}
	if err := fs.WalkDir(tr.FS(), start, walk); err != nil {
		return nil, b.fail("list", prefix, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// Test checks that the tenant's directory can be made and written to: it
// writes a small file in tmp/ and removes it.
func (b *LocalBucket) Test(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return b.fail("test", "", err)
	}
	tr, err := b.open(true)
	if err != nil {
		return b.fail("test", "", err)
	}
	defer tr.Close()
	name, err := writeTemp(ctx, tr, strings.NewReader("ok"), 2)
	if err != nil {
		return b.fail("test", "", err)
	}
	if err := tr.Remove(name); err != nil {
		return b.fail("test", "", err)
	}
	return nil
}
