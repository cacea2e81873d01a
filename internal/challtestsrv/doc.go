// Package challtestsrv runs pebble-challtestsrv, Let's Encrypt's test DNS
// server with an HTTP management API, for `tenantkit dev` and for tests.
// It answers every A query with 127.0.0.1, so any made-up name reaches the
// local server, and TXT queries with the records set through its API: the
// proof records of custom domains (_tenantkit-challenge.HOST), which
// `tenantkit dev dns txt` sets. Pebble, the ACME CA `tenantkit dev` runs,
// resolves the names it validates through it.
//
// Only the DNS server (UDP and TCP) and the management API run, on free
// loopback ports; the binary's challenge and DoH listeners are turned off.
// The binary is built from its Go module once per machine into
// $HOME/.cache/tenantkit/bin, as scripts/deps.sh does for CI.
package challtestsrv
