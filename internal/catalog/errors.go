package catalog

import (
	"errors"
	"strings"
)

// Errors returned by Store. The admin API maps each to a problem type.
var (
	ErrTenantNotFound = errors.New("catalog: tenant not found")
	ErrSlugTaken      = errors.New("catalog: slug already taken")
	ErrTenantDeleted  = errors.New("catalog: tenant is deleted")
	ErrDomainTaken    = errors.New("catalog: domain already registered")
	ErrDomainNotFound = errors.New("catalog: domain not found")
)

// FieldError is one invalid input field.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ValidationError lists every invalid field of a request.
type ValidationError struct {
	Fields []FieldError
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + ": " + f.Message
	}
	return "catalog: invalid input: " + strings.Join(parts, "; ")
}

func (e *ValidationError) add(field, msg string) { e.Fields = append(e.Fields, FieldError{field, msg}) }

// Invalid returns a *ValidationError of the given fields, or nil when
// there are none: for checks made outside the catalog (Stripe's prices).
func Invalid(fields ...FieldError) error {
	e := &ValidationError{Fields: fields}
	return e.orNil()
}

func (e *ValidationError) orNil() error {
	if e == nil || len(e.Fields) == 0 {
		return nil
	}
	return e
}
