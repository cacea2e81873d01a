// Package client is a Go client of the tenantkit admin API: the HTTP API
// that `tenantkit serve` answers under /api/v1, for creating, placing,
// moving and suspending tenants, for managing their plans, flags,
// settings, integrations and usage, and for following, retrying and
// cancelling background jobs. It needs only the standard library.
//
// A Client's methods take a context and return the package's own types,
// whose JSON matches the wire. An answer other than 2xx comes back as an
// *Error holding the server's RFC 9457 problem details, field errors
// included; a request that never got an answer returns the transport's
// error, wrapped. Lists the server pages by keyset have a method for one
// page (ListTenants) and an iterator over every page (Tenants).
//
// Answers of 429 and 503 are retried after the Retry-After the server
// gives, within Config.MaxRetries and Config.RetryWaitMax; idempotent
// requests (GET, PUT, DELETE) are also retried after a 502, a 504 or a
// lost connection.
//
//	c, err := client.New(client.Config{
//		BaseURL: "https://admin.example.com",
//		Token:   os.Getenv("TENANTKIT_ADMIN_TOKEN"),
//	})
//	...
//	for t, err := range c.Tenants(ctx, client.TenantListParams{Status: "active"}) {
//		if err != nil {
//			return err
//		}
//		fmt.Println(t.Slug)
//	}
package client
