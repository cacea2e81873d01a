// Package resolve finds which tenant an HTTP request is for. Each Resolver
// looks at one signal — a JWT claim, a verified custom domain, a subdomain of
// the base domain, a trusted header — and returns a reference to a tenant,
// or nothing. The request pipeline chains them and turns references into
// tenants; this package never touches the catalog.
package resolve
