// Package jobsdb holds the jobs package's queries of River's tables,
// compiled by sqlc from ../queries/metrics.sql (go generate in package
// jobs). Do not edit the generated files.
package jobsdb
