package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tenantkit/tenantkit/internal/integration"
)

// Sentinel errors.
var (
	// ErrUnknownProvider is returned by New for a provider it does not know.
	ErrUnknownProvider = errors.New("storage: unknown provider")
	// ErrNotFound is wrapped by Get's error when the key holds no object.
	ErrNotFound = errors.New("storage: object not found")
	// ErrInvalidKey is wrapped by CheckKey's errors and so by every
	// operation given a key or prefix it refuses.
	ErrInvalidKey = errors.New("storage: invalid key")
	// ErrUnauthorized is matched (errors.Is) by a *ProviderError whose
	// provider refused the credentials or the access: HTTP 401 or 403.
	ErrUnauthorized = errors.New("storage: access refused")
)

// Object describes a stored object.
type Object struct {
	// Key is the object's key, relative to the tenant's part of the bucket.
	Key  string
	Size int64
	// ContentType is the type given to Put. Get sets it; List leaves it
	// empty, since an S3 listing does not carry it.
	ContentType string
	ModTime     time.Time
}

// Bucket stores a tenant's objects. Keys are slash-separated paths that
// CheckKey accepts; a Bucket sees only its tenant's keys.
type Bucket interface {
	// Put stores size bytes from r under key, replacing any object there.
	// A size of -1 means unknown: r is read to its end.
	Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error
	// Get opens the object at key; the caller closes it. The error wraps
	// ErrNotFound when there is none.
	Get(ctx context.Context, key string) (io.ReadCloser, Object, error)
	// Delete removes the object at key; deleting a missing key is no error.
	Delete(ctx context.Context, key string) error
	// List returns the objects whose keys start with prefix (a plain string
	// prefix, as S3 has it), sorted by key.
	List(ctx context.Context, prefix string) ([]Object, error)
}

// Provider names, as Specs lists them and New takes them.
const (
	ProviderLocal = "local"
	ProviderS3    = "s3"
)

// bucket is what every provider returns.
type bucket interface {
	Bucket
	integration.Tester
}

type provider = integration.Provider[bucket]

func providers() map[string]provider {
	return map[string]provider{
		ProviderLocal: {Spec: localSpec(), Build: newLocal},
		ProviderS3:    {Spec: s3Spec(), Build: newS3},
	}
}

// Specs describes every storage provider, sorted by name.
func Specs() []integration.Spec {
	return integration.SpecsOf(providers())
}

// New builds the named provider's Bucket for cfg.Tenant, after checking cfg
// against the provider's Spec. The Bucket also implements
// integration.Tester. Configuration errors wrap integration.ErrInvalidConfig
// and name fields, never credential values.
func New(provider string, cfg integration.Config) (Bucket, error) {
	return integration.Build(providers(), provider, cfg, ErrUnknownProvider, newRedactor(cfg.Credentials).error)
}

// invalidSetting reports a setting value the spec's presence check cannot
// catch. Settings are plain, so naming the value is fine.
func invalidSetting(provider, field, why string) error {
	return fmt.Errorf("%w: %s %s: setting %q %s", integration.ErrInvalidConfig, integration.Storage, provider, field, why)
}

func setting(settings map[string]string, name string) string {
	return strings.TrimSpace(settings[name])
}

// ProviderError is a provider's refusal: the provider, the operation, the
// key, the HTTP status and the provider's code and message with every
// credential value removed.
type ProviderError struct {
	Provider string
	Op       string
	Key      string
	Status   int
	Code     string
	Message  string
}

func (e *ProviderError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "storage %s: %s", e.Provider, e.Op)
	if e.Key != "" {
		fmt.Fprintf(&b, " %q", e.Key)
	}
	if e.Status != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.Status)
	}
	if e.Code != "" {
		fmt.Fprintf(&b, ": %s", e.Code)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	return b.String()
}

// Is reports whether target is ErrUnauthorized and the status says the
// access was refused.
func (e *ProviderError) Is(target error) bool {
	return target == ErrUnauthorized && (e.Status == 401 || e.Status == 403)
}
