package billing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/riverqueue/river"
	"github.com/stripe/stripe-go/v86"

	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/jobs"
)

// ReportOptions shape a usage report.
type ReportOptions struct {
	// Slug reports one tenant; empty reports every billed tenant.
	Slug string
	// Resend sends again every event of the period Stripe confirmed, with
	// its identifier: Stripe counts each once.
	Resend bool
	// Now is the clock. Defaults to time.Now.
	Now func() time.Time
}

// ReportResult is what a report did, and the reconciliation after it.
type ReportResult struct {
	Period string `json:"period"`
	// Sent are the identifiers of the meter events sent, in order.
	Sent []string `json:"sent"`
	// Failed counts events Stripe did not take; they stay unconfirmed and
	// the next report sends them again with the same identifier.
	Failed    int    `json:"failed"`
	LastError string `json:"last_error,omitempty"`
	// Usage sets each tenant's catalog usage beside what Stripe confirmed.
	Usage []catalog.MeteredUsage `json:"usage"`
}

// identifier is a meter event's identifier: unique to the tenant, the
// metric, the period and the event's place in it.
func identifier(mu catalog.MeteredUsage, period string, seq int) string {
	return "tk_" + mu.TenantID.String() + "_" + mu.Metric + "_" + period + "_" + strconv.Itoa(seq)
}

// ReportUsage reports the period's metered usage (YYYY-MM) to Stripe's
// Billing Meters: for each billed tenant and metered metric, what the
// catalog counted since the last event (the current value for a
// last-value metric) becomes one new meter event, written in the catalog
// before it is sent; events Stripe has not confirmed are sent again with
// their identifier. Run it again at any time: nothing is counted twice. A
// report of a period that has ended marks its events final and stamps
// them at the period's last second.
func (b *Billing) ReportUsage(ctx context.Context, store *catalog.Store, period string, opts ReportOptions) (ReportResult, error) {
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	if _, err := catalog.ParsePeriod(period); err != nil {
		return ReportResult{}, err
	}
	start, _ := time.Parse("2006-01", period)
	end := start.AddDate(0, 1, 0)
	ended := !now().Before(end)
	stamp := func() int64 {
		if ended {
			return end.Add(-time.Second).Unix()
		}
		return now().Unix()
	}
	usage, err := store.MeteredUsageOf(ctx, period, opts.Slug)
	if err != nil {
		return ReportResult{}, err
	}
	res := ReportResult{Period: period, Sent: []string{}}
	for _, mu := range usage {
		var value int64
		if catalog.LastValueMetrics[mu.Metric] {
			if len(mu.Events) == 0 || mu.Catalog != mu.LastTotal {
				value = mu.Catalog
			}
		} else if d := mu.Catalog - mu.LastTotal; d > 0 {
			value = d
		}
		send := mu.Unconfirmed
		if opts.Resend {
			send = mu.Events
		}
		if value > 0 {
			e := catalog.UsageEvent{Seq: mu.NextSeq, Value: value, Total: mu.Catalog, Identifier: identifier(mu, period, mu.NextSeq), Final: ended}
			if err := store.RecordUsageEvent(ctx, mu, period, e); err != nil {
				return res, err
			}
			send = append(send, e)
		}
		for _, e := range send {
			p := &stripe.BillingMeterEventCreateParams{
				EventName: stripe.String(mu.Meter), Identifier: stripe.String(e.Identifier), Timestamp: stripe.Int64(stamp()),
				Payload: map[string]string{"stripe_customer_id": mu.CustomerID, "value": strconv.FormatInt(e.Value, 10)},
			}
			if _, err := b.sc.V1BillingMeterEvents.Create(ctx, p); err != nil {
				res.Failed++
				res.LastError = fmt.Sprintf("%s: %v", e.Identifier, err)
				if errors.Is(ctx.Err(), context.Canceled) {
					return res, ctx.Err()
				}
				continue
			}
			res.Sent = append(res.Sent, e.Identifier)
			if e.ReportedAt == nil {
				if err := store.ConfirmUsageEvent(ctx, e.Identifier); err != nil {
					return res, err
				}
			}
		}
	}
	if res.Usage, err = store.MeteredUsageOf(ctx, period, opts.Slug); err != nil {
		return res, err
	}
	return res, nil
}

// ReportArgs is the periodic job that reports usage to the meters.
type ReportArgs struct{}

// Kind is the job's kind.
func (ReportArgs) Kind() string { return "tenantkit_billing_report" }

// InsertOpts puts the job on the platform's queue.
func (ReportArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{Queue: jobs.PlatformQueue} }

// ReportWorker reports the current month's usage and, in the first three
// days of a month, the month before's once more: its final report, before
// its invoice is finalised.
type ReportWorker struct {
	river.WorkerDefaults[ReportArgs]
	Billing *Billing
	Store   *catalog.Store
	Logger  *slog.Logger
}

// Work reports.
func (w *ReportWorker) Work(ctx context.Context, _ *river.Job[ReportArgs]) error {
	now := time.Now().UTC()
	periods := []string{now.Format("2006-01")}
	if now.Day() <= 3 {
		periods = append([]string{now.AddDate(0, 0, -now.Day()).Format("2006-01")}, periods...)
	}
	for _, p := range periods {
		res, err := w.Billing.ReportUsage(ctx, w.Store, p, ReportOptions{})
		if err != nil {
			return err
		}
		if res.Failed > 0 && w.Logger != nil {
			w.Logger.WarnContext(ctx, "billing: Stripe did not take some meter events; the next report sends them again",
				"period", p, "failed", res.Failed, "last", res.LastError)
		}
	}
	return nil
}
