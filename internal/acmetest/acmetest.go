package acmetest

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
)

// newOrderPath is where Pebble's directory sends newOrder requests.
const newOrderPath = "/order-plz"

// Config configures Start.
type Config struct {
	// Resolver is the host:port of the DNS server Pebble's validation
	// authority asks, over TCP, for the addresses of names to validate and
	// for DNS-01 TXT records. Required: without it Pebble would ask the
	// system resolver about test names.
	Resolver string
	// HTTPPort is the port Pebble dials on the validated name's address for
	// HTTP-01 challenges. Defaults to 5002, Pebble's own default.
	HTTPPort int
	// TLSPort is the port Pebble dials for TLS-ALPN-01 challenges. Defaults
	// to 5001, Pebble's own default.
	TLSPort int
	// Addr is the host:port the ACME API listens on. Defaults to
	// "127.0.0.1:0", a free loopback port.
	Addr string
	// CertValidity is the lifetime of issued certificates, in whole seconds.
	// Defaults to 90 days, Pebble's own default.
	CertValidity time.Duration
	// Logger receives Pebble's log lines at debug level. Defaults to a
	// logger that discards.
	Logger *slog.Logger
}

func (c *Config) validate() error {
	if c.Resolver == "" {
		return errors.New("acmetest: Config.Resolver is required")
	}
	if _, _, err := net.SplitHostPort(c.Resolver); err != nil {
		return fmt.Errorf("acmetest: Config.Resolver: %w", err)
	}
	if c.HTTPPort < 0 || c.HTTPPort > 65535 || c.TLSPort < 0 || c.TLSPort > 65535 {
		return errors.New("acmetest: Config.HTTPPort and TLSPort must be ports")
	}
	if c.CertValidity < 0 || c.CertValidity%time.Second != 0 {
		return errors.New("acmetest: Config.CertValidity must be a positive whole number of seconds")
	}
	return nil
}

// CA is a running Pebble. Its methods are safe for concurrent use.
type CA struct {
	srv    *httptest.Server
	ca     *ca.CAImpl
	orders atomic.Int64
}

// Start runs Pebble until Close.
func Start(cfg *Config) (*CA, error) {
	if cfg == nil {
		cfg = &Config{}
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	c := &CA{}
	c.srv = httptest.NewUnstartedServer(c.countOrders(c.newPebble(cfg)))
	if cfg.Addr != "" {
		ln, err := net.Listen("tcp", cfg.Addr)
		if err != nil {
			return nil, fmt.Errorf("acmetest: listen on %s: %w", cfg.Addr, err)
		}
		c.srv.Listener.Close()
		c.srv.Listener = ln
	}
	c.srv.StartTLS()
	return c, nil
}

// pebbleEnv is what Pebble's constructors read from the environment; the
// values make Pebble deterministic. The environment belongs to the process,
// so envMu keeps two Starts from interleaving their settings and restores.
var (
	envMu     sync.Mutex
	pebbleEnv = map[string]string{
		"PEBBLE_VA_NOSLEEP":      "1", // validate at once, not after 0–5 s
		"PEBBLE_VA_ALWAYS_VALID": "0", // really validate challenges
		"PEBBLE_WFE_NONCEREJECT": "0", // accept every good nonce
		"PEBBLE_AUTHZREUSE":      "0", // every order validates anew
	}
)

func (c *CA) newPebble(cfg *Config) http.Handler {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	plog := slog.NewLogLogger(logger.With("component", "pebble").Handler(), slog.LevelDebug)
	httpPort, tlsPort := orDefault(cfg.HTTPPort, 5002), orDefault(cfg.TLSPort, 5001)
	validity := uint64(cfg.CertValidity / time.Second) // 0 is Pebble's default

	envMu.Lock()
	defer envMu.Unlock()
	restore := setEnv(pebbleEnv)
	defer restore()

	store := db.NewMemoryStore()
	c.ca = ca.New(plog, store, "", "ecdsa", 0, 1, map[string]ca.Profile{
		"default": {Description: "acmetest", ValidityPeriod: validity},
	})
	v := va.New(plog, httpPort, tlsPort, false, cfg.Resolver, store)
	w := wfe.New(plog, store, v, c.ca, []string{"pebble.letsencrypt.org"}, false, false, 0, 0)
	return w.Handler()
}

func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

func setEnv(vars map[string]string) (restore func()) {
	type old struct {
		v  string
		ok bool
	}
	saved := make(map[string]old, len(vars))
	for k, v := range vars {
		ov, ok := os.LookupEnv(k)
		saved[k] = old{ov, ok}
		os.Setenv(k, v)
	}
	return func() {
		for k, o := range saved {
			if o.ok {
				os.Setenv(k, o.v)
			} else {
				os.Unsetenv(k)
			}
		}
	}
}

func (c *CA) countOrders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == newOrderPath {
			c.orders.Add(1)
		}
		next.ServeHTTP(w, r)
	})
}

// DirectoryURL is the ACME directory to give an ACME client.
func (c *CA) DirectoryURL() string { return c.srv.URL + wfe.DirectoryPath }

// Orders is the number of newOrder requests received so far, whatever
// became of them.
func (c *CA) Orders() int64 { return c.orders.Load() }

// APIRoots trusts the TLS certificate of the ACME API, and only that.
func (c *CA) APIRoots() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(c.srv.Certificate())
	return pool
}

// APIRootsPEM is APIRoots in PEM, for a file a server is told to trust the
// ACME API with.
func (c *CA) APIRootsPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.srv.Certificate().Raw})
}

// IssuerRoots trusts the roots Pebble issues certificates under, and only
// those: verify an issued certificate against it.
func (c *CA) IssuerRoots() *x509.CertPool {
	pool := x509.NewCertPool()
	for i := range c.ca.GetNumberOfRootCerts() {
		pool.AddCert(c.ca.GetRootCert(i).Cert)
	}
	return pool
}

// IssuerRootsPEM is IssuerRoots in PEM, for a file a browser or curl can
// be told to trust.
func (c *CA) IssuerRootsPEM() []byte {
	var out []byte
	for i := range c.ca.GetNumberOfRootCerts() {
		out = append(out, c.ca.GetRootCert(i).PEM()...)
	}
	return out
}

// Close stops serving the ACME API. Pebble's validation workers are left
// idle: Pebble has no way to stop them.
func (c *CA) Close() { c.srv.Close() }
