// Package jobs keeps River's tables in the catalog database, in a schema of
// their own (Schema): it migrates them with rivermigrate and reports their
// version, for catalog migrate, serve and catalog status.
package jobs
