package catalog

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tenantkit/tenantkit/internal/catalog/catalogdb"
)

// LoadBucket is the granularity of the recent-load table `tenantkit top`
// reads: each flush adds its deltas to the bucket of its time.
const LoadBucket = 10 * time.Second

// Retention of what only serves recent views and retries.
const (
	loadRetention  = time.Hour
	flushRetention = 7 * 24 * time.Hour
	// noisyFresh is how recently a detector must have confirmed a noisy
	// tenant for it to be listed: a process that died stops confirming.
	noisyFresh = 5 * time.Minute
)

// Period returns the billing period of t: its UTC month, "2026-11".
func Period(t time.Time) string { return t.UTC().Format("2006-01") }

// ParsePeriod checks a billing period written YYYY-MM.
func ParsePeriod(s string) (string, error) {
	t, err := time.Parse("2006-01", s)
	if err != nil || t.Format("2006-01") != s {
		return "", &ValidationError{Fields: []FieldError{{"period", "must be a month written YYYY-MM, like 2026-11"}}}
	}
	return s, nil
}

// UsageDelta is what one process counted for a tenant in a period since
// its last flush. Users are 64-bit hashes of the users first seen.
type UsageDelta struct {
	Tenant         uuid.UUID
	Period         string
	APICalls       int64
	ComputeMicros  int64
	DBMicros       int64
	DBQueries      int64
	BandwidthBytes int64
	Jobs           int64
	JobMicros      int64
	Users          []uint64
}

// UsageBatch is one flush of a process's usage counters.
type UsageBatch struct {
	// ID identifies the flush: a batch written twice is added once.
	ID uuid.UUID
	// Instance names the process, for the record.
	Instance string
	// At is when the batch was cut; its deltas count toward the recent
	// load of that time's bucket.
	At     time.Time
	Deltas []UsageDelta
}

// WriteUsage adds a batch to the tenants' usage in one transaction and
// reports whether it did: a batch whose ID was already written changes
// nothing and returns false. Deltas of tenants deleted since are dropped.
func (s *Store) WriteUsage(ctx context.Context, b UsageBatch) (bool, error) {
	if b.ID == uuid.Nil {
		return false, fmt.Errorf("catalog: usage batch without an id")
	}
	deltas := slices.Clone(b.Deltas)
	// One order for every writer, so that concurrent flushes lock rows in
	// the same order and cannot deadlock.
	slices.SortFunc(deltas, func(a, b UsageDelta) int {
		return cmp.Or(cmp.Compare(a.Tenant.String(), b.Tenant.String()), cmp.Compare(a.Period, b.Period))
	})
	applied := false
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		q := s.q.WithTx(tx)
		n, err := q.RecordUsageFlush(ctx, catalogdb.RecordUsageFlushParams{ID: b.ID, Instance: b.Instance})
		if err != nil || n == 0 {
			return err
		}
		applied = true
		return addUsage(ctx, q, b.At, deltas)
	})
	return applied, err
}

func addUsage(ctx context.Context, q *catalogdb.Queries, at time.Time, deltas []UsageDelta) error {
	var (
		u     catalogdb.AddUsageParams
		users catalogdb.AddUsageUsersParams
		load  = catalogdb.AddUsageLoadParams{Bucket: at.Truncate(LoadBucket)}
	)
	for _, d := range deltas {
		u.TenantIds = append(u.TenantIds, d.Tenant)
		u.Periods = append(u.Periods, d.Period)
		u.ApiCalls = append(u.ApiCalls, d.APICalls)
		u.ComputeUs = append(u.ComputeUs, d.ComputeMicros)
		u.DbUs = append(u.DbUs, d.DBMicros)
		u.DbQueries = append(u.DbQueries, d.DBQueries)
		u.BandwidthBytes = append(u.BandwidthBytes, d.BandwidthBytes)
		u.Jobs = append(u.Jobs, d.Jobs)
		u.JobUs = append(u.JobUs, d.JobMicros)
		for _, h := range d.Users {
			users.TenantIds = append(users.TenantIds, d.Tenant)
			users.Periods = append(users.Periods, d.Period)
			users.UserHashes = append(users.UserHashes, int64(h))
		}
		load.TenantIds = append(load.TenantIds, d.Tenant)
		load.Requests = append(load.Requests, d.APICalls)
		load.ComputeUs = append(load.ComputeUs, d.ComputeMicros)
		load.DbUs = append(load.DbUs, d.DBMicros)
		load.BandwidthBytes = append(load.BandwidthBytes, d.BandwidthBytes)
	}
	if len(deltas) == 0 {
		return nil
	}
	if err := q.AddUsage(ctx, u); err != nil {
		return fmt.Errorf("add usage: %w", err)
	}
	if len(users.UserHashes) > 0 {
		if err := q.AddUsageUsers(ctx, users); err != nil {
			return fmt.Errorf("add active users: %w", err)
		}
	}
	if err := q.AddUsageLoad(ctx, load); err != nil {
		return fmt.Errorf("add recent load: %w", err)
	}
	return nil
}

// PruneUsage drops recent-load buckets older than an hour and flush ids
// older than a week (a retry comes within minutes), and clears the noisy
// findings of processes that stopped confirming them.
func (s *Store) PruneUsage(ctx context.Context, now time.Time) error {
	if err := s.q.PruneUsageLoad(ctx, now.Add(-loadRetention)); err != nil {
		return err
	}
	if err := s.q.PruneUsageFlushes(ctx, now.Add(-flushRetention)); err != nil {
		return err
	}
	return s.expireNoisy(ctx, now)
}

// expireNoisy clears the noisy findings no process confirmed for
// noisyFresh — a process refreshes its own every minute, so theirs is
// gone — and audits tenant.calm for the tenants they leave calm.
func (s *Store) expireNoisy(ctx context.Context, now time.Time) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		q := s.q.WithTx(tx)
		calm, err := q.ExpireNoisy(ctx, now.Add(-noisyFresh))
		if err != nil {
			return err
		}
		for _, c := range calm {
			ev := NoisyEvent{Tenant: c.TenantID, Dimension: c.Dimension, Share: c.Share, Since: now, DetectedBy: c.DetectedBy,
				Recommendation: "the finding's process stopped confirming it for " + noisyFresh.String()}
			if err := audit(ctx, q, "tenantkit", "tenant.calm", c.TenantID, nil, ev); err != nil {
				return err
			}
		}
		return nil
	})
}

// UsageReport is a tenant's usage in a billing period.
type UsageReport struct {
	TenantID         uuid.UUID  `json:"tenant_id"`
	Slug             string     `json:"slug"`
	Period           string     `json:"period"`
	APICalls         int64      `json:"api_calls"`
	ComputeMs        float64    `json:"compute_ms"`
	DBMs             float64    `json:"db_ms"`
	DBQueries        int64      `json:"db_queries"`
	BandwidthBytes   int64      `json:"bandwidth_bytes"`
	StorageBytes     int64      `json:"storage_bytes"`
	StorageMethod    string     `json:"storage_method,omitempty"`
	StorageSampledAt *time.Time `json:"storage_sampled_at,omitempty"`
	ActiveUsers      int64      `json:"active_users"`
	// Jobs counts the tenant's background job runs; JobMs is their wall
	// time.
	Jobs      int64      `json:"jobs"`
	JobMs     float64    `json:"job_ms"`
	UpdatedAt *time.Time `json:"updated_at,omitempty"`
}

func usageReport(u catalogdb.TenantkitUsagePeriod, slug string) UsageReport {
	at := u.UpdatedAt
	return UsageReport{
		TenantID: u.TenantID, Slug: slug, Period: u.Period, APICalls: u.ApiCalls,
		ComputeMs: float64(u.ComputeUs) / 1000, DBMs: float64(u.DbUs) / 1000, DBQueries: u.DbQueries,
		BandwidthBytes: u.BandwidthBytes, StorageBytes: u.StorageBytes, StorageMethod: u.StorageMethod,
		StorageSampledAt: u.StorageSampledAt, ActiveUsers: u.ActiveUsers, Jobs: u.Jobs, JobMs: float64(u.JobUs) / 1000,
		UpdatedAt: &at,
	}
}

// UsageFor returns a tenant's usage in period (YYYY-MM): zeros when
// nothing was recorded.
func (s *Store) UsageFor(ctx context.Context, ref, period string) (UsageReport, error) {
	if _, err := ParsePeriod(period); err != nil {
		return UsageReport{}, err
	}
	t, err := s.GetTenant(ctx, ref)
	if err != nil {
		return UsageReport{}, err
	}
	u, err := s.q.GetUsagePeriod(ctx, catalogdb.GetUsagePeriodParams{TenantID: t.ID, Period: period})
	switch {
	case err == pgx.ErrNoRows:
		return UsageReport{TenantID: t.ID, Slug: t.Slug, Period: period}, nil
	case err != nil:
		return UsageReport{}, err
	}
	return usageReport(u, t.Slug), nil
}

// MaxUsagePage is the most tenants a page of UsageInPeriodPage holds.
const MaxUsagePage = 5000

// UsageInPeriod lists every tenant's usage recorded in period, by slug.
func (s *Store) UsageInPeriod(ctx context.Context, period string) ([]UsageReport, error) {
	var out []UsageReport
	after := ""
	for {
		page, next, err := s.UsageInPeriodPage(ctx, period, after, MaxUsagePage)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if next == "" {
			if out == nil {
				out = []UsageReport{}
			}
			return out, nil
		}
		after = next
	}
}

// UsageInPeriodPage lists up to limit (1 to MaxUsagePage) tenants' usage
// recorded in period, by slug after after (the next of the page before,
// "" for the first), and the slug to ask the next page after ("" for the
// last page).
func (s *Store) UsageInPeriodPage(ctx context.Context, period, after string, limit int) ([]UsageReport, string, error) {
	v := &ValidationError{}
	if _, err := ParsePeriod(period); err != nil {
		return nil, "", err
	}
	if limit < 1 || limit > MaxUsagePage {
		v.add("limit", fmt.Sprintf("must be between 1 and %d", MaxUsagePage))
	}
	if err := v.orNil(); err != nil {
		return nil, "", err
	}
	rows, err := s.q.ListUsagePeriod(ctx, catalogdb.ListUsagePeriodParams{Period: period, After: after, Max: int32(limit + 1)})
	if err != nil {
		return nil, "", err
	}
	out := make([]UsageReport, 0, min(len(rows), limit))
	next := ""
	for i, r := range rows {
		if i == limit {
			next = out[i-1].Slug
			break
		}
		out = append(out, usageReport(catalogdb.TenantkitUsagePeriod{
			TenantID: r.TenantID, Period: r.Period, ApiCalls: r.ApiCalls, ComputeUs: r.ComputeUs, DbUs: r.DbUs,
			DbQueries: r.DbQueries, BandwidthBytes: r.BandwidthBytes, ActiveUsers: r.ActiveUsers,
			StorageBytes: r.StorageBytes, StorageMethod: r.StorageMethod, StorageSampledAt: r.StorageSampledAt,
			Jobs: r.Jobs, JobUs: r.JobUs, UpdatedAt: r.UpdatedAt,
		}, r.Slug))
	}
	return out, next, nil
}

// StorageSample is a tenant's measured storage.
type StorageSample struct {
	Tenant uuid.UUID
	Bytes  int64
	// Method says how it was measured: relation_size or estimate.
	Method string
}

// RecordStorage records samples taken at `at` as the tenants' storage in
// that period, and as their storage_mb usage gauge (what the storage_mb
// limit is checked against), rounded up to whole MiB.
func (s *Store) RecordStorage(ctx context.Context, at time.Time, samples []StorageSample) error {
	if len(samples) == 0 {
		return nil
	}
	p := catalogdb.RecordStorageParams{Period: Period(at), SampledAt: at}
	g := catalogdb.SetStorageGaugesParams{}
	for _, sm := range samples {
		p.TenantIds = append(p.TenantIds, sm.Tenant)
		p.Bytes = append(p.Bytes, sm.Bytes)
		p.Methods = append(p.Methods, sm.Method)
		g.TenantIds = append(g.TenantIds, sm.Tenant)
		g.Mbs = append(g.Mbs, (sm.Bytes+(1<<20)-1)>>20)
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		q := s.q.WithTx(tx)
		if err := q.RecordStorage(ctx, p); err != nil {
			return fmt.Errorf("record storage: %w", err)
		}
		return q.SetStorageGauges(ctx, g)
	})
}

// Noisy-neighbour dimensions.
const (
	NoisyDBTime   = "db_time"
	NoisyRequests = "requests"
)

// NoisyEvent is a detector's finding about a tenant: it became noisy (with
// what to do about it) or calmed down.
type NoisyEvent struct {
	Tenant         uuid.UUID `json:"tenant_id"`
	Dimension      string    `json:"dimension"`
	Share          float64   `json:"share"`
	Since          time.Time `json:"since"`
	Noisy          bool      `json:"noisy"`
	Recommendation string    `json:"recommendation,omitempty"`
	Command        string    `json:"command,omitempty"`
	Throttled      bool      `json:"throttled"`
	DetectedBy     string    `json:"detected_by,omitempty"`
}

// RecordNoisy records a process's finding (e.DetectedBy) that a tenant is
// noisy or calm. Each process judges its own traffic, so findings are kept
// per process: the tenant is noisy while any fresh finding says so. It is
// audited tenant.noisy when the first process finds it so, and tenant.calm
// when the last one clears; findings in between change no audit.
func (s *Store) RecordNoisy(ctx context.Context, e NoisyEvent) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		q := s.q.WithTx(tx)
		if err := q.LockNoisy(ctx, catalogdb.LockNoisyParams{TenantID: e.Tenant, Dimension: e.Dimension}); err != nil {
			return err
		}
		live, err := q.LiveNoisy(ctx, catalogdb.LiveNoisyParams{TenantID: e.Tenant, Dimension: e.Dimension,
			DetectedBy: e.DetectedBy, FreshSince: time.Now().Add(-noisyFresh)})
		if err != nil {
			return err
		}
		if !e.Noisy {
			n, err := q.ClearNoisy(ctx, catalogdb.ClearNoisyParams{TenantID: e.Tenant, Dimension: e.Dimension, DetectedBy: e.DetectedBy, Share: e.Share})
			if err != nil || n == 0 || live.Others > 0 {
				return err // not noisy here, or still noisy elsewhere
			}
			return audit(ctx, q, e.DetectedBy, "tenant.calm", e.Tenant, nil, e)
		}
		if err := q.UpsertNoisy(ctx, catalogdb.UpsertNoisyParams{
			TenantID: e.Tenant, Dimension: e.Dimension, Share: e.Share, Since: e.Since, Recommendation: e.Recommendation,
			Command: e.Command, Throttled: e.Throttled, DetectedBy: e.DetectedBy,
		}); err != nil || live.Others+live.Mine > 0 {
			return err // noisy already
		}
		return audit(ctx, q, e.DetectedBy, "tenant.noisy", e.Tenant, nil, e)
	})
}

// RefreshNoisy confirms a tenant is still noisy without auditing again.
func (s *Store) RefreshNoisy(ctx context.Context, e NoisyEvent) error {
	return s.q.UpsertNoisy(ctx, catalogdb.UpsertNoisyParams{
		TenantID: e.Tenant, Dimension: e.Dimension, Share: e.Share, Since: e.Since, Recommendation: e.Recommendation,
		Command: e.Command, Throttled: e.Throttled, DetectedBy: e.DetectedBy,
	})
}

// NoisyState is a tenant found noisy and not yet calm.
type NoisyState struct {
	Dimension      string    `json:"dimension"`
	Share          float64   `json:"share"`
	Since          time.Time `json:"since"`
	Recommendation string    `json:"recommendation"`
	Command        string    `json:"command,omitempty"`
	Throttled      bool      `json:"throttled"`
	// DetectedBy is the process whose finding has the highest share;
	// Processes how many processes find the tenant noisy (each judges its
	// own traffic). Since is the earliest of their findings.
	DetectedBy string    `json:"detected_by,omitempty"`
	Processes  int       `json:"processes"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// TenantLoad is a tenant's recent load, summed over every process, with
// its usage this period and any noisy finding.
type TenantLoad struct {
	TenantID uuid.UUID `json:"tenant_id"`
	Slug     string    `json:"slug"`
	Plan     string    `json:"plan"`
	Tier     string    `json:"tier"`
	Cluster  string    `json:"cluster"`
	// Requests in the window, and per second.
	Requests    int64   `json:"requests"`
	RequestRate float64 `json:"request_rate"`
	// DBMs is database time in the window; DBRate is database seconds per
	// second (1.0: one connection busy all the time).
	DBMs           float64 `json:"db_ms"`
	DBRate         float64 `json:"db_rate"`
	ComputeMs      float64 `json:"compute_ms"`
	BandwidthBytes int64   `json:"bandwidth_bytes"`
	// RequestShare is the tenant's share of all requests in the window;
	// SharedDBShare its share of the database time of shared-tier tenants
	// (0 off the shared tier).
	RequestShare  float64      `json:"request_share"`
	SharedDBShare float64      `json:"shared_db_share"`
	Usage         UsageReport  `json:"usage"`
	Noisy         []NoisyState `json:"noisy,omitempty"`
}

// LoadReport ranks tenants by recent load.
type LoadReport struct {
	At            time.Time    `json:"at"`
	WindowSeconds float64      `json:"window_seconds"`
	Period        string       `json:"period"`
	Tenants       []TenantLoad `json:"tenants"`
}

// Load ranks the tenants with load in the last window (at least one load
// bucket), and every tenant found noisy, busiest first: by shared-tier
// database share, then request share.
func (s *Store) Load(ctx context.Context, now time.Time, window time.Duration) (LoadReport, error) {
	if window < LoadBucket {
		window = LoadBucket
	}
	rep := LoadReport{At: now, WindowSeconds: window.Seconds(), Period: Period(now), Tenants: []TenantLoad{}}
	// The bucket being filled counts whole: rates are per the window plus
	// what has passed of the current bucket.
	since := now.Truncate(LoadBucket).Add(-window)
	span := now.Sub(since).Seconds()
	rows, err := s.q.RecentLoad(ctx, since)
	if err != nil {
		return rep, err
	}
	noisy, err := s.q.ListNoisy(ctx, now.Add(-noisyFresh))
	if err != nil {
		return rep, err
	}
	byID := map[uuid.UUID]*TenantLoad{}
	get := func(id uuid.UUID) *TenantLoad {
		if tl, ok := byID[id]; ok {
			return tl
		}
		tl := &TenantLoad{TenantID: id}
		byID[id] = tl
		return tl
	}
	for _, r := range rows {
		tl := get(r.TenantID)
		tl.Requests, tl.DBMs, tl.ComputeMs, tl.BandwidthBytes = r.Requests, float64(r.DbUs)/1000, float64(r.ComputeUs)/1000, r.BandwidthBytes
		tl.RequestRate, tl.DBRate = float64(r.Requests)/span, float64(r.DbUs)/1e6/span
	}
	for _, n := range noisy {
		tl := get(n.TenantID)
		tl.Noisy = append(tl.Noisy, NoisyState{Dimension: n.Dimension, Share: n.Share, Since: n.FirstSince,
			Recommendation: n.Recommendation, Command: n.Command, Throttled: n.Throttled, DetectedBy: n.DetectedBy,
			Processes: int(n.Processes), UpdatedAt: n.UpdatedAt})
	}
	if err := s.describeLoads(ctx, rep.Period, byID); err != nil {
		return rep, err
	}
	for _, tl := range byID {
		rep.Tenants = append(rep.Tenants, *tl)
	}
	shareLoads(rep.Tenants)
	return rep, nil
}

// describeLoads fills in each tenant's slug, plan, placement and usage in
// period, in one query, and drops the tenants deleted since.
func (s *Store) describeLoads(ctx context.Context, period string, byID map[uuid.UUID]*TenantLoad) error {
	ids := make([]uuid.UUID, 0, len(byID))
	for id := range byID {
		ids = append(ids, id)
	}
	rows, err := s.q.DescribeLoads(ctx, catalogdb.DescribeLoadsParams{Period: period, Ids: ids})
	if err != nil {
		return err
	}
	described := make(map[uuid.UUID]bool, len(rows))
	for _, r := range rows {
		tl := byID[r.ID]
		described[r.ID] = true
		tl.Slug, tl.Plan, tl.Tier, tl.Cluster = r.Slug, r.Plan, r.Tier, r.Cluster
		tl.Usage = UsageReport{TenantID: r.ID, Slug: r.Slug, Period: period}
		if r.UsageUpdatedAt != nil {
			tl.Usage = usageReport(catalogdb.TenantkitUsagePeriod{
				TenantID: r.ID, Period: period, ApiCalls: r.ApiCalls, ComputeUs: r.ComputeUs, DbUs: r.DbUs,
				DbQueries: r.DbQueries, BandwidthBytes: r.BandwidthBytes, ActiveUsers: r.ActiveUsers,
				StorageBytes: r.StorageBytes, StorageMethod: r.StorageMethod, StorageSampledAt: r.StorageSampledAt,
				Jobs: r.Jobs, JobUs: r.JobUs,
				UpdatedAt: *r.UsageUpdatedAt,
			}, r.Slug)
		}
	}
	for id := range byID {
		if !described[id] {
			delete(byID, id) // deleted since
		}
	}
	return nil
}

// shareLoads computes each tenant's shares and ranks them.
func shareLoads(ts []TenantLoad) {
	var reqs int64
	var sharedDB float64
	for _, t := range ts {
		reqs += t.Requests
		if t.Tier == TierShared {
			sharedDB += t.DBMs
		}
	}
	for i := range ts {
		if reqs > 0 {
			ts[i].RequestShare = float64(ts[i].Requests) / float64(reqs)
		}
		if sharedDB > 0 && ts[i].Tier == TierShared {
			ts[i].SharedDBShare = ts[i].DBMs / sharedDB
		}
	}
	slices.SortFunc(ts, func(a, b TenantLoad) int {
		return cmp.Or(cmp.Compare(b.SharedDBShare, a.SharedDBShare), cmp.Compare(b.RequestShare, a.RequestShare),
			cmp.Compare(b.DBMs, a.DBMs), cmp.Compare(a.Slug, b.Slug))
	})
}
