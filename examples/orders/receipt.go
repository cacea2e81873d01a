package orders

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/tenantkit/tenantkit"
)

// ReceiptArgs are a receipt job's arguments: the order, and the address its
// receipt goes to (the customer's when it was asked for).
type ReceiptArgs struct {
	OrderID int64  `json:"order_id"`
	To      string `json:"to"`
}

// Kind is the job kind of receipts.
func (ReceiptArgs) Kind() string { return "receipt" }

// ErrOrderNotFound is returned by RequestReceipt for an order the tenant
// does not have.
var ErrOrderNotFound = errors.New("orders: no such order")

// RequestReceipt enqueues a receipt job for order id of the tenant of ctx,
// in the transaction that finds the order and its customer's address: the
// job exists if and only if the order did. It needs a Kit with
// Config.Jobs (tenantkit.ErrJobsOff otherwise).
func RequestReceipt(ctx context.Context, kit *tenantkit.Kit, id int64) (*rivertype.JobInsertResult, error) {
	var res *rivertype.JobInsertResult
	err := kit.Tx(ctx, func(tx pgx.Tx) error {
		var to string
		err := tx.QueryRow(ctx, `SELECT c.email FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.id = $1`, id).Scan(&to)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrOrderNotFound
		}
		if err != nil {
			return err
		}
		res, err = kit.EnqueueTx(ctx, tx, ReceiptArgs{OrderID: id, To: to}, nil)
		return err
	})
	return res, err
}

// ReceiptRequest is the answer to POST /api/orders/{id}/receipt.
type ReceiptRequest struct {
	JobID   int64  `json:"job_id"`
	OrderID int64  `json:"order_id"`
	To      string `json:"to"`
	// Status is "queued": the receipt is sent in the background.
	Status string `json:"status"`
}

func (a *app) requestReceipt(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		fail(w, http.StatusNotFound, "no such order")
		return
	}
	res, err := RequestReceipt(r.Context(), a.kit, id)
	switch {
	case errors.Is(err, ErrOrderNotFound):
		fail(w, http.StatusNotFound, "no such order")
		return
	case errors.Is(err, tenantkit.ErrJobsOff):
		fail(w, http.StatusServiceUnavailable, "receipts are sent by background jobs, which this server does not run")
		return
	case err != nil:
		serverError(w, err)
		return
	}
	var args ReceiptArgs
	_ = json.Unmarshal(res.Job.EncodedArgs, &args)
	writeJSON(w, http.StatusAccepted, ReceiptRequest{JobID: res.Job.ID, OrderID: id, To: args.To, Status: "queued"})
}

// ReceiptRecord is a receipt job's output (River's JobRow.Output): the
// record of its send, which makes the job idempotent. See
// ReceiptWorker.Work.
type ReceiptRecord struct {
	// State is ReceiptSending, ReceiptSent, ReceiptUnsent or
	// ReceiptUnknown.
	State string `json:"state"`
	// Run names the run of the job that claimed the send.
	Run     string `json:"run"`
	Attempt int    `json:"attempt"`
	// MessageID and Provider are the provider's id of the message sent and
	// the provider's name.
	MessageID string     `json:"message_id,omitempty"`
	Provider  string     `json:"provider,omitempty"`
	SentAt    *time.Time `json:"sent_at,omitempty"`
	// Error is why a run did not send: the provider's refusal.
	Error string `json:"error,omitempty"`
}

// Receipt states.
const (
	// ReceiptSending: a run is about to hand the message to the provider,
	// or is doing it, or died doing it.
	ReceiptSending = "sending"
	// ReceiptSent: the provider took the message.
	ReceiptSent = "sent"
	// ReceiptUnsent: a run's send failed; the next run sends.
	ReceiptUnsent = "unsent"
	// ReceiptUnknown: a run died while sending; the receipt may have gone
	// out and is not sent again.
	ReceiptUnknown = "unknown"
)

// ReceiptKeyHeader carries a receipt's idempotency key on the message, so
// that a duplicate can be recognised downstream (the provider's log, the
// recipient's mail system). No provider deduplicates on it.
const ReceiptKeyHeader = "X-Receipt-Key"

// ReceiptWorker sends an order's receipt, branded with its tenant's
// branding, through the tenant's email integration (Kit.Email).
type ReceiptWorker struct {
	river.WorkerDefaults[ReceiptArgs]
	kit func() *tenantkit.Kit
	// beforeSend and afterSend, when set, run just before and just after
	// the message is handed to the provider; an error stops the run there
	// (tests).
	beforeSend, afterSend func() error
}

// NewReceiptWorker returns the receipt worker. kit returns the Kit the
// worker's jobs run in; it is called only when a job runs, so it may
// return a Kit built after the worker (from a Config holding it).
func NewReceiptWorker(kit func() *tenantkit.Kit) *ReceiptWorker {
	return &ReceiptWorker{kit: kit}
}

// Workers returns the application's River workers, for
// tenantkit.JobsConfig.Workers: the receipt worker. kit is as for
// NewReceiptWorker.
func Workers(kit func() *tenantkit.Kit) *river.Workers {
	workers := river.NewWorkers()
	river.AddWorker(workers, NewReceiptWorker(kit))
	return workers
}

// errReceiptUnknown cancels a job whose earlier run died while sending.
var errReceiptUnknown = errors.New("an earlier run died while sending this receipt: it may have gone out, so it is not sent again " +
	"(ask for a new receipt to send one)")

// Work sends the receipt of job.Args.OrderID once.
//
// The send is a side effect outside any transaction, so the job records
// it around the call, in its own River row (its output), keyed by the job:
// "sending" with this run's id before the provider is called, "sent" with
// the provider's message id after. A run that finds "sent" does nothing;
// one whose send failed records "unsent" and returns the error, so that
// River's retry sends. A run that finds "sending" left by another run
// cannot know whether the message went out (that run died, or could not
// record what happened): it does not send, records "unknown" and cancels
// the job with an error an operator sees. Asking for a new receipt (a new
// job, a new key) sends one.
//
// What remains, honestly: a run killed after it recorded "sending" and
// before the provider took the message (the call in flight), or whose
// failed send could not be recorded "unsent", leaves the receipt unsent
// and "unknown": at most once, not exactly once. A provider that took the
// message but whose answer was lost (a timeout) is told again, as after
// any failed send: at least once there. Closing either window needs the
// provider to deduplicate on a key, which Kit.Email cannot pass (no
// Message-ID, no idempotency key): ReceiptKeyHeader only rides on the
// message. Two runs of one job at once would both send; River runs a job
// again while it may still run only once it was stuck for
// RescueStuckJobsAfter (1 hour by default), far past the job timeout (1
// minute) — which is also when a killed run's job is retried.
func (w *ReceiptWorker) Work(ctx context.Context, job *river.Job[ReceiptArgs]) error {
	kit := w.kit()
	t, ok := tenantkit.FromContext(ctx)
	if !ok {
		return river.JobCancel(fmt.Errorf("receipt job %d has no tenant", job.ID))
	}
	o, err := loadOrder(ctx, kit, job.Args.OrderID)
	if errors.Is(err, pgx.ErrNoRows) {
		return river.JobCancel(fmt.Errorf("receipt of order %d: %w", job.Args.OrderID, ErrOrderNotFound))
	}
	if err != nil {
		return err
	}
	msg, err := receiptMessage(ctx, kit, t, o, job.Args.To)
	if err != nil {
		return err
	}
	msg.Headers = map[string]string{ReceiptKeyHeader: fmt.Sprintf("receipt-%d.%s", job.ID, t.ID)}
	run := uuid.NewString()
	send, err := w.claim(ctx, kit, job, run)
	if !send || err != nil {
		return err
	}
	res, err := w.send(kit.Email(ctx), msg)
	if err != nil {
		return errors.Join(err, w.record(ctx, kit, job, ReceiptRecord{State: ReceiptUnsent, Run: run, Attempt: job.Attempt, Error: err.Error()}))
	}
	if w.afterSend != nil {
		if err := w.afterSend(); err != nil {
			return err
		}
	}
	now := time.Now().UTC()
	return w.record(ctx, kit, job, ReceiptRecord{State: ReceiptSent, Run: run, Attempt: job.Attempt,
		MessageID: res.ID, Provider: res.Provider, SentAt: &now})
}

// claim reads the job's record as it is now and, when no run sent or is
// sending the receipt, records that this run is. send says whether to.
func (w *ReceiptWorker) claim(ctx context.Context, kit *tenantkit.Kit, job *river.Job[ReceiptArgs], run string) (send bool, err error) {
	row, err := kit.Jobs().JobGet(ctx, job.ID)
	if err != nil {
		return false, err
	}
	var rec ReceiptRecord
	if out := row.Output(); len(out) > 0 {
		if err := json.Unmarshal(out, &rec); err != nil {
			return false, fmt.Errorf("receipt job %d: its record: %w", job.ID, err)
		}
	}
	switch rec.State {
	case ReceiptSent:
		return false, nil
	case ReceiptSending:
		rec.State = ReceiptUnknown
		if err := w.record(ctx, kit, job, rec); err != nil {
			return false, err
		}
		return false, river.JobCancel(errReceiptUnknown)
	case ReceiptUnknown:
		return false, river.JobCancel(errReceiptUnknown)
	}
	return true, w.record(ctx, kit, job, ReceiptRecord{State: ReceiptSending, Run: run, Attempt: job.Attempt})
}

// record writes rec as the job's output, even when the job's context is
// done: it is what the next run goes by.
func (w *ReceiptWorker) record(ctx context.Context, kit *tenantkit.Kit, job *river.Job[ReceiptArgs], rec ReceiptRecord) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, err := kit.Jobs().JobUpdate(ctx, job.ID, &river.JobUpdateParams{Output: rec}); err != nil {
		return fmt.Errorf("record receipt job %d as %s: %w", job.ID, rec.State, err)
	}
	return nil
}

func (w *ReceiptWorker) send(mail *tenantkit.Email, msg tenantkit.EmailMessage) (tenantkit.EmailResult, error) {
	if w.beforeSend != nil {
		if err := w.beforeSend(); err != nil {
			return tenantkit.EmailResult{}, err
		}
	}
	return mail.Send(msg)
}
