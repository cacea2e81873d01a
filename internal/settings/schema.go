package settings

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
)

// schemaURL names the document inside the compiler. Relative references in
// the schema resolve against it unless the schema sets its own $id.
const schemaURL = "urn:tenantkit:settings.schema.json"

// Schema is a compiled settings schema. It is immutable and safe for
// concurrent use.
type Schema struct {
	raw      []byte
	doc      map[string]any // decoded raw, for defaults and $ref lookups
	compiled *jsonschema.Schema
}

// Compile checks doc as a JSON Schema (draft 2020-12 unless doc's $schema
// names another) and returns it compiled. The top level must be an object
// schema, since settings are always an object; format keywords such as
// "uri", "email" and "date-time" are asserted, not just annotations.
// References may only point inside doc: nothing is fetched. The document
// WithDefaults makes from no stored settings must satisfy the schema apart
// from required properties the tenant has to supply, so a bad default fails
// here rather than on every read. Errors wrap ErrInvalidSchema and name the
// problem and, where there is one, its JSON pointer in the schema or in the
// defaults.
func Compile(doc []byte) (*Schema, error) {
	v, err := decodeJSON(doc)
	if err != nil {
		return nil, fmt.Errorf("%w: not JSON: %v", ErrInvalidSchema, err)
	}
	root, err := objectSchema(v)
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	c.UseLoader(refusingLoader{})
	if err := c.AddResource(schemaURL, v); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidSchema, err)
	}
	compiled, err := c.Compile(schemaURL)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalidSchema, compileMessage(err))
	}
	s := &Schema{raw: bytes.Clone(doc), doc: root, compiled: compiled}
	if err := s.checkDefaults(); err != nil {
		return nil, err
	}
	return s, nil
}

// objectSchema insists on `"type": "object"` at the top level.
func objectSchema(v any) (map[string]any, error) {
	root, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: must be a JSON object, got %s", ErrInvalidSchema, jsonType(v))
	}
	t, ok := root["type"]
	if !ok {
		return nil, fmt.Errorf(`%w: must declare "type": "object" at the top level, it declares no type`, ErrInvalidSchema)
	}
	if t != "object" {
		return nil, fmt.Errorf(`%w: must declare "type": "object" at the top level, got "type": %s`, ErrInvalidSchema, quoteValue(t))
	}
	return root, nil
}

// compileMessage drops the compiler's internal schema URL, which means
// nothing to whoever wrote the schema, and keeps what is wrong and where.
func compileMessage(err error) string {
	var sve *jsonschema.SchemaValidationError
	if errors.As(err, &sve) {
		var ve *jsonschema.ValidationError
		if errors.As(sve.Err, &ve) {
			return "does not conform to the JSON Schema metaschema: " + newValidationError(ve).fieldList()
		}
	}
	return strings.ReplaceAll(err.Error(), schemaURL, "schema")
}

// checkDefaults validates the document made of defaults alone, so a schema
// whose default breaks its own rules fails here, once, rather than for every
// tenant on read. Missing required properties are fine: the tenant supplies
// them.
func (s *Schema) checkDefaults() error {
	filled := map[string]any{}
	s.fillObject(s.doc, filled, nil, false)
	err := s.compiled.Validate(filled)
	var ve *jsonschema.ValidationError
	if err == nil || !errors.As(err, &ve) || onlyMissing(ve) {
		return nil
	}
	return fmt.Errorf("%w: defaults do not satisfy the schema: %s", ErrInvalidSchema, newValidationError(ve).fieldList())
}

// onlyMissing reports whether every leaf of e is a missing required property.
func onlyMissing(e *jsonschema.ValidationError) bool {
	if len(e.Causes) == 0 {
		_, ok := e.ErrorKind.(*kind.Required)
		return ok
	}
	for _, c := range e.Causes {
		if !onlyMissing(c) {
			return false
		}
	}
	return true
}

// refusingLoader keeps the compiler off the file system and the network: a
// platform schema is one self-contained document.
type refusingLoader struct{}

func (refusingLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("reference to %s: only references within the schema document are allowed", url)
}

// Raw returns the schema document as given to Compile.
func (s *Schema) Raw() json.RawMessage {
	return bytes.Clone(s.raw)
}

// Validate reports whether doc, with defaults filled in, satisfies the
// schema; defaults are filled first so that a required property with a
// default need not be stored. Empty doc is the empty object. It returns nil,
// a *ValidationError listing every failing field, or an error wrapping
// ErrInvalidJSON when doc is not JSON.
func (s *Schema) Validate(doc []byte) error {
	var v any = map[string]any{}
	if len(bytes.TrimSpace(doc)) > 0 {
		var err error
		if v, err = decodeJSON(doc); err != nil {
			return fmt.Errorf("%w: %v", ErrInvalidJSON, err)
		}
	}
	if obj, ok := v.(map[string]any); ok {
		s.fillObject(s.doc, obj, nil, false)
	}
	err := s.compiled.Validate(v)
	var ve *jsonschema.ValidationError
	if errors.As(err, &ve) {
		return newValidationError(ve)
	}
	return err
}
