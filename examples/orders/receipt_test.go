package orders_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/tenantkit/tenantkit"
	"github.com/tenantkit/tenantkit/examples/orders"
	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/keys"
	"github.com/tenantkit/tenantkit/internal/mailpit"
	"github.com/tenantkit/tenantkit/internal/settings"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

func TestMain(m *testing.M) { tenantkittest.Main(m) }

// bundle is the example application as `tenantkit serve` runs it: tenant
// acme on the shared tier, branded, its mail through the platform's SMTP
// server (a mailpit), and a Kit working the application's jobs.
type bundle struct {
	p      *tenantkittest.Platform
	kit    *tenantkit.Kit
	worker *orders.ReceiptWorker
	mail   *mailpit.Server
	app    string // base URL of the application behind kit.Middleware
	// failBefore and failAfter make the worker's next run fail just
	// before, or just after, it hands a message to the provider.
	failBefore, failAfter atomic.Bool
}

var errHook = errors.New("test hook")

func setup(t *testing.T, jobs tenantkit.JobsConfig, tenants ...string) *bundle {
	t.Helper()
	ctx := context.Background()
	mail, err := mailpit.Start("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(mail.Stop)
	p := tenantkittest.NewPlatform(t, orders.Migrations())
	for _, slug := range append([]string{"acme"}, tenants...) {
		p.Tenant(t, slug, catalog.TierShared)
	}
	if err := p.Store().SetBranding(ctx, "test", "acme", catalog.Branding{DisplayName: "Acme", PrimaryColor: "#d9480f"}); err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "kek.json")
	if _, err := keys.LocalKEK(keys.LocalConfig{Path: keyFile, Create: true}); err != nil {
		t.Fatal(err)
	}
	b := &bundle{p: p, mail: mail}
	b.worker = orders.NewReceiptWorker(func() *tenantkit.Kit { return b.kit })
	orders.SetReceiptHooks(b.worker, hook(&b.failBefore), hook(&b.failAfter))
	workers := river.NewWorkers()
	river.AddWorker(workers, b.worker)
	jobs.Workers = workers
	if jobs.FetchPollInterval == 0 {
		jobs.FetchPollInterval = 100 * time.Millisecond
	}
	b.kit = p.ListeningKit(t, tenantkit.Config{
		SettingsSchema: settings.RestaurantSchema(),
		Integrations: tenantkit.IntegrationsConfig{KeyFile: keyFile, EmailFrom: "Platform <no-reply@platform.example>",
			Defaults: map[string]tenantkit.IntegrationDefault{"email": {Provider: "smtp",
				Settings:    map[string]string{"host": mail.SMTPHost, "port": mail.SMTPPort, "tls": "none"},
				Credentials: map[string]string{"username": "platform", "password": "platform-test-password"}}}},
		Jobs: &jobs,
	})
	srv := httptest.NewServer(b.kit.Middleware(orders.Handler(b.kit)))
	t.Cleanup(srv.Close)
	b.app = srv.URL
	return b
}

func hook(fail *atomic.Bool) func() error {
	return func() error {
		if fail.CompareAndSwap(true, false) {
			return errHook
		}
		return nil
	}
}

// do sends a request to the application as tenant slug.
func (b *bundle) do(t *testing.T, slug, method, path, body string) (int, string, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, b.app+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = slug + ".localhost"
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b2, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), b2
}

// order creates an order of slug for customer email: 2 margheritas at
// 11.50 and a tiramisu at 6.50, 29.50 in all.
func (b *bundle) order(t *testing.T, slug, email string) int64 {
	t.Helper()
	code, _, body := b.do(t, slug, http.MethodPost, "/api/orders", fmt.Sprintf(`{"customer_email":%q,"customer_name":"Ann",
		"items":[{"sku":"margherita","quantity":2,"price_cents":1150},{"sku":"tiramisu","quantity":1,"price_cents":650}]}`, email))
	var o orders.Order
	if code != http.StatusCreated || json.Unmarshal(body, &o) != nil {
		t.Fatalf("POST /api/orders: %d %s", code, body)
	}
	return o.ID
}

// requestReceipt asks acme's application for the receipt of order id.
func (b *bundle) requestReceipt(t *testing.T, id int64) orders.ReceiptRequest {
	t.Helper()
	code, ctype, body := b.do(t, "acme", http.MethodPost, fmt.Sprintf("/api/orders/%d/receipt", id), "")
	var req orders.ReceiptRequest
	if code != http.StatusAccepted || ctype != "application/json" || json.Unmarshal(body, &req) != nil {
		t.Fatalf("POST /api/orders/%d/receipt: %d %s %s", id, code, ctype, body)
	}
	if req.JobID == 0 || req.OrderID != id || req.Status != "queued" {
		t.Fatalf("POST /api/orders/%d/receipt answered %+v", id, req)
	}
	return req
}

// mailTo returns the messages the mail server received for address.
func (b *bundle) mailTo(t *testing.T, address string) []mailpit.Message {
	t.Helper()
	all, err := b.mail.Messages(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []mailpit.Message
	for _, m := range all {
		if len(m.To) == 1 && m.To[0].Address == address {
			out = append(out, m)
		}
	}
	return out
}

// job reads a job from River. A job enqueued in a transaction reaches
// River moments after the commit, relayed from the tenant's outbox: job
// waits for it up to 10 s.
func (b *bundle) job(t *testing.T, id int64) *rivertype.JobRow {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		j, err := b.kit.Jobs().JobGet(context.Background(), id)
		if err == nil {
			return j
		}
		if !errors.Is(err, river.ErrNotFound) || time.Now().After(deadline) {
			t.Fatalf("job %d: %v", id, err)
		}
	}
}

// record is a receipt job's record of its send.
func (b *bundle) record(t *testing.T, id int64) orders.ReceiptRecord {
	t.Helper()
	var rec orders.ReceiptRecord
	if out := b.job(t, id).Output(); len(out) > 0 {
		if err := json.Unmarshal(out, &rec); err != nil {
			t.Fatal(err)
		}
	}
	return rec
}

// waitJob waits until job id is in state.
func (b *bundle) waitJob(t *testing.T, id int64, state rivertype.JobState) {
	t.Helper()
	waitUntil(t, 30*time.Second, fmt.Sprintf("job %d %s", id, state), func() bool { return b.job(t, id).State == state })
}

// requireOneMail waits for a message to address and requires that it is
// the only one.
func (b *bundle) requireOneMail(t *testing.T, address string) mailpit.Message {
	t.Helper()
	waitUntil(t, 10*time.Second, "a message to "+address, func() bool { return len(b.mailTo(t, address)) > 0 })
	got := b.mailTo(t, address)
	if len(got) != 1 {
		t.Fatalf("%d messages to %s, want 1: %+v", len(got), address, got)
	}
	return got[0]
}

func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %s", what, d)
		}
	}
}

// TestReceiptIsSentBrandedThroughTheTenantsEmail: POST
// /api/orders/{id}/receipt answers 202 with the job; the job sends one
// receipt, with the order's lines and total in the tenant's currency,
// branded as acme (its name, its colour), through the platform's mail
// server as acme may send, and records the send.
func TestReceiptIsSentBrandedThroughTheTenantsEmail(t *testing.T) {
	t.Parallel()
	b := setup(t, tenantkit.JobsConfig{})
	id := b.order(t, "acme", "ann@customer.example")
	req := b.requestReceipt(t, id)
	if req.To != "ann@customer.example" {
		t.Errorf("the receipt goes to %q, want the customer's address", req.To)
	}
	b.waitJob(t, req.JobID, rivertype.JobStateCompleted)
	m := b.requireOneMail(t, "ann@customer.example")
	if m.From.Name != "Acme via Platform" || m.From.Address != "no-reply@platform.example" ||
		m.Subject != fmt.Sprintf("Your Acme receipt for order #%d", id) {
		t.Errorf("from %+v, subject %q", m.From, m.Subject)
	}
	for _, want := range []string{"Hi Ann,", "2 × margherita at 11.50 USD: 23.00 USD", "1 × tiramisu at 6.50 USD: 6.50 USD", "Total: 29.50 USD", "— Acme"} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("the text has no %q:\n%s", want, m.Text)
		}
	}
	for _, want := range []string{"#d9480f", ">Acme<", "tiramisu", "29.50 USD"} {
		if !strings.Contains(m.HTML, want) {
			t.Errorf("the HTML has no %q:\n%s", want, m.HTML)
		}
	}
	acme, err := b.kit.Lookup(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	var headers map[string][]string
	getJSON(t, b.mail.URL+"/api/v1/message/"+m.ID+"/headers", &headers)
	if got, want := headers[orders.ReceiptKeyHeader], fmt.Sprintf("receipt-%d.%s", req.JobID, acme.ID); len(got) != 1 || got[0] != want {
		t.Errorf("%s: %v, want %s", orders.ReceiptKeyHeader, got, want)
	}
	if rec := b.record(t, req.JobID); rec.State != orders.ReceiptSent || rec.MessageID == "" || rec.Provider != "smtp" || rec.SentAt == nil {
		t.Errorf("the job's record: %+v", rec)
	}
}

// TestReceiptOfAnUnknownOrderIsNotFound: an order the tenant does not have
// (none at all, or another tenant's) is a 404 problem, and no job is
// enqueued.
func TestReceiptOfAnUnknownOrderIsNotFound(t *testing.T) {
	t.Parallel()
	b := setup(t, tenantkit.JobsConfig{}, "globex")
	theirs := b.order(t, "globex", "gil@customer.example")
	for _, path := range []string{"/api/orders/424242/receipt", fmt.Sprintf("/api/orders/%d/receipt", theirs), "/api/orders/x/receipt"} {
		code, ctype, body := b.do(t, "acme", http.MethodPost, path, "")
		var p struct {
			Status int    `json:"status"`
			Detail string `json:"detail"`
		}
		if code != http.StatusNotFound || ctype != "application/problem+json" || json.Unmarshal(body, &p) != nil ||
			p.Status != http.StatusNotFound || p.Detail != "no such order" {
			t.Errorf("POST %s: %d %s %s", path, code, ctype, body)
		}
	}
	res, err := b.kit.Jobs().JobList(context.Background(), river.NewJobListParams().Kinds(orders.ReceiptArgs{}.Kind()))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Jobs) != 0 {
		t.Fatalf("%d receipt jobs after requests for unknown orders: %+v", len(res.Jobs), res.Jobs[0])
	}
}

// TestReceiptIsSentOnce: the receipt job is idempotent. Run twice, it
// sends once; a run whose send failed is sent again by the next; a run
// that sent and died before recording it (River retries the job) is not
// sent again: one message, and the job is cancelled with why.
func TestReceiptIsSentOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, tenantkit.JobsConfig{})
	ctx := b.p.Scoped(t, b.kit, "acme")
	// A job River leaves alone for an hour, that the test works itself.
	held := func(t *testing.T, email string) *river.Job[orders.ReceiptArgs] {
		t.Helper()
		args := orders.ReceiptArgs{OrderID: b.order(t, "acme", email), To: email}
		res, err := b.kit.Enqueue(ctx, args, &river.InsertOpts{ScheduledAt: time.Now().Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		return &river.Job[orders.ReceiptArgs]{JobRow: b.job(t, res.Job.ID), Args: args}
	}

	t.Run("worked twice", func(t *testing.T) {
		job := held(t, "twice@customer.example")
		for i := range 2 {
			if err := b.worker.Work(ctx, job); err != nil {
				t.Fatalf("run %d: %v", i+1, err)
			}
		}
		b.requireOneMail(t, "twice@customer.example")
		if rec := b.record(t, job.ID); rec.State != orders.ReceiptSent {
			t.Errorf("the job's record: %+v", rec)
		}
	})

	t.Run("a failed send is sent by the next run", func(t *testing.T) {
		job := held(t, "refused@customer.example")
		b.failBefore.Store(true)
		if err := b.worker.Work(ctx, job); !errors.Is(err, errHook) {
			t.Fatalf("a run whose send failed: %v", err)
		}
		if rec := b.record(t, job.ID); rec.State != orders.ReceiptUnsent || rec.Error != errHook.Error() {
			t.Errorf("the job's record after a failed send: %+v", rec)
		}
		if err := b.worker.Work(ctx, job); err != nil {
			t.Fatal(err)
		}
		b.requireOneMail(t, "refused@customer.example")
	})

	t.Run("a run killed after sending is not sent again", func(t *testing.T) {
		id := b.order(t, "acme", "killed@customer.example")
		b.failAfter.Store(true)
		req := b.requestReceipt(t, id)
		waitUntil(t, 30*time.Second, "the job to end", func() bool { return b.job(t, req.JobID).FinalizedAt != nil })
		b.requireOneMail(t, "killed@customer.example")
		j := b.job(t, req.JobID)
		if j.State != rivertype.JobStateCancelled || j.Attempt != 2 || len(j.Errors) != 2 || !strings.Contains(j.Errors[0].Error, errHook.Error()) ||
			!strings.Contains(j.Errors[1].Error, "may have gone out") {
			t.Errorf("the job: %s, attempt %d, errors %+v", j.State, j.Attempt, j.Errors)
		}
		if rec := b.record(t, req.JobID); rec.State != orders.ReceiptUnknown {
			t.Errorf("the job's record: %+v", rec)
		}
	})
}

// TestReceiptOfASuspendedTenantWaitsForResume: the application refuses a
// suspended tenant's requests, so the receipt is asked for through the
// Kit; its job waits, spending no attempt, and sends once the tenant is
// resumed.
func TestReceiptOfASuspendedTenantWaitsForResume(t *testing.T) {
	t.Parallel()
	b := setup(t, tenantkit.JobsConfig{SuspendedSnooze: 200 * time.Millisecond})
	ctx := context.Background()
	id := b.order(t, "acme", "waits@customer.example")
	if _, err := b.p.Store().SuspendTenant(ctx, "test", "acme", "unpaid invoice"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "the Kit to see acme suspended", func() bool {
		tn, err := b.kit.Lookup(ctx, "acme")
		return err == nil && tn.Status == tenantkit.StatusSuspended
	})
	if code, _, body := b.do(t, "acme", http.MethodPost, fmt.Sprintf("/api/orders/%d/receipt", id), ""); code != http.StatusForbidden {
		t.Fatalf("a suspended tenant's receipt request: %d %s", code, body)
	}
	res, err := orders.RequestReceipt(b.p.Scoped(t, b.kit, "acme"), b.kit, id)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // several snoozes
	if got := b.mailTo(t, "waits@customer.example"); len(got) != 0 {
		t.Fatalf("a suspended tenant's receipt was sent: %+v", got)
	}
	if j := b.job(t, res.Job.ID); j.State == rivertype.JobStateCompleted || j.Attempt > 1 || len(j.Errors) != 0 {
		t.Fatalf("the suspended tenant's job: %s, attempt %d, errors %+v", j.State, j.Attempt, j.Errors)
	}
	if _, err := b.p.Store().ResumeTenant(ctx, "test", "acme"); err != nil {
		t.Fatal(err)
	}
	b.waitJob(t, res.Job.ID, rivertype.JobStateCompleted)
	b.requireOneMail(t, "waits@customer.example")
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}
