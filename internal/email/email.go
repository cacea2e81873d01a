package email

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/tenantkit/tenantkit/internal/integration"
)

// Sentinel errors.
var (
	// ErrUnknownProvider is returned by New for a provider it does not know.
	ErrUnknownProvider = errors.New("email: unknown provider")
	// ErrUnauthorized is matched (errors.Is) by a *ProviderError whose
	// provider refused the credentials: HTTP 401 or 403, SMTP 530 or 535.
	ErrUnauthorized = errors.New("email: credentials refused")
)

// Sender sends one message and returns the provider's id for it.
type Sender interface {
	Send(ctx context.Context, m Message) (id string, err error)
}

// Provider names, as Specs lists them and New takes them.
const (
	ProviderSMTP     = "smtp"
	ProviderSendGrid = "sendgrid"
	ProviderSES      = "ses"
	ProviderResend   = "resend"
	ProviderPostmark = "postmark"
)

// provider is what each implementation registers: its spec and how to
// build it once the config has passed the spec.
type provider = integration.Provider[sender]

// sender is what every provider returns: a Sender that can also test its
// credentials.
type sender interface {
	Sender
	integration.Tester
}

func providers() map[string]provider {
	return map[string]provider{
		ProviderSMTP:     {Spec: smtpSpec(), Build: newSMTP},
		ProviderSendGrid: {Spec: sendgridSpec(), Build: newSendGrid},
		ProviderSES:      {Spec: sesSpec(), Build: newSES},
		ProviderResend:   {Spec: resendSpec(), Build: newResend},
		ProviderPostmark: {Spec: postmarkSpec(), Build: newPostmark},
	}
}

// Specs describes every email provider, sorted by name.
func Specs() []integration.Spec {
	return integration.SpecsOf(providers())
}

// New builds the named provider's Sender from cfg, after checking cfg
// against the provider's Spec. The Sender also implements
// integration.Tester. Configuration errors wrap integration.ErrInvalidConfig
// and name fields, never values.
func New(name string, cfg integration.Config) (Sender, error) {
	// build's errors name fields, never values, so they need no redaction.
	return integration.Build(providers(), name, cfg, ErrUnknownProvider, nil)
}

// invalidSetting reports a setting value the spec's presence check cannot
// catch. Settings are plain, so naming the value is fine.
func invalidSetting(provider, field, why string) error {
	return fmt.Errorf("%w: %s %s: setting %q %s", integration.ErrInvalidConfig, integration.Email, provider, field, why)
}

// settingOr returns settings[name], trimmed, or def when blank.
func settingOr(settings map[string]string, name, def string) string {
	if v := strings.TrimSpace(settings[name]); v != "" {
		return v
	}
	return def
}

// baseURL parses the base_url setting or returns def.
func baseURL(provider string, settings map[string]string, def string) (*url.URL, error) {
	raw := settingOr(settings, "base_url", def)
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, invalidSetting(provider, "base_url", "must be an http(s) URL")
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return u, nil
}

// ProviderError is a provider's refusal: its name, the operation ("send" or
// "test"), the HTTP status or SMTP reply code, and an excerpt of the
// provider's message with every credential value removed.
type ProviderError struct {
	Provider string
	Op       string
	// Status is the HTTP status, or the SMTP reply code for smtp; 0 when the
	// provider answered without one.
	Status int
	// Message is at most a few hundred characters of what the provider
	// said, credentials replaced by "[redacted]".
	Message string
}

func (e *ProviderError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "email %s: %s", e.Provider, e.Op)
	if e.Status != 0 {
		kind := "HTTP"
		if e.Provider == ProviderSMTP {
			kind = "SMTP"
		}
		fmt.Fprintf(&b, ": %s %d", kind, e.Status)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	return b.String()
}

// Is reports whether target is ErrUnauthorized and the status says the
// credentials were refused.
func (e *ProviderError) Is(target error) bool {
	if target != ErrUnauthorized {
		return false
	}
	if e.Provider == ProviderSMTP {
		return e.Status == 530 || e.Status == 535
	}
	return e.Status == 401 || e.Status == 403
}

// maxExcerpt bounds how much of a provider's message an error carries.
const maxExcerpt = 300

func excerpt(s string, secrets []string) string {
	s = strings.Join(strings.Fields(redact(s, secrets)), " ")
	if len(s) <= maxExcerpt {
		return s
	}
	cut := maxExcerpt
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// redacted replaces credential values in text.
const redacted = "[redacted]"

func redact(s string, secrets []string) string {
	for _, secret := range secrets {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, redacted)
		}
	}
	return s
}

// secretValues lists cfg's credential values, longest first so that a
// secret containing another is replaced whole.
func secretValues(cfg integration.Config) []string {
	var out []string
	for _, v := range cfg.Credentials {
		if v != "" {
			out = append(out, v)
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// safeError carries a message with credentials removed. It unwraps only to
// the context errors, since anything deeper may print a credential.
type safeError struct {
	msg   string
	cause error // context.Canceled, context.DeadlineExceeded or nil
}

func (e *safeError) Error() string { return e.msg }
func (e *safeError) Unwrap() error { return e.cause }

// redactError returns err with every secret removed from its text. A
// *ProviderError (already redacted when built) and errors wrapping the
// package's own sentinels keep their type, so errors.Is and errors.As still
// work; anything else becomes a *safeError.
func redactError(err error, secrets []string) error {
	if err == nil {
		return nil
	}
	var pe *ProviderError
	known := errors.As(err, &pe) || errors.Is(err, integration.ErrInvalidConfig) || errors.Is(err, ErrInvalidMessage)
	if known && !containsAny(err.Error(), secrets) {
		return err
	}
	se := &safeError{msg: redact(err.Error(), secrets)}
	switch {
	case errors.Is(err, context.Canceled):
		se.cause = context.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		se.cause = context.DeadlineExceeded
	}
	return se
}

func containsAny(s string, secrets []string) bool {
	for _, secret := range secrets {
		if secret != "" && strings.Contains(s, secret) {
			return true
		}
	}
	return false
}

// secret holds a credential and never prints it, whatever the verb, so a
// sender formatted with %+v or %#v shows no credential.
type secret string

func (secret) String() string   { return redacted }
func (secret) GoString() string { return `"` + redacted + `"` }
func (s secret) Format(f fmt.State, _ rune) {
	_, _ = f.Write([]byte(redacted))
}
