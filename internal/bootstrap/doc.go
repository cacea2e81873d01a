// Package bootstrap creates what tenantkit needs in a PostgreSQL server before
// anything else runs: the three roles of the design (an owner that runs
// migrations, an app role that is NOSUPERUSER NOBYPASSRLS and owns nothing,
// and a replication role for moves) and databases owned by the owner role.
package bootstrap
