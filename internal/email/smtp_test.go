package email_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tenantkit/tenantkit/internal/email"
	"github.com/tenantkit/tenantkit/internal/integration"
)

const (
	smtpUser     = "relay-user"
	smtpPassword = "s3cret-Smtp-Passw0rd"
)

func smtpSender(t *testing.T, m mailpit, settings, creds map[string]string) email.Sender {
	t.Helper()
	all := map[string]string{"host": m.smtpHost, "port": m.smtpPort}
	for k, v := range settings {
		all[k] = v
	}
	s, err := email.New(email.ProviderSMTP, integration.Config{Settings: all, Credentials: creds})
	if err != nil {
		t.Fatalf("New smtp: %v", err)
	}
	return s
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestSMTPSendsBrandedMessageThroughMailpit(t *testing.T) {
	t.Parallel()
	certFile, keyFile, certPEM := tlsFiles(t)
	m := startMailpit(t, "--smtp-tls-cert", certFile, "--smtp-tls-key", keyFile,
		"--smtp-require-starttls", "--smtp-auth-file", authFile(t, smtpUser, smtpPassword))
	s := smtpSender(t, m, map[string]string{"tls": "starttls", "ca_cert": certPEM, "helo": "app.platform.example"},
		map[string]string{"username": smtpUser, "password": smtpPassword})
	ctx := testCtx(t)

	if err := s.(integration.Tester).Test(ctx); err != nil {
		t.Fatalf("Test: %v", err)
	}

	b := email.Branding{
		ProductName:  "Globex",
		LogoURL:      "https://cdn.globex.example/logo.png",
		PrimaryColor: "#ff6600",
		AccentColor:  "#003366",
		FromName:     "Globex Support",
		FromEmail:    "help@globex.example",
		SupportURL:   "https://globex.example/support",
	}
	r, err := email.NewRenderer(email.RendererConfig{})
	if err != nil {
		t.Fatal(err)
	}
	subject, text, html, err := r.Render("welcome", b, email.WelcomeData{Name: "Ada", ActionURL: "https://globex.example/start"})
	if err != nil {
		t.Fatal(err)
	}
	from := email.ChooseFrom(b, []string{"globex.example"}, email.Address{Name: "Platform", Email: "no-reply@platform.example"})
	id, err := s.Send(ctx, email.Message{
		From:    from,
		To:      []email.Address{{Name: "Ada Lovelace", Email: "ada@example.com"}},
		Cc:      []email.Address{{Email: "ops@example.com"}},
		ReplyTo: &email.Address{Name: "Globex Help", Email: "reply@globex.example"},
		Subject: subject,
		Text:    text,
		HTML:    html,
		Headers: map[string]string{"List-Unsubscribe": "<https://globex.example/unsubscribe>"},
	})
	if err != nil {
		t.Fatalf("Send: %v", err)
	}

	got, headers := m.onlyMessage(t)
	if got.From.Name != "Globex Support" || got.From.Address != "help@globex.example" {
		t.Errorf("From = %+v, want Globex Support <help@globex.example>", got.From)
	}
	if got.Subject != "Welcome to Globex" {
		t.Errorf("Subject = %q", got.Subject)
	}
	if len(got.To) != 1 || got.To[0].Address != "ada@example.com" || got.To[0].Name != "Ada Lovelace" {
		t.Errorf("To = %+v", got.To)
	}
	if len(got.Cc) != 1 || got.Cc[0].Address != "ops@example.com" {
		t.Errorf("Cc = %+v", got.Cc)
	}
	if len(got.ReplyTo) != 1 || got.ReplyTo[0].Address != "reply@globex.example" {
		t.Errorf("ReplyTo = %+v", got.ReplyTo)
	}
	if got.MessageID != id {
		t.Errorf("MessageID = %q, Send returned %q", got.MessageID, id)
	}
	if !strings.HasSuffix(id, "@globex.example") {
		t.Errorf("id %q is not on the sender's domain", id)
	}
	for _, want := range []string{`src="https://cdn.globex.example/logo.png"`, "#ff6600", "https://globex.example/support", "https://globex.example/start"} {
		if !strings.Contains(got.HTML, want) {
			t.Errorf("HTML lacks %q:\n%s", want, got.HTML)
		}
	}
	if !strings.Contains(got.Text, "Hi Ada,") || !strings.Contains(got.Text, "https://globex.example/start") {
		t.Errorf("text part = %q", got.Text)
	}
	if v := headers["List-Unsubscribe"]; len(v) != 1 || v[0] != "<https://globex.example/unsubscribe>" {
		t.Errorf("List-Unsubscribe = %q", v)
	}
}

func TestSMTPWrongPasswordFailsTestWithoutThePassword(t *testing.T) {
	t.Parallel()
	certFile, keyFile, certPEM := tlsFiles(t)
	m := startMailpit(t, "--smtp-tls-cert", certFile, "--smtp-tls-key", keyFile,
		"--smtp-auth-file", authFile(t, smtpUser, smtpPassword))
	const wrong = "wr0ng-Passw0rd-Value"
	s := smtpSender(t, m, map[string]string{"ca_cert": certPEM},
		map[string]string{"username": smtpUser, "password": wrong})

	err := s.(integration.Tester).Test(testCtx(t))
	if err == nil {
		t.Fatal("Test with a wrong password succeeded")
	}
	t.Logf("Test error: %v", err)
	if !errors.Is(err, email.ErrUnauthorized) {
		t.Errorf("error %q does not match ErrUnauthorized", err)
	}
	if !strings.Contains(err.Error(), "smtp") {
		t.Errorf("error %q does not name the provider", err)
	}
	assertNoSecrets(t, err.Error(), wrong, smtpPassword)
	_, err = s.Send(testCtx(t), minimalMessage())
	if err == nil {
		t.Fatal("Send with a wrong password succeeded")
	}
	assertNoSecrets(t, err.Error(), wrong)
}

func TestSMTPImplicitTLS(t *testing.T) {
	t.Parallel()
	certFile, keyFile, certPEM := tlsFiles(t)
	m := startMailpit(t, "--smtp-tls-cert", certFile, "--smtp-tls-key", keyFile, "--smtp-require-tls",
		"--smtp-auth-file", authFile(t, smtpUser, smtpPassword))
	s := smtpSender(t, m, map[string]string{"tls": "tls", "ca_cert": certPEM},
		map[string]string{"username": smtpUser, "password": smtpPassword})
	if err := s.(integration.Tester).Test(testCtx(t)); err != nil {
		t.Fatalf("Test: %v", err)
	}
	if _, err := s.Send(testCtx(t), minimalMessage()); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got, _ := m.onlyMessage(t)
	if got.Subject != minimalMessage().Subject {
		t.Errorf("Subject = %q", got.Subject)
	}
}

// STARTTLS is the default and must not quietly fall back to plain text
// when the server does not offer it: the password would go in the clear.
func TestSMTPStartTLSRefusesServerWithoutIt(t *testing.T) {
	t.Parallel()
	m := startMailpit(t, "--smtp-auth-accept-any", "--smtp-auth-allow-insecure")
	s := smtpSender(t, m, nil, map[string]string{"username": smtpUser, "password": smtpPassword})
	err := s.(integration.Tester).Test(testCtx(t))
	t.Logf("Test error: %v", err)
	if err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("Test against a server without STARTTLS = %v, want a STARTTLS error", err)
	}
	assertNoSecrets(t, err.Error(), smtpPassword)
	if _, err := s.Send(testCtx(t), minimalMessage()); err == nil {
		t.Fatal("Send without STARTTLS succeeded")
	}
}

// The certificate must be checked: a server whose certificate is not
// trusted (no ca_cert) is refused.
func TestSMTPRefusesUntrustedCertificate(t *testing.T) {
	t.Parallel()
	certFile, keyFile, _ := tlsFiles(t)
	m := startMailpit(t, "--smtp-tls-cert", certFile, "--smtp-tls-key", keyFile, "--smtp-auth-accept-any")
	s := smtpSender(t, m, nil, map[string]string{"username": smtpUser, "password": smtpPassword})
	err := s.(integration.Tester).Test(testCtx(t))
	t.Logf("Test error: %v", err)
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("Test against an untrusted certificate = %v, want a certificate error", err)
	}
}

func TestSMTPWithoutTLSOrAuthForLocalServers(t *testing.T) {
	t.Parallel()
	m := startMailpit(t)
	s := smtpSender(t, m, map[string]string{"tls": "none"}, nil)
	if err := s.(integration.Tester).Test(testCtx(t)); err != nil {
		t.Fatalf("Test: %v", err)
	}
	msg := minimalMessage()
	if _, err := s.Send(testCtx(t), msg); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got, _ := m.onlyMessage(t)
	if got.Text == "" || got.HTML != "" {
		t.Errorf("text-only message came back with Text %q, HTML %q", got.Text, got.HTML)
	}
}

func minimalMessage() email.Message {
	return email.Message{
		From:    email.Address{Name: "Platform", Email: "no-reply@platform.example"},
		To:      []email.Address{{Email: "ada@example.com"}},
		Subject: "Hello",
		Text:    "Hello, Ada.",
	}
}

func assertNoSecrets(t *testing.T, s string, secrets ...string) {
	t.Helper()
	for _, secret := range secrets {
		if strings.Contains(s, secret) {
			t.Errorf("%q contains the secret %q", s, secret)
		}
	}
}
