package client

import (
	"context"
	"iter"
	"net/http"
	"strconv"
	"time"
)

// UsageReport is a tenant's metered usage in a billing period.
type UsageReport struct {
	TenantID string `json:"tenant_id"`
	Slug     string `json:"slug"`
	// Period is the billing month, YYYY-MM (UTC).
	Period         string  `json:"period"`
	APICalls       int64   `json:"api_calls"`
	ComputeMs      float64 `json:"compute_ms"`
	DBMs           float64 `json:"db_ms"`
	DBQueries      int64   `json:"db_queries"`
	BandwidthBytes int64   `json:"bandwidth_bytes"`
	// StorageBytes is the last storage sample of the period, taken by
	// StorageMethod at StorageSampledAt.
	StorageBytes     int64      `json:"storage_bytes"`
	StorageMethod    string     `json:"storage_method,omitempty"`
	StorageSampledAt *time.Time `json:"storage_sampled_at,omitempty"`
	// ActiveUsers counts the distinct users active in the period.
	ActiveUsers int64 `json:"active_users"`
	// Jobs counts the tenant's background job runs, whatever their
	// outcome; JobMs is their wall time.
	Jobs      int64      `json:"jobs"`
	JobMs     float64    `json:"job_ms"`
	UpdatedAt *time.Time `json:"updated_at,omitempty"`
}

// UsageExportParams select a page of every tenant's usage in a period.
type UsageExportParams struct {
	// Period is the billing month, YYYY-MM. Defaults to the server's
	// current month (UTC).
	Period string
	// After is the slug the page starts after: the Next of the page
	// before. Defaults to the first page.
	After string
	// Limit is the page size, 1 to 5000. Defaults to the server's, 1000.
	Limit int
}

// UsageExport is one page of every tenant's usage in a period, by slug:
// the tenants that used anything in it.
type UsageExport struct {
	Period  string        `json:"period"`
	Tenants []UsageReport `json:"tenants"`
	// Next is the After of the next page; empty on the last page.
	Next string `json:"next,omitempty"`
}

// Usage returns a tenant's usage in period (YYYY-MM; "" for the server's
// current month): zeros when nothing was recorded.
func (c *Client) Usage(ctx context.Context, ref, period string) (UsageReport, error) {
	var u UsageReport
	return u, c.call(ctx, http.MethodGet, tenantPath(ref)+"/usage", query("period", period), nil, &u)
}

// ExportUsage returns one page of every tenant's usage in a period, for
// billing.
func (c *Client) ExportUsage(ctx context.Context, p UsageExportParams) (UsageExport, error) {
	q := query("period", p.Period, "after", p.After)
	if p.Limit != 0 {
		q.Set("limit", strconv.Itoa(p.Limit))
	}
	var out UsageExport
	return out, c.call(ctx, http.MethodGet, "/api/v1/usage", q, nil, &out)
}

// UsageReports iterates over every tenant's usage in a period, from
// p.After on, asking for a page of p.Limit at a time. An error ends the
// iteration.
//
// With Period empty, every page asks for the server's current month,
// which may change between pages: set Period to export a month whole.
func (c *Client) UsageReports(ctx context.Context, p UsageExportParams) iter.Seq2[UsageReport, error] {
	return pages(func(after string) ([]UsageReport, string, error) {
		q := p
		q.After = after
		page, err := c.ExportUsage(ctx, q)
		return page.Tenants, page.Next, err
	}, p.After)
}
