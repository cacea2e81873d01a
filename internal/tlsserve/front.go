package tlsserve

import (
	"context"
	"crypto/tls"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/certmagic"
	"golang.org/x/time/rate"
)

// Front serves TLS for the platform's domain and, on demand, for tenants'
// verified custom domains. Its methods are safe for concurrent use.
type Front struct {
	cfg    Config
	log    *slog.Logger
	base   string
	static *tls.Certificate

	cache *certmagic.Cache
	magic *certmagic.Config
	acme  *certmagic.ACMEIssuer

	allow   allowList
	limiter *rate.Limiter
	backoff backoff
	stats   stats

	closed context.Context // done once Close is called
	close  context.CancelFunc
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once
}

// Stats counts what a Front decided since New.
type Stats struct {
	// Refused is the number of handshakes refused before certmagic was
	// consulted: no SNI, an invalid name, or a host not in the allow-list.
	Refused int64
	// Orders is the number of ACME orders this Front let through to the CA.
	Orders int64
	// OrdersFailed is how many of those failed.
	OrdersFailed int64
	// RateLimited is the number of orders IssueRate refused.
	RateLimited int64
	// BackedOff is the number of orders refused because the host's last
	// issuance failed less than FailureBackoff ago.
	BackedOff int64
	// Reloads and ReloadErrors count loads of the allow-list.
	Reloads, ReloadErrors int64
	// Hosts is the size of the allow-list.
	Hosts int
}

type stats struct {
	refused, orders, ordersFailed, rateLimited, backedOff atomic.Int64
	reloads, reloadErrors                                 atomic.Int64
}

// New loads the allow-list with cfg.ListFunc and returns a Front ready to
// serve. Close stops its background work.
func New(ctx context.Context, config *Config) (*Front, error) {
	if config == nil {
		config = &Config{}
	}
	if err := config.validate(); err != nil {
		return nil, err
	}
	cfg := config.withDefaults()
	f := &Front{
		cfg:     cfg,
		log:     cfg.Logger,
		limiter: rate.NewLimiter(cfg.IssueRate, cfg.IssueBurst),
		backoff: backoff{ttl: cfg.FailureBackoff, until: map[string]time.Time{}},
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	f.closed, f.close = context.WithCancel(context.Background())
	if cfg.BaseDomain != "" {
		f.base = strings.TrimSuffix(strings.ToLower(cfg.BaseDomain), ".")
		static, err := cfg.loadStatic(f.base)
		if err != nil {
			return nil, err
		}
		f.static = static
	}
	f.allow.set = map[string]struct{}{}
	if err := f.Reload(ctx); err != nil {
		f.close()
		return nil, err
	}
	f.newMagic()
	go f.refreshLoop()
	return f, nil
}

func (f *Front) newMagic() {
	zl := newZapLogger(f.log)
	f.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert: func(certmagic.Certificate) (*certmagic.Config, error) { return f.magic, nil },
		Logger:           zl,
	})
	f.magic = certmagic.New(f.cache, certmagic.Config{
		RenewalWindowRatio: f.cfg.RenewalWindowRatio,
		OnDemand:           &certmagic.OnDemandConfig{DecisionFunc: f.decision},
		Storage:            f.cfg.Storage,
		Logger:             zl,
		OnEvent:            f.onEvent,
	})
	f.acme = certmagic.NewACMEIssuer(f.magic, certmagic.ACMEIssuer{
		CA:                      f.cfg.DirectoryURL,
		Email:                   f.cfg.Email,
		Agreed:                  true,
		TrustedRoots:            f.cfg.CARoots,
		DisableTLSALPNChallenge: true, // HTTP-01 only: HTTPHandler answers it
		AltHTTPPort:             f.cfg.HTTPPort,
		ListenHost:              f.cfg.ChallengeListenHost,
		Logger:                  zl,
	})
	f.magic.Issuers = []certmagic.Issuer{&guardedIssuer{ACMEIssuer: f.acme, f: f}}
}

// TLSConfig returns the configuration to serve TLS with: its
// GetCertificate decides as the package documentation describes.
func (f *Front) TLSConfig() *tls.Config {
	return &tls.Config{
		GetCertificate: f.getCertificate,
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{"h2", "http/1.1"},
	}
}

func (f *Front) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	name, err := normalize(hello.ServerName)
	if err == nil && f.isBase(name) {
		return f.static, nil
	}
	if err == nil {
		err = f.allow.check(name)
	}
	if err != nil {
		f.stats.refused.Add(1)
		if f.log.Enabled(context.Background(), slog.LevelDebug) {
			f.log.Debug("tlsserve: handshake refused", "server_name", hello.ServerName, "error", err)
		}
		return nil, err
	}
	return f.magic.GetCertificate(hello)
}

// isBase reports whether name is served by the static certificate: the base
// domain or one label below it.
func (f *Front) isBase(name string) bool {
	if f.static == nil {
		return false
	}
	if name == f.base {
		return true
	}
	sub, ok := strings.CutSuffix(name, f.base)
	return ok && len(sub) > 1 && sub[len(sub)-1] == '.' && strings.IndexByte(sub[:len(sub)-1], '.') < 0
}

// decision is certmagic's DecisionFunc: it runs before a certificate is
// loaded from storage, obtained or renewed.
func (f *Front) decision(_ context.Context, name string) error {
	name, err := normalize(name)
	if err != nil {
		return err
	}
	return f.allow.check(name)
}

// CertStatus describes the managed certificate a Front holds in memory for
// a host.
type CertStatus struct {
	Names     []string
	NotBefore time.Time
	NotAfter  time.Time
}

// Status reports the certificate in memory that would serve host, if any.
// It does not look in Storage.
func (f *Front) Status(host string) (CertStatus, bool) {
	name, err := normalize(host)
	if err != nil {
		return CertStatus{}, false
	}
	for _, c := range f.cache.AllMatchingCertificates(name) {
		if c.Leaf != nil {
			return CertStatus{Names: c.Names, NotBefore: c.Leaf.NotBefore, NotAfter: c.Leaf.NotAfter}, true
		}
	}
	return CertStatus{}, false
}

// Stats returns the counters since New.
func (f *Front) Stats() Stats {
	return Stats{
		Refused:      f.stats.refused.Load(),
		Orders:       f.stats.orders.Load(),
		OrdersFailed: f.stats.ordersFailed.Load(),
		RateLimited:  f.stats.rateLimited.Load(),
		BackedOff:    f.stats.backedOff.Load(),
		Reloads:      f.stats.reloads.Load(),
		ReloadErrors: f.stats.reloadErrors.Load(),
		Hosts:        f.allow.len(),
	}
}

// Close stops the allow-list refresh and certmagic's maintenance, cancels
// the ACME orders under way and refuses new ones.
func (f *Front) Close() {
	f.once.Do(func() {
		f.close()
		close(f.stop)
		<-f.done
		f.cache.Stop()
	})
}

func (f *Front) refreshLoop() {
	defer close(f.done)
	if f.cfg.RefreshInterval < 0 {
		<-f.stop
		return
	}
	t := time.NewTicker(f.cfg.RefreshInterval)
	defer t.Stop()
	for {
		select {
		case <-f.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			if err := f.Reload(ctx); err != nil {
				f.log.Warn("tlsserve: reload allow-list; keeping the previous one", "error", err)
			}
			cancel()
		}
	}
}

// onEvent tells Config.OnCertificate of certificates cached (obtained here
// or loaded from Storage) and of failed orders. It never refuses an event.
func (f *Front) onEvent(ctx context.Context, event string, data map[string]any) error {
	if f.cfg.OnCertificate == nil {
		return nil
	}
	switch event {
	case "cached_managed_cert":
		names, _ := data["sans"].([]string)
		for _, name := range names {
			if st, ok := f.Status(name); ok {
				f.cfg.OnCertificate(ctx, name, st.NotAfter, nil)
			}
		}
	case "cert_failed":
		name, _ := data["identifier"].(string)
		err, _ := data["error"].(error)
		if name != "" && err != nil {
			f.cfg.OnCertificate(ctx, name, time.Time{}, err)
		}
	}
	return nil
}
