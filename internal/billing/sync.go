package billing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stripe/stripe-go/v86"

	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/jobs"
)

// SyncConfig says how the catalog's billing changes become Stripe calls.
type SyncConfig struct {
	// Proration is the proration_behavior of a plan change that is not an
	// upgrade, and of a seat change. Defaults to create_prorations.
	Proration string
	// UpgradeProration is that of an upgrade (a plan of a higher rank).
	// Defaults to always_invoice: the upgrade is charged at once.
	UpgradeProration string
	// CancelAtPeriodEnd cancels a deleted tenant's subscription at the end
	// of its period rather than now. Defaults to false: now.
	CancelAtPeriodEnd bool
	// MaxBackoff bounds the wait before a failed change is tried again.
	// Defaults to an hour.
	MaxBackoff time.Duration
}

// Syncer applies the catalog's billing outbox to Stripe.
type Syncer struct {
	b     *Billing
	store *catalog.Store
	cfg   SyncConfig
}

// NewSyncer returns a Syncer of store's outbox through b.
func NewSyncer(b *Billing, store *catalog.Store, cfg SyncConfig) *Syncer {
	if cfg.Proration == "" {
		cfg.Proration = "create_prorations"
	}
	if cfg.UpgradeProration == "" {
		cfg.UpgradeProration = "always_invoice"
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = time.Hour
	}
	return &Syncer{b: b, store: store, cfg: cfg}
}

// Backoff is the wait before attempt n+1 of a change: exponential from
// two seconds with jitter, up to MaxBackoff.
func (s *Syncer) Backoff(attempts int) time.Duration {
	d := 2 * time.Second << min(attempts-1, 20)
	if d <= 0 || d > s.cfg.MaxBackoff {
		d = s.cfg.MaxBackoff
	}
	return d/2 + rand.N(d/2+1)
}

// DrainResult is what one Drain did.
type DrainResult struct {
	Applied int
	Failed  int
	// LastError is the last change Stripe did not take, if any.
	LastError error
}

// Drain applies the changes due, up to max of them, and returns how many
// Stripe took and how many it did not (those are retried after their
// backoff). An error is the catalog's.
func (s *Syncer) Drain(ctx context.Context, max int, backoff func(int) time.Duration) (DrainResult, error) {
	if backoff == nil {
		backoff = s.Backoff
	}
	var res DrainResult
	// A tenant whose change Stripe did not take is left for the next
	// drain: its later changes wait behind it anyway.
	var failed []uuid.UUID
	for range max {
		_, err := s.store.SyncBilling(ctx, s.apply, backoff, failed...)
		var ae *catalog.BillingApplyError
		switch {
		case errors.Is(err, catalog.ErrNoBillingChange):
			return res, nil
		case errors.As(err, &ae):
			res.Failed++
			res.LastError = ae
			failed = append(failed, ae.Row.TenantID)
		case err != nil:
			return res, err
		default:
			res.Applied++
		}
	}
	return res, nil
}

// key is the Stripe idempotency key of a step of an outbox row: the same
// on every attempt of the row, so a retry after an answer that was lost
// does not apply the change twice.
func key(row catalog.BillingOutboxRow, step string) string {
	return "tenantkit-billing-" + strconv.FormatInt(row.ID, 10) + "-" + step
}

func (s *Syncer) apply(ctx context.Context, row catalog.BillingOutboxRow, acct catalog.BillingAccount) (catalog.BillingAccount, error) {
	switch row.Op {
	case catalog.BillingSubscribe:
		return s.subscribe(ctx, row, acct)
	case catalog.BillingChangePlan:
		if acct.SubscriptionID == "" {
			return s.subscribe(ctx, row, acct)
		}
		return s.changePlan(ctx, row, acct)
	case catalog.BillingSeats:
		return s.seats(ctx, row, acct)
	case catalog.BillingCancel:
		return s.cancel(ctx, row, acct)
	}
	return acct, fmt.Errorf("billing: unknown change %q", row.Op)
}

// metadata is what tenantkit sets on every Stripe object it creates, so
// that a webhook finds its tenant.
func metadata(row catalog.BillingOutboxRow) map[string]string {
	return map[string]string{"tenant_id": row.TenantID.String(), "tenant": row.Change.Slug, "plan": row.Change.Plan}
}

// wanted is the subscription items of a plan's prices, in order: base,
// seats, metered.
func wanted(b *catalog.PlanBilling, seats int64) []item {
	if b == nil {
		return nil
	}
	var out []item
	if b.BasePrice != "" {
		out = append(out, item{price: b.BasePrice, quantity: stripe.Int64(1)})
	}
	if b.SeatPrice != "" {
		out = append(out, item{price: b.SeatPrice, quantity: stripe.Int64(seats)})
	}
	for _, p := range b.Prices() {
		if p[0] != "billing.base_price" && p[0] != "billing.seat_price" {
			out = append(out, item{price: p[1]}) // metered: no quantity
		}
	}
	return out
}

type item struct {
	price    string
	quantity *int64
}

func (s *Syncer) subscribe(ctx context.Context, row catalog.BillingOutboxRow, acct catalog.BillingAccount) (catalog.BillingAccount, error) {
	if acct.CustomerID == "" {
		p := &stripe.CustomerCreateParams{Name: stripe.String(row.Change.Name), Metadata: metadata(row)}
		p.SetIdempotencyKey(key(row, "customer"))
		c, err := s.b.sc.V1Customers.Create(ctx, p)
		if err != nil {
			return acct, fmt.Errorf("billing: create the customer of %s: %w", row.Change.Slug, err)
		}
		acct.CustomerID = c.ID
	}
	items := wanted(row.Change.Billing, row.Change.Seats)
	p := &stripe.SubscriptionCreateParams{Customer: stripe.String(acct.CustomerID), Metadata: metadata(row)}
	for _, it := range items {
		p.Items = append(p.Items, &stripe.SubscriptionCreateItemParams{Price: stripe.String(it.price), Quantity: it.quantity})
	}
	if d := row.Change.Billing.TrialDays; d > 0 {
		p.TrialPeriodDays = stripe.Int64(int64(d))
	}
	p.SetIdempotencyKey(key(row, "subscription"))
	sub, err := s.b.sc.V1Subscriptions.Create(ctx, p)
	if err != nil {
		// The customer is kept: the retry reuses it (its key makes a
		// second create answer the first).
		return acct, fmt.Errorf("billing: create the subscription of %s: %w", row.Change.Slug, err)
	}
	acct.SubscriptionID = sub.ID
	acct.Items = itemsOf(sub)
	return acct, nil
}

func (s *Syncer) changePlan(ctx context.Context, row catalog.BillingOutboxRow, acct catalog.BillingAccount) (catalog.BillingAccount, error) {
	p := &stripe.SubscriptionUpdateParams{Metadata: metadata(row), ProrationBehavior: stripe.String(s.cfg.Proration)}
	if row.Change.Upgrade {
		p.ProrationBehavior = stripe.String(s.cfg.UpgradeProration)
	}
	for _, id := range acct.Items {
		p.Items = append(p.Items, &stripe.SubscriptionUpdateItemParams{ID: stripe.String(id), Deleted: stripe.Bool(true)})
	}
	for _, it := range wanted(row.Change.Billing, row.Change.Seats) {
		p.Items = append(p.Items, &stripe.SubscriptionUpdateItemParams{Price: stripe.String(it.price), Quantity: it.quantity})
	}
	p.SetIdempotencyKey(key(row, "update"))
	sub, err := s.b.sc.V1Subscriptions.Update(ctx, acct.SubscriptionID, p)
	if err != nil {
		return acct, fmt.Errorf("billing: move %s's subscription to plan %s: %w", row.Change.Slug, row.Change.Plan, err)
	}
	acct.Items = itemsOf(sub)
	return acct, nil
}

func (s *Syncer) seats(ctx context.Context, row catalog.BillingOutboxRow, acct catalog.BillingAccount) (catalog.BillingAccount, error) {
	if acct.SubscriptionID == "" {
		return acct, errors.New("billing: a seat change before the subscription exists")
	}
	id, ok := acct.Items[row.Change.Billing.SeatPrice]
	if !ok {
		return acct, fmt.Errorf("billing: %s's subscription has no item of the seat price %s", row.Change.Slug, row.Change.Billing.SeatPrice)
	}
	p := &stripe.SubscriptionItemUpdateParams{Quantity: stripe.Int64(row.Change.Seats), ProrationBehavior: stripe.String(s.cfg.Proration)}
	p.SetIdempotencyKey(key(row, "seats"))
	if _, err := s.b.sc.V1SubscriptionItems.Update(ctx, id, p); err != nil {
		return acct, fmt.Errorf("billing: set %s's seats to %d: %w", row.Change.Slug, row.Change.Seats, err)
	}
	return acct, nil
}

func (s *Syncer) cancel(ctx context.Context, row catalog.BillingOutboxRow, acct catalog.BillingAccount) (catalog.BillingAccount, error) {
	if acct.SubscriptionID == "" {
		return acct, nil
	}
	if s.cfg.CancelAtPeriodEnd {
		p := &stripe.SubscriptionUpdateParams{CancelAtPeriodEnd: stripe.Bool(true)}
		p.SetIdempotencyKey(key(row, "cancel"))
		if _, err := s.b.sc.V1Subscriptions.Update(ctx, acct.SubscriptionID, p); err != nil {
			return acct, fmt.Errorf("billing: cancel %s's subscription at period end: %w", row.Change.Slug, err)
		}
		return acct, nil
	}
	p := &stripe.SubscriptionCancelParams{}
	p.SetIdempotencyKey(key(row, "cancel"))
	if _, err := s.b.sc.V1Subscriptions.Cancel(ctx, acct.SubscriptionID, p); err != nil {
		return acct, fmt.Errorf("billing: cancel %s's subscription: %w", row.Change.Slug, err)
	}
	acct.SubscriptionID, acct.Items = "", map[string]string{}
	return acct, nil
}

// itemsOf maps a subscription's prices to its items.
func itemsOf(sub *stripe.Subscription) map[string]string {
	out := map[string]string{}
	if sub.Items == nil {
		return out
	}
	for _, it := range sub.Items.Data {
		if it.Price != nil {
			out[it.Price.ID] = it.ID
		}
	}
	return out
}

// DrainArgs is the River job that drains the billing outbox. Its periodic
// declaration (DrainPeriodic) runs it every few seconds on River's leader;
// it is unique while one waits or runs.
type DrainArgs struct{}

// Kind is the job's kind.
func (DrainArgs) Kind() string { return "tenantkit_billing_sync" }

// InsertOpts keeps one drain at a time.
func (DrainArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: jobs.PlatformQueue, MaxAttempts: 3, UniqueOpts: river.UniqueOpts{ByState: []rivertype.JobState{
		rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning, rivertype.JobStateRetryable, rivertype.JobStateScheduled,
	}}}
}

// DrainWorker works DrainArgs: it applies up to 500 changes due, and logs
// the last one Stripe did not take (each is retried on its own backoff).
type DrainWorker struct {
	river.WorkerDefaults[DrainArgs]
	Syncer *Syncer
	Logger *slog.Logger
	// Metrics counts the changes Stripe did not take. Defaults to nil.
	Metrics *Metrics
}

// Work drains the outbox.
func (w *DrainWorker) Work(ctx context.Context, _ *river.Job[DrainArgs]) error {
	res, err := w.Syncer.Drain(ctx, 500, nil)
	if w.Metrics != nil {
		w.Metrics.SyncErrors.Add(float64(res.Failed))
	}
	if res.Failed > 0 && w.Logger != nil {
		w.Logger.WarnContext(ctx, "billing: Stripe did not take some changes; they are retried", "failed", res.Failed, "applied", res.Applied, "last", res.LastError)
	}
	return err
}

// DrainPeriodic is the periodic declaration of the drain, every interval
// (5s when zero), and at start.
func DrainPeriodic(interval time.Duration) *river.PeriodicJob {
	if interval <= 0 {
		interval = 5 * time.Second
	}
	return river.NewPeriodicJob(river.PeriodicInterval(interval), func() (river.JobArgs, *river.InsertOpts) {
		return DrainArgs{}, nil
	}, &river.PeriodicJobOpts{RunOnStart: true})
}

// Billing is the Stripe the Syncer talks to.
func (s *Syncer) Billing() *Billing { return s.b }
