package flags_test

import (
	"testing"

	"github.com/google/uuid"
)

var boolSink bool

// BenchmarkMapLookup is Evaluate's floor, for make bench: the flag's value
// read from a map of tenant overrides keyed by id — what a hand-rolled
// per-tenant flag table costs, with no rules, hashing or reasons.
func BenchmarkMapLookup(b *testing.B) {
	m := map[uuid.UUID]bool{}
	ids := tenantIDs(21, 50)
	for i, id := range ids {
		m[id] = i%2 == 0
	}
	tenant := ids[7]
	b.ReportAllocs()
	for b.Loop() {
		boolSink = m[tenant]
	}
}
