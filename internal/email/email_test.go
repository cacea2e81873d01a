package email_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tenantkit/tenantkit/internal/email"
	"github.com/tenantkit/tenantkit/internal/integration"
)

func TestSpecs(t *testing.T) {
	t.Parallel()
	var names []string
	for _, s := range email.Specs() {
		names = append(names, s.Provider)
		if s.Type != integration.Email {
			t.Errorf("%s: type %q", s.Provider, s.Type)
		}
		if s.Description == "" {
			t.Errorf("%s: no description", s.Provider)
		}
		hasRequiredCredential := false
		for _, f := range s.Credentials {
			hasRequiredCredential = hasRequiredCredential || f.Required
		}
		if s.Provider != email.ProviderSMTP && !hasRequiredCredential {
			t.Errorf("%s: no required credential", s.Provider)
		}
	}
	if got, want := strings.Join(names, ","), "postmark,resend,sendgrid,ses,smtp"; got != want {
		t.Errorf("providers = %s, want %s", got, want)
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, provider  string
		creds, settings map[string]string
		wantIn          string
	}{
		{"missing api_key", email.ProviderSendGrid, nil, nil, `credential "api_key" is required`},
		{"blank server_token", email.ProviderPostmark, map[string]string{"server_token": "  "}, nil, `credential "server_token" is required`},
		{"missing secret_access_key", email.ProviderSES, map[string]string{"access_key_id": "AKIA1"}, map[string]string{"region": "eu-west-1"}, `credential "secret_access_key" is required`},
		{"missing region", email.ProviderSES, map[string]string{"access_key_id": "AKIA1", "secret_access_key": "x"}, nil, `setting "region" is required`},
		{"missing host", email.ProviderSMTP, nil, nil, `setting "host" is required`},
		{"unknown setting", email.ProviderResend, map[string]string{"api_key": "re_1"}, map[string]string{"domain": "x"}, `setting "domain" is not one resend takes`},
		{"bad port", email.ProviderSMTP, nil, map[string]string{"host": "smtp.example.com", "port": "smtp"}, `setting "port"`},
		{"bad tls", email.ProviderSMTP, nil, map[string]string{"host": "smtp.example.com", "tls": "ssl3"}, `setting "tls"`},
		{"username alone", email.ProviderSMTP, map[string]string{"username": "u"}, map[string]string{"host": "smtp.example.com"}, `"username" and "password" go together`},
		{"bad ca_cert", email.ProviderSMTP, nil, map[string]string{"host": "smtp.example.com", "ca_cert": "not a pem"}, `setting "ca_cert"`},
		{"bad base_url", email.ProviderSendGrid, map[string]string{"api_key": "SG.1"}, map[string]string{"base_url": "ftp://api.example"}, `setting "base_url"`},
		{"bad endpoint", email.ProviderSES, map[string]string{"access_key_id": "AKIA1", "secret_access_key": "x"}, map[string]string{"region": "eu-west-1", "endpoint": "localhost:4566"}, `setting "endpoint"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := email.New(tc.provider, integration.Config{Credentials: tc.creds, Settings: tc.settings})
			if err == nil {
				t.Fatalf("New = %v, want an error", s)
			}
			if !errors.Is(err, integration.ErrInvalidConfig) {
				t.Errorf("error %q does not wrap integration.ErrInvalidConfig", err)
			}
			if !strings.Contains(err.Error(), tc.wantIn) {
				t.Errorf("error %q lacks %q", err, tc.wantIn)
			}
		})
	}
}

func TestNewUnknownProvider(t *testing.T) {
	t.Parallel()
	_, err := email.New("mailgun", integration.Config{})
	if !errors.Is(err, email.ErrUnknownProvider) || !strings.Contains(err.Error(), "mailgun") {
		t.Fatalf("New(mailgun) = %v, want ErrUnknownProvider naming it", err)
	}
}

func TestEverySenderIsATester(t *testing.T) {
	t.Parallel()
	configs := map[string]integration.Config{
		email.ProviderSMTP:     {Settings: map[string]string{"host": "smtp.example.com"}},
		email.ProviderSendGrid: {Credentials: map[string]string{"api_key": "k"}},
		email.ProviderSES:      {Credentials: map[string]string{"access_key_id": "a", "secret_access_key": "s"}, Settings: map[string]string{"region": "eu-west-1"}},
		email.ProviderResend:   {Credentials: map[string]string{"api_key": "k"}},
		email.ProviderPostmark: {Credentials: map[string]string{"server_token": "k"}},
	}
	for _, spec := range email.Specs() {
		s, err := email.New(spec.Provider, configs[spec.Provider])
		if err != nil {
			t.Fatalf("New %s: %v", spec.Provider, err)
		}
		if _, ok := s.(integration.Tester); !ok {
			t.Errorf("%s sender is not an integration.Tester", spec.Provider)
		}
	}
}

// A Sender refuses an invalid message before talking to the provider.
func TestSendValidatesFirst(t *testing.T) {
	t.Parallel()
	a := newAPI(t, map[string]reply{"POST /email": {Status: 200, Body: `{"MessageID":"x"}`}})
	s := newSender(t, email.ProviderPostmark, map[string]string{"server_token": postmarkToken}, map[string]string{"base_url": a.URL})
	m := fullMessage()
	m.Headers = map[string]string{"X-Evil": "a\r\nBcc: victim@example.com"}
	if _, err := s.Send(testCtx(t), m); !errors.Is(err, email.ErrInvalidMessage) {
		t.Fatalf("Send = %v, want ErrInvalidMessage", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.reqs) != 0 {
		t.Errorf("provider got %d requests for an invalid message", len(a.reqs))
	}
}

// TestNoSecretsShow misconfigures every provider so that it fails — the
// provider echoes the request it got, credentials included, in its error —
// and searches every error and every formatting of the sender for the
// credential values.
func TestNoSecretsShow(t *testing.T) {
	t.Parallel()
	// echo answers every request with 401 and the request's credential
	// headers and body in the message.
	echo := newEchoAPI(t)
	m := startMailpit(t, "--smtp-auth-file", authFile(t, "mailer", "right-password"), "--smtp-auth-allow-insecure")
	closed := closedPort(t)

	cases := []struct {
		name, provider  string
		creds, settings map[string]string
		bad             map[string]string // settings New refuses after the spec check
	}{
		{"sendgrid", email.ProviderSendGrid, map[string]string{"api_key": "SG.leak-me-sendgrid"},
			map[string]string{"base_url": echo}, map[string]string{"base_url": "::"}},
		{"resend", email.ProviderResend, map[string]string{"api_key": "re_leak_me_resend"},
			map[string]string{"base_url": echo}, map[string]string{"base_url": "::"}},
		{"postmark", email.ProviderPostmark, map[string]string{"server_token": "leak-me-postmark"},
			map[string]string{"base_url": echo}, map[string]string{"base_url": "::"}},
		{"ses", email.ProviderSES, map[string]string{"access_key_id": "AKIALEAKMESES", "secret_access_key": "leak/me+ses+secret"},
			map[string]string{"region": "eu-west-1", "endpoint": echo}, map[string]string{"region": "eu-west-1", "endpoint": "::"}},
		{"smtp wrong password", email.ProviderSMTP, map[string]string{"username": "mailer", "password": "leak-me-smtp-password"},
			map[string]string{"host": m.smtpHost, "port": m.smtpPort, "tls": "none"}, map[string]string{"host": "h", "port": "x"}},
		{"smtp unreachable", email.ProviderSMTP, map[string]string{"username": "mailer-leak", "password": "leak-me-smtp-password"},
			map[string]string{"host": "127.0.0.1", "port": closed, "tls": "none"}, map[string]string{"host": "h", "tls": "x"}},
		{"sendgrid unreachable", email.ProviderSendGrid, map[string]string{"api_key": "SG.leak-me-unreachable"},
			map[string]string{"base_url": "http://127.0.0.1:" + closed}, map[string]string{"base_url": "x"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var secrets []string
			for _, v := range tc.creds {
				secrets = append(secrets, v)
			}
			s, err := email.New(tc.provider, integration.Config{Credentials: tc.creds, Settings: tc.settings})
			if err != nil {
				t.Fatal(err)
			}
			var seen []string
			for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
				seen = append(seen, fmt.Sprintf(verb, s))
			}
			_, sendErr := s.Send(testCtx(t), fullMessage())
			testErr := s.(integration.Tester).Test(testCtx(t))
			for _, err := range []error{sendErr, testErr} {
				if err == nil {
					t.Fatalf("%s did not fail", tc.provider)
				}
				for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
					seen = append(seen, fmt.Sprintf(verb, err))
				}
				for e := errors.Unwrap(err); e != nil; e = errors.Unwrap(e) {
					seen = append(seen, e.Error(), fmt.Sprintf("%#v", e))
				}
			}
			// A bad setting beside the credentials: New's error too.
			_, newErr := email.New(tc.provider, integration.Config{Credentials: tc.creds, Settings: tc.bad})
			if newErr == nil {
				t.Fatal("New with bad settings succeeded")
			}
			seen = append(seen, newErr.Error(), fmt.Sprintf("%#v", newErr))
			t.Logf("send: %v\ntest: %v\nnew: %v\nsender: %v", sendErr, testErr, newErr, s)
			for _, text := range seen {
				assertNoSecrets(t, text, secrets...)
			}
		})
	}
}

// newEchoAPI starts a server that answers every request with 401 and,
// like a careless provider, quotes the credentials and body it received in
// every error field the providers read.
func newEchoAPI(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		quoted := fmt.Sprintf("you sent Authorization %q, X-Postmark-Server-Token %q, body %s",
			r.Header.Get("Authorization"), r.Header.Get("X-Postmark-Server-Token"), body)
		out, _ := json.Marshal(map[string]any{
			"errors":  []map[string]any{{"message": quoted}},
			"message": quoted, "Message": quoted, "ErrorCode": 10, "name": "invalid_api_key",
		})
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Amzn-ErrorType", "UnrecognizedClientException")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write(out)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(l.Addr().String())
	l.Close()
	return port
}
