package integration

import (
	"errors"
	"net/url"
	"sort"
	"strings"
	"unicode/utf8"
)

// Redacted replaces a credential value in text.
const Redacted = "[redacted]"

// maxExcerpt bounds how much of a provider's message an error carries.
const maxExcerpt = 300

// Redactor removes a provider's credential values from text, including
// their URL-escaped forms, which is how a value may show in a request URL.
type Redactor struct {
	secrets []string // longest first, so a secret holding another goes whole
}

// NewRedactor returns a Redactor of the values of credentials.
func NewRedactor(credentials map[string]string) *Redactor {
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
	return &Redactor{secrets: out}
}

// Text is s with every credential replaced by Redacted.
func (r *Redactor) Text(s string) string {
	for _, secret := range r.secrets {
		s = strings.ReplaceAll(s, secret, Redacted)
	}
	return s
}

// Excerpt is s without credentials, on one line, cut to 300 bytes.
func (r *Redactor) Excerpt(s string) string {
	s = strings.Join(strings.Fields(r.Text(s)), " ")
	if len(s) <= maxExcerpt {
		return s
	}
	cut := maxExcerpt
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// Error returns err with no credential in its text. An error pass accepts
// (one built redacted, say) is returned as it is; anything else becomes
// an error that unwraps only to the first of known it matches, since a
// deeper error may print a credential.
func (r *Redactor) Error(err error, pass func(error) bool, known ...error) error {
	if err == nil {
		return nil
	}
	if pass != nil && pass(err) {
		return err
	}
	se := &safeError{msg: r.Text(err.Error())}
	for _, k := range known {
		if errors.Is(err, k) {
			se.cause = k
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
