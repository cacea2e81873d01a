package storagesample

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"

	"github.com/tenantkit/tenantkit/internal/catalog"
)

// Methods of measuring.
const (
	// MethodRelationSize is the exact size of tables the tenant owns.
	MethodRelationSize = "relation_size"
	// MethodEstimate is the tenant's share of tables it shares.
	MethodEstimate = "estimate"
)

// Sample is how many bytes one tenant's data takes.
type Sample struct {
	Tenant uuid.UUID `json:"tenant"`
	Slug   string    `json:"slug"`
	// Tier is shared, schema or dedicated.
	Tier  string `json:"tier"`
	Bytes int64  `json:"bytes"`
	// Method is MethodRelationSize or MethodEstimate.
	Method string    `json:"method"`
	At     time.Time `json:"at"`
}

// Placements lists where tenants live and how to reach the clusters.
// *catalog.Store satisfies it.
type Placements interface {
	ListPlacements(ctx context.Context) ([]catalog.PlacementRow, error)
	GetCluster(ctx context.Context, name string) (catalog.Cluster, error)
}

// Config configures a Sampler.
type Config struct {
	// Placements lists the placements and clusters to measure. Required.
	Placements Placements
	// Logger receives debug lines about each database visited.
	// Defaults to a logger that discards everything.
	Logger *slog.Logger
	// SampleRowsAbove is the number of live tuples (reltuples) above which
	// a shared table is read with TABLESAMPLE SYSTEM, for about a tenth of
	// that many rows. Defaults to 1,000,000.
	SampleRowsAbove int64
	// Concurrency is how many databases are visited at once. Defaults to 4.
	Concurrency int
	// ConnectTimeout bounds each connection attempt whose URL sets no
	// connect_timeout. Defaults to 10 seconds.
	ConnectTimeout time.Duration
	// Now returns the time stamped on samples. Defaults to time.Now.
	Now func() time.Time
}

func (c *Config) validate() error {
	switch {
	case c.Placements == nil:
		return errors.New("storagesample: Config.Placements is required")
	case c.SampleRowsAbove < 0:
		return errors.New("storagesample: Config.SampleRowsAbove must not be negative")
	case c.Concurrency < 0:
		return errors.New("storagesample: Config.Concurrency must not be negative")
	case c.ConnectTimeout < 0:
		return errors.New("storagesample: Config.ConnectTimeout must not be negative")
	}
	return nil
}

func (c *Config) withDefaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.SampleRowsAbove == 0 {
		c.SampleRowsAbove = 1_000_000
	}
	if c.Concurrency == 0 {
		c.Concurrency = 4
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = 10 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Sampler measures tenants' storage.
type Sampler struct {
	cfg Config
	log *slog.Logger
}

// New returns a Sampler.
func New(cfg Config) (*Sampler, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg.withDefaults()
	return &Sampler{cfg: cfg, log: cfg.Logger}, nil
}

// DatabaseError reports a database whose tenants could not be measured.
type DatabaseError struct {
	Cluster  string
	Database string
	// Tenants are the ready tenants of the database left unmeasured.
	Tenants []uuid.UUID
	Err     error
}

func (e *DatabaseError) Error() string {
	return fmt.Sprintf("storagesample: cluster %s, database %s (%d tenants): %v", e.Cluster, e.Database, len(e.Tenants), e.Err)
}

func (e *DatabaseError) Unwrap() error { return e.Err }

// database is the work of one visit: the placements of one database.
type database struct {
	cluster, name string
	// all holds every placement of the database, whatever its state: the
	// per-tenant reading of shared tables counts them all.
	all []catalog.PlacementRow
	// ready are the placements to report.
	ready []catalog.PlacementRow
}

func (d *database) tenants() []uuid.UUID {
	ids := make([]uuid.UUID, len(d.ready))
	for i, r := range d.ready {
		ids[i] = r.TenantID
	}
	return ids
}

// byDatabase groups placements per (cluster, database), keeping databases
// with at least one ready placement, in a stable order.
func byDatabase(rows []catalog.PlacementRow) []*database {
	m := map[[2]string]*database{}
	var out []*database
	for _, r := range rows {
		k := [2]string{r.Cluster, r.Database}
		d := m[k]
		if d == nil {
			d = &database{cluster: r.Cluster, name: r.Database}
			m[k] = d
			out = append(out, d)
		}
		d.all = append(d.all, r)
		if r.State == catalog.PlacementReady {
			d.ready = append(d.ready, r)
		}
	}
	out = slices.DeleteFunc(out, func(d *database) bool { return len(d.ready) == 0 })
	slices.SortFunc(out, func(a, b *database) int {
		return cmp.Or(strings.Compare(a.cluster, b.cluster), strings.Compare(a.name, b.name))
	})
	return out
}

// Sample measures every ready placement, grouping work per (cluster,
// database) so each database is visited once, and returns one Sample per
// tenant, ordered by slug. A database that cannot be reached is reported in
// the error (errors.Join of *DatabaseError) while the others are still
// sampled; its tenants have no Sample.
func (s *Sampler) Sample(ctx context.Context) ([]Sample, error) {
	rows, err := s.cfg.Placements.ListPlacements(ctx)
	if err != nil {
		return nil, fmt.Errorf("storagesample: list placements: %w", err)
	}
	dbs := byDatabase(rows)
	clusters, clusterErrs := s.clusters(ctx, dbs)
	results := make([][]Sample, len(dbs))
	errs := make([]error, len(dbs))
	var g errgroup.Group
	g.SetLimit(s.cfg.Concurrency)
	for i, d := range dbs {
		c, ok := clusters[d.cluster]
		if !ok {
			errs[i] = &DatabaseError{Cluster: d.cluster, Database: d.name, Tenants: d.tenants(), Err: clusterErrs[d.cluster]}
			continue
		}
		g.Go(func() error {
			results[i], errs[i] = s.visit(ctx, c, d)
			return nil
		})
	}
	_ = g.Wait()
	out := slices.Concat(results...)
	slices.SortFunc(out, func(a, b Sample) int { return strings.Compare(a.Slug, b.Slug) })
	return out, errors.Join(errs...)
}

// clusters looks up each cluster the databases are on, once.
func (s *Sampler) clusters(ctx context.Context, dbs []*database) (map[string]catalog.Cluster, map[string]error) {
	found, failed := map[string]catalog.Cluster{}, map[string]error{}
	for _, d := range dbs {
		if _, ok := found[d.cluster]; ok {
			continue
		}
		if _, ok := failed[d.cluster]; ok {
			continue
		}
		c, err := s.cfg.Placements.GetCluster(ctx, d.cluster)
		if err != nil {
			failed[d.cluster] = fmt.Errorf("look up the cluster: %w", err)
			continue
		}
		found[d.cluster] = c
	}
	return found, failed
}

// Run samples at once and then every interval until ctx is done, handing
// each result to fn. A sample cut short by ctx's end is not handed on.
// interval must be positive.
func (s *Sampler) Run(ctx context.Context, interval time.Duration, fn func(context.Context, []Sample, error)) {
	if interval <= 0 {
		panic("storagesample: non-positive interval for Run")
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		samples, err := s.Sample(ctx)
		if ctx.Err() != nil {
			return
		}
		fn(ctx, samples, err)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
