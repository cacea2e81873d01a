package settings

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Values is one tenant's settings as a request handler reads them: parsed
// once, then looked up without decoding. It is immutable and safe for
// concurrent use.
type Values struct {
	raw  []byte
	tree map[string]any // decoded by encoding/json: numbers are float64
}

// NewValues parses settings, normally the output of Schema.WithDefaults.
// They must be a JSON object; errors wrap ErrInvalidJSON or ErrNotObject.
func NewValues(withDefaults json.RawMessage) (*Values, error) {
	var v any
	if err := json.Unmarshal(withDefaults, &v); err != nil {
		return nil, fmt.Errorf("settings values: %w: %v", ErrInvalidJSON, err)
	}
	tree, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("settings values: %w, got %s", ErrNotObject, jsonType(v))
	}
	return &Values{raw: bytes.Clone(withDefaults), tree: tree}, nil
}

// Raw returns a copy of the settings document.
func (v *Values) Raw() json.RawMessage {
	return bytes.Clone(v.raw)
}

// Lookup returns the value at an RFC 6901 JSON pointer ("" is the whole
// document) as encoding/json decodes it: string, float64, bool, nil,
// []any or map[string]any. Objects and arrays are copies, so changing them
// does not change v.
func (v *Values) Lookup(pointer string) (any, bool) {
	x, ok := resolvePointer(v.tree, pointer)
	if !ok {
		return nil, false
	}
	switch x.(type) {
	case map[string]any, []any:
		return deepCopy(x), true
	}
	return x, true
}

// String returns the string at pointer, or "" when it is absent or not a
// string. It does not allocate.
func (v *Values) String(pointer string) string {
	x, _ := resolvePointer(v.tree, pointer)
	s, _ := x.(string)
	return s
}

// Bool returns the boolean at pointer, or false when it is absent or not a
// boolean.
func (v *Values) Bool(pointer string) bool {
	x, _ := resolvePointer(v.tree, pointer)
	b, _ := x.(bool)
	return b
}

// Float64 returns the number at pointer, or 0 when it is absent or not a
// number.
func (v *Values) Float64(pointer string) float64 {
	x, _ := resolvePointer(v.tree, pointer)
	f, _ := x.(float64)
	return f
}

// Decode unmarshals the settings into a struct (or anything encoding/json
// accepts), for handlers that read many settings at once.
func (v *Values) Decode(into any) error {
	return json.Unmarshal(v.raw, into)
}
