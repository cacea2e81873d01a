package storage_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/tenantkit/tenantkit/internal/integration"
	"github.com/tenantkit/tenantkit/internal/storage"
)

// TestS3 runs against a real S3 gateway (versitygw) started for the test.
func TestS3(t *testing.T) {
	t.Parallel()
	srv := startS3(t)
	ctx := context.Background()

	t.Run("TenantPrefixUnderConfiguredPrefix", func(t *testing.T) {
		t.Parallel()
		id := uuid.New()
		b := newBucket(t, storage.ProviderS3, srv.config(id, map[string]string{"prefix": "app/v1"}))
		put(t, b, "docs/a.txt", "a", "text/plain")
		want := "app/v1/tenants/" + id.String() + "/docs/a.txt"
		if keys := srv.keys(t); !slices.Contains(keys, want) {
			t.Fatalf("%q not among %q", want, keys)
		}
		objs, err := b.List(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		if got := keysOf(objs); !slices.Equal(got, []string{"docs/a.txt"}) {
			t.Fatalf("List = %q", got)
		}
	})

	t.Run("TenantBucket", func(t *testing.T) {
		t.Parallel()
		b := newBucket(t, storage.ProviderS3, srv.config(uuid.New(), map[string]string{"prefix": "own/", "tenant_bucket": "true"}))
		put(t, b, "b.txt", "b", "text/plain")
		if keys := srv.keys(t); !slices.Contains(keys, "own/b.txt") {
			t.Fatalf("own/b.txt not among %q", keys)
		}
		if body, _ := get(t, b, "b.txt"); body != "b" {
			t.Fatalf("body %q", body)
		}
	})

	t.Run("WrongSecretIsUnauthorized", func(t *testing.T) {
		t.Parallel()
		cfg := srv.config(uuid.New(), nil)
		cfg.Credentials["secret_access_key"] = "wrong-secret-" + uuid.NewString()
		b := newBucket(t, storage.ProviderS3, cfg)
		errs := []error{b.(integration.Tester).Test(ctx), b.Put(ctx, "x", strings.NewReader("x"), 1, "text/plain")}
		_, err := b.List(ctx, "")
		errs = append(errs, err)
		for _, err := range errs {
			mustErrIs(t, err, storage.ErrUnauthorized)
			if strings.Contains(err.Error(), cfg.Credentials["secret_access_key"]) || strings.Contains(err.Error(), srv.access) {
				t.Fatalf("the error shows a credential: %v", err)
			}
		}
	})

	t.Run("MissingBucketFailsTest", func(t *testing.T) {
		t.Parallel()
		b := newBucket(t, storage.ProviderS3, srv.config(uuid.New(), map[string]string{"bucket": "no-such-bucket"}))
		err := b.(integration.Tester).Test(ctx)
		if err == nil || !strings.Contains(err.Error(), "no-such-bucket") {
			t.Fatalf("Test = %v", err)
		}
	})
}

func TestS3Config(t *testing.T) {
	t.Parallel()
	creds := map[string]string{"access_key_id": "AKIAEXAMPLEKEY", "secret_access_key": "s3cr3t-value"}
	base := map[string]string{"region": "eu-west-1", "bucket": "tenant-files"}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		if v == "" {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	for _, c := range []struct {
		creds    map[string]string
		settings map[string]string
		want     string
	}{
		{map[string]string{"access_key_id": "AKIAEXAMPLEKEY"}, base, `credential "secret_access_key" is required`},
		{creds, with("bucket", ""), `setting "bucket" is required`},
		{creds, with("region", ""), `setting "region" is required`},
		{creds, with("bucket", "Not_A_Bucket"), `setting "bucket" is not a valid bucket name`},
		{creds, with("endpoint", "ftp://files.example"), `setting "endpoint" must be an http(s) URL`},
		{creds, with("endpoint", "https://s3.example/some/path"), `setting "endpoint" must be an http(s) URL`},
		{creds, with("path_style", "sometimes"), `setting "path_style" must be true or false`},
		{creds, with("tenant_bucket", "yes please"), `setting "tenant_bucket" must be true or false`},
		{creds, with("prefix", "../up"), `setting "prefix" is not a valid key prefix`},
	} {
		_, err := storage.New(storage.ProviderS3, integration.Config{Tenant: uuid.New(), Credentials: c.creds, Settings: c.settings})
		mustErrIs(t, err, integration.ErrInvalidConfig)
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v lacks %q", err, c.want)
		}
		if strings.Contains(err.Error(), "s3cr3t-value") || strings.Contains(err.Error(), "AKIAEXAMPLEKEY") {
			t.Errorf("the error shows a credential: %v", err)
		}
	}
	b, err := storage.New(storage.ProviderS3, integration.Config{Tenant: uuid.New(), Credentials: creds, Settings: base})
	if err != nil {
		t.Fatalf("Amazon S3 defaults: %v", err)
	}
	if _, ok := b.(integration.Tester); !ok {
		t.Fatalf("%T is no integration.Tester", b)
	}
}
