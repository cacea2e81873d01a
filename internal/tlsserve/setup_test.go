package tlsserve_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/tenantkit/tenantkit/internal/acmetest"
	"github.com/tenantkit/tenantkit/internal/dnstest"
	"github.com/tenantkit/tenantkit/internal/tlsserve"
)

// handshakeTimeout bounds every client handshake, issuance included.
const handshakeTimeout = 90 * time.Second

// env is one test's world: a DNS server, a Pebble CA validating HTTP-01 on
// httpPort, a storage, and the catalog stand-in behind ListFunc and
// AllowedFunc, which counts its queries.
type env struct {
	t        testing.TB
	dns      *dnstest.Server
	ca       *acmetest.CA
	httpLn   net.Listener
	httpPort int
	storage  certmagic.Storage

	mu      sync.Mutex
	hosts   []string
	lists   atomic.Int64
	lookups atomic.Int64
}

func setup(t testing.TB, caCfg *acmetest.Config) *env {
	t.Helper()
	dns, err := dnstest.Start(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dns.Close)
	httpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { httpLn.Close() })
	port := httpLn.Addr().(*net.TCPAddr).Port
	if caCfg == nil {
		caCfg = &acmetest.Config{}
	}
	caCfg.Resolver, caCfg.HTTPPort = dns.Addr(), port
	ca, err := acmetest.Start(caCfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ca.Close)
	return &env{
		t: t, dns: dns, ca: ca, httpLn: httpLn, httpPort: port,
		storage: &certmagic.FileStorage{Path: storageDir(t)},
	}
}

// storageDir is a temporary directory for a FileStorage. Unlike t.TempDir,
// its removal tolerates certmagic's background work (a renewal a handshake
// started) still writing for a moment after the test's Fronts are closed.
func storageDir(t testing.TB) string {
	dir, err := os.MkdirTemp("", "tlsserve-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for range 50 {
			if os.RemoveAll(dir) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("could not remove %s", dir)
	})
	return dir
}

// verify makes hosts verified domains of active tenants: in the catalog
// stand-in, and in DNS pointing at loopback.
func (e *env) verify(hosts ...string) {
	e.mu.Lock()
	e.hosts = append(e.hosts, hosts...)
	e.mu.Unlock()
	for _, h := range hosts {
		e.dns.SetA(h, net.ParseIP("127.0.0.1"))
	}
}

func (e *env) unverify(host string) {
	e.mu.Lock()
	e.hosts = slices.DeleteFunc(e.hosts, func(h string) bool { return h == host })
	e.mu.Unlock()
}

func (e *env) list(context.Context) ([]string, error) {
	e.lists.Add(1)
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.hosts), nil
}

func (e *env) allowed(_ context.Context, host string) (bool, error) {
	e.lookups.Add(1)
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Contains(e.hosts, host), nil
}

func testLogger() *slog.Logger {
	if os.Getenv("TLSSERVE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// logBuffer collects log output; safe for the goroutines certmagic leaves
// running after a test.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (e *env) config() tlsserve.Config {
	return tlsserve.Config{
		Storage:             e.storage,
		ListFunc:            e.list,
		AllowedFunc:         e.allowed,
		DirectoryURL:        e.ca.DirectoryURL(),
		CARoots:             e.ca.APIRoots(),
		HTTPPort:            e.httpPort,
		ChallengeListenHost: "127.0.0.1",
		RefreshInterval:     -1,
		Logger:              testLogger(),
	}
}

// front starts a Front from cfg and serves its TLSConfig on a loopback
// port, returned as addr.
func (e *env) front(cfg tlsserve.Config) (f *tlsserve.Front, addr string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	f, err := tlsserve.New(ctx, &cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(f.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	srv := &http.Server{
		Handler:   http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }),
		TLSConfig: f.TLSConfig(),
		ErrorLog:  log.New(io.Discard, "", 0),
	}
	go srv.ServeTLS(ln, "", "")
	e.t.Cleanup(func() { srv.Close() })
	return f, ln.Addr().String()
}

// serveHTTP serves f's HTTPHandler on the port Pebble validates HTTP-01 on.
func (e *env) serveHTTP(f *tlsserve.Front) {
	srv := &http.Server{Handler: f.HTTPHandler(nil), ErrorLog: log.New(io.Discard, "", 0)}
	go srv.Serve(e.httpLn)
	e.t.Cleanup(func() { srv.Close() })
}

// handshake runs a TLS handshake with addr for name, verifying the served
// chain against Pebble's roots, and returns the leaf.
func (e *env) handshake(addr, name string) (*x509.Certificate, error) {
	d := &net.Dialer{Timeout: handshakeTimeout}
	conn, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{ServerName: name, RootCAs: e.ca.IssuerRoots()})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0], nil
}

func (e *env) mustHandshake(addr, name string) *x509.Certificate {
	e.t.Helper()
	leaf, err := e.handshake(addr, name)
	if err != nil {
		e.t.Fatalf("handshake for %s: %v", name, err)
	}
	return leaf
}

// refused asserts that the server aborted the handshake for name with an
// alert. The client skips verification, so a refusal cannot be the
// client's own doing.
func refused(t testing.TB, addr, name string) {
	t.Helper()
	d := &net.Dialer{Timeout: handshakeTimeout}
	conn, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{ServerName: name, InsecureSkipVerify: true})
	if err == nil {
		conn.Close()
		t.Fatalf("handshake for %q succeeded, want it refused", name)
	}
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "remote error" {
		t.Fatalf("handshake for %q: %v, want a TLS alert from the server", name, err)
	}
}

// staticCert is a self-signed certificate for base and *.base.
func staticCert(t testing.TB, base string) *tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: base},
		DNSNames:     []string{base, "*." + base},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

var hostSeq atomic.Int64

// uniq makes name unique in the test binary by suffixing its first label.
// certmagic coordinates issuance per name across the whole process, so a
// name reused by another test, or by the same test under -count, could wait
// on the other's background work.
func uniq(name string) string {
	first, rest, _ := strings.Cut(name, ".")
	return fmt.Sprintf("%s-%d.%s", first, hostSeq.Add(1), rest)
}

// eventually polls cond every 100ms until it holds or d passes.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
