package settings

import (
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

var (
	// ErrInvalidSchema is wrapped by every error Compile returns.
	ErrInvalidSchema = errors.New("settings: invalid schema")
	// ErrInvalidJSON is wrapped when input is not one well-formed JSON value.
	ErrInvalidJSON = errors.New("settings: invalid JSON")
	// ErrNotObject is wrapped when a settings document or a merge patch is
	// valid JSON but not an object.
	ErrNotObject = errors.New("settings: not a JSON object")
)

// FieldError is one way a settings document breaks its schema.
type FieldError struct {
	// Pointer is an RFC 6901 JSON pointer into the document, such as
	// "/notifications/email_digest"; "" is the document itself.
	Pointer string `json:"pointer"`
	// Message says what is wrong in words a tenant admin can act on, such as
	// `must be one of "daily", "weekly", "never"`.
	Message string `json:"message"`
}

// ValidationError lists every way a settings document breaks its schema.
// Errors are sorted by pointer, token by token with array indexes in numeric
// order. An unknown property and a missing required one are reported at the
// property's own pointer, since that is the field to fix.
type ValidationError struct {
	Errors []FieldError `json:"errors"`
}

// Error renders all field errors on one line.
func (e *ValidationError) Error() string {
	return "settings: invalid: " + e.fieldList()
}

func (e *ValidationError) fieldList() string {
	var b strings.Builder
	for i, f := range e.Errors {
		if i > 0 {
			b.WriteString("; ")
		}
		p := f.Pointer
		if p == "" {
			p = "(root)"
		}
		b.WriteString(p)
		b.WriteString(": ")
		b.WriteString(f.Message)
	}
	return b.String()
}

// newValidationError flattens the library's error tree into field errors.
func newValidationError(err *jsonschema.ValidationError) *ValidationError {
	var fe []FieldError
	collectFieldErrors(err, &fe)
	slices.SortFunc(fe, func(a, b FieldError) int {
		if c := comparePointers(a.Pointer, b.Pointer); c != 0 {
			return c
		}
		return strings.Compare(a.Message, b.Message)
	})
	return &ValidationError{Errors: slices.Compact(fe)}
}

// collectFieldErrors appends the leaves of e's tree. Alternatives (anyOf,
// oneOf) become one error: their leaves contradict each other alone.
func collectFieldErrors(e *jsonschema.ValidationError, out *[]FieldError) {
	ptr := pointerOf(e.InstanceLocation)
	switch k := e.ErrorKind.(type) {
	case *kind.AnyOf, *kind.OneOf:
		if len(e.Causes) > 0 {
			*out = append(*out, FieldError{ptr, alternativesMessage(ptr, e.Causes)})
			return
		}
	case *kind.AdditionalProperties:
		// Point at each unknown property: that is what the tenant must remove.
		for _, p := range k.Properties {
			*out = append(*out, FieldError{pointerJoin(ptr, p), "is not a known setting"})
		}
		return
	case *kind.Required:
		for _, p := range k.Missing {
			*out = append(*out, FieldError{pointerJoin(ptr, p), "is required"})
		}
		return
	case *kind.PropertyNames:
		*out = append(*out, FieldError{pointerJoin(ptr, k.Property), "is not an allowed property name"})
		return
	}
	if len(e.Causes) == 0 {
		*out = append(*out, FieldError{ptr, leafMessage(e.ErrorKind)})
		return
	}
	for _, c := range e.Causes {
		collectFieldErrors(c, out)
	}
}

// alternativesMessage says what each failed alternative wanted.
func alternativesMessage(ptr string, causes []*jsonschema.ValidationError) string {
	alts := make([]string, 0, len(causes))
	for _, c := range causes {
		var fe []FieldError
		collectFieldErrors(c, &fe)
		parts := make([]string, 0, len(fe))
		for _, f := range fe {
			if rel := strings.TrimPrefix(f.Pointer, ptr); rel != "" {
				parts = append(parts, rel+" "+f.Message)
			} else {
				parts = append(parts, f.Message)
			}
		}
		alts = append(alts, strings.Join(parts, ", "))
	}
	return "must match one of the alternatives: " + strings.Join(alts, "; or ")
}

// leafMessage words one failed keyword as "must …". Kinds without a wording
// here fall back to the library's English message.
func leafMessage(k jsonschema.ErrorKind) string {
	switch k := k.(type) {
	case *kind.Type:
		return fmt.Sprintf("must be %s, got %s", strings.Join(k.Want, " or "), k.Got)
	case *kind.Enum:
		return "must be one of " + quoteValues(k.Want)
	case *kind.Const:
		return "must be " + quoteValue(k.Want)
	case *kind.Format:
		return fmt.Sprintf("must be a valid %s (%v)", k.Want, k.Err)
	case *kind.Pattern:
		return fmt.Sprintf("must match the pattern %s", k.Want)
	case *kind.MinLength:
		if k.Want == 1 {
			return "must not be empty"
		}
		return fmt.Sprintf("must be at least %d characters long, got %d", k.Want, k.Got)
	case *kind.MaxLength:
		return fmt.Sprintf("must be at most %d characters long, got %d", k.Want, k.Got)
	case *kind.Minimum:
		return fmt.Sprintf("must be at least %s, got %s", ratString(k.Want), ratString(k.Got))
	case *kind.Maximum:
		return fmt.Sprintf("must be at most %s, got %s", ratString(k.Want), ratString(k.Got))
	case *kind.ExclusiveMinimum:
		return fmt.Sprintf("must be greater than %s, got %s", ratString(k.Want), ratString(k.Got))
	case *kind.ExclusiveMaximum:
		return fmt.Sprintf("must be less than %s, got %s", ratString(k.Want), ratString(k.Got))
	case *kind.MultipleOf:
		return fmt.Sprintf("must be a multiple of %s", ratString(k.Want))
	case *kind.MinItems:
		return fmt.Sprintf("must have at least %d items, got %d", k.Want, k.Got)
	case *kind.MaxItems:
		return fmt.Sprintf("must have at most %d items, got %d", k.Want, k.Got)
	case *kind.UniqueItems:
		return fmt.Sprintf("must not repeat items, but items %d and %d are equal", k.Duplicates[0], k.Duplicates[1])
	case *kind.MinProperties:
		return fmt.Sprintf("must have at least %d properties, got %d", k.Want, k.Got)
	case *kind.MaxProperties:
		return fmt.Sprintf("must have at most %d properties, got %d", k.Want, k.Got)
	case *kind.FalseSchema:
		return "is not allowed"
	case *kind.OneOf:
		return fmt.Sprintf("must match exactly one alternative, but matches alternatives %d and %d", k.Subschemas[0], k.Subschemas[1])
	}
	return k.LocalizedString(message.NewPrinter(language.English))
}

func quoteValues(vs []any) string {
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = quoteValue(v)
	}
	return strings.Join(q, ", ")
}

// quoteValue renders a schema value as JSON, so strings show their quotes.
func quoteValue(v any) string {
	b, err := encodeJSON(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// ratString prints a number as a decimal: 0.25, not 1/4.
func ratString(r *big.Rat) string {
	if r == nil {
		return "?"
	}
	if r.IsInt() {
		return r.Num().String()
	}
	f, _ := r.Float64()
	return strconv.FormatFloat(f, 'f', -1, 64)
}
