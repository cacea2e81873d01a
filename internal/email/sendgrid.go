package email

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/tenantkit/tenantkit/internal/integration"
)

func sendgridSpec() integration.Spec {
	return integration.Spec{
		Type:        integration.Email,
		Provider:    ProviderSendGrid,
		Description: "Twilio SendGrid, through its v3 Mail Send API.",
		Credentials: []integration.Field{
			{Name: "api_key", Required: true, Description: "API key with the mail.send scope."},
		},
		Settings: []integration.Field{
			{Name: "base_url", Description: "API base URL. Defaults to https://api.sendgrid.com."},
		},
	}
}

// sendGrid sends through SendGrid's v3 Mail Send API.
type sendGrid struct {
	api    httpAPI
	apiKey secret
}

func newSendGrid(cfg integration.Config) (sender, error) {
	base, err := baseURL(ProviderSendGrid, cfg.Settings, "https://api.sendgrid.com")
	if err != nil {
		return nil, err
	}
	s := &sendGrid{apiKey: secret(cfg.Credentials["api_key"])}
	s.api = httpAPI{
		provider:  ProviderSendGrid,
		base:      base,
		client:    cfg.Client(),
		auth:      func(h http.Header) { h.Set("Authorization", "Bearer "+string(s.apiKey)) },
		errorText: sendgridErrorText,
		secrets:   secretValues(cfg),
	}
	return s, nil
}

func (s *sendGrid) String() string   { return "email sendgrid " + s.api.base.String() }
func (s *sendGrid) GoString() string { return s.String() }

type sendgridAddress struct {
	Email string `json:"email"`
	Name  string `json:"name,omitempty"`
}

type sendgridPersonalization struct {
	To  []sendgridAddress `json:"to"`
	Cc  []sendgridAddress `json:"cc,omitempty"`
	Bcc []sendgridAddress `json:"bcc,omitempty"`
}

type sendgridContent struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

type sendgridMail struct {
	Personalizations []sendgridPersonalization `json:"personalizations"`
	From             sendgridAddress           `json:"from"`
	ReplyTo          *sendgridAddress          `json:"reply_to,omitempty"`
	Subject          string                    `json:"subject"`
	// Content lists text/plain first: SendGrid requires that order.
	Content    []sendgridContent `json:"content"`
	Headers    map[string]string `json:"headers,omitempty"`
	Categories []string          `json:"categories,omitempty"`
}

func sendgridAddresses(list []Address) []sendgridAddress {
	if len(list) == 0 {
		return nil
	}
	out := make([]sendgridAddress, len(list))
	for i, a := range list {
		out[i] = sendgridAddress{Email: a.Email, Name: a.Name}
	}
	return out
}

func sendgridBody(m Message) sendgridMail {
	body := sendgridMail{
		Personalizations: []sendgridPersonalization{{
			To: sendgridAddresses(m.To), Cc: sendgridAddresses(m.Cc), Bcc: sendgridAddresses(m.Bcc),
		}},
		From:    sendgridAddress{Email: m.From.Email, Name: m.From.Name},
		Subject: m.Subject,
		Content: []sendgridContent{{Type: "text/plain", Value: m.Text}},
		Headers: m.Headers,
	}
	if m.HTML != "" {
		body.Content = append(body.Content, sendgridContent{Type: "text/html", Value: m.HTML})
	}
	if m.ReplyTo != nil {
		body.ReplyTo = &sendgridAddress{Email: m.ReplyTo.Email, Name: m.ReplyTo.Name}
	}
	if m.Tag != "" {
		body.Categories = []string{m.Tag}
	}
	return body
}

// Send posts m to /v3/mail/send. SendGrid answers 202 with the message's
// id in the X-Message-Id header.
func (s *sendGrid) Send(ctx context.Context, m Message) (string, error) {
	if err := m.Validate(); err != nil {
		return "", err
	}
	resp, err := s.api.call(ctx, "send", http.MethodPost, "/v3/mail/send", sendgridBody(m))
	if err != nil {
		return "", err
	}
	return resp.header.Get("X-Message-Id"), nil
}

// Test lists the key's scopes (GET /v3/scopes), which sends nothing, and
// checks that mail.send is among them.
func (s *sendGrid) Test(ctx context.Context) error {
	resp, err := s.api.call(ctx, "test", http.MethodGet, "/v3/scopes", nil)
	if err != nil {
		return err
	}
	var out struct {
		Scopes []string `json:"scopes"`
	}
	if err := s.api.decode("test", resp, &out); err != nil {
		return err
	}
	if !slices.Contains(out.Scopes, "mail.send") {
		return &ProviderError{Provider: ProviderSendGrid, Op: "test", Status: resp.status,
			Message: "the API key lacks the mail.send scope"}
	}
	return nil
}

// sendgridErrorText reads {"errors":[{"message":…,"field":…}]}.
func sendgridErrorText(body []byte) string {
	var out struct {
		Errors []struct {
			Message string  `json:"message"`
			Field   *string `json:"field"`
		} `json:"errors"`
	}
	if json.Unmarshal(body, &out) != nil {
		return ""
	}
	var msgs []string
	for _, e := range out.Errors {
		if e.Field != nil && *e.Field != "" {
			msgs = append(msgs, fmt.Sprintf("%s: %s", *e.Field, e.Message))
		} else {
			msgs = append(msgs, e.Message)
		}
	}
	return strings.Join(msgs, "; ")
}
