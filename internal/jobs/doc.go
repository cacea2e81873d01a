// Package jobs keeps River's tables in the catalog database, in a schema of
// their own (Schema): it migrates them with rivermigrate and reports their
// version, for catalog migrate, serve and catalog status. It also gives
// operators their view of the jobs there: an insert-only River client over
// the catalog (NewClient), jobs as the admin API and the CLI show them,
// listed by tenant, state and kind and retried or cancelled one at a time,
// and the queues' depth as Prometheus metrics (Collector).
package jobs

//go:generate sqlc generate -f ../../sqlc.yaml
