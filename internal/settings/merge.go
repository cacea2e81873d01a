package settings

import (
	"bytes"
	"fmt"
)

// MergePatch applies an RFC 7396 JSON Merge Patch to stored and returns the
// result: keys in patch replace stored keys, objects merge recursively, and a
// null removes the key, so the setting reverts to its schema default on
// read. Empty stored is the empty object; a stored value that is not an
// object is replaced, as RFC 7396 says. The patch must be a JSON object:
// RFC 7396 lets any other value replace the whole document, which settings
// never want (errors wrap ErrNotObject).
//
// The algorithm is RFC 7396 §2 as written. github.com/evanphx/json-patch/v5
// (v5.9.11) was tried first but drops nulls inside objects nested in arrays,
// which §2 replaces as they are.
func MergePatch(stored, patch []byte) ([]byte, error) {
	var target any = map[string]any{}
	if len(bytes.TrimSpace(stored)) > 0 {
		var err error
		if target, err = decodeJSON(stored); err != nil {
			return nil, fmt.Errorf("stored settings: %w: %v", ErrInvalidJSON, err)
		}
	}
	p, err := decodeJSON(patch)
	if err != nil {
		return nil, fmt.Errorf("merge patch: %w: %v", ErrInvalidJSON, err)
	}
	if _, ok := p.(map[string]any); !ok {
		return nil, fmt.Errorf("merge patch: %w, got %s", ErrNotObject, jsonType(p))
	}
	return encodeJSON(mergePatch(target, p))
}

// mergePatch is RFC 7396 §2's MergePatch(Target, Patch). It may modify and
// return target.
func mergePatch(target any, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	t, ok := target.(map[string]any)
	if !ok {
		t = map[string]any{}
	}
	for name, value := range p {
		if value == nil {
			delete(t, name)
			continue
		}
		t[name] = mergePatch(t[name], value)
	}
	return t
}
