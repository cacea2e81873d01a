package tenantkit_test

import (
	"context"
	"fmt"

	"github.com/tenantkit/tenantkit"
)

// A background job carries its tenant in the context, as a request does
// after Kit.Middleware.
func ExampleWithTenant() {
	t := &tenantkit.Tenant{
		Tenant:   tenantkit.TenantRecord{Slug: "acme", Plan: "pro", Status: tenantkit.StatusActive},
		Features: map[string]bool{"sso": true},
		Limits:   map[string]int64{"seats": 50},
	}
	ctx := tenantkit.WithTenant(context.Background(), t)

	got, ok := tenantkit.FromContext(ctx)
	seats, _ := got.Limit("seats")
	fmt.Println(ok, got.Slug, got.Plan, got.Feature("sso"), got.Feature("audit_export"), seats)
	_, ok = tenantkit.FromContext(context.Background())
	fmt.Println(ok)
	// Output:
	// true acme pro true false 50
	// false
}
