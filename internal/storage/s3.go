package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/s3utils"

	"github.com/tenantkit/tenantkit/internal/integration"
)

func s3Spec() integration.Spec {
	return integration.Spec{
		Type:        integration.Storage,
		Provider:    ProviderS3,
		Description: "Amazon S3 or an S3-compatible service; each tenant's objects live under <prefix>tenants/<tenant-id>/ unless the bucket is the tenant's own.",
		Credentials: []integration.Field{
			{Name: "access_key_id", Required: true, Description: "Access key id."},
			{Name: "secret_access_key", Required: true, Description: "Secret access key."},
		},
		Settings: []integration.Field{
			{Name: "endpoint", Description: "URL of an S3-compatible service, such as https://s3.example.com:9000; empty for Amazon S3."},
			{Name: "region", Required: true, Description: "Region of the bucket, such as eu-west-1."},
			{Name: "bucket", Required: true, Description: "Bucket name."},
			{Name: "prefix", Description: "Key prefix under which everything is kept, such as app/; empty for the whole bucket."},
			{Name: "path_style", Description: "true to address the bucket in the URL path, false for a virtual host; empty lets the client choose (virtual host for Amazon S3, path for other endpoints)."},
			{Name: "tenant_bucket", Description: "true when the bucket is the tenant's own: objects then sit directly under prefix, without tenants/<tenant-id>/. Defaults to false."},
		},
	}
}

// S3Bucket keeps one tenant's objects in an S3-compatible bucket, under
// <prefix>tenants/<tenant-id>/, or under <prefix> when the bucket is the
// tenant's own (setting tenant_bucket). It speaks S3 through minio-go,
// a client made for S3-compatible services: one option sets the endpoint,
// path-style addressing and the region, and its errors carry the S3 code.
type S3Bucket struct {
	client *minio.Client
	bucket string
	// base is the full key prefix of the tenant's objects: empty or ending
	// with "/".
	base string
	r    *redactor
}

func newS3(cfg integration.Config) (bucket, error) {
	s := cfg.Settings
	host, secure, err := s3Endpoint(setting(s, "endpoint"))
	if err != nil {
		return nil, err
	}
	bucketName := setting(s, "bucket")
	if err := s3utils.CheckValidBucketNameStrict(bucketName); err != nil {
		return nil, invalidSetting(ProviderS3, "bucket", "is not a valid bucket name")
	}
	lookup, err := s3Lookup(setting(s, "path_style"))
	if err != nil {
		return nil, err
	}
	base, err := s3Base(cfg, setting(s, "prefix"), setting(s, "tenant_bucket"))
	if err != nil {
		return nil, err
	}
	opts := &minio.Options{
		Creds:        credentials.NewStaticV4(strings.TrimSpace(cfg.Credentials["access_key_id"]), strings.TrimSpace(cfg.Credentials["secret_access_key"]), ""),
		Secure:       secure,
		Region:       setting(s, "region"),
		BucketLookup: lookup,
	}
	if cfg.HTTPClient != nil && cfg.HTTPClient.Transport != nil {
		opts.Transport = cfg.HTTPClient.Transport
	}
	client, err := minio.New(host, opts)
	if err != nil {
		return nil, invalidSetting(ProviderS3, "endpoint", "is not usable: "+err.Error())
	}
	return &S3Bucket{client: client, bucket: bucketName, base: base, r: newRedactor(cfg.Credentials)}, nil
}

// s3Endpoint parses the endpoint setting into a host[:port] and whether to
// use TLS; empty means Amazon S3.
func s3Endpoint(raw string) (host string, secure bool, err error) {
	if raw == "" {
		return "s3.amazonaws.com", true, nil
	}
	if !strings.Contains(raw, "://") {
		raw = "https://" + raw
	}
	u, perr := url.Parse(raw)
	if perr != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.User != nil {
		return "", false, invalidSetting(ProviderS3, "endpoint", "must be an http(s) URL with no path")
	}
	return u.Host, u.Scheme == "https", nil
}

func s3Lookup(raw string) (minio.BucketLookupType, error) {
	if raw == "" {
		return minio.BucketLookupAuto, nil
	}
	path, err := strconv.ParseBool(raw)
	switch {
	case err != nil:
		return 0, invalidSetting(ProviderS3, "path_style", "must be true or false")
	case path:
		return minio.BucketLookupPath, nil
	default:
		return minio.BucketLookupDNS, nil
	}
}

// s3Base is the prefix every key of the tenant gets.
func s3Base(cfg integration.Config, prefix, tenantBucket string) (string, error) {
	if prefix != "" {
		if err := checkPrefix(prefix); err != nil {
			return "", invalidSetting(ProviderS3, "prefix", "is not a valid key prefix")
		}
		prefix = strings.TrimSuffix(prefix, "/") + "/"
	}
	own := false
	if tenantBucket != "" {
		var err error
		if own, err = strconv.ParseBool(tenantBucket); err != nil {
			return "", invalidSetting(ProviderS3, "tenant_bucket", "must be true or false")
		}
	}
	if own {
		return prefix, nil
	}
	return prefix + "tenants/" + cfg.Tenant.String() + "/", nil
}

func (b *S3Bucket) String() string {
	return fmt.Sprintf("storage.S3Bucket{endpoint: %q, bucket: %q, prefix: %q}", b.client.EndpointURL().Host, b.bucket, b.base)
}

// Format prints the bucket as String does, whatever the verb, so no
// formatting of it reaches the client and its credentials.
func (b *S3Bucket) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, b.String()) }

// fail turns a client error into one without credentials: a *ProviderError
// for an S3 error response, wrapping ErrNotFound for a missing key.
func (b *S3Bucket) fail(op, key string, err error) error {
	var er minio.ErrorResponse
	if !errors.As(err, &er) || er.Code == "" && er.StatusCode == 0 {
		if key != "" {
			err = fmt.Errorf("storage s3: %s %q: %w", op, key, err)
		} else {
			err = fmt.Errorf("storage s3: %s: %w", op, err)
		}
		return b.r.error(err)
	}
	if er.Code == minio.NoSuchKey {
		return fmt.Errorf("%w: %q", ErrNotFound, key)
	}
	return &ProviderError{Provider: ProviderS3, Op: op, Key: key, Status: er.StatusCode,
		Code: b.r.excerpt(er.Code), Message: b.r.excerpt(er.Message)}
}

// Put implements Bucket.
func (b *S3Bucket) Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	if size < -1 {
		return b.fail("put", key, fmt.Errorf("size %d is negative", size))
	}
	if contentType == "" {
		contentType = defaultContentType
	}
	_, err := b.client.PutObject(ctx, b.bucket, b.base+key, r, size, minio.PutObjectOptions{ContentType: contentType})
	if err != nil {
		return b.fail("put", key, err)
	}
	return nil
}

// Get implements Bucket.
func (b *S3Bucket) Get(ctx context.Context, key string) (io.ReadCloser, Object, error) {
	if err := CheckKey(key); err != nil {
		return nil, Object{}, err
	}
	o, err := b.client.GetObject(ctx, b.bucket, b.base+key, minio.GetObjectOptions{})
	if err != nil {
		return nil, Object{}, b.fail("get", key, err)
	}
	info, err := o.Stat()
	if err != nil {
		o.Close()
		return nil, Object{}, b.fail("get", key, err)
	}
	obj := Object{Key: key, Size: info.Size, ContentType: info.ContentType, ModTime: info.LastModified}
	return &object{rc: o, key: key, r: b.r}, obj, nil
}

// Delete implements Bucket.
func (b *S3Bucket) Delete(ctx context.Context, key string) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	if err := b.client.RemoveObject(ctx, b.bucket, b.base+key, minio.RemoveObjectOptions{}); err != nil {
		return b.fail("delete", key, err)
	}
	return nil
}

// List implements Bucket.
func (b *S3Bucket) List(ctx context.Context, prefix string) ([]Object, error) {
	if err := checkPrefix(prefix); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the lister when we return early
	out := []Object{}
	for info := range b.client.ListObjects(ctx, b.bucket, minio.ListObjectsOptions{Prefix: b.base + prefix, Recursive: true}) {
		if info.Err != nil {
			return nil, b.fail("list", prefix, info.Err)
		}
		key, ok := strings.CutPrefix(info.Key, b.base)
		if !ok || strings.HasSuffix(key, "/") {
			continue // a folder marker, not an object
		}
		out = append(out, Object{Key: key, Size: info.Size, ModTime: info.LastModified})
	}
	return out, nil
}

// Test checks the credentials with a HEAD request on the bucket, which
// changes nothing.
func (b *S3Bucket) Test(ctx context.Context) error {
	ok, err := b.client.BucketExists(ctx, b.bucket)
	if err != nil {
		return b.fail("test", "", err)
	}
	if !ok {
		return &ProviderError{Provider: ProviderS3, Op: "test", Status: 404, Code: minio.NoSuchBucket,
			Message: fmt.Sprintf("bucket %q does not exist", b.bucket)}
	}
	return nil
}
