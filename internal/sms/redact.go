package sms

import (
	"context"
	"errors"

	"github.com/tenantkit/tenantkit/internal/integration"
)

// redactor removes a provider's credential values from text and errors.
type redactor struct{ *integration.Redactor }

func newRedactor(credentials map[string]string) *redactor {
	return &redactor{integration.NewRedactor(credentials)}
}

func (r *redactor) text(s string) string    { return r.Text(s) }
func (r *redactor) excerpt(s string) string { return r.Excerpt(s) }

// error returns err with no credential in its text. A *ProviderError,
// built redacted, is returned as it is; anything else unwraps only to the
// package's sentinels and the context errors.
func (r *redactor) error(err error) error {
	return r.Error(err, isProviderError, ErrInvalidNumber, ErrInvalidMessage, integration.ErrInvalidConfig, context.Canceled, context.DeadlineExceeded)
}

func isProviderError(err error) bool {
	var pe *ProviderError
	return errors.As(err, &pe)
}
