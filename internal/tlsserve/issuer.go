package tlsserve

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
)

var (
	// ErrIssueRateLimited refuses an ACME order beyond Config.IssueRate.
	ErrIssueRateLimited = errors.New("tlsserve: certificate issuance rate limit reached")
	// ErrClosed refuses an ACME order after Close.
	ErrClosed = errors.New("tlsserve: front is closed")
	// ErrIssueBackoff refuses an ACME order for a host whose last issuance
	// failed less than Config.FailureBackoff ago.
	ErrIssueBackoff = errors.New("tlsserve: host's last issuance failed recently")
)

// guardedIssuer is the ACME issuer behind the rate limit and the failure
// backoff. Embedding keeps the ACMEIssuer's other abilities (PreCheck,
// Revoke, ARI) visible to certmagic's type assertions.
type guardedIssuer struct {
	*certmagic.ACMEIssuer
	f *Front
}

// Issue places an ACME order unless a guard refuses it. Every error is
// final for this attempt (certmagic.ErrNoRetry): a handshake must not wait
// minutes for certmagic's retries, and the next handshake tries again.
func (g *guardedIssuer) Issue(ctx context.Context, csr *x509.CertificateRequest) (*certmagic.IssuedCertificate, error) {
	f, host := g.f, hostOf(csr.DNSNames)
	if f.closed.Err() != nil {
		return nil, certmagic.ErrNoRetry{Err: ErrClosed}
	}
	if f.backoff.active(host) {
		f.stats.backedOff.Add(1)
		f.log.Warn("tlsserve: issuance refused: backing off after a failure", "host", host)
		return nil, certmagic.ErrNoRetry{Err: fmt.Errorf("%w: %s", ErrIssueBackoff, host)}
	}
	if !f.limiter.Allow() {
		f.stats.rateLimited.Add(1)
		f.log.Warn("tlsserve: issuance refused: rate limit", "host", host)
		return nil, certmagic.ErrNoRetry{Err: fmt.Errorf("%w: %s", ErrIssueRateLimited, host)}
	}
	f.stats.orders.Add(1)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(f.closed, cancel)()
	cert, err := g.ACMEIssuer.Issue(ctx, csr)
	if err != nil {
		f.stats.ordersFailed.Add(1)
		f.backoff.fail(host)
		f.log.Warn("tlsserve: issuance failed", "host", host, "error", err)
		return nil, certmagic.ErrNoRetry{Err: err}
	}
	return cert, nil
}

// hostOf gives the host a CSR is for; certmagic orders one name at a time.
func hostOf(names []string) string {
	if len(names) == 0 {
		return ""
	}
	return names[0]
}

// backoff remembers hosts whose issuance failed. Only allowed hosts reach
// an issuer, so it is bounded by the allow-list.
type backoff struct {
	ttl   time.Duration
	mu    sync.Mutex
	until map[string]time.Time
}

func (b *backoff) active(host string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	t, ok := b.until[host]
	if ok && time.Now().After(t) {
		delete(b.until, host)
		return false
	}
	return ok
}

func (b *backoff) fail(host string) {
	b.mu.Lock()
	b.until[host] = time.Now().Add(b.ttl)
	b.mu.Unlock()
}

func (b *backoff) clear(host string) {
	b.mu.Lock()
	delete(b.until, host)
	b.mu.Unlock()
}
