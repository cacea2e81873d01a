package meter

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestRefusedRequestsCountAsLoadNotUsage(t *testing.T) {
	m, err := New(Config{TopK: -1})
	if err != nil {
		t.Fatal(err)
	}
	a, b := m.Entry(uuid.New()), m.Entry(uuid.New())
	now := time.Now()
	for range 30 {
		a.Refused()
	}
	a.Request(now, time.Millisecond, 0, 0)
	for range 10 {
		b.Request(now, time.Millisecond, 0, 0)
	}
	m.Tick()
	var loads = map[uuid.UUID]Load{}
	for _, l := range m.Loads() {
		loads[l.Tenant] = l
	}
	if loads[a.ID()].Requests != 31 || loads[b.ID()].Requests != 10 {
		t.Fatalf("load requests: a %d b %d, want 31 and 10", loads[a.ID()].Requests, loads[b.ID()].Requests)
	}
	var calls int64
	if err := m.Flush(context.Background(), SinkFunc(func(_ context.Context, bt Batch) error {
		for _, d := range bt.Deltas {
			if d.Tenant == a.ID() {
				calls += d.APICalls
			}
		}
		return nil
	})); err != nil {
		t.Fatal(err)
	}
	if calls != 1 {
		t.Fatalf("a's api calls %d, want 1: refused requests are not usage", calls)
	}
}
