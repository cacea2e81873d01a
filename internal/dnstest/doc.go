// Package dnstest runs a small authoritative DNS server on loopback for
// tests and for `tenantkit dev`: it answers A, AAAA and TXT questions for
// the names a test set, NODATA for other types of those names, and NXDOMAIN
// for everything else. It serves UDP and TCP on the same 127.0.0.1 port,
// because some clients, Pebble's validation authority among them, ask over
// TCP only.
package dnstest
