package tlsserve

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/caddyserver/certmagic"
	"golang.org/x/time/rate"
)

// Config configures New.
type Config struct {
	// Storage holds certificates, ACME accounts, locks and HTTP-01 tokens.
	// Fronts that share a Storage share all of them, so a host is ordered
	// once across instances. Required: certmagic's default, a directory in
	// the home directory, is no place for a server's keys.
	Storage certmagic.Storage

	// ListFunc returns every host that may have an on-demand certificate:
	// the verified custom domains of active tenants. New calls it once and
	// fails if it fails; Reload and the refresh loop call it again. Names
	// are compared in lower case; invalid ones are logged and skipped.
	// Required.
	ListFunc func(ctx context.Context) ([]string, error)

	// AllowedFunc reports whether one host may have a certificate;
	// Invalidate calls it to correct the allow-list for that host. Defaults
	// to nil: Invalidate reloads the whole list with ListFunc.
	AllowedFunc func(ctx context.Context, host string) (bool, error)

	// RefreshInterval is how often the allow-list is reloaded in the
	// background, to catch changes no Invalidate reported. Defaults to 5
	// minutes; a negative value disables the refresh.
	RefreshInterval time.Duration

	// DirectoryURL is the ACME directory of the CA, whose terms of service
	// the Front agrees to when it registers its account. Defaults to Let's
	// Encrypt's production directory.
	DirectoryURL string

	// Email is the contact address of the ACME account. Defaults to none.
	Email string

	// CARoots are the roots trusted for the ACME server's own TLS
	// certificate, for a test CA such as Pebble. Defaults to the system
	// roots.
	CARoots *x509.CertPool

	// BaseDomain is the platform's own domain, such as "example.com". It
	// and its one-label subdomains ("acme.example.com") are served with
	// the static certificate and never on demand. Defaults to none.
	BaseDomain string

	// StaticCert is the certificate for BaseDomain, covering it and
	// "*."+BaseDomain. Required with BaseDomain, unless StaticCertFile and
	// StaticKeyFile are set. Defaults to nil.
	StaticCert *tls.Certificate

	// StaticCertFile and StaticKeyFile are PEM files New loads StaticCert
	// from when StaticCert is nil. Default to none.
	StaticCertFile, StaticKeyFile string

	// IssueRate is the sustained rate of ACME orders this Front may place,
	// first issuances and renewals alike. Defaults to 10 per minute.
	IssueRate rate.Limit

	// IssueBurst is how many orders may be placed at once before IssueRate
	// applies. Defaults to 5.
	IssueBurst int

	// FailureBackoff is how long a host whose issuance failed is refused a
	// new order. Invalidate clears it. Defaults to 15 minutes, which keeps
	// a host under Let's Encrypt's 5 failed validations per hour.
	FailureBackoff time.Duration

	// RenewalWindowRatio is the share of a certificate's lifetime, counted
	// back from its expiry, in which it is renewed (renewal is triggered by
	// a handshake or by certmagic's periodic maintenance). Defaults to
	// certmagic's 1/3.
	RenewalWindowRatio float64

	// HTTPPort is the port HTTPHandler is served on, which the CA's HTTP-01
	// validation reaches (port 80 as seen from the internet). If nothing
	// listens there when a challenge starts, certmagic briefly listens on
	// ChallengeListenHost:HTTPPort itself. Defaults to 80.
	HTTPPort int

	// ChallengeListenHost is the host certmagic binds when it has to listen
	// on HTTPPort itself. Defaults to "", every interface.
	ChallengeListenHost string

	// HTTPSPort is the port TLSConfig is served on, for HTTPHandler's
	// redirects. Defaults to 443, which redirects leave implicit.
	HTTPSPort int

	// OnCertificate, when set, is told of every certificate this Front
	// obtained or loaded into memory for a host (err nil, notAfter its
	// expiry) and of every order that failed (err its error): the caller
	// records the domain's certificate state. It runs on certmagic's
	// goroutine and must not block long. Defaults to nil.
	OnCertificate func(ctx context.Context, host string, notAfter time.Time, err error)
	// Logger receives refusals (debug), rate-limited and failed issuances
	// (warn), and certmagic's own log. Defaults to a logger that discards.
	Logger *slog.Logger
}

func (c *Config) validate() error {
	switch {
	case c.Storage == nil:
		return errors.New("tlsserve: Config.Storage is required")
	case c.ListFunc == nil:
		return errors.New("tlsserve: Config.ListFunc is required")
	case c.IssueRate < 0 || c.IssueBurst < 0:
		return errors.New("tlsserve: Config.IssueRate and IssueBurst must not be negative")
	case c.FailureBackoff < 0:
		return errors.New("tlsserve: Config.FailureBackoff must not be negative")
	case c.RenewalWindowRatio < 0 || c.RenewalWindowRatio > 1:
		return errors.New("tlsserve: Config.RenewalWindowRatio must be in (0, 1], or 0 for the default")
	case c.HTTPPort < 0 || c.HTTPPort > 65535 || c.HTTPSPort < 0 || c.HTTPSPort > 65535:
		return errors.New("tlsserve: Config.HTTPPort and HTTPSPort must be ports")
	case c.BaseDomain == "" && (c.StaticCert != nil || c.StaticCertFile != "" || c.StaticKeyFile != ""):
		return errors.New("tlsserve: a static certificate needs Config.BaseDomain")
	case c.BaseDomain != "" && c.StaticCert == nil && (c.StaticCertFile == "" || c.StaticKeyFile == ""):
		return errors.New("tlsserve: Config.BaseDomain needs StaticCert or StaticCertFile and StaticKeyFile")
	}
	if c.BaseDomain != "" {
		// A single label (localhost) is a base domain too: the names it
		// serves, one label below, are host names.
		if _, err := normalize("tenant." + c.BaseDomain); err != nil {
			return fmt.Errorf("tlsserve: Config.BaseDomain %q: %w", c.BaseDomain, err)
		}
	}
	return nil
}

// withDefaults returns a copy of c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.RefreshInterval == 0 {
		c.RefreshInterval = 5 * time.Minute
	}
	if c.DirectoryURL == "" {
		c.DirectoryURL = certmagic.LetsEncryptProductionCA
	}
	if c.IssueRate == 0 {
		c.IssueRate = rate.Every(6 * time.Second)
	}
	if c.IssueBurst == 0 {
		c.IssueBurst = 5
	}
	if c.FailureBackoff == 0 {
		c.FailureBackoff = 15 * time.Minute
	}
	if c.RenewalWindowRatio == 0 {
		c.RenewalWindowRatio = certmagic.DefaultRenewalWindowRatio
	}
	if c.HTTPPort == 0 {
		c.HTTPPort = 80
	}
	if c.HTTPSPort == 0 {
		c.HTTPSPort = 443
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// loadStatic returns the static certificate with its Leaf parsed, checked
// to cover the base domain and its subdomains.
func (c *Config) loadStatic(base string) (*tls.Certificate, error) {
	cert := c.StaticCert
	if cert == nil {
		kp, err := tls.LoadX509KeyPair(c.StaticCertFile, c.StaticKeyFile)
		if err != nil {
			return nil, fmt.Errorf("tlsserve: load static certificate: %w", err)
		}
		cert = &kp
	}
	if cert.Leaf == nil {
		if len(cert.Certificate) == 0 {
			return nil, errors.New("tlsserve: static certificate is empty")
		}
		leaf, err := x509.ParseCertificate(cert.Certificate[0])
		if err != nil {
			return nil, fmt.Errorf("tlsserve: parse static certificate: %w", err)
		}
		cp := *cert
		cp.Leaf = leaf
		cert = &cp
	}
	for _, name := range []string{base, "tenant." + base} {
		if err := cert.Leaf.VerifyHostname(name); err != nil {
			return nil, fmt.Errorf("tlsserve: static certificate does not cover %s: %w", name, err)
		}
	}
	return cert, nil
}
