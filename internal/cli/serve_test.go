package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantkit/tenantkit/examples/orders"
	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/jobs"
	"github.com/tenantkit/tenantkit/internal/keys"
	"github.com/tenantkit/tenantkit/internal/mailpit"
	"github.com/tenantkit/tenantkit/internal/pgcluster"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

// TestServeSendsTheExampleAppsReceipts: `tenantkit serve --migrations
// example` works the example application's jobs: a receipt asked for over
// HTTP reaches the platform's mail server, once, branded as its tenant.
func TestServeSendsTheExampleAppsReceipts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := tenantkittest.NewPlatform(t, orders.Migrations())
	p.Tenant(t, "acme", catalog.TierShared)
	if err := p.Store().SetBranding(ctx, "test", "acme", catalog.Branding{DisplayName: "Acme", PrimaryColor: "#d9480f"}); err != nil {
		t.Fatal(err)
	}
	mail, err := mailpit.Start("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(mail.Stop)
	dir := t.TempDir()
	keyFile, platformFile := filepath.Join(dir, "kek.json"), filepath.Join(dir, "integrations.json")
	if _, err := keys.LocalKEK(keys.LocalConfig{Path: keyFile, Create: true}); err != nil {
		t.Fatal(err)
	}
	platform, _ := json.Marshal(map[string]any{
		"email_from": "Platform <no-reply@platform.example>",
		"email": map[string]any{"provider": "smtp", "settings": map[string]string{"host": mail.SMTPHost, "port": mail.SMTPPort, "tls": "none"},
			"credentials": map[string]string{"username": "platform", "password": "serve-test-password"}},
	})
	if err := os.WriteFile(platformFile, platform, 0o600); err != nil {
		t.Fatal(err)
	}
	port, err := pgcluster.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	vars := map[string]string{"TENANTKIT_DATABASE_URL": p.Catalog.OwnerDSN(), "TENANTKIT_ADMIN_TOKEN": testToken}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stderr := &tenantkittest.SyncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(sctx, []string{"serve", "--addr", addr, "--migrations", "example", "--key-file", keyFile, "--integrations", platformFile},
			env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: stderr, getenv: mapEnv(vars)})
	}()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		select {
		case code := <-done:
			t.Fatalf("serve exited %d before serving:\n%s", code, stderr)
		default:
		}
		if resp, err := http.Get("http://" + addr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve not ready on %s after a minute:\n%s", addr, stderr)
		}
	}
	base := "http://" + addr
	code, _, body := appRequest(t, base, "acme", http.MethodPost, "/api/orders",
		`{"customer_email":"ann@customer.example","customer_name":"Ann","items":[{"sku":"margherita","quantity":2,"price_cents":1150}]}`)
	var o orders.Order
	if code != http.StatusCreated || json.Unmarshal(body, &o) != nil {
		t.Fatalf("POST /api/orders: %d %s", code, body)
	}
	m := requireReceipt(t, base, p.Catalog.OwnerDSN(), mail.URL, o.ID, "ann@customer.example")
	if m.From.Name != "Acme via Platform" || !strings.Contains(m.HTML, "#d9480f") || !strings.Contains(m.Text, "Total: 23.00") {
		t.Errorf("the receipt as the mail server got it: %+v", m)
	}
	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("serve exited %d, want 0:\n%s", code, stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop within 30 s of its context")
	}
}

// appRequest sends a request to the application served at base, as
// tenant slug.
func appRequest(t *testing.T, base, slug, method, path, body string) (int, string, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = slug + ".localhost"
	return do(t, req)
}

// requireReceipt asks acme's application at base for the receipt of order
// id (202 with its job), waits for the job to complete and requires that
// exactly one receipt reached the mail server at mailURL for address.
func requireReceipt(t *testing.T, base, catalogURL, mailURL string, id int64, address string) mailMessage {
	t.Helper()
	code, ctype, body := appRequest(t, base, "acme", http.MethodPost, fmt.Sprintf("/api/orders/%d/receipt", id), "")
	var req orders.ReceiptRequest
	if code != http.StatusAccepted || ctype != "application/json" || json.Unmarshal(body, &req) != nil || req.JobID == 0 || req.To != address {
		t.Fatalf("POST /api/orders/%d/receipt: %d %s %s", id, code, ctype, body)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, catalogURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var state string
	for deadline := time.Now().Add(30 * time.Second); state != "completed"; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("receipt job %d still %s after 30s", req.JobID, state)
		}
		// The job reaches River's table when the relay moved it from the
		// tenant's outbox, moments after the commit.
		err := conn.QueryRow(ctx, "SELECT state FROM "+jobs.Schema+".river_job WHERE id = $1", req.JobID).Scan(&state)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			t.Fatal(err)
		}
	}
	var got []mailMessage
	for deadline := time.Now().Add(10 * time.Second); len(got) == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no receipt for %s in the mail server after 10s", address)
		}
		got = mailTo(t, mailURL, address)
	}
	if len(got) != 1 {
		t.Fatalf("%d receipts for %s, want 1: %+v", len(got), address, got)
	}
	if want := fmt.Sprintf("receipt for order #%d", id); !strings.Contains(got[0].Subject, want) {
		t.Errorf("the receipt's subject %q has no %q", got[0].Subject, want)
	}
	return got[0]
}

// mailTo returns the messages the mail server at mailURL holds for address.
func mailTo(t *testing.T, mailURL, address string) []mailMessage {
	t.Helper()
	var list struct{ Messages []struct{ ID string } }
	getJSON(t, mailURL+"/api/v1/messages", &list)
	var out []mailMessage
	for _, m := range list.Messages {
		var full mailMessage
		getJSON(t, mailURL+"/api/v1/message/"+m.ID, &full)
		if len(full.To) == 1 && full.To[0].Address == address {
			out = append(out, full)
		}
	}
	return out
}
