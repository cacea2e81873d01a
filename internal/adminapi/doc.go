// Package adminapi is the control plane's HTTP API over the catalog: tenant
// lifecycle (create, list, get, update, suspend, resume, delete), custom
// domains, placement and moves, plans with their limits and features,
// per-tenant overrides and usage, feature flags with their evaluations,
// versioned tenant settings, and the background jobs of the catalog's
// queue; behind a bearer token, with RFC 9457 problem details for every
// error and nothing half-written on any of them.
package adminapi
