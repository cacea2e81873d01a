package registry

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// unmarshalStrict decodes b into the email_from holder and the map of
// defaults, refusing anything that is not a JSON object.
func unmarshalStrict(b []byte, from any, defaults *map[string]jsonDefault) error {
	if err := json.Unmarshal(b, from); err != nil {
		return err
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*defaults = map[string]jsonDefault{}
	for k, v := range raw {
		if k == "email_from" {
			continue
		}
		var d jsonDefault
		dec := json.NewDecoder(bytes.NewReader(v))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&d); err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
		(*defaults)[k] = d
	}
	return nil
}
