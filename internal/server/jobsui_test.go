package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/tenantkit/tenantkit"
	"github.com/tenantkit/tenantkit/internal/contract"
	"github.com/tenantkit/tenantkit/internal/jobs"
	"github.com/tenantkit/tenantkit/internal/server"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

func TestMain(m *testing.M) { tenantkittest.Main(m) }

const token = "server-test-token-0123456789"

type testArgs struct{ N int }

func (testArgs) Kind() string { return "test" }

// serve runs a server on a catalog of the test's own until the test ends,
// and returns its address and its catalog pool.
func serve(t *testing.T) (string, *pgxpool.Pool) {
	t.Helper()
	db := tenantkittest.NewCatalog(t)
	cfg, err := pgxpool.ParseConfig(db.OwnerDSN())
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = "" // queries name their schema
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	log := slog.New(slog.DiscardHandler)
	kit, err := tenantkit.New(tenantkit.Config{Pool: pool, DatabaseURL: db.OwnerDSN(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kit.Close)
	srv, err := server.New(server.Config{Pool: pool, Kit: kit, AdminToken: token, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return "http://" + l.Addr().String(), pool
}

type answer struct {
	code   int
	header http.Header
	body   string
}

// get asks base+path with the given Authorization ("" for none) and more
// header name/value pairs.
func get(t *testing.T, method, url, auth string, hdr ...string) answer {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	c := &http.Client{
		// Admin-API answers held to the contract; the redirect is looked at.
		Transport:     contract.Transport(t, nil),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, string(b)}
}

func basic(user, password string) string {
	req, _ := http.NewRequest("GET", "/", nil)
	req.SetBasicAuth(user, password)
	return req.Header.Get("Authorization")
}

// TestRiverUIIsServedToHoldersOfTheAdminToken: River's UI answers under
// /admin/jobs to the admin token, as a Basic password (a browser) or a
// bearer token, and challenges everyone else; its API lists the jobs of
// the catalog's queue.
func TestRiverUIIsServedToHoldersOfTheAdminToken(t *testing.T) {
	t.Parallel()
	base, pool := serve(t)
	rc, err := jobs.NewClient(pool)
	if err != nil {
		t.Fatal(err)
	}
	res, err := rc.Insert(context.Background(), testArgs{N: 1}, &river.InsertOpts{Metadata: []byte(`{"tenant_id":"5b0c3ab1-8c4f-4a43-9bd1-1a5c8b7e3f00","tenant":"acme"}`)})
	if err != nil {
		t.Fatal(err)
	}

	for _, auth := range []string{"", basic("admin", "wrong-token-0123456789"), "Bearer wrong-token-0123456789", basic(token, ""), "Basic !!!"} {
		for _, path := range []string{"/admin/jobs/", "/admin/jobs", "/admin/jobs/api/jobs", "/admin/jobs/jobs/1"} {
			a := get(t, "GET", base+path, auth)
			if a.code != http.StatusUnauthorized || a.header.Get("WWW-Authenticate") != `Basic realm="tenantkit"` ||
				a.header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("GET %s with %q: %d %q %s", path, auth, a.code, a.header.Get("WWW-Authenticate"), a.body)
			}
		}
	}

	for _, auth := range []string{basic("admin", token), basic("", token), "Bearer " + token} {
		a := get(t, "GET", base+"/admin/jobs/", auth)
		if a.code != http.StatusOK || !strings.HasPrefix(a.header.Get("Content-Type"), "text/html") || !strings.Contains(a.body, "<html") {
			t.Fatalf("GET /admin/jobs/ with %q: %d %s %.200s", auth, a.code, a.header.Get("Content-Type"), a.body)
		}
	}
	if a := get(t, "GET", base+"/admin/jobs", basic("admin", token)); a.code != http.StatusMovedPermanently || a.header.Get("Location") != "/admin/jobs/" {
		t.Fatalf("GET /admin/jobs: %d Location %q", a.code, a.header.Get("Location"))
	}
	a := get(t, "GET", base+"/admin/jobs/api/jobs?state=available", basic("admin", token))
	var list struct {
		Data []struct {
			ID   int64  `json:"id"`
			Kind string `json:"kind"`
		} `json:"data"`
	}
	if a.code != http.StatusOK || json.Unmarshal([]byte(a.body), &list) != nil || len(list.Data) != 1 ||
		list.Data[0].ID != res.Job.ID || list.Data[0].Kind != "test" {
		t.Fatalf("GET /admin/jobs/api/jobs: %d %s", a.code, a.body)
	}
	if a := get(t, "GET", base+"/admin/jobs/api/states", basic("admin", token)); a.code != http.StatusOK || !strings.Contains(a.body, `"available"`) {
		t.Fatalf("GET /admin/jobs/api/states: %d %s", a.code, a.body)
	}

	// The UI's writes are taken from its own pages only: a cross-site
	// request, which a browser would send with the Basic credentials it
	// holds, is refused and changes nothing.
	cancelPath := base + "/admin/jobs/api/jobs/cancel"
	body := fmt.Sprintf(`{"ids":["%d"]}`, res.Job.ID)
	if a := post(t, cancelPath, body, basic("admin", token), "Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"); a.code != http.StatusForbidden {
		t.Fatalf("cross-site cancel: %d %s", a.code, a.body)
	}
	if j, err := jobs.Get(context.Background(), rc, res.Job.ID); err != nil || j.State != "available" {
		t.Fatalf("after a refused cancel the job is %+v (%v)", j, err)
	}
	if a := post(t, cancelPath, body, basic("admin", token), "Sec-Fetch-Site", "same-origin"); a.code != http.StatusOK {
		t.Fatalf("same-origin cancel: %d %s", a.code, a.body)
	}
	if j, err := jobs.Get(context.Background(), rc, res.Job.ID); err != nil || j.State != "cancelled" {
		t.Fatalf("after a cancel the job is %+v (%v)", j, err)
	}

	// Nothing else changed hands: the admin API still wants its bearer
	// token, and paths beside the UI's go to the tenant pipeline.
	if a := get(t, "GET", base+"/api/v1/jobs", basic("admin", token)); a.code != http.StatusUnauthorized || a.header.Get("WWW-Authenticate") != `Bearer realm="tenantkit"` {
		t.Fatalf("GET /api/v1/jobs with Basic: %d %s", a.code, a.body)
	}
	if a := get(t, "GET", base+"/api/v1/jobs", "Bearer "+token); a.code != http.StatusOK || !strings.Contains(a.body, `"tenant":"acme"`) {
		t.Fatalf("GET /api/v1/jobs: %d %s", a.code, a.body)
	}
	if a := get(t, "GET", base+"/admin/jobsx", basic("admin", token)); a.code == http.StatusOK || strings.Contains(a.body, "<html") {
		t.Fatalf("GET /admin/jobsx reached the UI: %d %.200s", a.code, a.body)
	}
}

func post(t *testing.T, url, body, auth string, hdr ...string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", auth)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, string(b)}
}
