package settings_test

import "testing"

var stringSink string

// BenchmarkMapLookup is ValuesString's floor, for make bench: the two map
// lookups of a nested setting, with no pointer to parse.
func BenchmarkMapLookup(b *testing.B) {
	m := map[string]any{"notifications": map[string]any{"email_digest": "weekly"}}
	b.ReportAllocs()
	for b.Loop() {
		n, _ := m["notifications"].(map[string]any)
		stringSink, _ = n["email_digest"].(string)
	}
}
