// Package tlsserve is the TLS front of a tenantkit server: it serves the
// platform's own domain from a static wildcard certificate and obtains
// certificates on demand, from an ACME CA through certmagic, for the
// verified custom domains of active tenants.
//
// # Deciding who gets a certificate
//
// A TLS handshake names a host in its SNI, and anyone can send any name, so
// the decision must be cheap and must never reach the catalog or the CA for
// a name that is not ours. A Front keeps the whole allow-list — every host
// Config.ListFunc returns — in memory, and decides each handshake in this
// order, each step answering from memory:
//
//  1. No SNI, more than 253 bytes, an IP literal, a label that is not a
//     DNS label, a single label: refused (ErrNoServerName, ErrInvalidName).
//  2. The base domain and its one-label subdomains: the static certificate.
//  3. Not in the allow-list: refused (ErrNotAllowed).
//  4. Otherwise certmagic: its in-memory cache, then the shared Storage,
//     then an ACME order.
//
// An unknown name therefore costs no query and starts no ACME order, and a
// flood of distinct unknown names neither queries nor grows any cache: the
// allow-list is a complete snapshot, so everything outside it is negative
// by construction and there is nothing to remember per refused name.
// certmagic's DecisionFunc repeats steps 1 and 3, so a renewal stops once a
// host leaves the list.
//
// The list is loaded by New, reloaded every Config.RefreshInterval and by
// Reload, and corrected one host at a time by Invalidate, which the caller
// calls when a domain's verification or its tenant's state changes.
//
// # Issuing
//
// ACME orders — first issuances and renewals — pass a token bucket
// (Config.IssueRate, Config.IssueBurst); a host whose issuance failed is not
// tried again for Config.FailureBackoff, so one misconfigured domain cannot
// spend the budget of the others. A refused issuance fails the handshake,
// is logged and counted in Stats. Renewal ahead of expiry is certmagic's,
// at Config.RenewalWindowRatio of a certificate's lifetime. Fronts that
// share a Storage share certificates, ACME accounts, locks and HTTP-01
// tokens: a host is ordered once, whichever Front sees it first.
package tlsserve
