package tenantkit

import "github.com/tenantkit/tenantkit/internal/catalog"

// ErrTenantNotFound is returned when no tenant matches a reference.
var ErrTenantNotFound = catalog.ErrTenantNotFound
