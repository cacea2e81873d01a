package sms

import (
	"context"
	"errors"
	"net/url"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/tenantkit/tenantkit/internal/integration"
)

// redacted replaces a credential value in text.
const redacted = "[redacted]"

// maxExcerpt bounds how much of a provider's message an error carries.
const maxExcerpt = 300

// redactor removes a provider's credential values from text, including
// their URL-escaped forms, which is how a value may show in a request URL.
type redactor struct {
	secrets []string // longest first, so a secret holding another goes whole
}

func newRedactor(credentials map[string]string) *redactor {
	seen := map[string]bool{}
	var out []string
	for _, v := range credentials {
		for _, form := range []string{v, url.QueryEscape(v), url.PathEscape(v)} {
			if form != "" && !seen[form] {
				seen[form] = true
				out = append(out, form)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return &redactor{secrets: out}
}

func (r *redactor) text(s string) string {
	for _, secret := range r.secrets {
		s = strings.ReplaceAll(s, secret, redacted)
	}
	return s
}

// excerpt is s without credentials, on one line, cut to maxExcerpt bytes.
func (r *redactor) excerpt(s string) string {
	s = strings.Join(strings.Fields(r.text(s)), " ")
	if len(s) <= maxExcerpt {
		return s
	}
	cut := maxExcerpt
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// error returns err with no credential in its text. A *ProviderError,
// built redacted, is returned as it is; anything else becomes a *safeError
// that unwraps only to the package's sentinels and the context errors,
// since a deeper error may print a credential.
func (r *redactor) error(err error) error {
	if err == nil {
		return nil
	}
	var pe *ProviderError
	if errors.As(err, &pe) {
		return err
	}
	se := &safeError{msg: r.text(err.Error())}
	for _, known := range []error{ErrInvalidNumber, ErrInvalidMessage, integration.ErrInvalidConfig, context.Canceled, context.DeadlineExceeded} {
		if errors.Is(err, known) {
			se.cause = known
			break
		}
	}
	return se
}

// safeError carries a message with credentials removed.
type safeError struct {
	msg   string
	cause error
}

func (e *safeError) Error() string { return e.msg }
func (e *safeError) Unwrap() error { return e.cause }
