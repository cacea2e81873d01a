// Package server is the tenantkit HTTP server: the admin API and health
// checks outside tenant resolution, River's UI over the jobs queue at
// /admin/jobs (JobsUIPath), and the tenant-facing routes (the demo whoami,
// and an application's handler) behind Kit.Middleware.
package server
