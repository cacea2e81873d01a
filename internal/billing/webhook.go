package billing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/stripe/stripe-go/v86/webhook"

	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/jobs"
	"github.com/tenantkit/tenantkit/internal/problem"
)

// WebhookPath is where Stripe posts its events.
const WebhookPath = "/webhooks/stripe"

// EnvWebhookSecret names the webhook signing secret (whsec_…).
const EnvWebhookSecret = "TENANTKIT_STRIPE_WEBHOOK_SECRET"

// maxWebhookBody bounds an event's size; Stripe's are far smaller.
const maxWebhookBody = 1 << 20

// EventArgs is the job that handles one stored Stripe event.
type EventArgs struct {
	ID string `json:"id"`
}

// Kind is the job's kind.
func (EventArgs) Kind() string { return "tenantkit_billing_event" }

// InsertOpts puts the job on the platform's queue.
func (EventArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{Queue: jobs.PlatformQueue} }

// Webhook is the handler of POST /webhooks/stripe: it verifies the
// event's signature with secret (a bad one is 400 bad-signature and
// nothing is stored), stores the event once by its id and enqueues the
// job that handles it in the same transaction, and answers 200 at once,
// also for an event seen before.
func Webhook(store *catalog.Store, secret string, insert func(context.Context, pgx.Tx, river.JobArgs) error, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			problem.Write(w, r, problem.New(http.StatusMethodNotAllowed, problem.MethodNotAllowed, "Stripe posts its events"))
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWebhookBody))
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			problem.Write(w, r, problem.New(http.StatusRequestEntityTooLarge, problem.RequestTooLarge, "the event is larger than 1 MiB"))
			return
		}
		if err != nil {
			problem.Write(w, r, problem.New(http.StatusBadRequest, problem.MalformedJSON, "reading the event: "+err.Error()))
			return
		}
		// Stripe sends events in the account's API version, which need not
		// be the client's: only the fields read here matter.
		ev, err := webhook.ConstructEventWithOptions(body, r.Header.Get("Stripe-Signature"), secret,
			webhook.ConstructEventOptions{IgnoreAPIVersionMismatch: true})
		if err != nil {
			problem.Write(w, r, problem.New(http.StatusBadRequest, problem.BadSignature, "the Stripe-Signature does not verify: "+err.Error()))
			return
		}
		e := catalog.BillingEvent{ID: ev.ID, Type: string(ev.Type), Created: time.Unix(ev.Created, 0).UTC(), Payload: body}
		isNew, err := store.RecordBillingEvent(r.Context(), e, func(ctx context.Context, tx pgx.Tx) error {
			return insert(ctx, tx, EventArgs{ID: ev.ID})
		})
		if err != nil {
			log.ErrorContext(r.Context(), "billing: store a Stripe event", "event", ev.ID, "err", err)
			problem.Write(w, r, problem.New(http.StatusServiceUnavailable, problem.Unavailable, "the event could not be stored; Stripe will send it again"))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"received": true, "duplicate": !isNew})
	})
}

// EventsConfig says how events change tenants.
type EventsConfig struct {
	// Grace is how long a past-due tenant keeps working before it is
	// suspended; zero suspends it at once. The CLI's default is 7 days.
	Grace time.Duration
	// OnSubscriptionDeleted is "suspend" (the default) or "downgrade":
	// move the tenant to DowngradePlan.
	OnSubscriptionDeleted string
	// DowngradePlan defaults to the catalog's default plan.
	DowngradePlan string
	// Now is the clock. Defaults to time.Now.
	Now func() time.Time
}

// Actor is the audit actor of billing's changes.
const Actor = "billing"

// EventWorker handles stored Stripe events.
type EventWorker struct {
	river.WorkerDefaults[EventArgs]
	Store  *catalog.Store
	Config EventsConfig
	Logger *slog.Logger
	// Metrics counts the events handled. Defaults to nil: none.
	Metrics *Metrics
}

// finish records an event's outcome, and counts it.
func (w *EventWorker) finish(ctx context.Context, e catalog.BillingEvent, tenant uuid.UUID, outcome string) error {
	if err := w.Store.FinishBillingEvent(ctx, e.ID, tenant, outcome); err != nil {
		return err
	}
	if w.Metrics != nil {
		w.Metrics.Events.WithLabelValues(eventType(e.Type), outcomeClass(outcome)).Inc()
	}
	return nil
}

// stripeObject is the part of an event's object the handlers read.
type stripeObject struct {
	ID       string            `json:"id"`
	Object   string            `json:"object"`
	Customer json.RawMessage   `json:"customer"`
	Metadata map[string]string `json:"metadata"`
	Status   string            `json:"status"`
	Parent   *struct {
		SubscriptionDetails *struct {
			Metadata map[string]string `json:"metadata"`
		} `json:"subscription_details"`
	} `json:"parent"`
	Items *struct {
		Data []struct {
			Price struct {
				ID string `json:"id"`
			} `json:"price"`
		} `json:"data"`
	} `json:"items"`
}

// Work handles one event, once: its outcome is recorded with it.
func (w *EventWorker) Work(ctx context.Context, job *river.Job[EventArgs]) error {
	e, err := w.Store.GetBillingEvent(ctx, job.Args.ID)
	if err != nil {
		return err
	}
	if e.HandledAt != nil {
		return nil
	}
	var body struct {
		Data struct {
			Object stripeObject `json:"object"`
		} `json:"data"`
	}
	if err := json.Unmarshal(e.Payload, &body); err != nil {
		return w.finish(ctx, e, uuid.Nil, "unreadable: "+err.Error())
	}
	obj := body.Data.Object
	tenant, err := w.tenantOf(ctx, obj)
	if errors.Is(err, catalog.ErrTenantNotFound) {
		return w.finish(ctx, e, uuid.Nil, "no tenant")
	}
	if err != nil {
		return err
	}
	outcome, err := w.handle(ctx, e, obj, tenant)
	if err != nil {
		return err
	}
	if w.Logger != nil {
		w.Logger.InfoContext(ctx, "billing: Stripe event", "event", e.ID, "type", e.Type, "tenant", tenant, "outcome", outcome)
	}
	return w.finish(ctx, e, tenant, outcome)
}

// tenantOf finds an event's tenant: the tenant_id tenantkit sets in the
// metadata of every customer and subscription it creates (an invoice
// carries its subscription's in parent.subscription_details), else the
// customer id stored for the tenant.
func (w *EventWorker) tenantOf(ctx context.Context, obj stripeObject) (uuid.UUID, error) {
	ids := []string{obj.Metadata["tenant_id"]}
	if obj.Parent != nil && obj.Parent.SubscriptionDetails != nil {
		ids = append(ids, obj.Parent.SubscriptionDetails.Metadata["tenant_id"])
	}
	for _, s := range ids {
		if id, err := uuid.Parse(s); err == nil {
			if _, err := w.Store.GetTenant(ctx, id.String()); err != nil {
				return uuid.Nil, err
			}
			return id, nil
		}
	}
	customer := obj.ID
	if obj.Object != "customer" {
		customer = ""
		var s string
		if json.Unmarshal(obj.Customer, &s) == nil {
			customer = s
		} else {
			var c struct{ ID string }
			if json.Unmarshal(obj.Customer, &c) == nil {
				customer = c.ID
			}
		}
	}
	if customer == "" {
		return uuid.Nil, catalog.ErrTenantNotFound
	}
	return w.Store.TenantByCustomer(ctx, customer)
}

func (w *EventWorker) now() time.Time {
	if w.Config.Now != nil {
		return w.Config.Now()
	}
	return time.Now()
}

func (w *EventWorker) handle(ctx context.Context, e catalog.BillingEvent, obj stripeObject, tenant uuid.UUID) (string, error) {
	switch e.Type {
	case "invoice.payment_failed", "invoice.paid":
		// Invoice events are applied in the order Stripe made them: a
		// failure older than the last payment changes nothing.
		newer, err := w.Store.InvoiceEventNewer(ctx, tenant, e.Created)
		if err != nil || !newer {
			return "older than the tenant's last invoice event", err
		}
	}
	switch e.Type {
	case "invoice.payment_failed":
		t, err := w.Store.MarkPastDue(ctx, Actor, tenant, e.Created, w.Config.Grace)
		if err != nil {
			return "", err
		}
		if t.Status == catalog.StatusSuspended && t.SuspensionReason == catalog.OverdueReason {
			return "past due, suspended", nil
		}
		return "past due", nil
	case "invoice.paid":
		resumed, err := w.Store.ClearPastDue(ctx, Actor, tenant)
		if err != nil {
			return "", err
		}
		if resumed {
			return "paid, resumed", nil
		}
		return "paid", nil
	case "customer.subscription.deleted":
		newer, err := w.Store.SubscriptionEventNewer(ctx, tenant, e.Created)
		if err != nil || !newer {
			return "older than the subscription's last event", err
		}
		if w.Config.OnSubscriptionDeleted == "downgrade" {
			plan := w.Config.DowngradePlan
			if plan == "" {
				plan = catalog.DefaultPlan
			}
			if _, err := w.Store.SetPlanFromStripe(ctx, Actor, tenant, plan); err != nil {
				return "", err
			}
			return "subscription deleted, downgraded to " + plan, nil
		}
		if _, err := w.Store.SuspendTenant(ctx, Actor, tenant.String(), "subscription cancelled"); err != nil {
			return "", err
		}
		return "subscription deleted, suspended", nil
	case "customer.subscription.updated":
		newer, err := w.Store.SubscriptionEventNewer(ctx, tenant, e.Created)
		if err != nil || !newer {
			return "older than the subscription's last event", err
		}
		if obj.Items == nil {
			return "no items", nil
		}
		for _, it := range obj.Items.Data {
			plan, err := w.Store.PlanByBasePrice(ctx, it.Price.ID)
			if err != nil {
				continue
			}
			t, err := w.Store.GetTenant(ctx, tenant.String())
			if err != nil {
				return "", err
			}
			if t.Plan == plan {
				return "plan unchanged", nil
			}
			if _, err := w.Store.SetPlanFromStripe(ctx, Actor, tenant, plan); err != nil {
				return "", err
			}
			return "plan changed to " + plan, nil
		}
		return "no plan has these prices", nil
	}
	return fmt.Sprintf("ignored (%s)", e.Type), nil
}

// OverdueArgs is the periodic job that suspends past-due tenants whose
// grace ended.
type OverdueArgs struct{}

// Kind is the job's kind.
func (OverdueArgs) Kind() string { return "tenantkit_billing_overdue" }

// InsertOpts puts the job on the platform's queue.
func (OverdueArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{Queue: jobs.PlatformQueue} }

// OverdueWorker works OverdueArgs.
type OverdueWorker struct {
	river.WorkerDefaults[OverdueArgs]
	Store  *catalog.Store
	Now    func() time.Time
	Logger *slog.Logger
}

// Work suspends the tenants whose grace ended.
func (w *OverdueWorker) Work(ctx context.Context, _ *river.Job[OverdueArgs]) error {
	now := time.Now()
	if w.Now != nil {
		now = w.Now()
	}
	ts, err := w.Store.SuspendOverdue(ctx, Actor, now)
	for _, t := range ts {
		if w.Logger != nil {
			w.Logger.InfoContext(ctx, "billing: suspended a tenant whose payment is overdue", "tenant", t.Slug)
		}
	}
	return err
}
