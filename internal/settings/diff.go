package settings

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
)

// Change is one difference between two settings documents.
type Change struct {
	// Pointer is an RFC 6901 JSON pointer to the changed value.
	Pointer string `json:"pointer"`
	// Before is the old value as encoding/json decodes it; nil when absent
	// (or null).
	Before any `json:"before"`
	// After is the new value as encoding/json decodes it; nil when absent
	// (or null).
	After any `json:"after"`
}

// Diff lists what changed from before to after, for the audit log. It
// descends into objects present on both sides and reports anything else,
// arrays included, as a whole value. Numbers compare by value, so 0.10 and
// 0.1 are the same. Changes are sorted by pointer, token by token. Empty
// input is the empty object.
func Diff(before, after []byte) ([]Change, error) {
	b, err := decodeForDiff(before, "before")
	if err != nil {
		return nil, err
	}
	a, err := decodeForDiff(after, "after")
	if err != nil {
		return nil, err
	}
	var changes []Change
	diffValues("", b, a, &changes)
	slices.SortFunc(changes, func(x, y Change) int { return comparePointers(x.Pointer, y.Pointer) })
	return changes, nil
}

// decodeForDiff uses float64 numbers, so equal numbers written differently
// compare equal and callers get ordinary Go values.
func decodeForDiff(b []byte, what string) (any, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return map[string]any{}, nil
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("%s: %w: %v", what, ErrInvalidJSON, err)
	}
	return v, nil
}

func diffValues(ptr string, before, after any, out *[]Change) {
	bo, bok := before.(map[string]any)
	ao, aok := after.(map[string]any)
	if !bok || !aok {
		if !reflect.DeepEqual(before, after) {
			*out = append(*out, Change{Pointer: ptr, Before: before, After: after})
		}
		return
	}
	for k, bv := range bo {
		if av, ok := ao[k]; ok {
			diffValues(pointerJoin(ptr, k), bv, av, out)
		} else {
			*out = append(*out, Change{Pointer: pointerJoin(ptr, k), Before: bv})
		}
	}
	for k, av := range ao {
		if _, ok := bo[k]; !ok {
			*out = append(*out, Change{Pointer: pointerJoin(ptr, k), After: av})
		}
	}
}
