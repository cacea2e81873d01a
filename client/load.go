package client

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// LoadReport ranks tenants by their recent load, busiest first.
type LoadReport struct {
	At            time.Time `json:"at"`
	WindowSeconds float64   `json:"window_seconds"`
	// Period is the billing month of the tenants' Usage.
	Period  string       `json:"period"`
	Tenants []TenantLoad `json:"tenants"`
}

// TenantLoad is a tenant's load over the window, summed over every
// process of the data plane, with its usage this period and any noisy
// finding.
type TenantLoad struct {
	TenantID string `json:"tenant_id"`
	Slug     string `json:"slug"`
	Plan     string `json:"plan"`
	Tier     string `json:"tier"`
	Cluster  string `json:"cluster"`
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

// NoisyState is a finding that a tenant is noisy: it takes more than its
// share of a dimension (requests, database time) and is not calm yet.
type NoisyState struct {
	Dimension      string    `json:"dimension"`
	Share          float64   `json:"share"`
	Since          time.Time `json:"since"`
	Recommendation string    `json:"recommendation"`
	// Command is a tenantkit command that would act on the
	// recommendation.
	Command   string `json:"command,omitempty"`
	Throttled bool   `json:"throttled"`
	// DetectedBy is the process whose finding has the highest share;
	// Processes how many processes find the tenant noisy.
	DetectedBy string    `json:"detected_by,omitempty"`
	Processes  int       `json:"processes"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// Load ranks the tenants with load over the last window, 10 s to 1 h (0
// for the server's default, a minute), and every tenant found noisy.
func (c *Client) Load(ctx context.Context, window time.Duration) (LoadReport, error) {
	q := url.Values{}
	if window != 0 {
		q.Set("window", window.String())
	}
	var rep LoadReport
	return rep, c.call(ctx, http.MethodGet, "/api/v1/load", q, nil, &rep)
}
