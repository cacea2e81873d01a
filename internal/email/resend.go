package email

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/tenantkit/tenantkit/internal/integration"
)

func resendSpec() integration.Spec {
	return integration.Spec{
		Type:        integration.Email,
		Provider:    ProviderResend,
		Description: "Resend, through its /emails API.",
		Credentials: []integration.Field{
			{Name: "api_key", Required: true, Description: "API key; a sending-only key is enough."},
		},
		Settings: []integration.Field{
			{Name: "base_url", Description: "API base URL. Defaults to https://api.resend.com."},
		},
	}
}

// resend sends through Resend's POST /emails.
type resend struct {
	api    httpAPI
	apiKey secret
}

func newResend(cfg integration.Config) (sender, error) {
	base, err := baseURL(ProviderResend, cfg.Settings, "https://api.resend.com")
	if err != nil {
		return nil, err
	}
	s := &resend{apiKey: secret(cfg.Credentials["api_key"])}
	s.api = httpAPI{
		provider:  ProviderResend,
		base:      base,
		client:    cfg.Client(),
		auth:      func(h http.Header) { h.Set("Authorization", "Bearer "+string(s.apiKey)) },
		errorText: resendErrorText,
		secrets:   secretValues(cfg),
	}
	return s, nil
}

func (s *resend) String() string   { return "email resend " + s.api.base.String() }
func (s *resend) GoString() string { return s.String() }

type resendTag struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type resendEmail struct {
	From    string            `json:"from"`
	To      []string          `json:"to"`
	Cc      []string          `json:"cc,omitempty"`
	Bcc     []string          `json:"bcc,omitempty"`
	ReplyTo []string          `json:"reply_to,omitempty"`
	Subject string            `json:"subject"`
	HTML    string            `json:"html,omitempty"`
	Text    string            `json:"text"`
	Headers map[string]string `json:"headers,omitempty"`
	Tags    []resendTag       `json:"tags,omitempty"`
}

func resendBody(m Message) resendEmail {
	body := resendEmail{
		From:    m.From.String(),
		To:      addressStrings(m.To),
		Cc:      addressStrings(m.Cc),
		Bcc:     addressStrings(m.Bcc),
		Subject: m.Subject,
		HTML:    m.HTML,
		Text:    m.Text,
		Headers: m.Headers,
	}
	if m.ReplyTo != nil {
		body.ReplyTo = []string{m.ReplyTo.String()}
	}
	if m.Tag != "" {
		body.Tags = []resendTag{{Name: "category", Value: m.Tag}}
	}
	return body
}

// Send posts m to /emails and returns the id Resend answers with.
func (s *resend) Send(ctx context.Context, m Message) (string, error) {
	if err := m.Validate(); err != nil {
		return "", err
	}
	resp, err := s.api.call(ctx, "send", http.MethodPost, "/emails", resendBody(m))
	if err != nil {
		return "", err
	}
	var out struct {
		ID string `json:"id"`
	}
	if err := s.api.decode("send", resp, &out); err != nil {
		return "", err
	}
	return out.ID, nil
}

// Test lists the account's domains (GET /domains), which sends nothing. A
// sending-only key cannot list domains: Resend answers 401
// restricted_api_key, which still proves the key is valid, so it passes.
func (s *resend) Test(ctx context.Context) error {
	resp, err := s.api.call(ctx, "test", http.MethodGet, "/domains", nil)
	if err != nil && resp.status == http.StatusUnauthorized && resendErrorName(resp.body) == "restricted_api_key" {
		return nil
	}
	return err
}

type resendError struct {
	Name    string `json:"name"`
	Message string `json:"message"`
}

func resendErrorName(body []byte) string {
	var e resendError
	_ = json.Unmarshal(body, &e)
	return e.Name
}

// resendErrorText reads {"statusCode":…,"name":…,"message":…}.
func resendErrorText(body []byte) string {
	var e resendError
	if json.Unmarshal(body, &e) != nil || e.Message == "" {
		return ""
	}
	if e.Name != "" {
		return e.Name + ": " + e.Message
	}
	return e.Message
}
