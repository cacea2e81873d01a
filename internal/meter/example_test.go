package meter_test

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/tenantkit/tenantkit/internal/meter"
)

func Example() {
	m, err := meter.New(meter.Config{})
	if err != nil {
		panic(err)
	}
	// Looked up once, kept with the tenant's context.
	e := m.Entry(uuid.MustParse("0b7e6c8a-4f1d-4a43-9d1e-2f4f6d8a9c01"))

	// In the middleware and the query tracer, per request.
	start := time.Date(2026, time.November, 14, 10, 0, 0, 0, time.UTC)
	e.Request(start, 1500*time.Microsecond, 300, 1700)
	e.User(start, "user-42")
	e.DB(start, 700*time.Microsecond, 2, true)

	// Every few seconds, to the catalog.
	sink := meter.SinkFunc(func(_ context.Context, b meter.Batch) error {
		for _, d := range b.Deltas {
			fmt.Printf("%s calls=%d compute=%dµs db=%dµs queries=%d bytes=%d users=%d\n",
				d.Period, d.APICalls, d.ComputeMicros, d.DBMicros, d.DBQueries, d.BandwidthBytes, len(d.Users))
		}
		return nil
	})
	if err := m.Flush(context.Background(), sink); err != nil {
		panic(err)
	}
	// Output: 2026-11 calls=1 compute=1500µs db=700µs queries=2 bytes=2000 users=1
}
