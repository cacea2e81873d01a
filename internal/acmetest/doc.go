// Package acmetest runs Pebble, Let's Encrypt's ACME test server, inside the
// process as the certificate authority for tests and for `tenantkit dev`.
// Its API is served over TLS on loopback; its validation authority resolves
// names through a DNS server the caller names (internal/dnstest in tests) and
// dials HTTP-01 challenges on a port the caller chooses. Pebble's deliberate
// chaos — rejecting a share of good nonces, sleeping before validations,
// reusing authorizations at random — is turned off, so a test's ACME traffic
// is deterministic and fast. A CA counts the new-order requests it receives,
// so a test can assert that something caused no ACME order.
package acmetest
