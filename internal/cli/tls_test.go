package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenantkit/tenantkit/internal/acmetest"
	"github.com/tenantkit/tenantkit/internal/dnstest"
	"github.com/tenantkit/tenantkit/internal/domains"
	"github.com/tenantkit/tenantkit/internal/pgcluster"
	"github.com/tenantkit/tenantkit/tenantkittest"
)

// servedInstance is one serve run in-process by a test.
type servedInstance struct {
	base   string
	stderr *tenantkittest.SyncBuffer
	stop   func() int
}

// startServe runs serve with args on a free --addr and waits until it is
// ready.
func startServe(t *testing.T, vars map[string]string, args ...string) servedInstance {
	t.Helper()
	port, err := pgcluster.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	ctx, cancel := context.WithCancel(context.Background())
	stderr := &tenantkittest.SyncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"serve", "--addr", addr}, args...), env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: stderr, getenv: mapEnv(vars)})
	}()
	var once sync.Once
	code := 0
	s := servedInstance{base: "http://" + addr, stderr: stderr, stop: func() int {
		once.Do(func() { cancel(); code = <-done })
		return code
	}}
	t.Cleanup(func() { s.stop() })
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		select {
		case code := <-done:
			t.Fatalf("serve exited %d before serving:\n%s", code, stderr)
		default:
		}
		if resp, err := http.Get(s.base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve not ready after a minute:\n%s", stderr)
		}
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	port, err := pgcluster.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return "127.0.0.1:" + strconv.Itoa(port)
}

// handshake dials addr with SNI name, trusting roots, retrying while the
// listener comes up, and returns the certificate served.
func handshake(addr, name string, roots *x509.CertPool) (*x509.Certificate, error) {
	var last error
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{ServerName: name, RootCAs: roots})
		if err == nil {
			defer c.Close()
			return c.ConnectionState().PeerCertificates[0], nil
		}
		last = err
		var op *net.OpError
		if !errors.As(err, &op) || op.Op != "dial" {
			return nil, err // a handshake that failed, not a listener not up yet
		}
	}
	return nil, last
}

// TestServeTLSOnDemandAcrossTwoInstances: two serve instances share one
// catalog, with Pebble as the ACME CA and a real DNS server. A verified
// custom domain, asked for on both at once, gets one certificate, ordered
// once (the catalog's certificate storage and its locks), and both serve
// it; the catalog shows it active with its expiry. An unknown name and an
// unverified one are refused during the handshake with no order. The HTTP
// port redirects to HTTPS.
func TestServeTLSOnDemandAcrossTwoInstances(t *testing.T) {
	t.Parallel()
	db := tenantkittest.NewCatalog(t)
	dns, err := dnstest.Start(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dns.Close()
	httpA, httpB := freeAddr(t), freeAddr(t)
	_, portA, _ := net.SplitHostPort(httpA)
	pa, _ := strconv.Atoi(portA)
	ca, err := acmetest.Start(&acmetest.Config{Resolver: dns.Addr(), HTTPPort: pa})
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close()
	roots := filepath.Join(t.TempDir(), "acme-roots.pem")
	if err := os.WriteFile(roots, ca.APIRootsPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"TENANTKIT_DATABASE_URL": db.OwnerDSN(), "TENANTKIT_ADMIN_TOKEN": testToken, "TENANTKIT_DNS_RESOLVER": dns.Addr()}
	if r := runCLI(t, vars, "tenants", "create", "acme", "--name", "Acme"); r.exit != exitOK {
		t.Fatalf("create: %+v", r)
	}
	for _, host := range []string{"shop.acme.test", "pending.acme.test"} {
		if r := runCLI(t, vars, "domains", "add", "acme", host); r.exit != exitOK {
			t.Fatalf("add %s: %+v", host, r)
		}
		dns.SetA(host, net.IPv4(127, 0, 0, 1))
	}
	r := runCLI(t, vars, "domains", "show", "shop.acme.test", "-o", "json")
	token := r.stdout[strings.Index(r.stdout, `"verification_token": "`)+len(`"verification_token": "`):]
	token = token[:strings.Index(token, `"`)]
	dns.SetTXT(domains.RecordName("shop.acme.test"), token)
	if r := runCLI(t, vars, "domains", "verify", "shop.acme.test"); r.exit != exitOK {
		t.Fatalf("verify: %+v", r)
	}

	tlsA, tlsB := freeAddr(t), freeAddr(t)
	common := []string{"--acme-directory", ca.DirectoryURL(), "--acme-ca-roots", roots}
	a := startServe(t, vars, append([]string{"--tls-addr", tlsA, "--http-redirect-addr", httpA}, common...)...)
	startServe(t, vars, append([]string{"--tls-addr", tlsB, "--http-redirect-addr", httpB}, common...)...)

	issuer := ca.IssuerRoots()
	var wg sync.WaitGroup
	certs := make([]*x509.Certificate, 2)
	errs := make([]error, 2)
	for i, addr := range []string{tlsA, tlsB} {
		wg.Go(func() { certs[i], errs[i] = handshake(addr, "shop.acme.test", issuer) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("handshake with instance %d: %v\n%s", i, err, a.stderr)
		}
	}
	if !certs[0].Equal(certs[1]) {
		t.Fatalf("the instances serve different certificates: serials %s and %s", certs[0].SerialNumber, certs[1].SerialNumber)
	}
	if n := ca.Orders(); n != 1 {
		t.Fatalf("%d ACME orders, want 1", n)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		r := runCLI(t, vars, "domains", "show", "shop.acme.test")
		if strings.Contains(r.stdout, "Certificate:  active, expires "+certs[0].NotAfter.UTC().Format(time.RFC3339)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the catalog does not show the certificate: %+v", r)
		}
	}
	for _, name := range []string{"unknown.acme.test", "pending.acme.test"} {
		if _, err := handshake(tlsA, name, issuer); err == nil {
			t.Fatalf("a certificate for %s", name)
		}
	}
	if n := ca.Orders(); n != 1 {
		t.Fatalf("%d ACME orders after refused names, want 1", n)
	}
	// The HTTP port: everything but a challenge goes to HTTPS.
	req, _ := http.NewRequest(http.MethodGet, "http://"+httpA+"/menu?x=1", nil)
	req.Host = "shop.acme.test"
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	_, tlsPortA, _ := net.SplitHostPort(tlsA)
	if resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != "https://shop.acme.test:"+tlsPortA+"/menu?x=1" {
		t.Fatalf("HTTP port: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
}
