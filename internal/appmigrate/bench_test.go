package appmigrate_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tenantkit/tenantkit/internal/appmigrate"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

const benchSchemas = 1000

// benchTargets makes benchSchemas tenant schemas in one database, migrated
// up front, the layout of the schema tier on one cluster database.
func benchTargets(b *testing.B) []appmigrate.Target {
	b.Helper()
	db := tenantkittest.NewDatabase(b)
	targets := make([]appmigrate.Target, benchSchemas)
	for i := range targets {
		targets[i] = target(db, fmt.Sprintf("t_%04d", i))
	}
	start := time.Now()
	sum := newMigrator(b, appmigrate.Config{Workers: 4}).Up(context.Background(), targets)
	if sum.Failed != 0 || sum.Applied != benchSchemas {
		b.Fatalf("set-up: %d applied, %d failed: %v", sum.Applied, sum.Failed, sum.Err())
	}
	b.Logf("set-up: %d schemas migrated in %v", benchSchemas, time.Since(start).Round(time.Millisecond))
	return targets
}

// benchWorkers runs op over all targets with 1, 2 and 4 workers and reports
// the time per whole run (ns/op) and per schema (ms/schema).
func benchWorkers(b *testing.B, op func(*appmigrate.Migrator, []appmigrate.Target) error) {
	targets := benchTargets(b)
	for _, workers := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			m := newMigrator(b, appmigrate.Config{Workers: workers})
			start := time.Now()
			for b.Loop() {
				if err := op(m, targets); err != nil {
					b.Fatal(err)
				}
			}
			perRun := time.Since(start) / time.Duration(b.N)
			b.ReportMetric(float64(perRun.Microseconds())/1000/benchSchemas, "ms/schema")
		})
	}
}

func BenchmarkStatus1000Schemas(b *testing.B) {
	benchWorkers(b, func(m *appmigrate.Migrator, targets []appmigrate.Target) error {
		for _, s := range m.Status(context.Background(), targets) {
			if s.Err != "" || s.Pending != 0 {
				return fmt.Errorf("status %+v", s)
			}
		}
		return nil
	})
}

func BenchmarkUpNoop1000Schemas(b *testing.B) {
	benchWorkers(b, func(m *appmigrate.Migrator, targets []appmigrate.Target) error {
		sum := m.Up(context.Background(), targets)
		if sum.UpToDate != len(targets) {
			return fmt.Errorf("no-op up: %d applied, %d failed: %v", sum.Applied, sum.Failed, sum.Err())
		}
		return nil
	})
}
