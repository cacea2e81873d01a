// Package adminapi is the control plane's HTTP API over the catalog: tenant
// lifecycle (create, list, get, update, suspend, resume, delete) and custom
// domains, behind a bearer token, with RFC 9457 problem details for every
// error and nothing half-written on any of them.
package adminapi
