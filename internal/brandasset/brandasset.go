package brandasset

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/tenantkit/tenantkit/internal/branding"
	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/integration"
	"github.com/tenantkit/tenantkit/internal/registry"
	"github.com/tenantkit/tenantkit/internal/storage"
)

// The assets a tenant may upload.
const (
	Logo    = "logo"
	Favicon = "favicon"
)

// MaxBytes is the largest image taken, and served.
const MaxBytes = 1 << 20

// Errors of an upload.
var (
	// ErrUnknownAsset names an asset other than Logo and Favicon.
	ErrUnknownAsset = errors.New("brandasset: unknown asset (logo or favicon)")
	// ErrNoAssetHost: the platform has no asset host, so no asset URL
	// can be written.
	ErrNoAssetHost = errors.New("brandasset: no asset host is configured")
	// ErrNoRegistry: there is no integration registry to store through.
	ErrNoRegistry = errors.New("brandasset: no integration registry")
	// ErrNoStorage: the tenant has no storage of its own and the platform
	// no default.
	ErrNoStorage = errors.New("brandasset: the tenant has no storage and the platform no default")
	// ErrTooLarge: the image is over MaxBytes.
	ErrTooLarge = fmt.Errorf("brandasset: image over %d bytes", MaxBytes)
)

// ImageError refuses an upload by its type: Declared is not a type taken
// for the asset (Unsupported), or the bytes are not an image of that type
// (Sniffed is what they look like).
type ImageError struct {
	Asset       string
	Declared    string
	Sniffed     string
	Unsupported bool
}

func (e *ImageError) Error() string {
	if e.Unsupported {
		return fmt.Sprintf("a %s must be sent as one of %s, not %q", e.Asset, strings.Join(Types(e.Asset), ", "), e.Declared)
	}
	return fmt.Sprintf("the %s's bytes are not a %s image (they look like %s)", e.Asset, e.Declared, e.Sniffed)
}

// Types are the content types taken for asset.
func Types(asset string) []string {
	ts := []string{"image/png", "image/jpeg", "image/webp"}
	if asset == Favicon {
		ts = append(ts, "image/x-icon", "image/vnd.microsoft.icon")
	}
	return ts
}

// canonical is the type a sniffer names for t.
func canonical(t string) string {
	if t == "image/vnd.microsoft.icon" {
		return "image/x-icon"
	}
	return t
}

// Check returns the content type to store data under: declared, when it
// is a type taken for asset and data really is such an image. SVG is
// never taken, since it can carry script.
func Check(asset, declared string, data []byte) (string, error) {
	if asset != Logo && asset != Favicon {
		return "", ErrUnknownAsset
	}
	mt, _, err := mime.ParseMediaType(declared)
	if err != nil || !slices.Contains(Types(asset), mt) {
		return "", &ImageError{Asset: asset, Declared: declared, Unsupported: true}
	}
	if sniffed := sniff(data); canonical(mt) != sniffed {
		return "", &ImageError{Asset: asset, Declared: mt, Sniffed: sniffed}
	}
	return canonical(mt), nil
}

// sniff is the type data's first bytes show, by the WHATWG sniffing
// algorithm, which knows PNG, JPEG, WebP and ICO signatures.
func sniff(data []byte) string {
	t, _, _ := strings.Cut(http.DetectContentType(data), ";")
	return t
}

// Key is where asset is stored in a tenant's bucket.
func Key(asset string) string { return "tenantkit/branding/" + asset }

// URL is where the asset host serves tenant's asset; version busts the
// caches of earlier versions.
func URL(host string, tenant uuid.UUID, asset string, version int64) string {
	return "https://" + strings.ToLower(host) + Path(tenant, asset) + "?v=" + strconv.FormatInt(version, 10)
}

// Path is the path of tenant's asset on the asset host.
func Path(tenant uuid.UUID, asset string) string { return "/t/" + tenant.String() + "/" + asset }

// Config configures Assets.
type Config struct {
	// Store is the catalog; its branding policy names the asset host.
	// Required.
	Store *catalog.Store
	// Registry gives tenants' storage. Defaults to nil: uploads fail with
	// ErrNoRegistry and nothing is served.
	Registry *registry.Registry
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Assets uploads and serves tenants' logos and favicons.
type Assets struct {
	store *catalog.Store
	reg   *registry.Registry
	log   *slog.Logger
}

// New returns Assets.
func New(cfg Config) (*Assets, error) {
	if cfg.Store == nil {
		return nil, errors.New("brandasset: Config.Store is required")
	}
	a := &Assets{store: cfg.Store, reg: cfg.Registry, log: cfg.Logger}
	if a.log == nil {
		a.log = slog.Default()
	}
	return a, nil
}

// AssetHost is the host the store's branding policy allows, "" for none.
func (a *Assets) AssetHost() string { return a.store.BrandingPolicy().AssetHost }

// Upload checks data (see Check), stores it in the tenant's storage and
// points the tenant's branding at it, keeping every other field. The
// branding's write is audited by the store.
func (a *Assets) Upload(ctx context.Context, actor, ref, asset, contentType string, data []byte) (catalog.Branding, error) {
	if len(data) > MaxBytes {
		return catalog.Branding{}, ErrTooLarge
	}
	ct, err := Check(asset, contentType, data)
	if err != nil {
		return catalog.Branding{}, err
	}
	t, err := a.store.GetTenant(ctx, ref)
	if err != nil {
		return catalog.Branding{}, err
	}
	if t.Status == catalog.StatusDeleted {
		return catalog.Branding{}, catalog.ErrTenantDeleted
	}
	// Refuse before storing anything when no URL could be written.
	if err := a.checkHost(t.ID, asset); err != nil {
		return catalog.Branding{}, err
	}
	bucket, err := a.bucket(ctx, t)
	if errors.Is(err, registry.ErrNoProvider) {
		return catalog.Branding{}, fmt.Errorf("%w (%v)", ErrNoStorage, err)
	}
	if err != nil {
		return catalog.Branding{}, err
	}
	if err := bucket.Put(ctx, Key(asset), bytes.NewReader(data), int64(len(data)), ct); err != nil {
		return catalog.Branding{}, fmt.Errorf("brandasset: storing %s's %s: %w", t.Slug, asset, err)
	}
	return a.point(ctx, actor, t.ID, asset)
}

func (a *Assets) checkHost(tenant uuid.UUID, asset string) error {
	p := a.store.BrandingPolicy()
	if p.AssetHost == "" {
		return ErrNoAssetHost
	}
	if _, errs := (branding.Branding{LogoURL: URL(p.AssetHost, tenant, asset, 1)}).Normalize(p); len(errs) > 0 {
		return fmt.Errorf("%w: %s", ErrNoAssetHost, errs[0].Message)
	}
	return nil
}

// point sets the asset's URL in the tenant's branding, at the version the
// write gives it; a write that raced another is tried again on the new
// version.
func (a *Assets) point(ctx context.Context, actor string, tenant uuid.UUID, asset string) (catalog.Branding, error) {
	for attempt := 0; ; attempt++ {
		cur, err := a.store.GetBranding(ctx, tenant.String())
		if err != nil {
			return catalog.Branding{}, err
		}
		u := URL(a.AssetHost(), tenant, asset, cur.Version+1)
		if asset == Logo {
			cur.LogoURL = u
		} else {
			cur.FaviconURL = u
		}
		version := cur.Version
		cur.Version = 0
		out, err := a.store.ReplaceBranding(ctx, actor, tenant.String(), cur, &version)
		if errors.Is(err, catalog.ErrVersionMismatch) && attempt < 3 {
			continue
		}
		return out, err
	}
}

func (a *Assets) bucket(ctx context.Context, t catalog.Tenant) (storage.Bucket, error) {
	if a.reg == nil {
		return nil, ErrNoRegistry
	}
	res, err := a.reg.Resolve(ctx, t.ID, t.Slug, integration.Storage)
	if err != nil {
		return nil, err
	}
	b, ok := res.Provider.(storage.Bucket)
	if !ok {
		return nil, fmt.Errorf("brandasset: the storage provider %q is not a bucket", res.Name)
	}
	return b, nil
}

// ServeHTTP serves GET and HEAD /t/{tenant-id}/{logo|favicon} from the
// tenant's storage; anything else is 404. What is read is sniffed again:
// a tenant's own bucket may hold anything under the key, and only the
// image types an upload takes are served.
func (a *Assets) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Security-Policy", "default-src 'none'")
	tenant, asset, ok := parsePath(r.URL.Path)
	if !ok || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		http.NotFound(w, r)
		return
	}
	data, ct, err := a.read(r.Context(), tenant, asset)
	if err != nil {
		if !errors.Is(err, storage.ErrNotFound) && !errors.Is(err, catalog.ErrTenantNotFound) && !errors.Is(err, registry.ErrNoProvider) {
			a.log.WarnContext(r.Context(), "brandasset: serving", "tenant", tenant, "asset", asset, "err", err)
		}
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(data)
}

// parsePath reads /t/{uuid}/{logo|favicon}.
func parsePath(p string) (uuid.UUID, string, bool) {
	rest, ok := strings.CutPrefix(p, "/t/")
	if !ok {
		return uuid.UUID{}, "", false
	}
	id, asset, ok := strings.Cut(rest, "/")
	if !ok || (asset != Logo && asset != Favicon) {
		return uuid.UUID{}, "", false
	}
	// Only the canonical form: one URL per asset.
	tenant, err := uuid.Parse(id)
	if err != nil || tenant.String() != id {
		return uuid.UUID{}, "", false
	}
	return tenant, asset, true
}

func (a *Assets) read(ctx context.Context, tenant uuid.UUID, asset string) ([]byte, string, error) {
	t, err := a.store.GetTenant(ctx, tenant.String())
	if err != nil {
		return nil, "", err
	}
	if t.Status == catalog.StatusDeleted {
		return nil, "", catalog.ErrTenantNotFound
	}
	bucket, err := a.bucket(ctx, t)
	if err != nil {
		return nil, "", err
	}
	rc, _, err := bucket.Get(ctx, Key(asset))
	if err != nil {
		return nil, "", err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, MaxBytes+1))
	if err != nil {
		return nil, "", err
	}
	if len(data) > MaxBytes {
		return nil, "", fmt.Errorf("%w: stored %s", ErrTooLarge, asset)
	}
	ct := sniff(data)
	if !slices.Contains(Types(asset), ct) {
		return nil, "", fmt.Errorf("brandasset: stored %s is %s, not an image served", asset, ct)
	}
	return data, ct, nil
}
