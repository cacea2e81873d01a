// Package registry is the per-tenant integration registry: for each tenant
// and type (email, storage, payment, sms), the tenant's own account at a
// provider — its credentials encrypted under the tenant's data key — or
// else the platform's default from configuration. It validates a
// configuration against its provider's spec when it is set, shows
// credentials only masked, tests them against the provider, and hands the
// data plane a ready provider from memory on a warm tenant.
package registry
