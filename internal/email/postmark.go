package email

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/tenantkit/tenantkit/internal/integration"
)

func postmarkSpec() integration.Spec {
	return integration.Spec{
		Type:        integration.Email,
		Provider:    ProviderPostmark,
		Description: "Postmark, through its /email API.",
		Credentials: []integration.Field{
			{Name: "server_token", Required: true, Description: "Server API token."},
		},
		Settings: []integration.Field{
			{Name: "base_url", Description: "API base URL. Defaults to https://api.postmarkapp.com."},
			{Name: "message_stream", Description: `Message stream to send through. Defaults to "outbound".`},
		},
	}
}

// postmark sends through Postmark's POST /email.
type postmark struct {
	api    httpAPI
	token  secret
	stream string
}

func newPostmark(cfg integration.Config) (sender, error) {
	base, err := baseURL(ProviderPostmark, cfg.Settings, "https://api.postmarkapp.com")
	if err != nil {
		return nil, err
	}
	s := &postmark{
		token:  secret(cfg.Credentials["server_token"]),
		stream: settingOr(cfg.Settings, "message_stream", "outbound"),
	}
	s.api = httpAPI{
		provider:  ProviderPostmark,
		base:      base,
		client:    cfg.Client(),
		auth:      func(h http.Header) { h.Set("X-Postmark-Server-Token", string(s.token)) },
		errorText: postmarkErrorText,
		secrets:   secretValues(cfg),
	}
	return s, nil
}

func (s *postmark) String() string {
	return fmt.Sprintf("email postmark %s stream %s", s.api.base, s.stream)
}
func (s *postmark) GoString() string { return s.String() }

type postmarkHeader struct {
	Name  string `json:"Name"`
	Value string `json:"Value"`
}

type postmarkEmail struct {
	From          string           `json:"From"`
	To            string           `json:"To"`
	Cc            string           `json:"Cc,omitempty"`
	Bcc           string           `json:"Bcc,omitempty"`
	ReplyTo       string           `json:"ReplyTo,omitempty"`
	Subject       string           `json:"Subject"`
	HTMLBody      string           `json:"HtmlBody,omitempty"`
	TextBody      string           `json:"TextBody"`
	Headers       []postmarkHeader `json:"Headers,omitempty"`
	Tag           string           `json:"Tag,omitempty"`
	MessageStream string           `json:"MessageStream"`
}

func joinAddresses(list []Address) string { return strings.Join(addressStrings(list), ", ") }

func (s *postmark) body(m Message) postmarkEmail {
	body := postmarkEmail{
		From:          m.From.String(),
		To:            joinAddresses(m.To),
		Cc:            joinAddresses(m.Cc),
		Bcc:           joinAddresses(m.Bcc),
		Subject:       m.Subject,
		HTMLBody:      m.HTML,
		TextBody:      m.Text,
		Tag:           m.Tag,
		MessageStream: s.stream,
	}
	if m.ReplyTo != nil {
		body.ReplyTo = m.ReplyTo.String()
	}
	for _, name := range m.sortedHeaders() {
		body.Headers = append(body.Headers, postmarkHeader{Name: name, Value: m.Headers[name]})
	}
	return body
}

// Send posts m to /email and returns Postmark's MessageID.
func (s *postmark) Send(ctx context.Context, m Message) (string, error) {
	if err := m.Validate(); err != nil {
		return "", err
	}
	resp, err := s.api.call(ctx, "send", http.MethodPost, "/email", s.body(m))
	if err != nil {
		return "", err
	}
	var out struct {
		MessageID string `json:"MessageID"`
		ErrorCode int    `json:"ErrorCode"`
		Message   string `json:"Message"`
	}
	if err := s.api.decode("send", resp, &out); err != nil {
		return "", err
	}
	if out.ErrorCode != 0 {
		return "", s.api.refusal("send", resp.status, resp.body)
	}
	return out.MessageID, nil
}

// Test reads the server the token belongs to (GET /server), which sends
// nothing.
func (s *postmark) Test(ctx context.Context) error {
	_, err := s.api.call(ctx, "test", http.MethodGet, "/server", nil)
	return err
}

// postmarkErrorText reads {"ErrorCode":…,"Message":…}.
func postmarkErrorText(body []byte) string {
	var e struct {
		ErrorCode int    `json:"ErrorCode"`
		Message   string `json:"Message"`
	}
	if json.Unmarshal(body, &e) != nil || e.Message == "" {
		return ""
	}
	return fmt.Sprintf("error code %d: %s", e.ErrorCode, e.Message)
}
