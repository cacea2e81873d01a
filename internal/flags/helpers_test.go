package flags_test

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/google/uuid"

	"github.com/tenantkit/tenantkit/internal/flags"
)

// planRanks are the plans the tests gate on.
var planRanks = map[string]int{"free": 0, "pro": 1, "enterprise": 2}

// tenantIDs returns n version-4 tenant ids from a fixed seed. Random ids
// from crypto/rand would make the ±1pp share checks fail a few runs in a
// hundred by chance alone; these are the same every run.
func tenantIDs(seed uint64, n int) []uuid.UUID {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	ids := make([]uuid.UUID, n)
	for i := range ids {
		var u uuid.UUID
		binary.LittleEndian.PutUint64(u[:8], r.Uint64())
		binary.LittleEndian.PutUint64(u[8:], r.Uint64())
		u[6] = u[6]&0x0f | 0x40
		u[8] = u[8]&0x3f | 0x80
		ids[i] = u
	}
	return ids
}

func newSnapshot(t testing.TB, fs ...flags.Flag) *flags.Snapshot {
	t.Helper()
	s, err := flags.NewSnapshot(fs, planRanks)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// share is the percentage of tenants for whom key evaluates true.
func share(s *flags.Snapshot, key string, ids []uuid.UUID) float64 {
	on := 0
	for _, id := range ids {
		if s.Evaluate(key, id, "enterprise").Value {
			on++
		}
	}
	return 100 * float64(on) / float64(len(ids))
}

// tenantWhere returns the first tenant id for which ok holds.
func tenantWhere(t testing.TB, ok func(uuid.UUID) bool) uuid.UUID {
	t.Helper()
	for _, id := range tenantIDs(99, 10000) {
		if ok(id) {
			return id
		}
	}
	t.Fatal("no tenant id found")
	return uuid.Nil
}
