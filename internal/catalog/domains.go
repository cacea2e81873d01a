package catalog

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/tenantkit/tenantkit/internal/bus"
	"github.com/tenantkit/tenantkit/internal/catalog/catalogdb"
	"github.com/tenantkit/tenantkit/internal/domains"
)

// Domain is a custom domain of a tenant: its proof (status, checked_at,
// check_error, lapsed_at, grace_until) and its certificate (ssl_status,
// ssl_error, ssl_expires_at).
type Domain = catalogdb.TenantkitDomain

// Domain statuses.
const (
	DomainPending  = "pending"
	DomainVerified = "verified"
	DomainLapsed   = "lapsed"
)

// DomainView is a Domain with the DNS record that proves it, as the admin
// API answers.
type DomainView struct {
	Domain
	TXTRecord ProofRecord `json:"txt_record"`
	// Resolves says whether requests for the host reach its tenant now.
	Resolves bool `json:"resolves"`
}

// ProofRecord is the DNS record a tenant creates to prove a domain.
type ProofRecord struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Value string `json:"value"`
}

// View returns d with its proof record.
func View(d Domain) DomainView {
	return DomainView{Domain: d, TXTRecord: ProofRecord{Name: domains.RecordName(d.Host), Type: "TXT", Value: d.VerificationToken},
		Resolves: d.VerifiedAt != nil && (d.GraceUntil == nil || d.GraceUntil.After(time.Now()))}
}

// ProofCheck checks a domain's DNS proof (domains.Proof.Check).
type ProofCheck func(ctx context.Context, host, token string) error

// AddDomain registers host for a tenant, unverified, with a fresh
// verification token. Hosts a tenant may not claim (domains.Claimable:
// under baseDomain, IP literals, wildcards) are refused.
func (s *Store) AddDomain(ctx context.Context, actor, ref, host, baseDomain string) (Domain, error) {
	raw := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(host)), ".")
	if raw != "" {
		if why := domains.Claimable(raw, baseDomain); why != "" {
			return Domain{}, &ValidationError{Fields: []FieldError{{"host", fmt.Sprintf("%s %s", raw, why)}}}
		}
	}
	host, ok := NormalizeHost(host)
	if !ok {
		return Domain{}, &ValidationError{Fields: []FieldError{{"host", "must be a fully qualified DNS name"}}}
	}
	var d Domain
	err := s.write(ctx, func(q *catalogdb.Queries) (bus.Message, error) {
		t, err := s.getLive(ctx, q, ref)
		if err != nil {
			return bus.Message{}, err
		}
		d, err = q.AddDomain(ctx, catalogdb.AddDomainParams{Host: host, TenantID: t.ID, VerificationToken: randomToken()})
		if isUnique(err) {
			return bus.Message{}, fmt.Errorf("%w: %q", ErrDomainTaken, host)
		}
		if err != nil {
			return bus.Message{}, err
		}
		return tenantMessage(t, host), audit(ctx, q, actor, "domain.add", t.ID, nil, d)
	})
	return d, err
}

// GetDomain returns host's domain, ErrDomainNotFound when there is none.
func (s *Store) GetDomain(ctx context.Context, host string) (Domain, error) {
	host, _ = NormalizeHost(host)
	d, err := s.q.GetDomain(ctx, host)
	if errors.Is(err, pgx.ErrNoRows) {
		return Domain{}, fmt.Errorf("%w: %q", ErrDomainNotFound, host)
	}
	return d, err
}

// ListDomains returns a tenant's domains, by host.
func (s *Store) ListDomains(ctx context.Context, ref string) ([]Domain, error) {
	t, err := s.GetTenant(ctx, ref)
	if err != nil {
		return nil, err
	}
	ds, err := s.q.ListDomains(ctx, t.ID)
	if ds == nil {
		ds = []Domain{}
	}
	return ds, err
}

// VerifyDomain checks host's proof with check and, when it holds, marks
// the domain verified: from then on it resolves to its tenant. A proof
// that does not hold is check's error (a *domains.ProofError), and nothing
// changes. Verifying a verified domain checks it again; one that had
// lapsed is verified again.
func (s *Store) VerifyDomain(ctx context.Context, actor, host string, check ProofCheck) (Domain, error) {
	before, err := s.GetDomain(ctx, host)
	if err != nil {
		return Domain{}, err
	}
	// The lookup runs outside any transaction: DNS may be slow.
	if err := check(ctx, before.Host, before.VerificationToken); err != nil {
		return Domain{}, err
	}
	var d Domain
	err = s.write(ctx, func(q *catalogdb.Queries) (bus.Message, error) {
		if _, err := s.getLive(ctx, q, before.TenantID.String()); err != nil {
			return bus.Message{}, err
		}
		d, err = q.VerifyDomain(ctx, before.Host)
		if errors.Is(err, pgx.ErrNoRows) {
			return bus.Message{}, fmt.Errorf("%w: %q", ErrDomainNotFound, before.Host)
		}
		if err != nil {
			return bus.Message{}, err
		}
		msg := bus.Message{Tenant: d.TenantID.String(), Hosts: []string{d.Host}}
		if before.Status == DomainVerified {
			return msg, nil // a re-check: no change worth an audit row
		}
		return msg, audit(ctx, q, actor, "domain.verify", d.TenantID, before, d)
	})
	return d, err
}

// RemoveDomain deletes host's domain: it stops resolving at once.
func (s *Store) RemoveDomain(ctx context.Context, actor, host string) (Domain, error) {
	host, _ = NormalizeHost(host)
	var d Domain
	err := s.write(ctx, func(q *catalogdb.Queries) (bus.Message, error) {
		var err error
		d, err = q.DeleteDomain(ctx, host)
		if errors.Is(err, pgx.ErrNoRows) {
			return bus.Message{}, fmt.Errorf("%w: %q", ErrDomainNotFound, host)
		}
		if err != nil {
			return bus.Message{}, err
		}
		msg := bus.Message{Tenant: d.TenantID.String(), Hosts: []string{host}}
		return msg, audit(ctx, q, actor, "domain.remove", d.TenantID, d, nil)
	})
	return d, err
}

// RecheckResult counts what RecheckDomains did.
type RecheckResult struct {
	Checked, Held, Lapsed, Unbound, Restored, Failed int
}

// RecheckDomains checks again, with check, the proof of up to limit
// verified domains last checked before checkedBefore. A proof that holds
// keeps (or puts back) its domain verified. One that is gone makes it
// lapsed: it keeps resolving for grace, then stops (verified_at cleared)
// until it is verified again. A lookup that fails (the resolver did not
// answer) changes nothing. Each change of state is audited.
func (s *Store) RecheckDomains(ctx context.Context, actor string, checkedBefore time.Time, limit int, grace time.Duration, check ProofCheck) (RecheckResult, error) {
	var res RecheckResult
	ds, err := s.q.DomainsToRecheck(ctx, catalogdb.DomainsToRecheckParams{CheckedBefore: &checkedBefore, Max: int32(limit)})
	if err != nil {
		return res, err
	}
	for _, d := range ds {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		res.Checked++
		cerr := check(ctx, d.Host, d.VerificationToken)
		var pe *domains.ProofError
		switch {
		case cerr == nil:
			res.Held++
			if d.Status == DomainLapsed {
				res.Restored++
			}
			if _, err := s.VerifyDomain(ctx, actor, d.Host, func(context.Context, string, string) error { return nil }); err != nil && !errors.Is(err, ErrDomainNotFound) && !errors.Is(err, ErrTenantNotFound) {
				return res, err
			}
		case errors.As(cerr, &pe):
			unbound, err := s.lapse(ctx, actor, d, pe.Error(), grace)
			if err != nil {
				return res, err
			}
			if unbound {
				res.Unbound++
			} else {
				res.Lapsed++
			}
		default:
			res.Failed++
		}
	}
	return res, nil
}

// lapse records that d's proof is gone: lapsed, and past its grace
// unbound. It reports whether it unbound the domain.
func (s *Store) lapse(ctx context.Context, actor string, d Domain, why string, grace time.Duration) (bool, error) {
	unbound := false
	err := s.write(ctx, func(q *catalogdb.Queries) (bus.Message, error) {
		after, err := q.LapseDomain(ctx, catalogdb.LapseDomainParams{CheckError: why, Grace: pgtype.Interval{Microseconds: grace.Microseconds(), Valid: true}, Host: d.Host})
		if errors.Is(err, pgx.ErrNoRows) {
			return bus.Message{}, nil // removed or unbound meanwhile
		}
		if err != nil {
			return bus.Message{}, err
		}
		msg := bus.Message{Tenant: d.TenantID.String(), Hosts: []string{d.Host}}
		if d.Status != DomainLapsed {
			return msg, audit(ctx, q, actor, "domain.lapse", d.TenantID, d, after)
		}
		gone, err := q.UnbindLapsedDomain(ctx, catalogdb.UnbindLapsedDomainParams{CheckError: why, Host: d.Host})
		if errors.Is(err, pgx.ErrNoRows) {
			return bus.Message{}, nil // still in its grace
		}
		if err != nil {
			return bus.Message{}, err
		}
		unbound = true
		return msg, audit(ctx, q, actor, "domain.unbind", d.TenantID, after, gone)
	})
	return unbound, err
}

// SSL statuses of a domain's certificate.
const (
	SSLPending = "pending"
	SSLActive  = "active"
	SSLExpired = "expired"
	SSLFailed  = "failed"
)

// SetDomainSSL records host's certificate state: status, the error of a
// failed order ("" otherwise) and, when not nil, the certificate's expiry.
func (s *Store) SetDomainSSL(ctx context.Context, host, status, errMsg string, expires *time.Time) error {
	_, err := s.q.SetDomainSSL(ctx, catalogdb.SetDomainSSLParams{SslStatus: status, SslError: errMsg, SslExpiresAt: expires, Host: host})
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%w: %q", ErrDomainNotFound, host)
	}
	return err
}

// ServableDomains returns every host a certificate may be ordered for:
// verified (or lapsed within grace) domains of active tenants.
func (s *Store) ServableDomains(ctx context.Context) ([]string, error) {
	return s.q.ServableDomains(ctx)
}

// ExpireDomainCertificates marks expired the certificates of domains
// whose expiry has passed without a renewal being recorded, and returns
// their hosts.
func (s *Store) ExpireDomainCertificates(ctx context.Context) ([]string, error) {
	return s.q.ExpireDomainCertificates(ctx)
}
