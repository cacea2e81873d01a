package settings_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/tenantkit/tenantkit/internal/settings"
)

func TestCompileRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		schema string
		want   string // substring of the error
	}{
		{"not JSON", `{"type":"object"`, "not JSON"},
		{"trailing data", `{"type":"object"} {}`, "not JSON"},
		{"boolean schema", `true`, "must be a JSON object, got boolean"},
		{"array", `[]`, "must be a JSON object, got array"},
		{"no type", `{"properties":{}}`, `must declare "type": "object" at the top level, it declares no type`},
		{"string schema", `{"type":"string"}`, `must declare "type": "object" at the top level, got "type": "string"`},
		{"nullable object", `{"type":["object","null"]}`, `got "type": ["object","null"]`},
		{"misspelt type", `{"type":"object","properties":{"a":{"type":"strin"}}}`, "does not conform to the JSON Schema metaschema: /properties/a/type"},
		{"wrong keyword type", `{"type":"object","properties":{"a":{"type":"integer","minimum":"0"}}}`, "/properties/a/minimum: must be number, got string"},
		{"bad regex", `{"type":"object","properties":{"a":{"type":"string","pattern":"("}}}`, "/properties/a/pattern: must be a valid regex"},
		{"dangling $ref", `{"type":"object","properties":{"a":{"$ref":"#/$defs/nope"}}}`, "$defs/nope"},
		{"remote $ref", `{"type":"object","properties":{"a":{"$ref":"https://example.com/a.json"}}}`, "only references within the schema document are allowed"},
		{"file $ref", `{"type":"object","properties":{"a":{"$ref":"file:///etc/hosts"}}}`, "only references within the schema document are allowed"},
		{"default breaks its schema", `{"type":"object","properties":{"a":{"type":"integer","default":"x"}}}`, "defaults do not satisfy the schema: /a: must be integer, got string"},
		{"nested default breaks its schema", `{"type":"object","properties":{"n":{"type":"object","properties":{"d":{"enum":["a","b"],"default":"c"}}}}}`, `/n/d: must be one of "a", "b"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := settings.Compile([]byte(tt.schema))
			if err == nil {
				t.Fatalf("Compile(%s) = %v, nil; want an error", tt.schema, s)
			}
			if !errors.Is(err, settings.ErrInvalidSchema) {
				t.Errorf("error %v does not wrap ErrInvalidSchema", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
		})
	}
}

func TestCompileAccepts(t *testing.T) {
	t.Parallel()
	for _, schema := range []string{
		`{"type":"object"}`,
		// A required property without a default: the tenant must supply it.
		`{"type":"object","required":["name"],"properties":{"name":{"type":"string"}}}`,
		`{"$schema":"http://json-schema.org/draft-07/schema#","type":"object","definitions":{"d":{"type":"string","default":"x"}},"properties":{"a":{"$ref":"#/definitions/d"}}}`,
	} {
		s, err := settings.Compile([]byte(schema))
		if err != nil {
			t.Errorf("Compile(%s): %v", schema, err)
			continue
		}
		if string(s.Raw()) != schema {
			t.Errorf("Raw() = %s, want the input %s", s.Raw(), schema)
		}
	}
}

func TestRestaurantSchemaIsACopy(t *testing.T) {
	t.Parallel()
	a := settings.RestaurantSchema()
	a[0] = 'X'
	if b := settings.RestaurantSchema(); b[0] != '{' {
		t.Fatalf("RestaurantSchema shares its bytes: changed to %q", b[0])
	}
}

// TestValidateReportsEveryError is what a settings form needs: every bad
// field at once, each pointing at its input.
func TestValidateReportsEveryError(t *testing.T) {
	t.Parallel()
	s := restaurant(t)
	doc := `{
		"tax_rate": "high",
		"colour": "red",
		"notifications": {
			"email_digest": "hourly",
			"webhook_url": "not a uri",
			"slack_webhook_url": "https://example.com/hook",
			"sms": true
		},
		"custom_fields": [
			{"name": "ok", "type": "text"},
			{"name": "", "type": "text"},
			{"name": "a", "type": "colour"},
			{"name": "b", "type": "text"}, {"name": "c", "type": "text"}, {"name": "d", "type": "text"},
			{"name": "e", "type": "text"}, {"name": "f", "type": "text"}, {"name": "g", "type": "text"},
			{"name": "h", "type": "text"},
			{"type": "date", "required": "yes"}
		]
	}`
	err := s.Validate([]byte(doc))
	var ve *settings.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Validate = %v, want a *ValidationError", err)
	}
	want := []settings.FieldError{
		{Pointer: "/colour", Message: "is not a known setting"},
		{Pointer: "/custom_fields/1/name", Message: "must not be empty"},
		{Pointer: "/custom_fields/2/type", Message: `must be one of "text", "number", "boolean", "date"`},
		{Pointer: "/custom_fields/10/name", Message: "is required"},
		{Pointer: "/custom_fields/10/required", Message: "must be boolean, got string"},
		{Pointer: "/notifications/email_digest", Message: `must be one of "daily", "weekly", "never"`},
		{Pointer: "/notifications/slack_webhook_url", Message: `must match the pattern ^https://hooks\.slack\.com/`},
		{Pointer: "/notifications/sms", Message: "is not a known setting"},
		{Pointer: "/notifications/webhook_url", Message: "must be a valid uri (relative url)"},
		{Pointer: "/tax_rate", Message: "must be number, got string"},
	}
	if !slices.Equal(ve.Errors, want) {
		t.Fatalf("errors:\n%s\nwant:\n%s", fieldList(ve.Errors), fieldList(want))
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") {
		t.Errorf("Error() spans lines: %q", msg)
	}
	if !strings.HasPrefix(msg, "settings: invalid: /colour: is not a known setting; /custom_fields/1/name: must not be empty; ") {
		t.Errorf("Error() = %q", msg)
	}
}

func fieldList(fe []settings.FieldError) string {
	var b strings.Builder
	for _, f := range fe {
		b.WriteString("\t" + f.Pointer + ": " + f.Message + "\n")
	}
	return b.String()
}

func TestValidateMessages(t *testing.T) {
	t.Parallel()
	s := compile(t, `{"type":"object","properties":{
		"rate":{"type":"number","minimum":0,"maximum":1},
		"pct":{"type":"number","exclusiveMinimum":0.5,"multipleOf":0.25},
		"code":{"type":"string","maxLength":3},
		"tags":{"type":"array","maxItems":1,"uniqueItems":true},
		"mode":{"const":"on"},
		"email":{"type":"string","format":"email"},
		"at":{"type":"string","format":"date-time"},
		"time":{"type":"string","format":"time"},
		"id":{"anyOf":[{"type":"integer"},{"type":"string","pattern":"^[a-z]+$"}]},
		"cfg":{"type":"object","required":["a"],"properties":{"a":{"type":"string"}}},
		"obj":{"type":["object","null"]}}}`)
	tests := []struct {
		doc     string
		pointer string
		message string
	}{
		{`{"rate":1.5}`, "/rate", "must be at most 1, got 1.5"},
		{`{"rate":-1}`, "/rate", "must be at least 0, got -1"},
		{`{"pct":0.5}`, "/pct", "must be greater than 0.5, got 0.5"},
		{`{"pct":0.6}`, "/pct", "must be a multiple of 0.25"},
		{`{"code":"ABCD"}`, "/code", "must be at most 3 characters long, got 4"},
		{`{"tags":[1,2]}`, "/tags", "must have at most 1 items, got 2"},
		{`{"mode":"off"}`, "/mode", `must be "on"`},
		{`{"email":"nobody"}`, "/email", "must be a valid email (missing @)"},
		{`{"at":"yesterday"}`, "/at", "must be a valid date-time"},
		{`{"time":"25:00:00Z"}`, "/time", "must be a valid time"},
		{`{"id":"A1"}`, "/id", `must match one of the alternatives: must be integer, got string; or must match the pattern ^[a-z]+$`},
		{`{"cfg":{}}`, "/cfg/a", "is required"},
		{`{"obj":1}`, "/obj", "must be null or object, got number"},
		{`[]`, "", "must be object, got array"},
	}
	for _, tt := range tests {
		err := s.Validate([]byte(tt.doc))
		var ve *settings.ValidationError
		if !errors.As(err, &ve) || len(ve.Errors) != 1 {
			t.Errorf("Validate(%s) = %v, want one field error", tt.doc, err)
			continue
		}
		got := ve.Errors[0]
		if got.Pointer != tt.pointer || !strings.HasPrefix(got.Message, tt.message) {
			t.Errorf("Validate(%s) = %q: %q, want %q: %q…", tt.doc, got.Pointer, got.Message, tt.pointer, tt.message)
		}
	}
}

func TestValidateAccepts(t *testing.T) {
	t.Parallel()
	s := restaurant(t)
	for _, doc := range []string{
		``,
		`{}`,
		`{"timezone":"America/Argentina/Buenos_Aires","locale":"zh-Hant-TW","currency":"EUR","order_cutoff_time":"23:59","tax_rate":0.2,
		  "notifications":{"email_digest":"never","slack_webhook_url":"https://hooks.slack.com/services/T0/B0/x","webhook_url":"https://example.com/h?a=1&b=2"},
		  "custom_fields":[{"name":"Allergies","type":"text","required":true},{"name":"Guests","type":"number"}]}`,
	} {
		if err := s.Validate([]byte(doc)); err != nil {
			t.Errorf("Validate(%s): %v", doc, err)
		}
	}
}

// TestValidateFillsDefaultsFirst: a required property that has a default is
// satisfied without being stored, since the tenant sees the default.
func TestValidateFillsDefaultsFirst(t *testing.T) {
	t.Parallel()
	s := compile(t, `{"type":"object","required":["plan","owner"],"properties":{
		"plan":{"type":"string","default":"free"},"owner":{"type":"string"}}}`)
	err := s.Validate([]byte(`{}`))
	var ve *settings.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Validate({}) = %v, want a *ValidationError", err)
	}
	if want := []settings.FieldError{{Pointer: "/owner", Message: "is required"}}; !slices.Equal(ve.Errors, want) {
		t.Fatalf("errors = %v, want %v", ve.Errors, want)
	}
	if err := s.Validate([]byte(`{"owner":"ana"}`)); err != nil {
		t.Fatalf("Validate with owner: %v", err)
	}
}

func TestValidateRejectsNonJSON(t *testing.T) {
	t.Parallel()
	s := restaurant(t)
	for _, doc := range []string{`{`, `{"a":1} x`, `nul`} {
		err := s.Validate([]byte(doc))
		if !errors.Is(err, settings.ErrInvalidJSON) {
			t.Errorf("Validate(%s) = %v, want ErrInvalidJSON", doc, err)
		}
		var ve *settings.ValidationError
		if errors.As(err, &ve) {
			t.Errorf("Validate(%s) returned a *ValidationError for bad JSON", doc)
		}
	}
}
