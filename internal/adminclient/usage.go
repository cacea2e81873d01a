package adminclient

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/tenantkit/tenantkit/internal/adminapi"
	"github.com/tenantkit/tenantkit/internal/catalog"
)

// Usage returns a tenant's usage in period (YYYY-MM; "" for the server's
// current month).
func (c *Client) Usage(ctx context.Context, ref, period string) (catalog.UsageReport, error) {
	var u catalog.UsageReport
	return u, c.do(ctx, http.MethodGet, tenantPath(ref)+"/usage"+periodQuery(period), nil, &u)
}

// UsageAll returns every tenant's usage in period (YYYY-MM; "" for the
// server's current month), for billing, asking for it a page at a time.
func (c *Client) UsageAll(ctx context.Context, period string) (adminapi.UsageExport, error) {
	var all adminapi.UsageExport
	q := url.Values{"limit": {strconv.Itoa(catalog.MaxUsagePage)}}
	if period != "" {
		q.Set("period", period)
	}
	for {
		var page adminapi.UsageExport
		if err := c.do(ctx, http.MethodGet, "/api/v1/usage?"+q.Encode(), nil, &page); err != nil {
			return adminapi.UsageExport{}, err
		}
		all.Period = page.Period
		all.Tenants = append(all.Tenants, page.Tenants...)
		if page.Next == "" {
			if all.Tenants == nil {
				all.Tenants = []catalog.UsageReport{}
			}
			return all, nil
		}
		q.Set("after", page.Next)
	}
}

// Load ranks tenants by their load over the last window (0 for the
// server's default, a minute).
func (c *Client) Load(ctx context.Context, window time.Duration) (catalog.LoadReport, error) {
	path := "/api/v1/load"
	if window != 0 {
		path += "?" + url.Values{"window": {window.String()}}.Encode()
	}
	var rep catalog.LoadReport
	return rep, c.do(ctx, http.MethodGet, path, nil, &rep)
}

func periodQuery(period string) string {
	if period == "" {
		return ""
	}
	return "?" + url.Values{"period": {period}}.Encode()
}
