// Package pgcluster finds the machine's PostgreSQL server binaries and runs a
// private cluster from them in a data directory: initdb on first use, a free
// loopback port, wal_level=logical, and a clean stop. When the process runs as
// root the server runs as the unprivileged postgres user, since PostgreSQL
// refuses to run as root. `tenantkit dev` and the public test harness both
// stand on it.
package pgcluster
