package tenantcache

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/maypok86/otter/v2"
	"golang.org/x/sync/singleflight"

	"github.com/tenantkit/tenantkit/internal/bus"
	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/resolve"
)

// Source loads what the cache holds. *catalog.Store is one.
type Source interface {
	LoadContext(ctx context.Context, id uuid.UUID) (*catalog.TenantContext, error)
	TenantIDBySlug(ctx context.Context, slug string) (uuid.UUID, error)
	TenantIDByVerifiedHost(ctx context.Context, host string) (uuid.UUID, error)
}

// Config configures a Cache.
type Config struct {
	// Source loads entries on a miss. Required.
	Source Source
	// TTL bounds how long an entry lives without invalidation. Defaults to
	// 5 minutes.
	TTL time.Duration
	// NegativeTTL is how long an unknown slug, host or id is remembered.
	// Defaults to 5 seconds.
	NegativeTTL time.Duration
	// MaximumSize bounds the number of tenants held. Defaults to 100,000.
	MaximumSize int
}

// Cache is a tenant-context cache. It implements bus.Handler.
type Cache struct {
	src   Source
	ids   *otter.Cache[uuid.UUID, *catalog.TenantContext]
	slugs *otter.Cache[string, uuid.UUID]
	hosts *otter.Cache[string, uuid.UUID]
	sf    singleflight.Group
	// gen counts invalidations. A load that raced one is not stored, so a
	// context read before a write committed never outlives its invalidation.
	gen atomic.Uint64
}

// New returns a Cache.
func New(cfg Config) (*Cache, error) {
	if cfg.Source == nil {
		return nil, errors.New("tenantcache: Config.Source is required")
	}
	if cfg.TTL == 0 {
		cfg.TTL = 5 * time.Minute
	}
	if cfg.NegativeTTL == 0 {
		cfg.NegativeTTL = 5 * time.Second
	}
	if cfg.MaximumSize == 0 {
		cfg.MaximumSize = 100_000
	}
	if cfg.TTL < 0 || cfg.NegativeTTL < 0 || cfg.MaximumSize < 0 {
		return nil, errors.New("tenantcache: TTL, NegativeTTL and MaximumSize must not be negative")
	}
	return &Cache{
		src: cfg.Source,
		ids: otter.Must(&otter.Options[uuid.UUID, *catalog.TenantContext]{
			MaximumSize: cfg.MaximumSize,
			ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[uuid.UUID, *catalog.TenantContext]) time.Duration {
				if e.Value == nil {
					return cfg.NegativeTTL
				}
				return cfg.TTL
			}),
		}),
		slugs: idCache(cfg),
		hosts: idCache(cfg),
	}, nil
}

func idCache(cfg Config) *otter.Cache[string, uuid.UUID] {
	return otter.Must(&otter.Options[string, uuid.UUID]{
		MaximumSize: cfg.MaximumSize,
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[string, uuid.UUID]) time.Duration {
			if e.Value == uuid.Nil {
				return cfg.NegativeTTL
			}
			return cfg.TTL
		}),
	})
}

// Lookup returns the tenant context named by ref, loading it on a miss. An
// unknown tenant gives catalog.ErrTenantNotFound.
func (c *Cache) Lookup(ctx context.Context, ref resolve.Ref) (*catalog.TenantContext, error) {
	var (
		id  uuid.UUID
		err error
	)
	switch ref.Kind {
	case resolve.ByID:
		if id, err = uuid.Parse(ref.Value); err != nil {
			return nil, catalog.ErrTenantNotFound
		}
	case resolve.BySlug:
		id, err = c.mapKey(ctx, c.slugs, "s", ref.Value, c.src.TenantIDBySlug)
	case resolve.ByHost:
		id, err = c.mapKey(ctx, c.hosts, "h", ref.Value, c.src.TenantIDByVerifiedHost)
	default:
		return nil, errors.New("tenantcache: unknown reference kind")
	}
	if err != nil {
		return nil, err
	}
	return c.ByID(ctx, id)
}

// ByID returns the context of tenant id, loading it on a miss.
func (c *Cache) ByID(ctx context.Context, id uuid.UUID) (*catalog.TenantContext, error) {
	if tc, ok := c.ids.GetIfPresent(id); ok {
		return found(tc)
	}
	v, err, _ := c.sf.Do("i"+id.String(), func() (any, error) {
		gen := c.gen.Load()
		tc, err := retryRead(ctx, func() (*catalog.TenantContext, error) { return c.src.LoadContext(ctx, id) })
		if errors.Is(err, catalog.ErrTenantNotFound) {
			tc, err = nil, nil
		}
		if err != nil {
			return nil, err
		}
		if c.gen.Load() == gen {
			c.ids.Set(id, tc)
		}
		return tc, nil
	})
	if err != nil {
		return nil, err
	}
	return found(v.(*catalog.TenantContext))
}

// retryRead runs a catalog read up to three times while it fails on the
// connection rather than in the query: after a catalog restart a pool's
// idle connections are dead until used, and these reads are idempotent.
func retryRead[T any](ctx context.Context, read func() (T, error)) (T, error) {
	v, err := read()
	for try := 1; try < 3 && err != nil && ctx.Err() == nil && connectionError(err); try++ {
		v, err = read()
	}
	return v, err
}

// connectionError reports whether err is a lost connection or a server
// going down, as opposed to an error of the query itself.
func connectionError(err error) bool {
	if errors.Is(err, catalog.ErrTenantNotFound) {
		return false
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return true
	}
	return strings.HasPrefix(pgErr.Code, "08") || strings.HasPrefix(pgErr.Code, "57P")
}

func found(tc *catalog.TenantContext) (*catalog.TenantContext, error) {
	if tc == nil {
		return nil, catalog.ErrTenantNotFound
	}
	return tc, nil
}

func (c *Cache) mapKey(ctx context.Context, m *otter.Cache[string, uuid.UUID], prefix, key string,
	load func(context.Context, string) (uuid.UUID, error)) (uuid.UUID, error) {
	if id, ok := m.GetIfPresent(key); ok {
		return foundID(id)
	}
	v, err, _ := c.sf.Do(prefix+key, func() (any, error) {
		gen := c.gen.Load()
		id, err := retryRead(ctx, func() (uuid.UUID, error) { return load(ctx, key) })
		if errors.Is(err, catalog.ErrTenantNotFound) {
			id, err = uuid.Nil, nil
		}
		if err != nil {
			return uuid.Nil, err
		}
		if c.gen.Load() == gen {
			m.Set(key, id)
		}
		return id, nil
	})
	if err != nil {
		return uuid.Nil, err
	}
	return foundID(v.(uuid.UUID))
}

func foundID(id uuid.UUID) (uuid.UUID, error) {
	if id == uuid.Nil {
		return id, catalog.ErrTenantNotFound
	}
	return id, nil
}

// Invalidate drops the entries a message names.
func (c *Cache) Invalidate(m bus.Message) {
	c.gen.Add(1)
	if m.All {
		c.Reset()
		return
	}
	if id, err := uuid.Parse(m.Tenant); err == nil {
		c.ids.Invalidate(id)
	}
	for _, s := range m.Slugs {
		c.slugs.Invalidate(s)
	}
	for _, h := range m.Hosts {
		c.hosts.Invalidate(h)
	}
}

// Reset drops every entry.
func (c *Cache) Reset() {
	c.gen.Add(1)
	c.ids.InvalidateAll()
	c.slugs.InvalidateAll()
	c.hosts.InvalidateAll()
}

// Len is the number of cached tenant contexts, negative entries included.
func (c *Cache) Len() int { return c.ids.EstimatedSize() }
