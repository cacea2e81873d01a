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

	"github.com/tenantkit/tenantkit/internal/bus"
	"github.com/tenantkit/tenantkit/internal/catalog/catalogdb"
)

// BillingEvent is a Stripe webhook event as stored.
type BillingEvent struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	Created   time.Time       `json:"created"`
	Payload   json.RawMessage `json:"payload"`
	HandledAt *time.Time      `json:"handled_at,omitempty"`
	Outcome   string          `json:"outcome,omitempty"`
}

// OverdueReason is the suspension reason billing gives: the only one
// billing lifts when the invoice is paid.
const OverdueReason = "payment overdue"

// RecordBillingEvent stores a Stripe event by its id and, when it is new,
// calls enqueue in the same transaction (the job that handles it): an
// event is handled once however often Stripe sends it. It says whether
// the event was new.
func (s *Store) RecordBillingEvent(ctx context.Context, e BillingEvent, enqueue func(context.Context, pgx.Tx) error) (bool, error) {
	isNew := false
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := s.q.WithTx(tx).InsertBillingEvent(ctx, catalogdb.InsertBillingEventParams{ID: e.ID, Type: e.Type, Created: e.Created, Payload: e.Payload})
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // seen before
		}
		if err != nil {
			return err
		}
		isNew = true
		return enqueue(ctx, tx)
	})
	return isNew, err
}

// GetBillingEvent returns a stored event.
func (s *Store) GetBillingEvent(ctx context.Context, id string) (BillingEvent, error) {
	r, err := s.q.GetBillingEvent(ctx, id)
	if err != nil {
		return BillingEvent{}, fmt.Errorf("catalog: billing event %s: %w", id, err)
	}
	return BillingEvent{ID: r.ID, Type: r.Type, Created: r.Created, Payload: r.Payload, HandledAt: r.HandledAt, Outcome: r.Outcome}, nil
}

// FinishBillingEvent records how an event was handled, and for which
// tenant (uuid.Nil for none).
func (s *Store) FinishBillingEvent(ctx context.Context, id string, tenant uuid.UUID, outcome string) error {
	return s.q.FinishBillingEvent(ctx, catalogdb.FinishBillingEventParams{ID: id, Outcome: outcome,
		TenantID: pgtype.UUID{Bytes: tenant, Valid: tenant != uuid.Nil}})
}

// TenantByCustomer finds the tenant of a Stripe customer id.
func (s *Store) TenantByCustomer(ctx context.Context, customer string) (uuid.UUID, error) {
	id, err := s.q.TenantByCustomer(ctx, customer)
	if errors.Is(err, pgx.ErrNoRows) {
		return uuid.Nil, ErrTenantNotFound
	}
	return id, err
}

// MarkPastDue records that tenant's invoice went unpaid at since: the
// tenant context says so from now on, and the tenant is suspended with
// OverdueReason once grace has passed (at once when grace is zero or
// less). A tenant already past due keeps its first date.
func (s *Store) MarkPastDue(ctx context.Context, actor string, tenant uuid.UUID, since time.Time, grace time.Duration) (Tenant, error) {
	var t Tenant
	err := s.write(ctx, func(q *catalogdb.Queries) (bus.Message, error) {
		before, err := s.get(ctx, q, tenant.String(), true)
		if err != nil {
			return bus.Message{}, err
		}
		if err := q.EnsureBillingAccount(ctx, tenant); err != nil {
			return bus.Message{}, err
		}
		until := since.Add(max(grace, 0))
		if err := q.SetPastDue(ctx, catalogdb.SetPastDueParams{TenantID: tenant, Since: &since, GraceUntil: &until}); err != nil {
			return bus.Message{}, err
		}
		t = before
		if grace <= 0 && before.Status == StatusActive {
			if t, err = suspendOverdue(ctx, q, actor, before); err != nil {
				return bus.Message{}, err
			}
		}
		return tenantMessage(t, ""), audit(ctx, q, actor, "billing.past_due", tenant, nil, map[string]any{"since": since, "grace_until": until})
	})
	return t, err
}

// suspendOverdue suspends t for an unpaid invoice, noting that billing
// did, so that paying lifts it.
func suspendOverdue(ctx context.Context, q *catalogdb.Queries, actor string, before Tenant) (Tenant, error) {
	row, err := q.SetTenantStatus(ctx, catalogdb.SetTenantStatusParams{ID: before.ID, Status: StatusSuspended, SuspensionReason: OverdueReason})
	if err != nil {
		return Tenant{}, err
	}
	if err := q.SetSuspendedByBilling(ctx, before.ID); err != nil {
		return Tenant{}, err
	}
	t := fromRow(row)
	return t, audit(ctx, q, actor, "tenant.suspend", t.ID, before, t)
}

// SuspendOverdue suspends, with OverdueReason, the active tenants whose
// grace period ended by now, and returns them.
func (s *Store) SuspendOverdue(ctx context.Context, actor string, now time.Time) ([]Tenant, error) {
	ids, err := s.q.OverdueTenants(ctx, &now)
	if err != nil {
		return nil, err
	}
	var out []Tenant
	for _, id := range ids {
		var t Tenant
		err := s.write(ctx, func(q *catalogdb.Queries) (bus.Message, error) {
			before, err := s.get(ctx, q, id.String(), true)
			if err != nil || before.Status != StatusActive {
				return bus.Message{}, err
			}
			if t, err = suspendOverdue(ctx, q, actor, before); err != nil {
				return bus.Message{}, err
			}
			return tenantMessage(t, ""), nil
		})
		if err != nil {
			return out, err
		}
		if t.ID != uuid.Nil {
			out = append(out, t)
		}
	}
	return out, nil
}

// ClearPastDue records that tenant's invoice was paid: it is no longer
// past due, and if billing suspended it, it is resumed. A tenant an
// operator suspended stays suspended. It says whether it resumed it.
func (s *Store) ClearPastDue(ctx context.Context, actor string, tenant uuid.UUID) (bool, error) {
	resumed := false
	err := s.write(ctx, func(q *catalogdb.Queries) (bus.Message, error) {
		before, err := s.get(ctx, q, tenant.String(), true)
		if err != nil {
			return bus.Message{}, err
		}
		byBilling, err := q.ClearPastDue(ctx, tenant)
		if errors.Is(err, pgx.ErrNoRows) {
			return bus.Message{}, nil // never billed
		}
		if err != nil {
			return bus.Message{}, err
		}
		t := before
		if byBilling && before.Status == StatusSuspended && before.SuspensionReason == OverdueReason {
			row, err := q.SetTenantStatus(ctx, catalogdb.SetTenantStatusParams{ID: before.ID, Status: StatusActive})
			if err != nil {
				return bus.Message{}, err
			}
			t, resumed = fromRow(row), true
			if err := audit(ctx, q, actor, "tenant.resume", t.ID, before, t); err != nil {
				return bus.Message{}, err
			}
		}
		return tenantMessage(t, ""), audit(ctx, q, actor, "billing.paid", tenant, nil, map[string]any{"resumed": resumed})
	})
	return resumed, err
}

// SubscriptionEventNewer records at as the time of the newest
// subscription event applied for tenant, and says whether it is newer
// than any before (an older event arriving late is not applied).
func (s *Store) SubscriptionEventNewer(ctx context.Context, tenant uuid.UUID, at time.Time) (bool, error) {
	if err := s.q.EnsureBillingAccount(ctx, tenant); err != nil {
		return false, err
	}
	_, err := s.q.SetSubscriptionEventAt(ctx, catalogdb.SetSubscriptionEventAtParams{TenantID: tenant, At: &at})
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// InvoiceEventNewer records at as the time of the newest invoice event
// applied for tenant, and says whether it is newer than any before.
func (s *Store) InvoiceEventNewer(ctx context.Context, tenant uuid.UUID, at time.Time) (bool, error) {
	if err := s.q.EnsureBillingAccount(ctx, tenant); err != nil {
		return false, err
	}
	_, err := s.q.SetInvoiceEventAt(ctx, catalogdb.SetInvoiceEventAtParams{TenantID: tenant, At: &at})
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// PlanByBasePrice finds the plan whose base price is price.
func (s *Store) PlanByBasePrice(ctx context.Context, price string) (string, error) {
	plans, err := s.q.PlanByBasePrice(ctx, price)
	if err != nil {
		return "", err
	}
	if len(plans) != 1 {
		return "", fmt.Errorf("%w: %d plans have base price %s", ErrPlanNotFound, len(plans), price)
	}
	return plans[0], nil
}

// SetPlanFromStripe moves a tenant to plan because Stripe's subscription
// says so (a plan chosen in the Customer Portal): the same change as
// SetTenantPlan (limits, features, caches, audit), forced, and not sent
// back to Stripe.
func (s *Store) SetPlanFromStripe(ctx context.Context, actor string, tenant uuid.UUID, plan string) (Tenant, error) {
	return s.setTenantPlan(ctx, actor, tenant.String(), SetPlanParams{Plan: plan, Force: true}, false)
}
