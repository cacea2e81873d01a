// Package server is the tenantkit HTTP server: the admin API and health
// checks outside tenant resolution, and the tenant-facing routes (the demo
// whoami, and an application's handler) behind Kit.Middleware.
package server
