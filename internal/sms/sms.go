package sms

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/tenantkit/tenantkit/internal/integration"
)

// Sentinel errors.
var (
	// ErrUnknownProvider is returned by New for a provider it does not know.
	ErrUnknownProvider = errors.New("sms: unknown provider")
	// ErrUnauthorized is matched (errors.Is) by a *ProviderError whose
	// provider refused the credentials: HTTP 401 or 403.
	ErrUnauthorized = errors.New("sms: credentials refused")
	// ErrInvalidNumber is wrapped by CheckNumber's errors.
	ErrInvalidNumber = errors.New("sms: invalid phone number")
	// ErrInvalidMessage is wrapped by Send's errors for a body it will not
	// send: empty or too long.
	ErrInvalidMessage = errors.New("sms: invalid message")
)

// Sender sends one text message and returns the provider's id for it.
type Sender interface {
	Send(ctx context.Context, to, body string) (id string, err error)
}

// ProviderTwilio is the Twilio provider's name, as Specs lists it and New
// takes it.
const ProviderTwilio = "twilio"

// sender is what every provider returns.
type sender interface {
	Sender
	integration.Tester
}

type provider = integration.Provider[sender]

func providers() map[string]provider {
	return map[string]provider{
		ProviderTwilio: {Spec: twilioSpec(), Build: newTwilio},
	}
}

// Specs describes every SMS provider, sorted by name.
func Specs() []integration.Spec {
	return integration.SpecsOf(providers())
}

// New builds the named provider's Sender from cfg, after checking cfg
// against the provider's Spec. The Sender also implements
// integration.Tester. Configuration errors wrap integration.ErrInvalidConfig
// and name fields, never credential values.
func New(provider string, cfg integration.Config) (Sender, error) {
	return integration.Build(providers(), provider, cfg, ErrUnknownProvider, newRedactor(cfg.Credentials).error)
}

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{1,14}$`)

// CheckNumber reports whether number is in E.164 form: a plus sign, then
// up to 15 digits, the first not 0, with no spaces or punctuation. Its
// errors wrap ErrInvalidNumber.
func CheckNumber(number string) error {
	if !e164.MatchString(number) {
		return fmt.Errorf("%w: %q is not E.164 (+ and up to 15 digits, as +14155552671)", ErrInvalidNumber, number)
	}
	return nil
}

// invalidConfig reports a field value the spec's presence check cannot
// catch, naming the field only.
func invalidConfig(provider, kind, field, why string) error {
	return fmt.Errorf("%w: %s %s: %s %q %s", integration.ErrInvalidConfig, integration.SMS, provider, kind, field, why)
}

// baseURL parses the base_url setting or returns def.
func baseURL(provider string, settings map[string]string, def string) (*url.URL, error) {
	raw := strings.TrimSpace(settings["base_url"])
	if raw == "" {
		raw = def
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.User != nil {
		return nil, invalidConfig(provider, "setting", "base_url", "must be an http(s) URL")
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return u, nil
}

// ProviderError is a provider's refusal: the provider, the operation
// ("send" or "test"), the HTTP status, and the provider's error code and
// message with every credential value removed.
type ProviderError struct {
	Provider string
	Op       string
	Status   int
	Code     int
	Message  string
}

func (e *ProviderError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "sms %s: %s", e.Provider, e.Op)
	if e.Status != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.Status)
	}
	if e.Code != 0 {
		fmt.Fprintf(&b, ": error %d", e.Code)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	return b.String()
}

// Is reports whether target is ErrUnauthorized and the status says the
// credentials were refused.
func (e *ProviderError) Is(target error) bool {
	return target == ErrUnauthorized && (e.Status == 401 || e.Status == 403)
}
