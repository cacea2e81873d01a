package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/tenantkit/tenantkit/internal/catalog/catalogdb"
)

// Billing outbox operations: what Stripe must do after a catalog change.
const (
	// BillingSubscribe creates the tenant's customer and subscription.
	BillingSubscribe = "subscribe"
	// BillingChangePlan replaces the subscription's items with the new
	// plan's, prorated.
	BillingChangePlan = "change_plan"
	// BillingSeats sets the quantity of the per-seat item.
	BillingSeats = "seats"
	// BillingCancel cancels the subscription.
	BillingCancel = "cancel"
)

// BillingChange is what an outbox row asks of Stripe, as the catalog was
// when it was written: the plans and their prices then, so a later change
// to a plan's prices does not rewrite what this change meant.
type BillingChange struct {
	Slug string `json:"slug"`
	Name string `json:"name"`
	// Plan and Billing are the plan the tenant is on after the change and
	// its prices (nil when it bills nothing).
	Plan    string       `json:"plan"`
	Billing *PlanBilling `json:"billing,omitempty"`
	// FromPlan and FromBilling are the plan before a plan change.
	FromPlan    string       `json:"from_plan,omitempty"`
	FromBilling *PlanBilling `json:"from_billing,omitempty"`
	// Upgrade says the new plan ranks above the old one.
	Upgrade bool `json:"upgrade,omitempty"`
	// Seats is the seat gauge's value.
	Seats int64 `json:"seats"`
}

// planBillingOf is a plan's prices, or nil when it bills nothing.
func planBillingOf(ctx context.Context, q *catalogdb.Queries, plan string) (*PlanBilling, error) {
	raw, err := q.PlanBillingOf(ctx, plan)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var b PlanBilling
	if err := json.Unmarshal(raw, &b); err != nil {
		return nil, fmt.Errorf("catalog: plan %s's billing: %w", plan, err)
	}
	if b.Empty() {
		return nil, nil
	}
	return &b, nil
}

// seatsOf is the tenant's value of the seat gauge of b.
func seatsOf(ctx context.Context, q *catalogdb.Queries, t Tenant, b *PlanBilling) (int64, error) {
	if b == nil || b.SeatGauge == "" {
		return 0, nil
	}
	usage, err := q.TenantUsage(ctx, t.ID)
	if err != nil {
		return 0, err
	}
	for _, u := range usage {
		if u.Name == b.SeatGauge {
			return u.Value, nil
		}
	}
	return 0, nil
}

func outbox(ctx context.Context, q *catalogdb.Queries, t Tenant, op string, c BillingChange) error {
	c.Slug, c.Name = t.Slug, t.Name
	raw, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return q.InsertBillingOutbox(ctx, catalogdb.InsertBillingOutboxParams{TenantID: t.ID, Op: op, Payload: raw})
}

// billCreated writes the subscription of a new tenant on a billed plan.
func billCreated(ctx context.Context, q *catalogdb.Queries, t Tenant) error {
	b, err := planBillingOf(ctx, q, t.Plan)
	if err != nil || b == nil {
		return err
	}
	return outbox(ctx, q, t, BillingSubscribe, BillingChange{Plan: t.Plan, Billing: b})
}

// billPlanChanged writes what Stripe must do when t moved from plan from:
// subscribe when it had no billed plan, cancel when it has none now,
// change the subscription's items otherwise.
func billPlanChanged(ctx context.Context, q *catalogdb.Queries, t Tenant, from string) error {
	fb, err := planBillingOf(ctx, q, from)
	if err != nil {
		return err
	}
	tb, err := planBillingOf(ctx, q, t.Plan)
	if err != nil {
		return err
	}
	billed, err := q.BillingAccountExists(ctx, t.ID)
	if err != nil {
		return err
	}
	seats, err := seatsOf(ctx, q, t, tb)
	if err != nil {
		return err
	}
	c := BillingChange{Plan: t.Plan, Billing: tb, FromPlan: from, FromBilling: fb, Seats: seats}
	switch {
	case tb == nil && !billed.Bool:
		return nil
	case tb == nil:
		return outbox(ctx, q, t, BillingCancel, c)
	case !billed.Bool:
		return outbox(ctx, q, t, BillingSubscribe, c)
	}
	fromRow, err := q.GetPlan(ctx, from)
	if err != nil {
		return err
	}
	toRow, err := q.GetPlan(ctx, t.Plan)
	if err != nil {
		return err
	}
	c.Upgrade = toRow.Rank > fromRow.Rank
	return outbox(ctx, q, t, BillingChangePlan, c)
}

// billSeats writes a seat count change when name is the seat gauge of
// t's plan.
func billSeats(ctx context.Context, q *catalogdb.Queries, t Tenant, name string, value int64) error {
	b, err := planBillingOf(ctx, q, t.Plan)
	if err != nil || b == nil || b.SeatPrice == "" || b.SeatGauge != name {
		return err
	}
	return outbox(ctx, q, t, BillingSeats, BillingChange{Plan: t.Plan, Billing: b, Seats: value})
}

// billDeleted writes the cancellation of a deleted tenant's subscription,
// when it has or will have one.
func billDeleted(ctx context.Context, q *catalogdb.Queries, t Tenant) error {
	billed, err := q.BillingAccountExists(ctx, t.ID)
	if err != nil || !billed.Bool {
		return err
	}
	return outbox(ctx, q, t, BillingCancel, BillingChange{Plan: t.Plan})
}

// BillingAccount is a tenant's account on Stripe as the sync last left it.
type BillingAccount struct {
	CustomerID     string `json:"customer_id,omitempty"`
	SubscriptionID string `json:"subscription_id,omitempty"`
	// Items are the subscription's items: price id → item id.
	Items    map[string]string `json:"items,omitempty"`
	SyncedAt *time.Time        `json:"synced_at,omitempty"`
}

// BillingOutboxRow is one change for Stripe.
type BillingOutboxRow struct {
	ID            int64         `json:"id"`
	TenantID      uuid.UUID     `json:"tenant_id"`
	Op            string        `json:"op"`
	Change        BillingChange `json:"change"`
	CreatedAt     time.Time     `json:"created_at"`
	Attempts      int           `json:"attempts"`
	NextAttemptAt time.Time     `json:"next_attempt_at,omitzero"`
	LastError     string        `json:"last_error,omitempty"`
	DoneAt        *time.Time    `json:"done_at,omitempty"`
}

// BillingApply applies one change to Stripe, given the tenant's account,
// and returns the account as it is after.
type BillingApply func(ctx context.Context, row BillingOutboxRow, acct BillingAccount) (BillingAccount, error)

// ErrNoBillingChange says no change is due.
var ErrNoBillingChange = errors.New("catalog: no billing change is due")

// SyncBilling applies the next change due (ErrNoBillingChange when there
// is none) with apply, holding the tenant's billing lock: a tenant's
// changes go to Stripe one at a time and in order. When apply succeeds the
// account it returns is stored and the change is done, in one
// transaction; when it fails the change is retried after backoff(attempts)
// and apply's error is returned, wrapped in a *BillingApplyError. The
// changes of the tenants in skip are left alone.
func (s *Store) SyncBilling(ctx context.Context, apply BillingApply, backoff func(attempts int) time.Duration, skip ...uuid.UUID) (BillingOutboxRow, error) {
	var row BillingOutboxRow
	var applyErr error
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		q := s.q.WithTx(tx)
		if skip == nil {
			skip = []uuid.UUID{}
		}
		r, err := q.ClaimBillingOutbox(ctx, skip)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNoBillingChange
		}
		if err != nil {
			return err
		}
		row = BillingOutboxRow{ID: r.ID, TenantID: r.TenantID, Op: r.Op, CreatedAt: r.CreatedAt, Attempts: int(r.Attempts)}
		if err := json.Unmarshal(r.Payload, &row.Change); err != nil {
			return fmt.Errorf("catalog: billing change %d: %w", r.ID, err)
		}
		acct, err := billingAccount(ctx, q, r.TenantID)
		if err != nil {
			return err
		}
		after, err := apply(ctx, row, acct)
		if err != nil {
			applyErr = err
			row.Attempts++
			row.LastError = err.Error()
			d := backoff(row.Attempts)
			return q.FailBillingOutbox(ctx, catalogdb.FailBillingOutboxParams{ID: r.ID, LastError: row.LastError,
				Backoff: pgtype.Interval{Microseconds: d.Microseconds(), Valid: true}})
		}
		items, err := json.Marshal(after.Items)
		if err != nil {
			return err
		}
		if err := q.UpsertBillingAccount(ctx, catalogdb.UpsertBillingAccountParams{TenantID: r.TenantID,
			CustomerID: after.CustomerID, SubscriptionID: after.SubscriptionID, Items: items}); err != nil {
			return err
		}
		row.Attempts++
		return q.FinishBillingOutbox(ctx, r.ID)
	})
	if err != nil {
		return row, err
	}
	if applyErr != nil {
		return row, &BillingApplyError{Row: row, Err: applyErr}
	}
	return row, nil
}

// BillingApplyError is a change Stripe did not take this time; it is
// retried.
type BillingApplyError struct {
	Row BillingOutboxRow
	Err error
}

func (e *BillingApplyError) Error() string {
	return fmt.Sprintf("catalog: billing change %d (%s of tenant %s), attempt %d: %v", e.Row.ID, e.Row.Op, e.Row.Change.Slug, e.Row.Attempts, e.Err)
}

func (e *BillingApplyError) Unwrap() error { return e.Err }

func billingAccount(ctx context.Context, q *catalogdb.Queries, tenant uuid.UUID) (BillingAccount, error) {
	a, err := q.GetBillingAccount(ctx, tenant)
	if errors.Is(err, pgx.ErrNoRows) {
		return BillingAccount{Items: map[string]string{}}, nil
	}
	if err != nil {
		return BillingAccount{}, err
	}
	acct := BillingAccount{CustomerID: a.CustomerID, SubscriptionID: a.SubscriptionID, Items: map[string]string{}, SyncedAt: a.SyncedAt}
	if err := json.Unmarshal(a.Items, &acct.Items); err != nil {
		return BillingAccount{}, err
	}
	return acct, nil
}

// BillingStatus is a tenant's billing as the catalog knows it.
type BillingStatus struct {
	Tenant  Tenant         `json:"tenant"`
	Account BillingAccount `json:"account"`
	// Backlog is the tenant's changes not yet applied, oldest first;
	// Recent the last ones applied.
	Backlog []BillingOutboxRow `json:"backlog"`
	Recent  []BillingOutboxRow `json:"recent"`
}

// TenantBilling returns a tenant's billing status.
func (s *Store) TenantBilling(ctx context.Context, ref string) (BillingStatus, error) {
	t, err := s.GetTenant(ctx, ref)
	if err != nil {
		return BillingStatus{}, err
	}
	st := BillingStatus{Tenant: t, Backlog: []BillingOutboxRow{}, Recent: []BillingOutboxRow{}}
	if st.Account, err = billingAccount(ctx, s.q, t.ID); err != nil {
		return BillingStatus{}, err
	}
	rows, err := s.q.TenantBillingOutbox(ctx, catalogdb.TenantBillingOutboxParams{TenantID: t.ID, Max: 50})
	if err != nil {
		return BillingStatus{}, err
	}
	for i := len(rows) - 1; i >= 0; i-- {
		r := rows[i]
		o := BillingOutboxRow{ID: r.ID, TenantID: r.TenantID, Op: r.Op, CreatedAt: r.CreatedAt, Attempts: int(r.Attempts),
			NextAttemptAt: r.NextAttemptAt, LastError: r.LastError, DoneAt: r.DoneAt}
		if err := json.Unmarshal(r.Payload, &o.Change); err != nil {
			return BillingStatus{}, err
		}
		if o.DoneAt == nil {
			st.Backlog = append(st.Backlog, o)
		} else {
			st.Recent = append(st.Recent, o)
		}
	}
	return st, nil
}

// BillingBacklog is the platform's billing changes not yet applied.
type BillingBacklog struct {
	Pending      int64     `json:"pending"`
	Oldest       time.Time `json:"oldest,omitzero"`
	MostAttempts int       `json:"most_attempts"`
}

// BillingBacklogNow returns the billing backlog.
func (s *Store) BillingBacklogNow(ctx context.Context) (BillingBacklog, error) {
	r, err := s.q.BillingBacklog(ctx)
	if err != nil {
		return BillingBacklog{}, err
	}
	b := BillingBacklog{Pending: r.Pending, MostAttempts: int(r.MostAttempts)}
	if r.Pending > 0 {
		b.Oldest = r.Oldest
	}
	return b, nil
}

// MeteredUsage is one tenant's usage of one metered metric in a period,
// beside what was reported of it to Stripe.
type MeteredUsage struct {
	TenantID   uuid.UUID `json:"tenant_id"`
	Slug       string    `json:"slug"`
	CustomerID string    `json:"customer_id"`
	Metric     string    `json:"metric"`
	Meter      string    `json:"meter"`
	// Catalog is the catalog's total of the period.
	Catalog int64 `json:"catalog"`
	// Reported is what Stripe confirmed: the sum of the events' values,
	// or the last value of a last-value metric (storage_bytes).
	Reported int64 `json:"reported"`
	// Unconfirmed are the events written but not confirmed by Stripe.
	Unconfirmed []UsageEvent `json:"unconfirmed,omitempty"`
	// Events are every event of the period, in order.
	Events []UsageEvent `json:"events"`
	// NextSeq is the seq of the next event.
	NextSeq int `json:"-"`
	// LastTotal is the catalog total the last event brought Stripe to.
	LastTotal int64 `json:"-"`
}

// UsageEvent is one meter event, written before it is sent.
type UsageEvent struct {
	Seq        int        `json:"seq"`
	Value      int64      `json:"value"`
	Total      int64      `json:"total"`
	Identifier string     `json:"identifier"`
	ReportedAt *time.Time `json:"reported_at,omitempty"`
	Final      bool       `json:"final,omitempty"`
}

// LastValueMetrics are the metrics a meter takes the last value of, not
// the sum: each event carries the current value.
var LastValueMetrics = map[string]bool{"storage_bytes": true}

// MeteredUsageOf returns, for period, every tenant with a Stripe customer
// (or only slug's) and each metered metric of its plan: the catalog's
// total beside what was reported.
func (s *Store) MeteredUsageOf(ctx context.Context, period, slug string) ([]MeteredUsage, error) {
	if _, err := ParsePeriod(period); err != nil {
		return nil, err
	}
	rows, err := s.q.BilledUsage(ctx, catalogdb.BilledUsageParams{Period: period, Slug: slug})
	if err != nil {
		return nil, err
	}
	var tenant uuid.UUID
	if slug != "" {
		t, err := s.GetTenant(ctx, slug)
		if err != nil {
			return nil, err
		}
		tenant = t.ID
	}
	reports, err := s.q.UsageReportsOf(ctx, catalogdb.UsageReportsOfParams{Period: period, TenantID: tenant})
	if err != nil {
		return nil, err
	}
	type key struct {
		t uuid.UUID
		m string
	}
	events := map[key][]catalogdb.TenantkitBillingUsageReport{}
	for _, r := range reports {
		events[key{r.TenantID, r.Metric}] = append(events[key{r.TenantID, r.Metric}], r)
	}
	var out []MeteredUsage
	for _, r := range rows {
		var b PlanBilling
		if err := json.Unmarshal(r.Billing, &b); err != nil {
			return nil, err
		}
		totals := map[string]int64{"api_calls": r.ApiCalls.Int64, "db_ms": r.DbUs.Int64 / 1000, "bandwidth_bytes": r.BandwidthBytes.Int64,
			"storage_bytes": r.StorageBytes.Int64, "jobs": r.Jobs.Int64, "job_ms": r.JobUs.Int64 / 1000}
		for _, m := range sortedKeys(b.Metered) {
			mu := MeteredUsage{TenantID: r.ID, Slug: r.Slug, CustomerID: r.CustomerID, Metric: m, Meter: b.Metered[m].Meter,
				Catalog: totals[m], NextSeq: 1, Events: []UsageEvent{}}
			for _, e := range events[key{r.ID, m}] {
				ev := UsageEvent{Seq: int(e.Seq), Value: e.Value, Total: e.Total, Identifier: e.Identifier, ReportedAt: e.ReportedAt, Final: e.Final}
				mu.Events = append(mu.Events, ev)
				mu.NextSeq, mu.LastTotal = ev.Seq+1, ev.Total
				if ev.ReportedAt == nil {
					mu.Unconfirmed = append(mu.Unconfirmed, ev)
					continue
				}
				if LastValueMetrics[m] {
					mu.Reported = ev.Value
				} else {
					mu.Reported += ev.Value
				}
			}
			out = append(out, mu)
		}
	}
	return out, nil
}

// RecordUsageEvent writes a meter event before it is sent.
func (s *Store) RecordUsageEvent(ctx context.Context, mu MeteredUsage, period string, e UsageEvent) error {
	return s.q.InsertUsageReport(ctx, catalogdb.InsertUsageReportParams{TenantID: mu.TenantID, Period: period, Metric: mu.Metric,
		Seq: int32(e.Seq), Meter: mu.Meter, Value: e.Value, Total: e.Total, Identifier: e.Identifier, Final: e.Final})
}

// ConfirmUsageEvent records that Stripe took the event.
func (s *Store) ConfirmUsageEvent(ctx context.Context, identifier string) error {
	return s.q.ConfirmUsageReport(ctx, identifier)
}
