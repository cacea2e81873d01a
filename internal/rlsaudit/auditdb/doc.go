// Package auditdb holds the RLS audit's catalog queries, compiled by sqlc
// from ../queries/audit.sql (go generate in package rlsaudit). Do not edit
// the generated files.
package auditdb
