package sms

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/tenantkit/tenantkit/internal/integration"
)

func twilioSpec() integration.Spec {
	return integration.Spec{
		Type:        integration.SMS,
		Provider:    ProviderTwilio,
		Description: "Twilio Programmable Messaging.",
		Credentials: []integration.Field{
			{Name: "account_sid", Required: true, Description: "Account SID (AC followed by 32 hexadecimal digits)."},
			{Name: "auth_token", Required: true, Description: "Auth token of the account."},
		},
		Settings: []integration.Field{
			{Name: "from", Required: true, Description: "Twilio number the messages come from, in E.164 form (+14155552671)."},
			{Name: "base_url", Description: "Base URL of the Twilio API, for tests; empty for https://api.twilio.com."},
		},
	}
}

const (
	twilioBase = "https://api.twilio.com"
	userAgent  = "tenantkit-sms/1"
	// maxResponse bounds how much of an answer is read.
	maxResponse = 1 << 20
	// MaxBodyChars is the longest body Send takes, in characters: Twilio's
	// limit for one message.
	MaxBodyChars = 1600
)

var accountSID = regexp.MustCompile(`^AC[0-9a-fA-F]{32}$`)

// TwilioSender sends through Twilio's REST API with plain net/http: two
// form-encoded calls do not need twilio-go's generated client, and a test
// points base_url at its own server without reaching into the library.
type TwilioSender struct {
	base   *url.URL
	client *http.Client
	from   string
	auth   *twilioAuth // behind a pointer: a raw print of the struct shows an address
	r      *redactor
}

type twilioAuth struct{ sid, token string }

func newTwilio(cfg integration.Config) (sender, error) {
	sid := strings.TrimSpace(cfg.Credentials["account_sid"])
	if !accountSID.MatchString(sid) {
		return nil, invalidConfig(ProviderTwilio, "credential", "account_sid", "must be AC followed by 32 hexadecimal digits")
	}
	from := strings.TrimSpace(cfg.Settings["from"])
	if CheckNumber(from) != nil {
		return nil, invalidConfig(ProviderTwilio, "setting", "from", "must be an E.164 number such as +14155552671")
	}
	base, err := baseURL(ProviderTwilio, cfg.Settings, twilioBase)
	if err != nil {
		return nil, err
	}
	return &TwilioSender{base: base, client: cfg.Client(), from: from, r: newRedactor(cfg.Credentials),
		auth: &twilioAuth{sid: sid, token: strings.TrimSpace(cfg.Credentials["auth_token"])}}, nil
}

func (s *TwilioSender) String() string {
	return fmt.Sprintf("sms.TwilioSender{from: %s}", s.from)
}

// Format prints the sender as String does, whatever the verb.
func (s *TwilioSender) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, s.String()) }

// Send implements Sender: POST /2010-04-01/Accounts/{sid}/Messages.json.
func (s *TwilioSender) Send(ctx context.Context, to, body string) (string, error) {
	if err := CheckNumber(to); err != nil {
		return "", err
	}
	if strings.TrimSpace(body) == "" {
		return "", fmt.Errorf("%w: empty body", ErrInvalidMessage)
	}
	if n := utf8.RuneCountInString(body); n > MaxBodyChars {
		return "", fmt.Errorf("%w: body of %d characters, more than %d", ErrInvalidMessage, n, MaxBodyChars)
	}
	form := url.Values{"To": {to}, "From": {s.from}, "Body": {body}}
	var out struct {
		SID string `json:"sid"`
	}
	if err := s.call(ctx, "send", http.MethodPost, "Messages.json", form, &out); err != nil {
		return "", err
	}
	if out.SID == "" {
		return "", &ProviderError{Provider: ProviderTwilio, Op: "send", Message: "the answer has no message sid"}
	}
	return out.SID, nil
}

// Test implements integration.Tester: GET /2010-04-01/Accounts/{sid}.json,
// which sends nothing, and fails unless the account is active.
func (s *TwilioSender) Test(ctx context.Context) error {
	var out struct {
		Status string `json:"status"`
	}
	if err := s.call(ctx, "test", http.MethodGet, "", nil, &out); err != nil {
		return err
	}
	if out.Status != "" && out.Status != "active" {
		return &ProviderError{Provider: ProviderTwilio, Op: "test", Message: "the account is " + s.r.excerpt(out.Status)}
	}
	return nil
}

// call sends a request to the account's resource (its .json when res is
// empty, else res under it) and decodes a 2xx JSON answer into out.
func (s *TwilioSender) call(ctx context.Context, op, method, res string, form url.Values, out any) error {
	req, err := s.request(ctx, method, res, form)
	if err != nil {
		return s.fail(op, err)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return s.fail(op, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return s.fail(op, fmt.Errorf("read response: %w", err))
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return s.refusal(op, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return &ProviderError{Provider: ProviderTwilio, Op: op, Status: resp.StatusCode,
			Message: s.r.excerpt("unreadable response: " + string(body))}
	}
	return nil
}

func (s *TwilioSender) request(ctx context.Context, method, res string, form url.Values) (*http.Request, error) {
	u := s.base.JoinPath("2010-04-01", "Accounts", s.auth.sid+".json")
	if res != "" {
		u = s.base.JoinPath("2010-04-01", "Accounts", s.auth.sid, res)
	}
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, err
	}
	req.SetBasicAuth(s.auth.sid, s.auth.token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return req, nil
}

// refusal builds the error for a non-2xx answer from Twilio's error body
// ({"code": 20003, "message": "Authenticate", ...}), or the raw body.
func (s *TwilioSender) refusal(op string, status int, body []byte) error {
	var e struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	msg := string(body)
	if json.Unmarshal(body, &e) == nil && e.Message != "" {
		msg = e.Message
	}
	return &ProviderError{Provider: ProviderTwilio, Op: op, Status: status, Code: e.Code, Message: s.r.excerpt(msg)}
}

// fail wraps a transport error, whose URL holds the account SID, without
// credentials.
func (s *TwilioSender) fail(op string, err error) error {
	return s.r.error(fmt.Errorf("sms twilio: %s: %w", op, err))
}
