// Package router hands out connection pools for tenant data: one pgxpool per
// (cluster, database), created on first use, never one per tenant of the
// shared or schema tier. A global connection budget bounds the sum of all
// pools; when a new pool would exceed it, the least recently used idle pool
// is closed, so a thousand dedicated databases cannot exhaust the server's
// max_connections.
package router
