package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

// requireLoadUsageAndNoisy walks issue 7's "done when" in the dev server:
// load against two demo tenants (tenantkit traffic), then /metrics and
// tenantkit top show both tenants' load and this month's usage, and the
// heavier one flagged with a recommendation.
func requireLoadUsageAndNoisy(t *testing.T, vars map[string]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	outs := map[string]*tenantkittest.SyncBuffer{}
	for slug, args := range map[string][]string{
		"acme":   {"traffic", "acme", "--rate", "80", "--workers", "8"},
		"globex": {"traffic", "globex", "--rate", "4", "--workers", "1"},
	} {
		out := &tenantkittest.SyncBuffer{}
		outs[slug] = out
		wg.Add(1)
		go func() {
			defer wg.Done()
			var stderr bytes.Buffer
			if exit := run(ctx, args, env{stdin: strings.NewReader(""), stdout: out, stderr: &stderr, getenv: mapEnv(vars)}); exit != exitOK {
				t.Errorf("traffic %s: exit %d: %s", slug, exit, stderr.String())
			}
		}()
	}
	defer func() { cancel(); wg.Wait() }()

	viaServer := map[string]string{"TENANTKIT_SERVER": vars["TENANTKIT_URL"], "TENANTKIT_ADMIN_TOKEN": vars["TENANTKIT_ADMIN_TOKEN"]}
	var rep catalog.LoadReport
	start := time.Now()
	for deadline := start.Add(90 * time.Second); ; time.Sleep(time.Second) {
		if time.Now().After(deadline) {
			t.Fatalf("acme not flagged noisy within 90s; top: %+v\ntraffic acme:\n%s", rep, outs["acme"])
		}
		r := runCLI(t, viaServer, "top", "-o", "json")
		if r.exit != exitOK || json.Unmarshal([]byte(r.stdout), &rep) != nil {
			t.Fatalf("top -o json: %+v", r)
		}
		if len(rep.Tenants) >= 2 && rep.Tenants[0].Slug == "acme" && len(rep.Tenants[0].Noisy) > 0 {
			break
		}
	}
	t.Logf("acme flagged after %v: %s", time.Since(start).Round(time.Second), rep.Tenants[0].Noisy[0].Recommendation)
	byslug := map[string]catalog.TenantLoad{}
	for _, tl := range rep.Tenants {
		byslug[tl.Slug] = tl
	}
	acme, globex := byslug["acme"], byslug["globex"]
	if globex.Requests == 0 || acme.Usage.APICalls == 0 || globex.Usage.APICalls == 0 || acme.Usage.ActiveUsers == 0 || len(globex.Noisy) > 0 {
		t.Fatalf("top: acme %+v\nglobex %+v", acme, globex)
	}
	if n := acme.Noisy[0]; !strings.Contains(n.Command, "acme") || !strings.Contains(n.Recommendation, "tenantkit ") {
		t.Fatalf("finding without a command: %+v", n)
	}

	// The text view, as a user sees it (not a terminal: one snapshot).
	r := runCLI(t, viaServer, "top")
	if r.exit != exitOK || !strings.Contains(r.stdout, "acme") || !strings.Contains(r.stdout, "globex") ||
		!strings.Contains(r.stdout, "NOISY") || !strings.Contains(r.stdout, acme.Noisy[0].Command) {
		t.Fatalf("top:\n%s\n%s", r.stdout, r.stderr)
	}
	t.Logf("top:\n%s", r.stdout)

	// Usage this month, with storage sampled when the server started.
	r = runCLI(t, viaServer, "usage", "acme", "-o", "json")
	var u catalog.UsageReport
	if r.exit != exitOK || json.Unmarshal([]byte(r.stdout), &u) != nil || u.APICalls == 0 || u.StorageBytes == 0 || u.Period != catalog.Period(time.Now()) {
		t.Fatalf("usage acme: %+v (%+v)", u, r)
	}

	// /metrics: both tenants under their own label, the finding's gauge.
	req, _ := http.NewRequest(http.MethodGet, vars["TENANTKIT_URL"]+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+vars["TENANTKIT_ADMIN_TOKEN"])
	code, _, body := do(t, req)
	metrics := string(body)
	for _, want := range []string{`tenant="acme"`, `tenant="globex"`, `tenantkit_noisy_tenant_share{dimension="requests",tenant="acme"}`,
		`tenantkit_pool_connections{`, `tenantkit_tenant_cache_hit_ratio`} {
		if code != http.StatusOK || !strings.Contains(metrics, want) {
			t.Fatalf("/metrics (%d) lacks %s", code, want)
		}
	}
}
