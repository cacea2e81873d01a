package email_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/tenantkit/tenantkit/internal/email"
	"github.com/tenantkit/tenantkit/internal/integration"
)

// request is what a provider's API received.
type request struct {
	Method string
	Path   string
	Header http.Header
	Body   []byte
}

// reply is what the fake API answers.
type reply struct {
	Status int
	Header map[string]string
	Body   string
}

// api is an httptest server standing in for a provider's API: it records
// each request and answers with the reply for its path.
type api struct {
	URL  string
	mu   sync.Mutex
	reqs []request
}

func newAPI(t *testing.T, replies map[string]reply) *api {
	t.Helper()
	a := &api{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		a.mu.Lock()
		a.reqs = append(a.reqs, request{r.Method, r.URL.Path, r.Header.Clone(), body})
		a.mu.Unlock()
		rep, ok := replies[r.Method+" "+r.URL.Path]
		if !ok {
			http.Error(w, `{"message":"no such route in the test"}`, http.StatusNotFound)
			return
		}
		for k, v := range rep.Header {
			w.Header().Set(k, v)
		}
		if w.Header().Get("Content-Type") == "" {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(rep.Status)
		_, _ = io.WriteString(w, rep.Body)
	}))
	t.Cleanup(srv.Close)
	a.URL = srv.URL
	return a
}

// only returns the one request the API received.
func (a *api) only(t *testing.T) request {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.reqs) != 1 {
		t.Fatalf("API received %d requests, want 1", len(a.reqs))
	}
	return a.reqs[0]
}

// fullMessage uses every field of Message.
func fullMessage() email.Message {
	return email.Message{
		From:    email.Address{Name: "Globex", Email: "hello@globex.example"},
		To:      []email.Address{{Name: "Ada Lovelace", Email: "ada@example.com"}, {Email: "bob@example.com"}},
		Cc:      []email.Address{{Name: "Ops", Email: "ops@example.com"}},
		Bcc:     []email.Address{{Email: "audit@example.com"}},
		ReplyTo: &email.Address{Name: "Help", Email: "help@globex.example"},
		Subject: "Your invoice",
		Text:    "Your invoice is ready.",
		HTML:    "<p>Your invoice is <b>ready</b>.</p>",
		Headers: map[string]string{"List-Unsubscribe": "<https://globex.example/u>", "X-Tenant": "globex"},
		Tag:     "invoice",
	}
}

// assertJSON decodes body and compares it with want (JSON text) key by key.
func assertJSON(t *testing.T, body []byte, want string) {
	t.Helper()
	var got, exp map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("request body is not JSON: %v\n%s", err, body)
	}
	if err := json.Unmarshal([]byte(want), &exp); err != nil {
		t.Fatalf("bad expectation: %v", err)
	}
	for k, v := range exp {
		if !reflect.DeepEqual(got[k], v) {
			g, _ := json.Marshal(got[k])
			e, _ := json.Marshal(v)
			t.Errorf("body field %q = %s, want %s", k, g, e)
		}
	}
	for k := range got {
		if _, ok := exp[k]; !ok {
			g, _ := json.Marshal(got[k])
			t.Errorf("body has unexpected field %q = %s", k, g)
		}
	}
}

func assertHeader(t *testing.T, r request, name, want string) {
	t.Helper()
	if got := r.Header.Get(name); got != want {
		t.Errorf("header %s = %q, want %q", name, got, want)
	}
}

func newSender(t *testing.T, provider string, creds, settings map[string]string) email.Sender {
	t.Helper()
	s, err := email.New(provider, integration.Config{Credentials: creds, Settings: settings})
	if err != nil {
		t.Fatalf("New %s: %v", provider, err)
	}
	return s
}

// assertRefusal checks a provider's refusal: a *ProviderError naming the
// provider and status, carrying the provider's message, with no secret.
func assertRefusal(t *testing.T, err error, provider string, status int, message string, secrets ...string) {
	t.Helper()
	if err == nil {
		t.Fatal("no error for a refusal")
	}
	var pe *email.ProviderError
	if !errors.As(err, &pe) {
		t.Fatalf("error %q (%T) is not a *ProviderError", err, err)
	}
	if pe.Provider != provider || pe.Status != status {
		t.Errorf("ProviderError = %s %d, want %s %d", pe.Provider, pe.Status, provider, status)
	}
	for _, want := range []string{provider, strconv.Itoa(status), message} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	assertNoSecrets(t, err.Error(), secrets...)
}

const sendgridKey = "SG.test-key.Zm9vYmFy"

func TestSendGridSend(t *testing.T) {
	t.Parallel()
	a := newAPI(t, map[string]reply{"POST /v3/mail/send": {Status: 202, Header: map[string]string{"X-Message-Id": "sg-msg-1"}}})
	s := newSender(t, email.ProviderSendGrid, map[string]string{"api_key": sendgridKey}, map[string]string{"base_url": a.URL})

	id, err := s.Send(testCtx(t), fullMessage())
	if err != nil {
		t.Fatal(err)
	}
	if id != "sg-msg-1" {
		t.Errorf("id = %q, want the X-Message-Id", id)
	}
	r := a.only(t)
	if r.Method != http.MethodPost || r.Path != "/v3/mail/send" {
		t.Errorf("request = %s %s", r.Method, r.Path)
	}
	assertHeader(t, r, "Authorization", "Bearer "+sendgridKey)
	assertHeader(t, r, "Content-Type", "application/json")
	assertJSON(t, r.Body, `{
		"personalizations": [{
			"to": [{"email": "ada@example.com", "name": "Ada Lovelace"}, {"email": "bob@example.com"}],
			"cc": [{"email": "ops@example.com", "name": "Ops"}],
			"bcc": [{"email": "audit@example.com"}]
		}],
		"from": {"email": "hello@globex.example", "name": "Globex"},
		"reply_to": {"email": "help@globex.example", "name": "Help"},
		"subject": "Your invoice",
		"content": [
			{"type": "text/plain", "value": "Your invoice is ready."},
			{"type": "text/html", "value": "<p>Your invoice is <b>ready</b>.</p>"}
		],
		"headers": {"List-Unsubscribe": "<https://globex.example/u>", "X-Tenant": "globex"},
		"categories": ["invoice"]
	}`)
}

func TestSendGridRefusal(t *testing.T) {
	t.Parallel()
	// The provider's message quotes the key back: it must not reach the error.
	a := newAPI(t, map[string]reply{"POST /v3/mail/send": {Status: 401,
		Body: `{"errors":[{"message":"The provided authorization grant ` + sendgridKey + ` is invalid, expired, or revoked","field":null,"help":null}]}`}})
	s := newSender(t, email.ProviderSendGrid, map[string]string{"api_key": sendgridKey}, map[string]string{"base_url": a.URL})
	_, err := s.Send(testCtx(t), fullMessage())
	assertRefusal(t, err, "sendgrid", 401, "is invalid, expired, or revoked", sendgridKey)
	if !errors.Is(err, email.ErrUnauthorized) {
		t.Errorf("401 does not match ErrUnauthorized: %v", err)
	}
}

func TestSendGridTest(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, scopes, wantErr string
	}{
		{"with mail.send", `{"scopes":["alerts.read","mail.send"]}`, ""},
		{"without mail.send", `{"scopes":["alerts.read"]}`, "mail.send"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := newAPI(t, map[string]reply{"GET /v3/scopes": {Status: 200, Body: tc.scopes}})
			s := newSender(t, email.ProviderSendGrid, map[string]string{"api_key": sendgridKey}, map[string]string{"base_url": a.URL})
			err := s.(integration.Tester).Test(testCtx(t))
			r := a.only(t)
			if r.Method != http.MethodGet || r.Path != "/v3/scopes" || len(r.Body) != 0 {
				t.Errorf("request = %s %s %q", r.Method, r.Path, r.Body)
			}
			assertHeader(t, r, "Authorization", "Bearer "+sendgridKey)
			if tc.wantErr == "" && err != nil {
				t.Fatalf("Test: %v", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("Test = %v, want an error about %s", err, tc.wantErr)
			}
		})
	}
}

const resendKey = "re_test_Q2hhbmdlTWU"

func TestResendSend(t *testing.T) {
	t.Parallel()
	a := newAPI(t, map[string]reply{"POST /emails": {Status: 200, Body: `{"id":"49a3999c-0ce1-4ea6-ab68-afcd6dc2e794"}`}})
	s := newSender(t, email.ProviderResend, map[string]string{"api_key": resendKey}, map[string]string{"base_url": a.URL})

	id, err := s.Send(testCtx(t), fullMessage())
	if err != nil {
		t.Fatal(err)
	}
	if id != "49a3999c-0ce1-4ea6-ab68-afcd6dc2e794" {
		t.Errorf("id = %q", id)
	}
	r := a.only(t)
	if r.Method != http.MethodPost || r.Path != "/emails" {
		t.Errorf("request = %s %s", r.Method, r.Path)
	}
	assertHeader(t, r, "Authorization", "Bearer "+resendKey)
	assertHeader(t, r, "Content-Type", "application/json")
	if r.Header.Get("User-Agent") == "" {
		t.Error("no User-Agent: Resend refuses such requests")
	}
	assertJSON(t, r.Body, `{
		"from": "\"Globex\" <hello@globex.example>",
		"to": ["\"Ada Lovelace\" <ada@example.com>", "bob@example.com"],
		"cc": ["\"Ops\" <ops@example.com>"],
		"bcc": ["audit@example.com"],
		"reply_to": ["\"Help\" <help@globex.example>"],
		"subject": "Your invoice",
		"html": "<p>Your invoice is <b>ready</b>.</p>",
		"text": "Your invoice is ready.",
		"headers": {"List-Unsubscribe": "<https://globex.example/u>", "X-Tenant": "globex"},
		"tags": [{"name": "category", "value": "invoice"}]
	}`)
}

func TestResendRefusal(t *testing.T) {
	t.Parallel()
	a := newAPI(t, map[string]reply{"POST /emails": {Status: 422,
		Body: `{"statusCode":422,"name":"validation_error","message":"Invalid ` + "`from`" + ` field."}`}})
	s := newSender(t, email.ProviderResend, map[string]string{"api_key": resendKey}, map[string]string{"base_url": a.URL})
	_, err := s.Send(testCtx(t), fullMessage())
	assertRefusal(t, err, "resend", 422, "validation_error: Invalid `from` field.", resendKey)
	if errors.Is(err, email.ErrUnauthorized) {
		t.Error("422 matches ErrUnauthorized")
	}
}

func TestResendTest(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		reply reply
		ok    bool
	}{
		{"full access key", reply{Status: 200, Body: `{"object":"list","has_more":false,"data":[]}`}, true},
		{"sending-only key", reply{Status: 401, Body: `{"statusCode":401,"name":"restricted_api_key","message":"This API key is restricted to only send emails"}`}, true},
		{"invalid key", reply{Status: 403, Body: `{"statusCode":403,"name":"invalid_api_key","message":"API key is invalid"}`}, false},
		{"missing key", reply{Status: 401, Body: `{"statusCode":401,"name":"missing_api_key","message":"Missing API key in the authorization header"}`}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := newAPI(t, map[string]reply{"GET /domains": tc.reply})
			s := newSender(t, email.ProviderResend, map[string]string{"api_key": resendKey}, map[string]string{"base_url": a.URL})
			err := s.(integration.Tester).Test(testCtx(t))
			r := a.only(t)
			if r.Method != http.MethodGet || r.Path != "/domains" {
				t.Errorf("request = %s %s", r.Method, r.Path)
			}
			assertHeader(t, r, "Authorization", "Bearer "+resendKey)
			if tc.ok && err != nil {
				t.Fatalf("Test: %v", err)
			}
			if !tc.ok {
				assertRefusal(t, err, "resend", tc.reply.Status, "api_key", resendKey)
			}
		})
	}
}

const postmarkToken = "pm-server-token-0a1b2c3d"

func TestPostmarkSend(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, stream, wantStream string
	}{
		{"default stream", "", "outbound"},
		{"configured stream", "broadcast", "broadcast"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := newAPI(t, map[string]reply{"POST /email": {Status: 200,
				Body: `{"To":"ada@example.com","SubmittedAt":"2026-01-02T10:00:00Z","MessageID":"b7bc2f4a-e38e-4336-af7d-e6c392c2f817","ErrorCode":0,"Message":"OK"}`}})
			settings := map[string]string{"base_url": a.URL}
			if tc.stream != "" {
				settings["message_stream"] = tc.stream
			}
			s := newSender(t, email.ProviderPostmark, map[string]string{"server_token": postmarkToken}, settings)
			id, err := s.Send(testCtx(t), fullMessage())
			if err != nil {
				t.Fatal(err)
			}
			if id != "b7bc2f4a-e38e-4336-af7d-e6c392c2f817" {
				t.Errorf("id = %q", id)
			}
			r := a.only(t)
			if r.Method != http.MethodPost || r.Path != "/email" {
				t.Errorf("request = %s %s", r.Method, r.Path)
			}
			assertHeader(t, r, "X-Postmark-Server-Token", postmarkToken)
			assertHeader(t, r, "Accept", "application/json")
			assertHeader(t, r, "Content-Type", "application/json")
			if r.Header.Get("Authorization") != "" {
				t.Error("Postmark request carries an Authorization header")
			}
			assertJSON(t, r.Body, `{
				"From": "\"Globex\" <hello@globex.example>",
				"To": "\"Ada Lovelace\" <ada@example.com>, bob@example.com",
				"Cc": "\"Ops\" <ops@example.com>",
				"Bcc": "audit@example.com",
				"ReplyTo": "\"Help\" <help@globex.example>",
				"Subject": "Your invoice",
				"HtmlBody": "<p>Your invoice is <b>ready</b>.</p>",
				"TextBody": "Your invoice is ready.",
				"Headers": [
					{"Name": "List-Unsubscribe", "Value": "<https://globex.example/u>"},
					{"Name": "X-Tenant", "Value": "globex"}
				],
				"Tag": "invoice",
				"MessageStream": "`+tc.wantStream+`"
			}`)
		})
	}
}

func TestPostmarkRefusal(t *testing.T) {
	t.Parallel()
	a := newAPI(t, map[string]reply{"POST /email": {Status: 422, Body: `{"ErrorCode":300,"Message":"Invalid email request"}`}})
	s := newSender(t, email.ProviderPostmark, map[string]string{"server_token": postmarkToken}, map[string]string{"base_url": a.URL})
	_, err := s.Send(testCtx(t), fullMessage())
	assertRefusal(t, err, "postmark", 422, "error code 300: Invalid email request", postmarkToken)
}

func TestPostmarkTest(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		reply reply
	}{
		{"valid token", reply{Status: 200, Body: `{"ID":1,"Name":"Globex","ApiTokens":["redacted"]}`}},
		{"invalid token", reply{Status: 401, Body: `{"ErrorCode":10,"Message":"Bad or missing Server API token."}`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := newAPI(t, map[string]reply{"GET /server": tc.reply})
			s := newSender(t, email.ProviderPostmark, map[string]string{"server_token": postmarkToken}, map[string]string{"base_url": a.URL})
			err := s.(integration.Tester).Test(testCtx(t))
			r := a.only(t)
			if r.Method != http.MethodGet || r.Path != "/server" {
				t.Errorf("request = %s %s", r.Method, r.Path)
			}
			assertHeader(t, r, "X-Postmark-Server-Token", postmarkToken)
			if tc.reply.Status == 200 {
				if err != nil {
					t.Fatalf("Test: %v", err)
				}
				return
			}
			assertRefusal(t, err, "postmark", 401, "Bad or missing Server API token.", postmarkToken)
			if !errors.Is(err, email.ErrUnauthorized) {
				t.Errorf("401 does not match ErrUnauthorized: %v", err)
			}
		})
	}
}
