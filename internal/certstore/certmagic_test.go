package certstore_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"

	"github.com/tenantkit/tenantkit/internal/certstore"
)

// testIssuer signs every CSR with a CA of its own, slowly, counting the
// certificates it issues: a stand-in for an ACME CA.
type testIssuer struct {
	ca     *x509.Certificate
	caKey  crypto.Signer
	delay  time.Duration
	issued atomic.Int32
}

func newTestIssuer(t *testing.T, delay time.Duration) *testIssuer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "tenantkit test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testIssuer{ca: ca, caKey: key, delay: delay}
}

func (i *testIssuer) IssuerKey() string { return "tenantkit-test" }

func (i *testIssuer) Issue(ctx context.Context, csr *x509.CertificateRequest) (*certmagic.IssuedCertificate, error) {
	i.issued.Add(1)
	select {
	case <-time.After(i.delay):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: csr.DNSNames[0]},
		DNSNames:     csr.DNSNames,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(90 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, i.ca, csr.PublicKey, i.caKey)
	if err != nil {
		return nil, err
	}
	return &certmagic.IssuedCertificate{
		Certificate: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		Metadata:    map[string]string{"issuer": "test"},
	}, nil
}

// newInstance is one server instance's certmagic on s.
func newInstance(t *testing.T, s *certstore.Storage, iss certmagic.Issuer) *certmagic.Config {
	t.Helper()
	var cfg *certmagic.Config
	cache := certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert: func(certmagic.Certificate) (*certmagic.Config, error) { return cfg, nil },
		Logger:           zap.NewNop(),
	})
	t.Cleanup(cache.Stop)
	cfg = certmagic.New(cache, certmagic.Config{
		Storage:    s,
		Issuers:    []certmagic.Issuer{iss},
		OCSP:       certmagic.OCSPConfig{DisableStapling: true},
		DisableARI: true,
		Logger:     zap.NewNop(),
	})
	return cfg
}

// Two instances on one catalog asked for the same certificate at once:
// certmagic, through the storage's lock, has it issued once, and both
// serve it.
func TestCertmagicObtainsOnceForTwoInstances(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	iss := newTestIssuer(t, 300*time.Millisecond)
	instances := []*certmagic.Config{
		newInstance(t, b.s, iss),
		newInstance(t, newStorage(newPool(t, b.db), "b", 0), iss),
	}
	const domain = "shop.example.com"

	var wg sync.WaitGroup
	for _, cfg := range instances {
		wg.Go(func() {
			if err := cfg.ObtainCertSync(ctx, domain); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := iss.issued.Load(); n != 1 {
		t.Fatalf("the certificate was issued %d times, want once", n)
	}

	var serials []string
	for _, cfg := range instances {
		cert, err := cfg.CacheManagedCertificate(ctx, domain)
		if err != nil {
			t.Fatal(err)
		}
		if cert.Leaf == nil || len(cert.Names) != 1 || cert.Names[0] != domain {
			t.Fatalf("cached certificate for %v, want %s", cert.Names, domain)
		}
		serials = append(serials, cert.Leaf.SerialNumber.String())
	}
	if serials[0] != serials[1] {
		t.Fatalf("the instances serve different certificates: serials %v", serials)
	}
	for _, key := range []string{
		certmagic.StorageKeys.SiteCert(iss.IssuerKey(), domain),
		certmagic.StorageKeys.SitePrivateKey(iss.IssuerKey(), domain),
		certmagic.StorageKeys.SiteMeta(iss.IssuerKey(), domain),
	} {
		if !b.s.Exists(ctx, key) {
			t.Errorf("%s is not in storage", key)
		}
	}
	var locks int
	if err := b.pool.QueryRow(ctx, `SELECT count(*) FROM tenantkit.cert_locks`).Scan(&locks); err != nil {
		t.Fatal(err)
	}
	if locks != 0 {
		t.Fatalf("%d locks left after obtaining", locks)
	}
}
