// Package yamljson turns a YAML document into indented JSON that keeps
// the YAML's key order, so a hand-written YAML source and the JSON made
// from it read alike (api/openapi.yaml and api/openapi.json).
package yamljson

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Convert returns the YAML document in as JSON indented by two spaces,
// ending in a newline. Mapping keys must be strings; anchors and aliases
// are expanded.
func Convert(in []byte) ([]byte, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(in, &root); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := write(&buf, &root, 0); err != nil {
		return nil, err
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

func write(buf *bytes.Buffer, n *yaml.Node, depth int) error {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) != 1 {
			return fmt.Errorf("line %d: want one document", n.Line)
		}
		return write(buf, n.Content[0], depth)
	case yaml.AliasNode:
		return write(buf, n.Alias, depth)
	case yaml.MappingNode:
		return writeMapping(buf, n, depth)
	case yaml.SequenceNode:
		return writeSequence(buf, n, depth)
	case yaml.ScalarNode:
		var v any
		if err := n.Decode(&v); err != nil {
			return fmt.Errorf("line %d: %w", n.Line, err)
		}
		if err := marshal(buf, v); err != nil {
			return fmt.Errorf("line %d: %w", n.Line, err)
		}
		return nil
	}
	return fmt.Errorf("line %d: unexpected YAML node kind %d", n.Line, n.Kind)
}

func writeMapping(buf *bytes.Buffer, n *yaml.Node, depth int) error {
	if len(n.Content) == 0 {
		buf.WriteString("{}")
		return nil
	}
	buf.WriteString("{\n")
	for i := 0; i < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || (k.Tag != "!!str" && k.Tag != "!!int" && k.Tag != "!!bool") {
			return fmt.Errorf("line %d: a mapping key must be a plain scalar", k.Line)
		}
		indent(buf, depth+1)
		if err := marshal(buf, k.Value); err != nil {
			return err
		}
		buf.WriteString(": ")
		if err := write(buf, v, depth+1); err != nil {
			return err
		}
		if i+2 < len(n.Content) {
			buf.WriteByte(',')
		}
		buf.WriteByte('\n')
	}
	indent(buf, depth)
	buf.WriteByte('}')
	return nil
}

func writeSequence(buf *bytes.Buffer, n *yaml.Node, depth int) error {
	if len(n.Content) == 0 {
		buf.WriteString("[]")
		return nil
	}
	buf.WriteString("[\n")
	for i, item := range n.Content {
		indent(buf, depth+1)
		if err := write(buf, item, depth+1); err != nil {
			return err
		}
		if i+1 < len(n.Content) {
			buf.WriteByte(',')
		}
		buf.WriteByte('\n')
	}
	indent(buf, depth)
	buf.WriteByte(']')
	return nil
}

// marshal writes v as JSON, leaving <, > and & as they are.
func marshal(buf *bytes.Buffer, v any) error {
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	buf.Truncate(buf.Len() - 1) // Encode's newline
	return nil
}

func indent(buf *bytes.Buffer, depth int) { buf.WriteString(strings.Repeat("  ", depth)) }
