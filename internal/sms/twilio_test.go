package sms_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/tenantkit/tenantkit/internal/integration"
	"github.com/tenantkit/tenantkit/internal/sms"
)

const (
	testSID   = "AC0123456789abcdef0123456789abcdef"
	testToken = "f0e1d2c3b4a5968778695a4b3c2d1e0f"
	testFrom  = "+14155552671"
)

type request struct {
	method, path, contentType string
	user, pass                string
	basic                     bool
	form                      url.Values
}

// fakeTwilio answers with canned JSON and records every request.
type fakeTwilio struct {
	srv    *httptest.Server
	status int
	body   string
	mu     sync.Mutex
	got    []request
}

func newFakeTwilio(t *testing.T, status int, body string) *fakeTwilio {
	f := &fakeTwilio{status: status, body: body}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(raw))
		user, pass, ok := r.BasicAuth()
		f.mu.Lock()
		f.got = append(f.got, request{method: r.Method, path: r.URL.Path, contentType: r.Header.Get("Content-Type"),
			user: user, pass: pass, basic: ok, form: form})
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(f.status)
		io.WriteString(w, f.body)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeTwilio) requests() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]request(nil), f.got...)
}

// only returns the one request, checking its basic auth.
func (f *fakeTwilio) only(t *testing.T) request {
	t.Helper()
	got := f.requests()
	if len(got) != 1 {
		t.Fatalf("%d requests, want 1", len(got))
	}
	if r := got[0]; !r.basic || r.user != testSID || r.pass != testToken {
		t.Fatalf("basic auth %v %q:%q", r.basic, r.user, r.pass)
	}
	return got[0]
}

func newSender(t *testing.T, base string) sms.Sender {
	t.Helper()
	s, err := sms.New(sms.ProviderTwilio, integration.Config{
		Credentials: map[string]string{"account_sid": testSID, "auth_token": testToken},
		Settings:    map[string]string{"from": testFrom, "base_url": base}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Bodies trimmed from Twilio's API reference examples.
const (
	messageJSON = `{"account_sid":"` + testSID + `","api_version":"2010-04-01","body":"Your code is 123456","date_created":"Thu, 24 Aug 2023 05:01:45 +0000","direction":"outbound-api","from":"+14155552671","sid":"SM1234567890abcdef1234567890abcdef","status":"queued","to":"+14155552672","uri":"/2010-04-01/Accounts/` + testSID + `/Messages/SM1234567890abcdef1234567890abcdef.json"}`
	accountJSON = `{"auth_token":"` + testToken + `","date_created":"Thu, 24 Aug 2023 05:01:45 +0000","friendly_name":"Acme","owner_account_sid":"` + testSID + `","sid":"` + testSID + `","status":"active","type":"Full"}`
	authJSON    = `{"code":20003,"message":"Authenticate","more_info":"https://www.twilio.com/docs/errors/20003","status":401}`
)

func TestTwilioSend(t *testing.T) {
	t.Parallel()
	f := newFakeTwilio(t, 201, messageJSON)
	id, err := newSender(t, f.srv.URL).Send(context.Background(), "+14155552672", "Your code is 123456")
	if err != nil {
		t.Fatal(err)
	}
	if id != "SM1234567890abcdef1234567890abcdef" {
		t.Fatalf("id %q", id)
	}
	r := f.only(t)
	if r.method != "POST" || r.path != "/2010-04-01/Accounts/"+testSID+"/Messages.json" || r.contentType != "application/x-www-form-urlencoded" {
		t.Fatalf("%s %s %s", r.method, r.path, r.contentType)
	}
	want := url.Values{"To": {"+14155552672"}, "From": {testFrom}, "Body": {"Your code is 123456"}}
	if r.form.Encode() != want.Encode() {
		t.Fatalf("form %v, want %v", r.form, want)
	}
}

func TestTwilioTest(t *testing.T) {
	t.Parallel()
	f := newFakeTwilio(t, 200, accountJSON)
	if err := newSender(t, f.srv.URL).(integration.Tester).Test(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r := f.only(t); r.method != "GET" || r.path != "/2010-04-01/Accounts/"+testSID+".json" {
		t.Fatalf("%s %s", r.method, r.path)
	}

	suspended := newFakeTwilio(t, 200, strings.Replace(accountJSON, `"active"`, `"suspended"`, 1))
	err := newSender(t, suspended.srv.URL).(integration.Tester).Test(context.Background())
	if err == nil || !strings.Contains(err.Error(), "the account is suspended") {
		t.Fatalf("Test of a suspended account = %v", err)
	}
}

func TestTwilioRefusedCredentials(t *testing.T) {
	t.Parallel()
	f := newFakeTwilio(t, 401, authJSON)
	s := newSender(t, f.srv.URL)
	_, sendErr := s.Send(context.Background(), "+14155552672", "hi")
	testErr := s.(integration.Tester).Test(context.Background())
	for _, err := range []error{sendErr, testErr} {
		if !errors.Is(err, sms.ErrUnauthorized) {
			t.Fatalf("want ErrUnauthorized, got %v", err)
		}
		var pe *sms.ProviderError
		if !errors.As(err, &pe) || pe.Status != 401 || pe.Code != 20003 || pe.Message != "Authenticate" {
			t.Fatalf("%#v", err)
		}
		if strings.Contains(err.Error(), testToken) {
			t.Fatalf("the error shows the token: %v", err)
		}
	}
}

func TestTwilioRefusedNumber(t *testing.T) {
	t.Parallel()
	f := newFakeTwilio(t, 400, `{"code":21211,"message":"The 'To' number +15005550001 is not a valid phone number.","more_info":"https://www.twilio.com/docs/errors/21211","status":400}`)
	_, err := newSender(t, f.srv.URL).Send(context.Background(), "+15005550001", "hi")
	var pe *sms.ProviderError
	if !errors.As(err, &pe) || pe.Code != 21211 || errors.Is(err, sms.ErrUnauthorized) {
		t.Fatalf("%v", err)
	}
}

func TestTwilioChecksBeforeSending(t *testing.T) {
	t.Parallel()
	f := newFakeTwilio(t, 201, messageJSON)
	s := newSender(t, f.srv.URL)
	for _, to := range []string{"", "14155552672", "+0123", "+1 415 555 2672", "+1415555267212345", "+1", "tel:+14155552672"} {
		if _, err := s.Send(context.Background(), to, "hi"); !errors.Is(err, sms.ErrInvalidNumber) {
			t.Errorf("to %q: want ErrInvalidNumber, got %v", to, err)
		}
	}
	for _, body := range []string{"", "  \n", strings.Repeat("é", sms.MaxBodyChars+1)} {
		if _, err := s.Send(context.Background(), "+14155552672", body); !errors.Is(err, sms.ErrInvalidMessage) {
			t.Errorf("body of %d bytes: want ErrInvalidMessage, got %v", len(body), err)
		}
	}
	if _, err := s.Send(context.Background(), "+14155552672", strings.Repeat("é", sms.MaxBodyChars)); err != nil {
		t.Errorf("a body of %d characters: %v", sms.MaxBodyChars, err)
	}
	if n := len(f.requests()); n != 1 {
		t.Fatalf("%d requests sent, want only the valid one", n)
	}
}

func TestCheckNumber(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		n  string
		ok bool
	}{
		{"+14155552671", true},
		{"+442071838750", true},
		{"+49", true},
		{"+123456789012345", true},
		{"+1234567890123456", false},
		{"+4", false},
		{"+0441234", false},
		{"4155552671", false},
		{"+1-415-555-2671", false},
		{"+1 4155552671", false},
		{"+1415555267a", false},
		{"++14155552671", false},
		{"+14155552671\n", false},
		{"", false},
	} {
		err := sms.CheckNumber(c.n)
		if (err == nil) != c.ok {
			t.Errorf("CheckNumber(%q) = %v, want ok=%v", c.n, err, c.ok)
		}
		if err != nil && !errors.Is(err, sms.ErrInvalidNumber) {
			t.Errorf("CheckNumber(%q) = %v, does not wrap ErrInvalidNumber", c.n, err)
		}
	}
}

func ExampleCheckNumber() {
	fmt.Println(sms.CheckNumber("+14155552671"))
	fmt.Println(sms.CheckNumber("(415) 555-2671"))
	// Output:
	// <nil>
	// sms: invalid phone number: "(415) 555-2671" is not E.164 (+ and up to 15 digits, as +14155552671)
}

func TestTwilioConfig(t *testing.T) {
	t.Parallel()
	creds := map[string]string{"account_sid": testSID, "auth_token": testToken}
	for _, c := range []struct {
		creds    map[string]string
		settings map[string]string
		want     string
	}{
		{map[string]string{"account_sid": testSID}, map[string]string{"from": testFrom}, `credential "auth_token" is required`},
		{creds, map[string]string{}, `setting "from" is required`},
		{creds, map[string]string{"from": "4155552671"}, `setting "from" must be an E.164 number`},
		{map[string]string{"account_sid": "SK0123456789abcdef0123456789abcdef", "auth_token": testToken}, map[string]string{"from": testFrom}, `credential "account_sid" must be AC followed by 32 hexadecimal digits`},
		{creds, map[string]string{"from": testFrom, "base_url": "api.twilio.com"}, `setting "base_url" must be an http(s) URL`},
	} {
		_, err := sms.New(sms.ProviderTwilio, integration.Config{Credentials: c.creds, Settings: c.settings})
		if !errors.Is(err, integration.ErrInvalidConfig) {
			t.Fatalf("want ErrInvalidConfig, got %v", err)
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v lacks %q", err, c.want)
		}
		for _, v := range c.creds {
			if strings.Contains(err.Error(), v) {
				t.Errorf("%v shows a credential", err)
			}
		}
	}
	if _, err := sms.New("nexmo", integration.Config{}); !errors.Is(err, sms.ErrUnknownProvider) {
		t.Fatalf("want ErrUnknownProvider, got %v", err)
	}
	specs := sms.Specs()
	if len(specs) != 1 || specs[0].Provider != "twilio" || specs[0].Type != integration.SMS {
		t.Fatalf("%+v", specs)
	}
}

// formatted is every way a value may end up in a log or a message.
func formatted(vs ...any) string {
	var b strings.Builder
	for _, v := range vs {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%d", "%x"} {
			fmt.Fprintf(&b, verb+"\n", v)
		}
		if err, ok := v.(error); ok {
			for e := errors.Unwrap(err); e != nil; e = errors.Unwrap(e) {
				fmt.Fprintf(&b, "%v %+v %#v\n", e, e, e)
			}
		}
		slog.New(slog.NewTextHandler(&b, nil)).Info("value", "v", v)
		slog.New(slog.NewJSONHandler(&b, nil)).Info("value", "v", v)
	}
	return b.String()
}

// A deliberately failing Twilio that echoes the credentials in its
// errors, and one that is not there at all (the transport error names the
// URL, which holds the account SID): nothing returned shows them.
func TestTwilioNeverShowsCredentials(t *testing.T) {
	t.Parallel()
	echo := newFakeTwilio(t, 401, `{"code":20003,"message":"Authenticate `+testSID+`:`+testToken+`","status":401}`)
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	var values []any
	for _, base := range []string{echo.srv.URL, gone.URL} {
		s := newSender(t, base)
		id, sendErr := s.Send(context.Background(), "+14155552672", "token "+testToken)
		testErr := s.(integration.Tester).Test(context.Background())
		if sendErr == nil || testErr == nil {
			t.Fatalf("%s: the failing provider returned no error: %v, %v", base, sendErr, testErr)
		}
		values = append(values, s, id, sendErr, testErr)
	}
	if err := values[2].(error); !strings.Contains(err.Error(), "Authenticate [redacted]:[redacted]") {
		t.Fatalf("Send = %v", err)
	}
	text := formatted(values...)
	for _, secret := range []string{testSID, testToken} {
		for _, form := range []string{secret, fmt.Sprintf("%x", secret)} {
			if strings.Contains(text, form) {
				t.Fatalf("a credential shows in:\n%s", text)
			}
		}
	}
}
