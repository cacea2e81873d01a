package tenantkittest

import (
	"context"
	"testing"

	"github.com/tenantkit/tenantkit/internal/catalog"
)

// NewCatalog is NewDatabase with the tenantkit catalog migrated into it.
func NewCatalog(tb testing.TB) *Database {
	tb.Helper()
	db := NewDatabase(tb)
	if _, err := catalog.Migrate(context.Background(), db.OwnerDSN()); err != nil {
		tb.Fatalf("tenantkittest: migrate catalog: %v", err)
	}
	return db
}
