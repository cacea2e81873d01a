package storage

import (
	"context"
	"errors"
	"fmt"
	"io"

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
	return r.Error(err, isProviderError, ErrNotFound, ErrInvalidKey, integration.ErrInvalidConfig, context.Canceled, context.DeadlineExceeded)
}

func isProviderError(err error) bool {
	var pe *ProviderError
	return errors.As(err, &pe)
}

// object is the io.ReadCloser Get returns: its read errors pass through
// the redactor (io.EOF stays io.EOF) and it prints as nothing but its key.
type object struct {
	rc  io.ReadCloser
	key string
	r   *redactor
}

func (o *object) Read(p []byte) (int, error) {
	n, err := o.rc.Read(p)
	if err != nil && err != io.EOF {
		err = o.r.error(err)
	}
	return n, err
}

func (o *object) Close() error { return o.r.error(o.rc.Close()) }

func (o *object) String() string { return "storage object " + o.key }

// Format prints the object as String does, whatever the verb.
func (o *object) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, o.String()) }
