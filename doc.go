// Package tenantkit is a toolkit for multi-tenant SaaS platforms on
// PostgreSQL. A Kit resolves which tenant each HTTP request is for — from a
// JWT claim, a verified custom domain, a subdomain of the platform's base
// domain or a trusted header — loads its tenant context (tenant, plan,
// features, limits, branding) from the catalog once, keeps it in memory, drops
// it when the catalog changes, and refuses suspended and unknown tenants.
// Handlers read the tenant with FromContext.
//
//	kit, err := tenantkit.New(tenantkit.Config{
//		DatabaseURL: os.Getenv("TENANTKIT_DATABASE_URL"),
//		Resolvers:   tenantkit.ResolverConfig{BaseDomain: "example.com"},
//	})
//	...
//	go kit.Start(ctx) // listen for catalog changes
//	http.ListenAndServe(addr, kit.Middleware(appHandler))
package tenantkit
