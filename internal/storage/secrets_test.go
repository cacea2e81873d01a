package storage_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/tenantkit/tenantkit/internal/integration"
	"github.com/tenantkit/tenantkit/internal/storage"
)

// echoingS3 is a deliberately failing S3 endpoint: it refuses every
// request and puts the credentials (and the request's Authorization
// header) into its error's code and message, as a careless or hostile
// service might.
func echoingS3(t *testing.T, secrets ...string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		w.Header().Set("X-Echo", strings.Join(secrets, ","))
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>Denied-%s</Code><Message>refused %s; you sent %s</Message><Resource>%s</Resource><RequestId>%s</RequestId></Error>`,
			secrets[0], strings.Join(secrets, " and "), r.Header.Get("Authorization"), r.URL.Path, secrets[1])
	}))
	t.Cleanup(srv.Close)
	return srv
}

// formatted is every way a value may end up in a log or a message.
func formatted(vs ...any) string {
	var b strings.Builder
	for _, v := range vs {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%d", "%x"} {
			fmt.Fprintf(&b, verb+"\n", v)
		}
		if err, ok := v.(error); ok {
			for e := errors.Unwrap(err); e != nil; e = errors.Unwrap(e) {
				fmt.Fprintf(&b, "%v %+v %#v\n", e, e, e)
			}
		}
		slog.New(slog.NewTextHandler(&b, nil)).Info("value", "v", v)
		slog.New(slog.NewJSONHandler(&b, nil)).Info("value", "v", v)
	}
	return b.String()
}

func assertNoSecret(t *testing.T, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		for _, form := range []string{s, fmt.Sprintf("%x", s)} {
			if strings.Contains(text, form) {
				t.Fatalf("a credential shows in:\n%s", text)
			}
		}
	}
}

func TestS3NeverShowsCredentials(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	access, secret := "AKIAECHOEDACCESSKEY1", "echoed/Secret+Key=v4lue"
	srv := echoingS3(t, access, secret)
	b := newBucket(t, storage.ProviderS3, integration.Config{Tenant: uuid.New(),
		Credentials: map[string]string{"access_key_id": access, "secret_access_key": secret},
		Settings:    map[string]string{"endpoint": srv.URL, "region": "us-east-1", "bucket": "bkt", "path_style": "true"}})

	var values []any
	values = append(values, b)
	values = append(values, b.(integration.Tester).Test(ctx))
	values = append(values, b.Put(ctx, "k", strings.NewReader("body"), 4, "text/plain"))
	rc, obj, err := b.Get(ctx, "k")
	values = append(values, rc, obj, err)
	objs, err := b.List(ctx, "")
	values = append(values, objs, err)
	values = append(values, b.Delete(ctx, "k"))
	for i, v := range values[1:] {
		if i != 2 && i != 3 && i != 5 && v == nil { // rc, obj and objs may be empty; errors may not
			t.Fatalf("value %d: the failing provider returned no error", i+1)
		}
	}
	if !errors.Is(values[1].(error), storage.ErrUnauthorized) {
		t.Fatalf("Test = %v, want ErrUnauthorized", values[1])
	}
	// The provider's words are kept, less the credentials.
	if err := values[2].(error); !strings.Contains(err.Error(), "refused [redacted] and [redacted]") {
		t.Fatalf("Put = %v", err)
	}
	assertNoSecret(t, formatted(values...), access, secret)

	// A configuration refused in New shows none either.
	_, err = storage.New(storage.ProviderS3, integration.Config{
		Credentials: map[string]string{"access_key_id": access, "secret_access_key": secret},
		Settings:    map[string]string{"endpoint": "gopher://" + secret, "region": "r", "bucket": "b"}})
	if err == nil {
		t.Fatal("New took a gopher endpoint")
	}
	assertNoSecret(t, formatted(err), access, secret)
}

// A working bucket and what it returns print no credential either.
func TestS3BucketPrintsNoCredentials(t *testing.T) {
	t.Parallel()
	srv := startS3(t)
	b := newBucket(t, storage.ProviderS3, srv.config(uuid.New(), nil))
	put(t, b, "k", "v", "text/plain")
	rc, obj, err := b.Get(context.Background(), "k")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var buf bytes.Buffer
	buf.WriteString(formatted(b, rc, obj))
	assertNoSecret(t, buf.String(), srv.access, srv.secret)
	if !strings.Contains(fmt.Sprint(b), srv.bucket) {
		t.Fatalf("%v does not name its bucket", b)
	}
}
