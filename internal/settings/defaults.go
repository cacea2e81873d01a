package settings

import (
	"encoding/json"
	"net/url"
	"reflect"
	"strings"
)

// WithDefaults returns stored with the schema's defaults filled in. For each
// property the stored object lacks, the property's "default" is added; an
// absent property without a default whose schema is an object schema is
// created when its own properties have defaults. Present objects, and objects
// in arrays with an "items" schema, are filled the same way. Stored values
// always win. Subschemas reached through "$ref" to "#/…" and through "allOf"
// count as part of the schema that names them. Empty stored is the empty
// object.
//
// Defaults are applied on read and never stored, so a property added to the
// schema later appears with its default in every tenant's settings without
// a data migration.
func (s *Schema) WithDefaults(stored []byte) (json.RawMessage, error) {
	obj, err := decodeObject(stored, "stored settings")
	if err != nil {
		return nil, err
	}
	s.fillObject(s.doc, obj, nil, false)
	return encodeJSON(obj)
}

// refChain lists the $refs followed while creating absent objects, so a
// recursive schema does not create objects forever.
type refChain struct {
	ref  string
	next *refChain
}

func (c *refChain) contains(ref string) bool {
	for ; c != nil; c = c.next {
		if c.ref == ref {
			return true
		}
	}
	return false
}

// fillObject adds defaults for node's properties to inst. creating says inst
// was made up here rather than stored.
func (s *Schema) fillObject(node map[string]any, inst map[string]any, chain *refChain, creating bool) {
	nodes, chain := s.gather(node, nil, chain, creating)
	for _, n := range nodes {
		props, _ := n["properties"].(map[string]any)
		for name, ps := range props {
			if ps, ok := ps.(map[string]any); ok {
				s.fillProperty(ps, inst, name, chain, creating)
			}
		}
	}
}

func (s *Schema) fillProperty(ps map[string]any, inst map[string]any, name string, chain *refChain, creating bool) {
	cur, present := inst[name]
	if !present {
		d, ok := s.defaultOf(ps)
		if !ok {
			created := map[string]any{}
			s.fillObject(ps, created, chain, true)
			if len(created) > 0 {
				inst[name] = created
			}
			return
		}
		cur = deepCopy(d)
		inst[name] = cur
	}
	switch cur := cur.(type) {
	case map[string]any:
		s.fillObject(ps, cur, nil, false)
	case []any:
		s.fillItems(ps, cur)
	}
}

// fillItems fills each object in arr from the array schema's "items".
func (s *Schema) fillItems(ps map[string]any, arr []any) {
	nodes, _ := s.gather(ps, nil, nil, false)
	for _, n := range nodes {
		items, ok := n["items"].(map[string]any)
		if !ok {
			continue
		}
		for _, e := range arr {
			if e, ok := e.(map[string]any); ok {
				s.fillObject(items, e, nil, false)
			}
		}
	}
}

// defaultOf finds the default for a property: on its schema first, then on
// what that schema references.
func (s *Schema) defaultOf(ps map[string]any) (any, bool) {
	nodes, _ := s.gather(ps, nil, nil, false)
	for _, n := range nodes {
		if d, ok := n["default"]; ok {
			return d, true
		}
	}
	return nil, false
}

// gather returns node and the subschemas that apply with it: its "$ref"
// target and "allOf" members, recursively, in that order. While creating, a
// $ref already followed on the way down is not followed again.
func (s *Schema) gather(node map[string]any, out []map[string]any, chain *refChain, creating bool) ([]map[string]any, *refChain) {
	for _, n := range out {
		if sameMap(n, node) {
			return out, chain
		}
	}
	out = append(out, node)
	if ref, ok := node["$ref"].(string); ok && !(creating && chain.contains(ref)) {
		if target, ok := s.resolveRef(ref); ok {
			if creating {
				chain = &refChain{ref, chain}
			}
			out, chain = s.gather(target, out, chain, creating)
		}
	}
	all, _ := node["allOf"].([]any)
	for _, sub := range all {
		if sub, ok := sub.(map[string]any); ok {
			out, chain = s.gather(sub, out, chain, creating)
		}
	}
	return out, chain
}

// resolveRef follows a same-document reference: "#" and a JSON pointer.
func (s *Schema) resolveRef(ref string) (map[string]any, bool) {
	frag, ok := strings.CutPrefix(ref, "#")
	if !ok {
		return nil, false
	}
	frag, err := url.PathUnescape(frag)
	if err != nil {
		return nil, false
	}
	v, ok := resolvePointer(s.doc, frag)
	if !ok {
		return nil, false
	}
	m, ok := v.(map[string]any)
	return m, ok
}

// sameMap reports whether a and b are the same map, not merely equal ones,
// so that gather visits each schema node once even when references loop.
func sameMap(a, b map[string]any) bool {
	return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}
