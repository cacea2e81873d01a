package tenantcache

import (
	"context"
	"errors"
	"strings"
	"sync"
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
//
// Every reference a request may carry — id, slug, verified host — is a key
// of one cache whose value is the tenant context itself, so a warm lookup
// is a single read. An index from tenant id to its keys lets an
// invalidation naming only the tenant drop every key that leads to it.
type Cache struct {
	src     Source
	entries *otter.Cache[key, *catalog.TenantContext]
	sf      singleflight.Group
	// gen counts invalidations. A load that raced one is not stored, so a
	// context read before a write committed never outlives its invalidation.
	gen atomic.Uint64
	// hits and misses count lookups, for the hit-ratio metric.
	hits, misses atomic.Uint64

	mu    sync.Mutex
	index map[uuid.UUID]map[key]struct{}
	clock *otter.CoarseClock
}

// clockResolution is how often the cache reads the time. Reading it on
// every lookup costs more than the rest of a lookup on some machines;
// entries live up to this much longer or shorter than their TTL.
const clockResolution = 20 * time.Millisecond

// key is a reference to a tenant; its value is the id text, slug or host.
type key struct {
	kind  resolve.Kind
	value string
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
	c := &Cache{src: cfg.Source, index: map[uuid.UUID]map[key]struct{}{}, clock: otter.NewCoarseClock(clockResolution)}
	c.entries = otter.Must(&otter.Options[key, *catalog.TenantContext]{
		Clock: c.clock,
		// Each tenant is usually reached by id and one slug or host.
		MaximumSize: 3 * cfg.MaximumSize,
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[key, *catalog.TenantContext]) time.Duration {
			if e.Value == nil {
				return cfg.NegativeTTL
			}
			return cfg.TTL
		}),
		OnDeletion: func(e otter.DeletionEvent[key, *catalog.TenantContext]) {
			// Deletions may be reported inside a write that holds mu:
			// unindex later, on its own goroutine.
			if e.WasEvicted() && e.Value != nil {
				go c.unindex(e.Value.ID, e.Key)
			}
		},
	})
	return c, nil
}

// Lookup returns the tenant context named by ref, loading it on a miss. An
// unknown tenant gives catalog.ErrTenantNotFound.
func (c *Cache) Lookup(ctx context.Context, ref resolve.Ref) (*catalog.TenantContext, error) {
	k := key{ref.Kind, ref.Value}
	if tc, ok := c.entries.GetIfPresent(k); ok {
		c.hits.Add(1)
		return found(tc)
	}
	c.misses.Add(1)
	switch ref.Kind {
	case resolve.ByID:
		id, err := uuid.Parse(ref.Value)
		if err != nil {
			return nil, catalog.ErrTenantNotFound
		}
		return c.byID(ctx, id)
	case resolve.BySlug:
		return c.load(ctx, k, c.src.TenantIDBySlug)
	case resolve.ByHost:
		return c.load(ctx, k, c.src.TenantIDByVerifiedHost)
	}
	return nil, errors.New("tenantcache: unknown reference kind")
}

// ByID returns the context of tenant id, loading it on a miss.
func (c *Cache) ByID(ctx context.Context, id uuid.UUID) (*catalog.TenantContext, error) {
	k := key{resolve.ByID, id.String()}
	if tc, ok := c.entries.GetIfPresent(k); ok {
		c.hits.Add(1)
		return found(tc)
	}
	c.misses.Add(1)
	return c.byID(ctx, id)
}

// Stats returns how many lookups were answered from memory and how many
// went to the catalog (or to the negative cache's load) since New.
func (c *Cache) Stats() (hits, misses uint64) { return c.hits.Load(), c.misses.Load() }

func (c *Cache) byID(ctx context.Context, id uuid.UUID) (*catalog.TenantContext, error) {
	k := key{resolve.ByID, id.String()}
	return c.load(ctx, k, func(context.Context, string) (uuid.UUID, error) { return id, nil })
}

// load maps k to a tenant id with toID, loads the tenant's context, and
// caches it under k and under the tenant's id — unless an invalidation
// came in meanwhile. Concurrent loads of one key share one trip.
func (c *Cache) load(ctx context.Context, k key, toID func(context.Context, string) (uuid.UUID, error)) (*catalog.TenantContext, error) {
	v, err, _ := c.sf.Do(string(rune('0'+k.kind))+k.value, func() (any, error) {
		gen := c.gen.Load()
		id, err := retryRead(ctx, func() (uuid.UUID, error) { return toID(ctx, k.value) })
		var tc *catalog.TenantContext
		if err == nil {
			tc, err = retryRead(ctx, func() (*catalog.TenantContext, error) { return c.src.LoadContext(ctx, id) })
		}
		if errors.Is(err, catalog.ErrTenantNotFound) {
			tc, err = nil, nil
		}
		if err != nil {
			return nil, err
		}
		c.store(gen, k, tc)
		return tc, nil
	})
	if err != nil {
		return nil, err
	}
	return found(v.(*catalog.TenantContext))
}

// store caches tc under k (and its id key) if no invalidation happened
// since gen. The check and the writes hold mu, as invalidations do.
func (c *Cache) store(gen uint64, k key, tc *catalog.TenantContext) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen.Load() != gen {
		return
	}
	if tc == nil {
		c.entries.Set(k, nil)
		return
	}
	keys := c.index[tc.ID]
	if keys == nil {
		keys = map[key]struct{}{}
		c.index[tc.ID] = keys
	}
	idKey := key{resolve.ByID, tc.ID.String()}
	for _, kk := range []key{k, idKey} {
		keys[kk] = struct{}{}
		c.entries.Set(kk, tc)
	}
}

// unindex forgets that k leads to tenant id, unless k was cached again
// since it was evicted.
func (c *Cache) unindex(id uuid.UUID, k key) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if tc, ok := c.entries.GetIfPresent(k); ok && tc != nil && tc.ID == id {
		return
	}
	if keys := c.index[id]; keys != nil {
		delete(keys, k)
		if len(keys) == 0 {
			delete(c.index, id)
		}
	}
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

// Invalidate drops the entries a message names: every key leading to the
// tenant, and the slugs and hosts listed (which may be cached as unknown).
func (c *Cache) Invalidate(m bus.Message) {
	if m.All {
		c.Reset()
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen.Add(1)
	if id, err := uuid.Parse(m.Tenant); err == nil {
		for k := range c.index[id] {
			c.entries.Invalidate(k)
		}
		delete(c.index, id)
		c.entries.Invalidate(key{resolve.ByID, id.String()})
	}
	for _, s := range m.Slugs {
		c.entries.Invalidate(key{resolve.BySlug, s})
	}
	for _, h := range m.Hosts {
		c.entries.Invalidate(key{resolve.ByHost, h})
	}
}

// Reset drops every entry.
func (c *Cache) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen.Add(1)
	c.entries.InvalidateAll()
	c.index = map[uuid.UUID]map[key]struct{}{}
}

// Close stops the cache's clock. The cache keeps working, reading the
// precise time.
func (c *Cache) Close() { c.clock.Stop() }

// Len is the number of cached keys, unknown ones included.
func (c *Cache) Len() int { return c.entries.EstimatedSize() }
