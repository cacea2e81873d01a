package tlsserve_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"testing"

	"github.com/caddyserver/certmagic"

	"github.com/tenantkit/tenantkit/internal/tlsserve"
)

// onDemandCert issues a certificate for a fresh host through a Front and
// returns the Front and the host, the certificate now in its memory.
func onDemandCert(b *testing.B) (*env, *tlsserve.Front, string) {
	e := setup(b, nil)
	host := uniq("shop.bench.test")
	e.verify(host)
	f, addr := e.front(e.config())
	e.serveHTTP(f)
	e.mustHandshake(addr, host)
	return e, f, host
}

// benchHandshakes runs full TLS 1.3 handshakes over net.Pipe, the client
// verifying the chain each time. Session tickets are off so that no
// handshake resumes (and the synchronous pipe cannot deadlock on them).
func benchHandshakes(b *testing.B, server *tls.Config, host string, roots *x509.CertPool) {
	server = server.Clone()
	server.SessionTicketsDisabled = true
	client := &tls.Config{ServerName: host, RootCAs: roots}
	b.ReportAllocs()
	for b.Loop() {
		c1, c2 := net.Pipe()
		errc := make(chan error, 1)
		go func() { errc <- tls.Server(c2, server).Handshake() }()
		if err := tls.Client(c1, client).Handshake(); err != nil {
			b.Fatal(err)
		}
		if err := <-errc; err != nil {
			b.Fatal(err)
		}
		c1.Close()
		c2.Close()
	}
}

// BenchmarkHandshakeOnDemandCached serves a certificate already in the
// Front's memory: the decision path plus certmagic's cache lookup.
func BenchmarkHandshakeOnDemandCached(b *testing.B) {
	e, f, host := onDemandCert(b)
	benchHandshakes(b, f.TLSConfig(), host, e.ca.IssuerRoots())
}

// BenchmarkHandshakeStatic is the baseline: the same certificate as a
// static Certificates entry.
func BenchmarkHandshakeStatic(b *testing.B) {
	e, f, host := onDemandCert(b)
	cert, err := f.TLSConfig().GetCertificate(&tls.ClientHelloInfo{ServerName: host})
	if err != nil {
		b.Fatal(err)
	}
	benchHandshakes(b, &tls.Config{Certificates: []tls.Certificate{*cert}}, host, e.ca.IssuerRoots())
}

// BenchmarkDecisionUnknownName decides on distinct unknown names against
// an allow-list of 100,000 hosts: the cost of a flood of random SNI.
func BenchmarkDecisionUnknownName(b *testing.B) {
	allowed := make([]string, 100_000)
	for i := range allowed {
		allowed[i] = fmt.Sprintf("shop-%d.customer.test", i)
	}
	f, err := tlsserve.New(context.Background(), &tlsserve.Config{
		Storage:         &certmagic.FileStorage{Path: b.TempDir()},
		ListFunc:        func(context.Context) ([]string, error) { return allowed, nil },
		DirectoryURL:    "https://127.0.0.1:1/dir", // never reached
		RefreshInterval: -1,
	})
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	hellos := make([]*tls.ClientHelloInfo, 1024)
	for i := range hellos {
		hellos[i] = &tls.ClientHelloInfo{ServerName: fmt.Sprintf("random-%d.attacker.test", i)}
	}
	get := f.TLSConfig().GetCertificate
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := get(hellos[i%len(hellos)]); err == nil {
			b.Fatal("an unknown name was allowed")
		}
		i++
	}
}
